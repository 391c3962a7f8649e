# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Ethnicity compared with the Census population
#
# Referrals received per 100,000 population aged 16 and over by ethnic group (2011 Census,
# England), each group's rate relative to the overall rate, and the share whose ethnicity was
# not stated. The NHS ethnic categories are mapped to Census groups as documented in
# docs/ethnicity-and-census.md. Annual report only. Run only through papermill.

# %% tags=["parameters"]
kind = "annual"
period = "2020-21"
org = "England"
measures_path = "measures_unrounded.parquet"
build_dir = "."

# %%
from iapt_report import census, charts, sections
from iapt_report.report_data import ReportData
from iapt_report.section_output import SectionOutput

data = ReportData.open(measures_path, period, org)
out = SectionOutput(build_dir, "ethnicity")
when = sections.period_name(data)
NOT_STATED = "Not stated/Not known/Invalid"

# %%
activity = sections.breakdown_activity(data, "Ethnic Group")  # referrals received, or finished courses
groups = activity.groups
people = data.counts_people("Ethnic Group")
unit = activity.people if people else activity.counted  # "people referred", "referrals received"
out.variable("base_statement",
             f"Rates are {unit} per 100,000 people aged 16 and over in the 2011 Census (ONS table "
             "DC2101EW): the ages the service mostly sees. Census Chinese is counted with Other ethnic groups to "
             f"match the NHS grouping. The overall rate counts {unit} with a stated ethnicity only."
             + ("" if activity.measure_id == "M001" else
                f" The source breaks down only treatment outcomes by ethnic group for {when}, not referrals, so "
                f"the comparison is of {unit}."))
out.variable("counts_statement",
             f"In the {when} annual tables NHS Digital counted people, not referrals, by ethnic group; the rates "
             f"below are {unit} per 100,000." if people else "")
if groups.empty and data.national:
    out.leave_out(f"The source for this report does not hold referrals by ethnic group for {when}, so the "
                  "comparison with the Census population is left out.")
if groups.empty or not data.national:
    reason = ("Census populations are for England as a whole, so this comparison is made in England reports."
              if not data.national else "Referrals by ethnic group are not in the measures for this report.")
    out.variable("not_stated_sentence", reason)
    out.variable("representation_sentence", "")
    out.note("referrals_by_ethnicity", "")
    out.note("referrals_by_ethnicity", "", folder="figures")
else:
    counts = groups.rename(columns={"label": "ethnic_group"})[["ethnic_group", "count"]]
    summary = census.rate_summary(counts, "ethnic_group")
    rates = census.representation(census.rates_per_100k(counts, "ethnic_group"))
    if not groups.label.str.strip().str.lower().isin(census.NOT_STATED_LABELS).any():
        out.variable("not_stated_sentence",
                     f"The {when} tables publish no row for {unit} whose ethnicity was not stated, so the share not "
                     f"stated cannot be given; the {sections.derived_count(data, summary['total_count'])} {unit} "
                     "below are those with a stated ethnicity, and every group's true rate is likely to be higher.")
    else:
        out.variable("not_stated_sentence",
                     f"Ethnicity was not stated for {sections.derived_percentage(data, summary['not_stated_count'], summary['total_count'])} "
                     f"of the {sections.derived_count(data, summary['total_count'])} {unit} in {when}; "
                     f"they are shown in the table, and the rates below are for the {unit} whose ethnicity was stated, "
                     "so every group's true rate is likely to be higher.")
    over = rates[rates.representation == "over-represented"].ethnic_group.tolist()
    under = rates[rates.representation == "under-represented"].ethnic_group.tolist()
    overall = sections.rate_as_text(summary["overall_rate_per_100k"], True)
    out.variable("representation_sentence",
                 f"Overall there were {overall} {unit} per 100,000 people aged 16 and over. "
                 + (f"Over-represented relative to their share of the population: {', '.join(over)}. " if over else "")
                 + (f"Under-represented: {', '.join(under)}." if under else "No group was under-represented."))
    table = rates.merge(groups[["label", "published"]], left_on="ethnic_group", right_on="label")
    table = table.assign(
        rate=[sections.rate_as_text(r, True) if r == r else "no Census population" for r in table.rate_per_100k],
        relative=[f"{r:.2f}" if r == r else "" for r in table.relative_rate],
        share=[f"{s:.1f}%" for s in table.share_of_count],
    )[["ethnic_group", "published", "share", "rate", "relative", "representation"]]
    table.columns = ["Ethnic group", unit.capitalize(), f"Share of {unit}", "Rate per 100,000 aged 16+",
                     "Relative to overall rate", "Compared with population"]
    out.table("referrals_by_ethnicity", table)
    shown = rates.dropna(subset=["rate_per_100k"])
    highest = shown.sort_values("relative_rate", ascending=False).iloc[0]
    title = (f"{highest.ethnic_group} people {activity.did} at {highest.relative_rate:.2f} times the overall rate"
             if highest.relative_rate > 1 else f"Every ethnic group's rate of {unit} was at or below the overall rate")
    figure = charts.rate_comparison_chart(shown, "ethnic_group", "rate_per_100k", summary["overall_rate_per_100k"],
                                          title=title, rate_label=f"{unit.capitalize()} per 100,000 aged 16+")
    out.chart(charts.save_chart(
        figure, "referrals_by_ethnicity", title=title,
        alt_text=f"Bar chart of {unit} per 100,000 people aged 16 and over by ethnic group, with a line at the "
                 f"overall rate of {overall}: "
                 + "; ".join(f"{r.ethnic_group} {sections.rate_as_text(r.rate_per_100k, True)}" for _, r in shown.iterrows())
                 + f". Ethnicity not stated for {summary['not_stated_share']:.1f}% of {unit}.",
        data=table, out_dir=build_dir))
groups

# %%
out.save()

# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
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
# docs/ethnicity-and-census.md. Annual report only.
#
# `iapt-report build` runs it for every report and sets every parameter. Run by hand (JupyterLab:
# `make lab`) it reads the report built for `kind`, `period` and `org` and writes to a scratch
# folder: see docs/editing.md.

# %% tags=["parameters"]
kind: str = "annual"  # report kind: "monthly" or "annual"
period: str = "2020-21"  # reporting period: YYYY-MM (a month) for monthly, YYYY-YY (a financial year) for annual
org: str = "England"  # England, or the code of a region, ICB, sub-ICB or provider (e.g. ZP007)
output: str = "_output"  # the folder the report was built into by `iapt-report build` (relative: to the repository)
measures_path: str = ""  # unrounded measures to read; empty: those of the report built for kind, period and org in output
build_dir: str = ""  # where this section writes its variables, tables and charts; empty: a scratch folder outside the repository

# %%
import pandas as pd

from iapt_report.report import census, charts, narrative, sections
from iapt_report.report.build.notebook_inputs import open_section

data, out, when = open_section("ethnicity", kind, period, org, output, measures_path, build_dir)

# %% [markdown]
# ## Referrals by ethnic group against the Census population

# %%
activity = sections.breakdown_activity(data, "Ethnic Group")  # referrals received, or finished courses
groups = activity.groups
people = data.counts_people("Ethnic Group")
unit = activity.people if people else activity.counted  # "people referred", "referrals received"
for name in ("base_statement", "counts_statement", "not_stated_sentence", "representation_sentence",
             "census_note"):
    out.variable(name, "")
if groups.empty:
    out.leave_out(f"The source for this report does not hold referrals by ethnic group for {when}, so the "
                  "comparison with the Census population is left out.")
elif not data.national:
    # no Census populations below England: the counts (and shares) only
    shares = sections.shares(groups, data)
    table = pd.DataFrame({"Ethnic group": groups["label"], unit.capitalize(): groups["published"]})
    if shares.ne("").any():
        table[f"Share of {unit} (ethnicity stated)"] = shares.values
    out.variable("base_statement",
                 f"{unit.capitalize()} by ethnic group, {when}. The Census populations used for rates are for England "
                 "as a whole, so rates and the comparison with the population are given in England reports only.")
    out.table("referrals_by_ethnicity", table, caption=sections.caption(f"{unit.capitalize()} by ethnic group, {when}",
                                                                        table))
    out.note("referrals_by_ethnicity", "", folder="figures")
    display(table)
else:
    out.variable("base_statement",
                 f"Rates are {unit} per 100,000 people aged 16 and over in the 2011 Census (ONS table DC2101EW): "
                 "the ages the service mostly sees. The Census counts Chinese people in the Asian group; here they "
                 "are counted with Other ethnic groups, as the NHS list does. The overall rate counts only "
                 f"{unit} whose ethnicity was stated."
                 + ("" if activity.measure_id == "M001" else
                    f" The source breaks down only treatment outcomes by ethnic group for {when}, not referrals, so "
                    f"the comparison is of {unit}."))
    out.variable("counts_statement",
                 f"In the {when} annual tables NHS Digital counted people, not referrals, by ethnic group; the rates "
                 f"below are {unit} per 100,000." if people else "")
    demographics_shown = not (sections.breakdown_counts(data, "Gender").empty
                              and sections.breakdown_counts(data, "Age Group").empty
                              and sections.deprivation_table(data).empty)
    out.variable("census_note", "The reasons for using the 2011 Census, and what that means for these rates, are "
                                "given under Demographics." if demographics_shown else sections.CENSUS_NOTE)
    known = groups[groups["count"].notna()]
    counts = known.rename(columns={"label": "ethnic_group"})[["ethnic_group", "count"]]
    if counts.empty:
        out.note("referrals_by_ethnicity", f"No ethnic group's count of {unit} is published in full for {when}.")
        out.note("referrals_by_ethnicity", "", folder="figures")
    else:
        summary = census.rate_summary(counts, "ethnic_group")
        rates = census.representation(census.rates_per_100k(counts, "ethnic_group"))
        total = sections.derived_count(data, summary["total_count"])
        if not groups.label.map(narrative.is_not_stated).any():
            out.variable("not_stated_sentence",
                         f"The {when} tables publish no row for {unit} whose ethnicity was not stated, so the share "
                         f"not stated cannot be given; the {total} {unit} below are those with a stated ethnicity, "
                         "and every group's true rate is likely to be higher.")
        else:
            not_stated = sections.derived_percentage(data, summary["not_stated_count"], summary["total_count"])
            out.variable("not_stated_sentence",
                         f"Ethnicity was not stated for {not_stated} of the {total} {unit} in {when}; they are shown in "
                         f"the table, and the rates below are for the {unit} whose ethnicity was stated, so every "
                         "group's true rate is likely to be higher." if not_stated and total else "")
        over = [narrative.ethnic_group_people(g) for g in rates[rates.representation == "over-represented"].ethnic_group]
        under = [narrative.ethnic_group_people(g) for g in rates[rates.representation == "under-represented"].ethnic_group]
        overall = sections.rate_as_text(summary["overall_rate_per_100k"], True)
        sentence = f"Overall there were {overall} {unit} per 100,000 people aged 16 and over."
        if over:
            sentence += (f" Relative to their share of the population, {narrative.and_list(over)} were "
                         "over-represented (a rate more than 10% above the overall rate).")
        sentence += (f" {narrative.capitalise(narrative.and_list(under))} were under-represented (more than 10% "
                     "below)." if under else
                     " No group's rate was more than 10% below the overall rate.")
        out.variable("representation_sentence", sentence)
        table = rates.merge(groups[["label", "published"]], left_on="ethnic_group", right_on="label")
        table = table.assign(
            rate=[sections.rate_as_text(r, True) if r == r else "" for r in table.rate_per_100k],
            relative=[f"{r:.2f}" if r == r else "" for r in table.relative_rate],
            share=[f"{s:.1f}%" for s in table.share_of_count],
            compared=[c if c != "no Census comparison" else "" for c in table.representation],
        )[["ethnic_group", "published", "share", "rate", "relative", "compared"]]
        table.columns = ["Ethnic group", unit.capitalize(), f"Share of {unit}", "Rate per 100,000 aged 16+",
                         "Relative to overall rate", "Compared with population"]
        missing = groups[groups["count"].isna()]
        if len(missing):  # groups whose count is not published in full stay in the table
            table = pd.concat([table, pd.DataFrame({"Ethnic group": missing["label"],
                                                    unit.capitalize(): missing["published"]})], ignore_index=True)
            table = table.fillna("")
        out.table("referrals_by_ethnicity", table,
                  caption=sections.caption(f"{unit.capitalize()} by ethnic group compared with the 2011 Census "
                                           f"population aged 16 and over, {when}", table))
        shown = rates.dropna(subset=["rate_per_100k"])
        if len(shown) >= 2:
            highest = shown.sort_values("relative_rate", ascending=False, kind="mergesort").iloc[0]
            title = (f"{narrative.capitalise(narrative.ethnic_group_people(highest.ethnic_group))} {activity.did} at "
                     f"{highest.relative_rate:.2f} times the overall rate" if highest.relative_rate > 1 else
                     f"Every ethnic group's rate of {unit} was at or below the overall rate")
            figure = charts.rate_comparison_chart(shown, "ethnic_group", "rate_per_100k",
                                                  summary["overall_rate_per_100k"], title=title,
                                                  rate_label=f"{unit.capitalize()} per 100,000 aged 16+")
            chart = charts.save_chart(
                figure, "referrals_by_ethnicity", title=title,
                alt_text=f"Bar chart of {unit} per 100,000 people aged 16 and over by ethnic group, with a line at "
                         f"the overall rate of {overall}: "
                         + "; ".join(f"{r.ethnic_group} {sections.rate_as_text(r.rate_per_100k, True)}"
                                     for _, r in shown.iterrows()) + ".",
                data=table, out_dir=out.build_dir)
            out.chart(chart)
            display(chart)
        else:
            out.note("referrals_by_ethnicity", "", folder="figures")
        display(table)

# %%
out.save();

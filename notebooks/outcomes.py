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
# # Outcomes
#
# Recovery, reliable improvement, reliable recovery and deterioration of referrals that
# finished a course of treatment; by problem descriptor and ethnic group where the measures
# hold those breakdowns (the annual report).
#
# `iapt-report build` runs it for every report and sets every parameter. Run by hand (JupyterLab:
# `make lab`) it reads the report built for `kind`, `period` and `org` and writes to a scratch
# folder: see docs/editing.md.

# %% tags=["parameters"]
kind: str = "monthly"  # report kind: "monthly" or "annual"
period: str = "2020-09"  # reporting period: YYYY-MM (a month) for monthly, YYYY-YY (a financial year) for annual
org: str = "England"  # England, or the code of a region, ICB, sub-ICB or provider (e.g. ZP007)
output: str = "_output"  # the folder the report was built into by `iapt-report build` (relative: to the repository)
measures_path: str = ""  # unrounded measures to read; empty: those of the report built for kind, period and org in output
build_dir: str = ""  # where this section writes its variables, tables and charts; empty: a scratch folder outside the repository

# %%
from iapt_report.report import charts, narrative, sections
from iapt_report.report.build.notebook_inputs import open_section

data, out, when = open_section("outcomes", kind, period, org, output, measures_path, build_dir)

# %% [markdown]
# ## Outcomes in the period

# %%
summary = sections.outcomes_sentence(data, when)
if summary is None and not data.has("M076"):
    out.leave_out(f"The source for this report does not hold outcome measures for {when}, so this section is left "
                  "out.")
elif summary is None:
    out.leave_out(f"Too few referrals finished a course of treatment with {data.org_name} in {when} for any outcome "
                  "to be published.")
out.variable("summary_sentence", summary or "")
table = sections.outcomes_table(data)
out.table("outcomes", table, caption=sections.caption(f"Outcomes of referrals that finished a course of treatment, "
                                                      f"{when}", table))
table

# %% [markdown]
# ## Trend in the recovery rates

# %%
trend = sections.trend(data, {"Recovery rate": "M192", "Reliable improvement rate": "M186",
                              "Reliable recovery rate": "M195"})
described = sections.describe_series(data, "M192", "The recovery rate", plural=False)
unit = "months" if data.period.kind == "month" else "years"
if described is not None:
    out.variable("trend_sentence", described.sentence)
    figure = charts.line_chart(trend, "period", "value", hue="measure", title=described.title, y_label="Per cent")
    chart = charts.save_chart(
        figure, "outcomes_trend", title=described.title,
        alt_text=f"Line chart of the recovery, reliable improvement and reliable recovery rates in each of the "
                 f"{trend['period'].nunique()} {unit} from {trend['period'].iloc[0]} to {trend['period'].iloc[-1]}. "
                 f"{described.sentence}",
        data=trend[["period", "measure", "published"]], out_dir=out.build_dir)
    out.chart(chart)
    display(chart)
else:
    held = len(data.periods())
    out.variable("trend_sentence", "")
    out.note("outcomes_trend",
             f"This build holds figures for {when} only, so no trend is shown." if held <= 1 else
             f"The recovery rate is not published for enough of the {held} {unit} in this build to show a trend "
             f"for {data.org_name}.", folder="figures")
trend[["period", "measure", "published"]]

# %% [markdown]
# ## By problem descriptor and ethnic group (annual)
#
# Every group and category the source publishes is in the table; the finding chooses among
# all of them, "not stated" included.

# %%
BREAKDOWNS = [("Presenting Complaint", "outcomes_by_problem", "problem descriptor", None),
              ("Ethnic Group", "outcomes_by_ethnicity", "ethnic group", narrative.ethnic_group_people)]
for variable_type, name, thing, people in BREAKDOWNS:
    by = sections.outcomes_by(data, variable_type)
    out.variable(f"{name}_sentence", "")
    out.variable(f"{name}_categories_sentence", "")
    if by.empty:
        out.note(name, f"Outcomes by {thing} are not in the source for {when}." if kind == "annual" else "")
        out.note(name, "", folder="figures")
        out.note(f"{name}_categories", "")
        continue
    groups = by[by["level"] == "group"]
    categories = by[by["level"] == "category"]
    # the 2013-14 to 2016-17 tables count people, not referrals, in these breakdowns
    finished_words = "people who finished a course" if data.counts_people(variable_type) else \
        "referrals that finished a course"
    columns = {"label": thing.capitalize(), "Finished a course": finished_words.capitalize(),
               "Recovery rate": "Recovery rate"}
    for frame, suffix, what in ((groups, "", f"Recovery by {thing}"),
                                (categories, "_categories", f"Recovery by {thing} category")):
        if frame.empty:
            out.note(f"{name}{suffix}", "")
            continue
        shown_table = frame.rename(columns=columns).assign(Group=frame["group"].values)
        shown_table = shown_table[(["Group"] if suffix else []) + list(columns.values())]
        out.table(f"{name}{suffix}", shown_table, caption=sections.caption(f"{what}, {when}", shown_table))
        sentence = narrative.extremes_sentence(
            sections.outcome_categories(frame), what=f"Among the individual {thing}s, recovery" if suffix else "Recovery",
            thing=thing if not suffix else f"{thing} category",
            base_noun=finished_words, name=None if suffix else people)
        out.variable(f"{name}{suffix}_sentence", sentence or "")
        display(shown_table)
    # the chart shows the groups (or, where the source has none, the categories)
    chart_frame = groups if len(groups.dropna(subset=["recovery_rate"])) >= 2 else categories
    chart_people = people if chart_frame is groups else None
    shown = chart_frame.dropna(subset=["recovery_rate"]).sort_values("recovery_rate", ascending=False,
                                                                     kind="mergesort")
    # a chart is drawn when it has a finding to state (enough published rates to compare)
    title = narrative.extremes_sentence(sections.outcome_categories(chart_frame), what="Recovery", thing=thing,
                                        base_noun=finished_words, name=chart_people,
                                        small_base=0)  # the base is in the table and the text
    if title:
        title = title.split(". ")[0].rstrip(".")
        figure = charts.bar_chart(shown.rename(columns={"label": thing}), thing, "recovery_rate", title=title,
                                  value_label="Recovery rate (%)", horizontal=True)
        left_out = chart_frame[chart_frame["recovery_rate"].isna()]["label"].tolist()
        chart = charts.save_chart(
            figure, name, title=title,
            alt_text=f"Bar chart of the recovery rate by {thing}, {when}: "
                     + "; ".join(f"{r['label']} {r['Recovery rate']}" for _, r in shown.iterrows())
                     + (f". Not charted, too few referrals to publish: {', '.join(left_out)}." if left_out else "."),
            data=shown[["label", "Finished a course", "Recovery rate"]].rename(columns=columns),
            out_dir=out.build_dir)
        out.chart(chart)
        display(chart)
    else:
        out.note(name, "", folder="figures")

# %%
out.save();

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
# # Outcomes
#
# Recovery, reliable improvement, reliable recovery and deterioration of referrals that
# finished a course of treatment; by problem descriptor and ethnic group where the measures
# hold those breakdowns (the annual report). Run only through papermill.

# %% tags=["parameters"]
kind = "monthly"
period = "2020-09"
org = "England"
measures_path = "measures_unrounded.parquet"
build_dir = "."

# %%
from iapt_report import charts, sections
from iapt_report.report_data import ReportData
from iapt_report.section_output import SectionOutput

data = ReportData.open(measures_path, period, org)
out = SectionOutput(build_dir, "outcomes")
when = sections.period_name(data)

# %%
summary = sections.outcomes_sentence(data, when)
if summary is None:
    out.leave_out(f"The source for this report does not hold outcome measures for {when}, so this section is "
                  "left out.")
else:
    out.variable("summary_sentence", summary)
out.table("outcomes", sections.outcomes_table(data))

# %%
trend = sections.trend(data, {"Recovery rate": "M192", "Reliable improvement rate": "M186"})
if trend["period"].nunique() > 1 and trend[trend.measure == "Recovery rate"].value.notna().sum() > 1:
    recovery = trend[trend.measure == "Recovery rate"]
    recovery = recovery.dropna(subset=["value"])
    title = (f"The recovery rate stayed between {sections.format_for_text(recovery.loc[recovery.value.idxmin(), 'published'], 'percentage')}"
             f" and {sections.format_for_text(recovery.loc[recovery.value.idxmax(), 'published'], 'percentage')}")
    figure = charts.line_chart(trend, "period", "value", hue="measure", title=title, y_label="Per cent")
    out.chart(charts.save_chart(figure, "outcomes_trend", title=title,
                                alt_text=f"Line chart of recovery and reliable improvement rates by period. {title}.",
                                data=trend[["period", "measure", "published"]], out_dir=build_dir))
else:
    out.note("outcomes_trend", "A trend is shown when the data cover more than one period.", folder="figures")

# %%
for variable_type, name, label in [("Presenting Complaint", "outcomes_by_problem", "problem descriptor"),
                                   ("Ethnic Group", "outcomes_by_ethnicity", "ethnic group")]:
    by = sections.outcomes_by(data, variable_type)
    if by.empty:
        out.note(name, f"Outcomes by {label} are in the annual report." if kind == "monthly" else
                 f"Outcomes by {label} are not in the source for this report.")
        out.note(name, "", folder="figures")
        continue
    out.table(name, by[[variable_type, "Finished a course", "Recovery rate"]])
    shown = by.dropna(subset=["recovery_rate"]).sort_values("recovery_rate", ascending=False)
    if len(shown) >= 2:
        best, worst = shown.iloc[0], shown.iloc[-1]
        title = (f"Recovery was highest for {best[variable_type]} ({best['Recovery rate']}) and lowest for "
                 f"{worst[variable_type]} ({worst['Recovery rate']})")
        figure = charts.bar_chart(shown, variable_type, "recovery_rate", title=title, value_label="Recovery rate (%)",
                                  horizontal=True)
        out.chart(charts.save_chart(
            figure, name, title=title,
            alt_text=f"Bar chart of recovery rate by {label}: "
                     + "; ".join(f"{r[variable_type]} {r['Recovery rate']}" for _, r in shown.iterrows()),
            data=shown[[variable_type, "Finished a course", "Recovery rate"]], out_dir=build_dir))
    else:
        out.note(name, f"Too few {label} groups had enough referrals to chart.", folder="figures")

# %%
out.save()

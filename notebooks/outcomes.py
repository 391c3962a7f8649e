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
out.variable("summary_sentence",
             f"{data.text('M076')} referrals finished a course of treatment in {when}. The recovery rate was "
             f"{data.text('M192')}, {data.text('M186')} showed reliable improvement and {data.text('M1010')} "
             f"reliable deterioration.")
out.table("outcomes", sections.outcomes_table(data))

# %%
trend = sections.trend(data, {"Recovery rate": "M192", "Reliable improvement rate": "M186"})
if trend["period"].nunique() > 1:
    recovery = trend[trend.measure == "Recovery rate"]
    low, high = recovery.value.min(), recovery.value.max()
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
        out.note(name, f"Outcomes by {label} are in the annual report.")
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

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
# # Key facts
#
# Headline figures for the report's period and organisation. Run only through papermill
# (`iapt-report build`), which sets the parameters below.

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
out = SectionOutput(build_dir, "key_facts")

# %%
facts = sections.key_facts(data)
for name, value in facts.items():
    out.variable(name, value)
facts

# %%
out.table("key_facts", sections.key_facts_table(data))

# %% [markdown]
# Trend over the periods in the build (up to 13 months).

# %%
trend = sections.trend(data, {"Referrals received": "M001", "Entered treatment": "M031",
                              "Finished a course": "M076"})
if trend["period"].nunique() > 1:
    referrals = trend[trend.measure == "Referrals received"]
    first, last = referrals.iloc[0], referrals.iloc[-1]
    first_shown, last_shown = (sections.number_from_text(x.published) for x in (first, last))
    direction = ("rose" if last_shown > first_shown else "fell" if last_shown < first_shown else "was unchanged")
    title = (f"Referrals received {direction} from {sections.format_for_text(first.published, 'count')} in "
             f"{first.period} to {sections.format_for_text(last.published, 'count')} in {last.period}"
             if direction != "was unchanged" else
             f"Referrals received were {sections.format_for_text(last.published, 'count')} in both {first.period} "
             f"and {last.period}")
    figure = charts.line_chart(trend, "period", "value", hue="measure", title=title, y_label="Referrals")
    ref = charts.save_chart(
        figure, "key_facts_trend", title=title,
        alt_text=f"Line chart of referrals received, entering treatment and finishing a course each month "
                 f"from {first.period} to {last.period}. {title}.",
        data=trend[["period", "measure", "published"]], out_dir=build_dir)
    out.chart(ref)
else:
    out.note("key_facts_trend", "A trend is shown when the data cover more than one period.", folder="figures")

# %%
out.save()

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
# # Key facts
#
# Headline figures for the report's period and organisation, compared with the previous
# period and (monthly) the same month a year earlier.
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
from iapt_report.report import charts, sections
from iapt_report.report.build.notebook_inputs import open_section

data, out, when = open_section("key_facts", kind, period, org, output, measures_path, build_dir)

# %% [markdown]
# ## Headline figures
#
# A figure that is suppressed or not in the source is set to "" and the
# report leaves its line out.

# %%
facts = sections.key_facts(data)
for name, value in facts.items():
    out.variable(name, value)
facts

# %%
table = sections.key_facts_table(data)
out.table("key_facts", table, caption=sections.caption(f"Key facts, {when}", table))
table

# %% [markdown]
# ## Trend
#
# Over the periods in the build (up to 13 months, or every year the source holds).

# %%
TREND = {"Referrals received": "M001", "Entered treatment": "M031", "Finished a course": "M076"}
trend = sections.trend(data, TREND)
unit = "months" if data.period.kind == "month" else "years"
described = sections.describe_series(data, "M001", "Referrals received", plural=True)
if described is not None:
    # the key facts already compare the latest figures; beside the chart, the whole series
    out.variable("trend_sentence", described.standing)
    figure = charts.line_chart(trend, "period", "value", hue="measure", title=described.title, y_label="Referrals")
    shown = trend.dropna(subset=["value"])
    chart = charts.save_chart(
        figure, "key_facts_trend", title=described.title,
        alt_text=f"Line chart of referrals received, entering treatment and finishing a course of treatment in each of "
                 f"the {trend['period'].nunique()} {unit} from {trend['period'].iloc[0]} to {trend['period'].iloc[-1]}. "
                 f"{described.sentence}",
        data=trend[["period", "measure", "published"]], out_dir=out.build_dir)
    out.chart(chart)
    display(chart)
else:
    periods_held = len(data.periods())
    out.variable("trend_sentence", "")
    out.note("key_facts_trend",
             f"This build holds figures for {when} only, so no trend is shown." if periods_held <= 1 else
             f"Referrals received are not published for enough of the {periods_held} {unit} in this build "
             f"to show a trend for {data.org_name}.", folder="figures")
trend[["period", "measure", "published"]]

# %%
out.save();

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
# # Variation by area and provider
#
# Recovery rates compared across commissioning regions, ICBs and providers, with a funnel
# plot of provider recovery rates against the national rate.
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
from iapt_report.report.report_data import ReportData

data, out, when = open_section("variation", kind, period, org, output, measures_path, build_dir)
national = ReportData(data.measures, data.period, "England")

# %% [markdown]
# ## Recovery by commissioning region and ICB

# %%
levels_held = [level for level in ("CommissioningRegion", "ICB", "SubICB", "Provider") if not data.level(level).empty]
if not national.has("M192"):
    out.leave_out(f"The source for this report does not hold recovery rates for {when}, so variation between areas "
                  "and providers is left out.")
elif not levels_held:
    out.leave_out(f"For {when} the source for this report holds figures for England only, so areas and providers "
                  "are not compared.")
own_rate, england_rate = data.figure("M192"), national.figure("M192")
out.variable("own_sentence",
             f"The recovery rate for {data.org_name} ({data.org}) was {own_rate} in {when}, against {england_rate} for "
             "England." if not data.national and own_rate and england_rate else "")
region_name = narrative.level_name("CommissioningRegion", data.period, plural=True)
icb_name = narrative.level_name("ICB", data.period, plural=True)
regions = sections.recovery_by_organisation(data, "CommissioningRegion")
icbs = sections.recovery_by_organisation(data, "ICB")
unassigned = sections.unassigned_finished(data, "CommissioningRegion")
out.variable("unassigned_sentence",
             f"A further {unassigned} referrals that finished a course of treatment had no commissioning region "
             "recorded; they are counted in England's figures only." if unassigned and len(regions) else "")
if regions.empty and icbs.empty:
    out.variable("regions_sentence", f"The source for this report holds no figures for {region_name} or {icb_name} "
                                     f"for {when}, so only providers are compared." if "Provider" in levels_held else "")
    out.variable("icbs_sentence", "")
    out.note("recovery_by_region", "")
else:
    out.variable("regions_sentence", sections.spread_sentence(regions, region_name) or "")
    icbs_sentence = sections.spread_sentence(icbs, icb_name) or ""
    if icbs_sentence and not narrative.icb_era(data.period) and icbs["name"].str.contains(r"\bICB\b").any():
        icbs_sentence += (" ICBs replaced STPs in July 2022; the names here are those of the ICBs, as the source "
                          "gives them.")
    out.variable("icbs_sentence", icbs_sentence)
    region_table = regions[["name", "Finished a course", "Recovery rate"]].rename(
        columns={"name": narrative.capitalise(narrative.level_name("CommissioningRegion", data.period))})
    out.table("recovery_by_region", region_table,
              caption=sections.caption(f"Recovery rate by {narrative.level_name('CommissioningRegion', data.period)}, "
                                       f"{when}", region_table))
    # only the published table is shown here: the executed notebook is published with the report
    display(region_table)

# %% [markdown]
# ## Providers against the national recovery rate (funnel plot)

# %%
from iapt_report.report import funnel

providers = sections.recovery_by_organisation(data, "Provider")
plotted = providers[(providers.denominator >= 5) & providers.recovery_rate.notna()].copy()  # as published
plotted["published_rate"] = plotted["Recovery rate"].map(sections.number_from_text)  # whole percent, as in the table
national_rate = national.value("M192") if national.has("M192") else float("nan")
own_name = providers.loc[(providers.code == org) & providers.denominator.notna(), "name"]  # not a code-name cross row
if len(plotted) >= 3 and national_rate == national_rate:
    comparison = funnel.compare(plotted, numerator="recovered", denominator="denominator", label="name", code="code",
                                published_rate="published_rate", national_rate=national_rate)
    above, below, flagged, numbers = comparison.above, comparison.below, comparison.flagged, comparison.numbers
    if len(flagged) == 0:
        title = (f"No provider's recovery rate was outside the 99.8% limits around the national rate of "
                 f"{national.text('M192')}")
    else:
        title = (f"{len(above)} {'provider was' if len(above) == 1 else 'providers were'} above and {len(below)} "
                 f"below the 99.8% limits around the national recovery rate of {national.text('M192')}")
    own = org if org in set(plotted["code"]) else None
    figure = charts.funnel_plot(comparison, title=title, own=own)
    spread = comparison.dispersion
    sentence = (f"The funnel plot compares each provider's recovery rate in {when} with the national rate. "
                + (f"Providers' rates vary more than chance alone would make them, so, following Spiegelhalter (2005), "
                   f"the limits allow for a spread of {spread.tau_points:.1f} percentage points between providers' "
                   "underlying rates; a provider outside the 99.8% limits differs from the national rate by more than "
                   "chance and that usual variation would explain." if spread.adjusted else
                   "Providers' rates vary no more than chance alone would make them; a provider outside the 99.8% "
                   "limits differs from the national rate by more than chance would explain."))
    if own is not None:
        sentence += f" {own_name.iloc[0]}, this report's provider, is marked with a star."
    elif len(own_name):
        sentence += (f" {own_name.iloc[0]}, this report's provider, is not in the chart: its recovery rate for {when} "
                     "is not published.")
    if len(flagged) > len(numbers):
        sentence += (f" The {len(numbers)} providers furthest outside the limits are numbered on the chart; all "
                     f"{len(flagged)} are listed in the table below it.")
    out.variable("funnel_sentence", sentence)
    key = "; ".join(f"{n} {flagged.at[i, 'label']} ({'above' if flagged.at[i, 'above_998'] else 'below'})"
                    for i, n in numbers.items())
    chart = charts.save_chart(
        figure, "provider_funnel", title=title,
        alt_text=f"Funnel plot of {int(comparison.units['shown'].sum())} providers' recovery rates against the number "
                 f"of referrals in the recovery rate's denominator, with 95% and 99.8% control limits around the "
                 f"national rate of {national.text('M192')}"
                 + (", widened for the variation between providers" if spread.adjusted else "") + f". {title}."
                 + (f" Numbered on the chart: {key}." if key else "")
                 + (f" A star marks {own_name.iloc[0]}, this report's provider." if own is not None else ""),
        data=funnel.published_table(comparison), out_dir=out.build_dir)
    out.chart(chart)
    display(chart)
    if len(flagged):
        table = plotted.loc[flagged.index, ["name", "Finished a course", "Recovery rate"]].copy()
        table["Compared with national rate"] = ["above" if a else "below" for a in flagged["above_998"]]
        table.insert(0, "Number on chart", [str(numbers[i]) if i in numbers.index else "" for i in flagged.index])
        more = len(flagged) - len(numbers)
        table = table.rename(columns={"name": "Provider"})
        out.table("provider_outliers", table,
                  caption=(f"Providers outside the 99.8% limits, highest recovery rate first: the {len(numbers)} "
                           f"furthest outside are numbered on the chart, and {more} more are listed without a number."
                           if more else "Providers outside the 99.8% limits, highest recovery rate first."))
        display(table)
    else:
        out.note("provider_outliers", "No provider was outside the 99.8% control limits.")
else:
    out.variable("funnel_sentence", "Too few providers had enough referrals to compare in a funnel plot.")
    out.note("provider_funnel", "", folder="figures")
    out.note("provider_outliers", "")

# %%
out.save();

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
# # Variation by area and provider
#
# Recovery rates compared across commissioning regions, ICBs and providers, with a funnel
# plot of provider recovery rates against the national rate. Run only through papermill.

# %% tags=["parameters"]
kind = "monthly"
period = "2020-09"
org = "England"
measures_path = "measures_unrounded.parquet"
build_dir = "."

# %%
from iapt_report import charts, narrative, sections
from iapt_report.report_data import ReportData
from iapt_report.section_output import SectionOutput

data = ReportData.open(measures_path, period, org)
out = SectionOutput(build_dir, "variation")
when = sections.period_name(data)
national = ReportData(data.measures, data.period, "England")

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

# %%
providers = sections.recovery_by_organisation(data, "Provider")
plotted = providers[(providers.denominator >= 5) & providers.recovery_rate.notna()].copy()  # as published
national_rate = national.value("M192") if national.has("M192") else float("nan")
if len(plotted) >= 3 and national_rate == national_rate:
    flagged = charts.outside_limits(plotted, numerator="recovered", denominator="denominator", label="name",
                                    national_rate=national_rate)
    above = flagged[flagged["above_998"]]
    below = flagged[flagged["below_998"]]
    if len(above) + len(below) == 0:
        title = (f"No provider's recovery rate was outside the 99.8% limits around the national rate of "
                 f"{national.text('M192')}")
    else:
        title = (f"{len(above)} {'provider was' if len(above) == 1 else 'providers were'} above and {len(below)} "
                 f"below the 99.8% limits around the national recovery rate of {national.text('M192')}")
    figure = charts.funnel_plot(plotted, numerator="recovered", denominator="denominator", label="name",
                                national_rate=national_rate, title=title)
    out.variable("funnel_sentence",
                 f"The funnel plot compares each provider's recovery rate in {when} with the national rate; "
                 f"providers outside the 99.8% control limits differ by more than chance would explain.")
    chart_data = plotted[["code", "name", "Finished a course", "Recovery rate"]]
    out.chart(charts.save_chart(
        figure, "provider_funnel", title=title,
        alt_text=f"Funnel plot of {len(plotted)} providers' recovery rates against the number of referrals in the "
                 f"recovery rate's denominator, with 95% and 99.8% control limits around the national rate of "
                 f"{national.text('M192')}. {title}.",
        data=chart_data, out_dir=build_dir))
    outliers = flagged[flagged["above_998"] | flagged["below_998"]]
    if len(outliers):
        table = plotted.loc[outliers.index, ["name", "Finished a course", "Recovery rate"]].copy()
        table["Compared with national rate"] = ["above" if a else "below" for a in outliers["above_998"]]
        out.table("provider_outliers", table.rename(columns={"name": "Provider"}))
    else:
        out.note("provider_outliers", "No provider was outside the 99.8% control limits.")
else:
    out.variable("funnel_sentence", "Too few providers had enough referrals to compare in a funnel plot.")
    out.note("provider_funnel", "", folder="figures")
    out.note("provider_outliers", "")

# %%
out.save();

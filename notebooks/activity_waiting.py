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
# # Activity and waiting times
#
# Referrals by source, waits to enter treatment and ended referrals by reason. Run only
# through papermill (`iapt-report build`).

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
out = SectionOutput(build_dir, "activity_waiting")
when = sections.period_name(data)
# each part needs these measures; a part whose measures the input does not hold says so and is left out
end_rules = sections.code_lists()
PARTS = {
    "sources": ["M001", "M002", "M003"],
    "waits": ["M031", *sections.WAIT_BANDS.values(), "M036", "M037", "M048", "M049"],
    "ended": ["M056", "M076", end_rules["end_code_invalid_measure"], end_rules["end_code_missing_measure"]],
}
available = {part: data.has(*ids) for part, ids in PARTS.items()}
if not any(available.values()):
    out.leave_out(f"The source for this report does not hold the activity and waiting-time measures for {when} "
                  "(referral sources, waits to enter treatment, ended referrals), so this section is left out.")

# %% [markdown]
# ## Referrals by source

# %%
if available["sources"]:
    sources = sections.referral_sources(data)
    self_share = sources.loc[sources["Source of referral"] == "Self-referral", "Share"].iloc[0]
    out.variable("referral_sources_sentence",
                 f"{data.text('M001')} referrals were received in {when}; {self_share} were self-referrals.")
    out.table("referral_sources", sources.drop(columns="unrounded"))
else:
    out.note("referral_sources", "Referrals by source are not in the source for this report.")

# %% [markdown]
# ## Waits to enter treatment

# %%
if not available["waits"]:
    out.note("waits_to_treatment", "Waits to enter treatment are not in the source for this report.")
    out.note("waits_to_treatment", "", folder="figures")
else:
    waits = sections.waits_to_treatment(data)
    entered = data.value("M031")
    out.variable("entered_treatment", data.text("M031"))
    out.variable("within_6_weeks_share", sections.derived_percentage(data, data.value("M036"), entered))
    out.variable("within_18_weeks_share", sections.derived_percentage(data, data.value("M037"), entered))
    out.variable("mean_wait_days", data.text("M048"))
    out.variable("median_wait_days", data.text("M049"))
    out.table("waits_to_treatment", waits[["Wait to first treatment", "Entered treatment", "Share"]])

    shown = waits[~waits["Share"].isin(["fewer than 5", "suppressed", "not available"])]
    if entered >= 5 and len(shown):
        top = shown.sort_values("share_published", ascending=False).iloc[0]
        title = f"Most referrals entering treatment in {when} had waited {top['Wait to first treatment'].lower()}"
        chart_data = shown[["Wait to first treatment", "share_published"]].rename(columns={"share_published": "share"})
        figure = charts.bar_chart(chart_data, "Wait to first treatment", "share", title=title,
                                  value_label="Share of referrals entering treatment (%)", horizontal=True)
        out.chart(charts.save_chart(
            figure, "waits_to_treatment", title=title,
            alt_text=f"Bar chart of the share of referrals entering treatment in {when} by wait from referral: "
                     + "; ".join(f"{r['Wait to first treatment']} {r['Share']}" for _, r in shown.iterrows()),
            data=shown[["Wait to first treatment", "Entered treatment", "Share"]], out_dir=build_dir))
    else:
        out.note("waits_to_treatment", "Too few referrals entered treatment to chart waiting times.", folder="figures")

# %% [markdown]
# ## Ended referrals

# %%
ended = sections.ended_by_reason(data) if available["ended"] else None
if ended is None:
    out.note("ended_by_reason", "Ended referrals by reason are not in the source for this report.")
elif len(ended):
    top = ended.iloc[0]
    out.variable("ended_sentence",
                 f"{data.text('M056')} referrals ended in {when}; the most common reason was "
                 f"'{top['End reason'].lower()}' ({top['Share of ended']}). "
                 f"{data.text('M076')} had finished a course of treatment.")
else:
    out.variable("ended_sentence", f"No referrals ended in {when}.")
if ended is not None:
    out.table("ended_by_reason", ended.drop(columns="unrounded"))

# %%
out.save()

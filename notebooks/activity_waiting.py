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
# # Activity and waiting times
#
# Referrals by source, waits to enter treatment and ended referrals by reason.
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
from iapt_report.reference import code_lists
from iapt_report.report import charts, sections
from iapt_report.report.build.notebook_inputs import open_section

data, out, when = open_section("activity_waiting", kind, period, org, output, measures_path, build_dir)
# each part needs these measures; a part whose measures the input does not hold says so in one
# line and is left out
end_rules = code_lists()
PARTS = {
    "sources": ["M001", "M002", "M003"],
    "waits": ["M031", *sections.WAIT_BANDS.values(), "M036", "M037", "M048", "M049"],
    "ended": ["M056", "M076", end_rules["end_code_invalid_measure"], end_rules["end_code_missing_measure"]],
}
available = {part: data.has(*ids) for part, ids in PARTS.items()}
finished_waits = None if available["waits"] else sections.waits_from_breakdown(data)
if not any(available.values()) and finished_waits is None:
    out.leave_out(f"The source for this report does not hold referral sources, waiting times or ended referrals "
                  f"for {when}, so this section is left out.")
rounded_note = ("" if data.values_unrounded else
                "Shares are not shown: the published counts for this organisation are rounded to the nearest 5, "
                "and a share of two rounded counts would not be accurate.")
out.variable("rounded_note", rounded_note)

# %% [markdown]
# ## Referrals by source

# %%
if available["sources"]:
    sources = sections.referral_sources(data)
    received = data.figure("M001")
    self_share = sections.derived_percentage(data, data.value("M002"), data.value("M001")) if data.shown("M002") else None
    sentence = f"{received} referrals were received in {when}." if received else ""
    if sentence and self_share:
        sentence = f"{received} referrals were received in {when}; {self_share} were self-referrals."
    out.variable("referral_sources_sentence", sentence)
    out.table("referral_sources", sources,
              caption=sections.caption(f"Referrals received by source of referral, {when}", sources))
    display(sources)
else:
    out.variable("referral_sources_sentence", f"Referrals by source are not in the source for {when}.")
    out.note("referral_sources", "")

# %% [markdown]
# ## Waits to enter treatment

# %%
for name in ("entered_treatment", "within_6_weeks_share", "within_18_weeks_share", "mean_wait_days",
             "median_wait_days", "waits_sentence"):
    out.variable(name, "")
if available["waits"]:
    waits = sections.waits_to_treatment(data)
    entered = data.value("M031")
    out.variable("entered_treatment", data.figure("M031") or "")
    if data.shown("M031"):
        out.variable("within_6_weeks_share", sections.derived_percentage(data, data.value("M036"), entered) or "")
        out.variable("within_18_weeks_share", sections.derived_percentage(data, data.value("M037"), entered) or "")
    out.variable("mean_wait_days", data.figure("M048") or "")
    out.variable("median_wait_days", data.figure("M049") or "")
    table = waits.drop(columns="share_number")
    out.table("waits_to_treatment", table,
              caption=sections.caption(f"Referrals entering treatment in {when} by wait from referral to first "
                                       "treatment", table))
    shown = waits.dropna(subset=["share_number"])
    if len(shown) >= 2:
        top = shown.sort_values("share_number", ascending=False, kind="mergesort").iloc[0]
        title = f"Most referrals entering treatment in {when} had waited {top['Wait to first treatment'].lower()}"
        if top["share_number"] <= 50:
            title = (f"The largest group of referrals entering treatment in {when} had waited "
                     f"{top['Wait to first treatment'].lower()}")
        chart_data = shown[["Wait to first treatment", "share_number"]].rename(columns={"share_number": "share"})
        figure = charts.bar_chart(chart_data, "Wait to first treatment", "share", title=title,
                                  value_label="Share of referrals entering treatment (%)", horizontal=True)
        left_out = waits[waits["share_number"].isna()]["Wait to first treatment"].tolist()
        chart = charts.save_chart(
            figure, "waits_to_treatment", title=title,
            alt_text=f"Bar chart of the share of referrals entering treatment in {when} by wait from referral: "
                     + "; ".join(f"{r['Wait to first treatment']} {r['Share']}" for _, r in shown.iterrows())
                     + (f". Not charted, too few referrals to publish: {', '.join(left_out)}." if left_out else "."),
            data=table, out_dir=out.build_dir)
        out.chart(chart)
        display(chart)
    else:
        out.note("waits_to_treatment", "", folder="figures")
    display(table)
elif finished_waits is not None:
    # the annual tables: waits of referrals that finished a course of treatment in the year
    finished = data.figure("M076")
    six, eighteen = finished_waits["within_6_weeks"], finished_waits["within_18_weeks"]
    if six and eighteen:
        sentence = (f"Of the {finished} referrals that finished a course of treatment in {when}, {six} had waited 6 "
                    f"weeks or less to enter treatment and {eighteen} 18 weeks or less.")
    elif finished_waits["within_6_weeks_count"] not in ("", "*"):
        sentence = (f"Of the {finished} referrals that finished a course of treatment in {when}, "
                    f"{finished_waits['within_6_weeks_count']} had waited 6 weeks or less to enter treatment.")
    else:
        sentence = ""
    out.variable("waits_sentence", sentence)
    table = finished_waits["table"]
    out.table("waits_to_treatment", table,
              caption=sections.caption(f"Referrals that finished a course of treatment in {when}, by wait from "
                                       "referral to first treatment and from first to second treatment", table))
    out.note("waits_to_treatment", "", folder="figures")
    display(table)
else:
    out.variable("waits_sentence", f"Waiting times are not in the source for {when}.")
    out.note("waits_to_treatment", "")
    out.note("waits_to_treatment", "", folder="figures")

# %% [markdown]
# ## Ended referrals

# %%
out.variable("ended_sentence", "")
if available["ended"]:
    ended = sections.ended_by_reason(data)
    share_column = "Share of ended" if "Share of ended" in ended.columns else None
    top = ended.iloc[0] if len(ended) else None
    if top is not None and top["Referrals"] not in ("*", "") and data.shown("M056"):
        sentence = f"{data.figure('M056')} referrals ended in {when}; the most common reason was " \
                   f"'{top['End reason'].lower()}'"
        sentence += f" ({top[share_column]})." if share_column and top[share_column] not in ("*", "") else \
            f" ({top['Referrals']} referrals)."
        finished = data.figure("M076")
        if finished:
            sentence += f" {finished} of the referrals that ended had finished a course of treatment."
        out.variable("ended_sentence", sentence)
    elif data.value("M056") == 0:
        out.variable("ended_sentence", f"No referrals ended in {when}.")
    out.table("ended_by_reason", ended, caption=sections.caption(f"Referrals that ended in {when}, by reason", ended))
    display(ended)
else:
    out.variable("ended_sentence", f"Ended referrals by reason are not in the source for {when}.")
    out.note("ended_by_reason", "")

# %%
out.save();

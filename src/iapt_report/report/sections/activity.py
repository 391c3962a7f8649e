"""Activity and waiting times: referral sources, waits to treatment, why referrals ended."""

from __future__ import annotations

import pandas as pd

from iapt_report.engine.disclosure import SUPPRESSED
from iapt_report.reference import code_lists
from iapt_report.report.report_data import ReportData, format_cell

from .common import derived_count_cell, derived_percentage, derived_percentage_cell, number_from_text

# --- activity and waiting times ---------------------------------------------------------------

WAIT_BANDS = {"28 days or less": "M032", "29 to 56 days": "M033", "57 to 90 days": "M034", "Over 90 days": "M035"}


def referral_sources(data: ReportData) -> pd.DataFrame:
    """Referrals by source. "Other sources" (all others) is derived from unrounded counts only."""
    total, self_ref, gp = data.value("M001"), data.value("M002"), data.value("M003")
    rows = [
        ("Self-referral", data.cell("M002"), derived_percentage_cell(data, self_ref, total)),
        ("GP", data.cell("M003"), derived_percentage_cell(data, gp, total)),
    ]
    if data.values_unrounded:
        other = total - self_ref - gp
        rows.append(("Other sources", derived_count_cell(data, other), derived_percentage_cell(data, other, total)))
    rows.append(("All referrals", data.cell("M001"), derived_percentage_cell(data, total, total)))
    frame = pd.DataFrame(rows, columns=["Source of referral", "Referrals", "Share"])
    return frame if data.values_unrounded else frame.drop(columns="Share")


def waits_to_treatment(data: ReportData) -> pd.DataFrame:
    """Referrals entering treatment by wait band (days from referral to first treatment).

    ``share_number`` is the published share as a number (NaN when not published), for charts.
    Shares are left out (column absent) when the counts were rounded before they reached us.
    """
    entered = data.value("M031")
    rows = []
    for band, mid in WAIT_BANDS.items():
        share = derived_percentage_cell(data, data.value(mid), entered)
        rows.append((band, data.cell(mid), share, number_from_text(share)))
    frame = pd.DataFrame(rows, columns=["Wait to first treatment", "Entered treatment", "Share", "share_number"])
    return frame if data.values_unrounded else frame.drop(columns="Share")


WAIT_BREAKDOWN = "Waiting Time"
# the annual "Waiting Time" breakdown's bands, as readers read them
WAIT_BREAKDOWN_BANDS = {"<=28 days": "28 days or less", "29-56 days": "29 to 56 days", "57-90 days": "57 to 90 days",
                        ">90 days": "Over 90 days"}


def waits_from_breakdown(data: ReportData) -> dict | None:
    """Waits of referrals that finished a course, from the annual "Waiting Time" breakdown
    (finished courses by wait to first treatment, and between first and second treatment).

    Returns None when the breakdown is absent; else a dict with ``table`` (one row per band:
    first treatment and first-to-second treatment counts, and shares of all finished courses
    where they can be computed from unrounded counts), ``within_6_weeks`` and
    ``within_18_weeks`` (prose percentages or None) and their counts as written.
    """
    rows = data.rows(variable_type=WAIT_BREAKDOWN)
    rows = rows[rows["MEASURE_ID"] == "M076"] if not rows.empty else rows
    if rows.empty or not data.shown("M076"):
        return None
    published = data.published_table(rows)
    finished = data.value("M076")
    cells, values = {}, {}
    for index, row in rows.iterrows():
        cells[(row["VARIABLE_A"], row["VARIABLE_B"])] = format_cell(published.loc[index], "count")
        values[(row["VARIABLE_A"], row["VARIABLE_B"])] = row["MEASURE_VALUE"]
    if not any(cells.get(("First treatment", band), "") for band in WAIT_BREAKDOWN_BANDS):
        return None
    table = []
    for band, label in WAIT_BREAKDOWN_BANDS.items():
        first = ("First treatment", band)
        second = ("First to Second treatment", band)
        row = {"Wait": label, "First treatment": cells.get(first, "")}
        if data.values_unrounded:
            row["Share (first treatment)"] = derived_percentage_cell(data, values.get(first, float("nan")), finished)
        row["First to second treatment"] = cells.get(second, "")
        if data.values_unrounded:
            row["Share (first to second)"] = derived_percentage_cell(data, values.get(second, float("nan")), finished)
        table.append(row)

    def share(key):
        value = values.get(("First treatment", key), float("nan"))
        return derived_percentage(data, value, finished) if value == value else None

    return {
        "table": pd.DataFrame(table),
        "within_6_weeks": share("<6 weeks"),
        "within_18_weeks": share("<18 weeks"),
        "within_6_weeks_count": cells.get(("First treatment", "<6 weeks"), ""),
        "within_18_weeks_count": cells.get(("First treatment", "<18 weeks"), ""),
    }


def ended_by_reason(data: ReportData) -> pd.DataFrame:
    """Ended referrals by end reason, largest first; reasons with none are left out, suppressed
    ones kept (shown as ``*``). Shares only from unrounded counts."""
    rules = code_lists()
    reasons = [(label, group, mid) for _code, (label, group, mid) in rules["end_code"].items() if data.has(mid)]
    reasons.append(("Invalid end code", "", rules["end_code_invalid_measure"]))
    reasons.append(("No end reason recorded", "", rules["end_code_missing_measure"]))
    ended = data.value("M056")
    out = []
    for label, group, mid in reasons:
        count = data.value(mid)
        # a reason no referral ended with is left out; one suppressed in a published file is kept
        if (count == count and count > 0) or (count != count and data.published(mid) == SUPPRESSED):
            out.append((label, group, data.cell(mid), derived_percentage_cell(data, count, ended),
                        count if count == count else 0.0))
    frame = pd.DataFrame(out, columns=["End reason", "Seen and treated?", "Referrals", "Share of ended", "order"])
    frame = frame.sort_values("order", ascending=False, kind="mergesort").reset_index(drop=True).drop(columns="order")
    return frame if data.values_unrounded else frame.drop(columns="Share of ended")

"""Outcomes: finished courses and recovery, overall and by breakdown."""

from __future__ import annotations

import pandas as pd

from iapt_report.engine.disclosure import SUPPRESSED, publish_cell
from iapt_report.report.narrative import Category
from iapt_report.report.report_data import ReportData, format_cell

from .common import number_from_text, period_name

# --- outcomes ---------------------------------------------------------------------------------

OUTCOME_MEASURES = {
    "Finished a course of treatment": "M076",
    "Not at caseness at the start": "M179",
    "Recovery rate": "M192",
    "Reliable improvement rate": "M186",
    "Reliable recovery rate": "M195",
    "Reliable deterioration rate": "M1010",
}


def outcomes_table(data: ReportData) -> pd.DataFrame:
    rows = [(label, data.cell(mid)) for label, mid in OUTCOME_MEASURES.items() if data.has(mid)]
    return pd.DataFrame([r for r in rows if r[1] != ""], columns=["Outcome", period_name(data)])


GROUP_ROW_LABELS = ("All", "")
OUTCOME_COLUMNS = ["label", "group", "level", "Finished a course", "Recovery rate", "recovery_rate", "finished"]


def outcomes_by(data: ReportData, variable_type: str) -> pd.DataFrame:
    """Finished a course and recovery rate for every group and category of an annual breakdown.

    One row per group (``level`` "group": VARIABLE_B "All" or empty, or a group published as a
    single row such as "Other Mental Health problems | Other") and per category of a group that
    has two or more (``level`` "category", labelled with VARIABLE_B). A row whose VARIABLE_B is
    "Total" (e.g. "All ADSM") is a count, not a category, and is left out. Where a source
    publishes only categories (the 2014-15 to 2016-17 ethnic tables) each group's row is worked
    out from its categories' unrounded counts (recovered / (finished - not at caseness)); when
    those counts are not all published, the group has no row of its own.

    Columns: label, group, level, "Finished a course" and "Recovery rate" (table cells),
    recovery_rate and finished (published numbers, NaN when not published).
    """
    rows = data.rows(variable_type=variable_type)
    if rows.empty:
        return pd.DataFrame(columns=OUTCOME_COLUMNS)
    rows = rows[rows["VARIABLE_B"] != "Total"]
    published = data.published_table(rows)
    cells: dict[tuple[str, str], dict[str, tuple[float, str]]] = {}
    for index, row in rows.iterrows():
        cells.setdefault((row["VARIABLE_A"], row["VARIABLE_B"]), {})[row["MEASURE_ID"]] = (
            row["MEASURE_VALUE"], published.loc[index])
    out = []
    for group in dict.fromkeys(a for a, _b in cells):
        keys = [k for k in cells if k[0] == group]
        group_key = next((k for k in keys if k[1] in GROUP_ROW_LABELS), None)
        categories = [k for k in keys if k[1] not in GROUP_ROW_LABELS]
        if group_key is None and len(categories) == 1:
            group_key, categories = categories[0], []
        if group_key is not None:
            out.append(_outcome_row(group, group, "group", cells[group_key]))
        else:
            summed = _summed_outcomes(data, [cells[k] for k in categories])
            if summed is not None:
                out.append(_outcome_row(group, group, "group", summed))
        if len(categories) >= 2:
            for key in categories:
                out.append(_outcome_row(key[1], group, "category", cells[key]))
    return pd.DataFrame(out, columns=OUTCOME_COLUMNS)


def _outcome_row(label: str, group: str, level: str, measures: dict) -> dict:
    _, finished = measures.get("M076", (float("nan"), ""))
    _, rate = measures.get("M192", (float("nan"), ""))
    return {"label": label, "group": group, "level": level,
            "Finished a course": format_cell(finished, "count"), "Recovery rate": format_cell(rate, "percentage"),
            "recovery_rate": number_from_text(rate), "finished": number_from_text(finished)}


def _summed_outcomes(data: ReportData, categories: list[dict]) -> dict | None:
    """A group's finished count and recovery rate from its categories' unrounded counts, or None."""
    if not data.values_unrounded or not categories:
        return None
    totals = {}
    for mid in ("M076", "M179", "M191"):
        values = [c.get(mid, (float("nan"), ""))[0] for c in categories]
        if any(v != v for v in values):
            return None
        totals[mid] = float(sum(values))
    at_caseness = totals["M076"] - totals["M179"]
    rate = 100.0 * totals["M191"] / at_caseness if at_caseness > 0 else float("nan")
    return {
        "M076": (totals["M076"], publish_cell(totals["M076"], "count", national=data.national)),
        "M192": (rate, publish_cell(rate if rate == rate else None, "percentage", national=data.national,
                                    base_count=totals["M191"])),
    }


def outcome_categories(frame: pd.DataFrame) -> list[Category]:
    """The rows of an :func:`outcomes_by` table as :class:`narrative.Category`s (recovery rate,
    resting on finished courses)."""
    return [Category(row["label"], row["recovery_rate"], format_for_text_or_empty(row["Recovery rate"]),
                     row["finished"], row["Finished a course"]) for _, row in frame.iterrows()]


def format_for_text_or_empty(cell: str) -> str:
    """A table cell as prose: "" for ``*`` or an empty cell."""
    return "" if cell in (SUPPRESSED, "") else cell

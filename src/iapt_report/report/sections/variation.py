"""Variation: recovery by organisation, and how widely it spreads."""

from __future__ import annotations

import pandas as pd

from iapt_report.engine.disclosure import SUPPRESSED
from iapt_report.report import narrative
from iapt_report.report.narrative import Category
from iapt_report.report.report_data import ReportData, format_cell, format_for_text, published_values

from .common import UNKNOWN_ORG_CODES, number_from_text
from .outcomes import format_for_text_or_empty

# --- variation --------------------------------------------------------------------------------

VARIATION_COLUMNS = ["code", "name", "recovered", "denominator", "recovery_rate", "Recovery rate", "Finished a course"]


def _is_unknown_org(code: object, name: object) -> bool:
    return str(code).strip().upper() in UNKNOWN_ORG_CODES or str(name).strip().upper() == "UNKNOWN"


def recovery_by_organisation(data: ReportData, group_type: str) -> pd.DataFrame:
    """Recovery rate per organisation of a level, one row per organisation code.

    "UNKNOWN" (referrals with no organisation of that level recorded) is not an organisation
    and is left out (see :func:`unassigned_finished`). Published cells follow the sub-national
    rule (as published, for a published file); ``recovered`` and ``denominator`` are the counts
    a funnel plot needs (unrounded for record-level data, as published otherwise).
    """
    rows = data.level(group_type)
    if rows.empty:
        return pd.DataFrame(columns=VARIATION_COLUMNS)
    code_col, name_col = ("ORG_CODE2", "ORG_NAME2") if group_type == "Provider" else ("ORG_CODE1", "ORG_NAME1")
    rows = rows[[not _is_unknown_org(c, n) for c, n in zip(rows[code_col], rows[name_col])]]
    if rows.empty:
        return pd.DataFrame(columns=VARIATION_COLUMNS)
    published = published_values(rows, national=False)
    values: dict[str, dict[str, float]] = {}
    texts: dict[str, dict[str, str]] = {}
    names: dict[str, str] = {}
    for index, row in rows.iterrows():
        code = row[code_col]
        names.setdefault(code, str(row[name_col]))
        values.setdefault(code, {}).setdefault(row["MEASURE_ID"], row["MEASURE_VALUE"])
        texts.setdefault(code, {}).setdefault(row["MEASURE_ID"], published.loc[index])
    out = []
    for code, measures in values.items():
        recovered, finished = measures.get("M191", float("nan")), measures.get("M076", float("nan"))
        not_caseness = measures.get("M179", 0.0)
        denominator = finished - (not_caseness if not_caseness == not_caseness else 0.0)
        rate_text = texts[code].get("M192", "")
        out.append({
            "code": code,
            "name": names[code],
            "recovered": recovered,
            "denominator": denominator,
            "recovery_rate": number_from_text(rate_text),
            "Recovery rate": format_cell(rate_text, "percentage"),
            "Finished a course": format_cell(texts[code].get("M076", ""), "count"),
        })
    frame = pd.DataFrame(out, columns=VARIATION_COLUMNS)
    return frame.sort_values(["recovery_rate", "code"], ascending=[False, True], na_position="last",
                             kind="mergesort").reset_index(drop=True)


def unassigned_finished(data: ReportData, group_type: str) -> str | None:
    """Finished courses published under "UNKNOWN" for a level, as written; None when there are none."""
    rows = data.level(group_type)
    if rows.empty:
        return None
    code_col, name_col = ("ORG_CODE2", "ORG_NAME2") if group_type == "Provider" else ("ORG_CODE1", "ORG_NAME1")
    unknown = rows[[_is_unknown_org(c, n) for c, n in zip(rows[code_col], rows[name_col])]]
    unknown = unknown[unknown["MEASURE_ID"] == "M076"]
    if unknown.empty:
        return None
    cell = published_values(unknown, national=False).iloc[0]
    return format_for_text(cell, "count") if cell not in (SUPPRESSED, "") and float(cell) > 0 else None


def spread_sentence(frame: pd.DataFrame, what: str) -> str | None:
    """"Across the 7 commissioning regions, recovery rates ranged from 41% (X) to 60% (Y)."

    From the published rates of every organisation in ``frame``; organisations whose rate is
    not published are counted in a second sentence. None when fewer than two rates are published.
    """
    categories = [Category(row["name"], row["recovery_rate"], format_for_text_or_empty(row["Recovery rate"]))
                  for _, row in frame.iterrows()]
    published = [c for c in categories if c.published]
    if len(published) < 2:
        return None
    high = max(c.value for c in published)
    low = min(c.value for c in published)

    def named(value):
        tied = [c.label for c in published if c.value == value]
        return narrative.and_list(tied)

    text = next(c.text for c in published if c.value == low), next(c.text for c in published if c.value == high)
    if high == low:
        sentence = f"Across the {len(published)} {what}, every published recovery rate was {text[1]}."
    else:
        sentence = (f"Across the {len(published)} {what}, recovery rates ranged from {text[0]} ({named(low)}) to "
                    f"{text[1]} ({named(high)}).")
    withheld = len(categories) - len(published)
    if withheld:
        sentence += (f" {withheld} more had too few referrals to publish a rate." if withheld > 1 else
                     " One more had too few referrals to publish a rate.")
    return sentence

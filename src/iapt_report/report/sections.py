"""The content of each report section, computed from ``ReportData``.

Each function returns plain values and tidy tables: the published figures as text (disclosure
control already applied by ``ReportData``), and the numbers a chart may plot. The section
notebooks call these, draw the charts and hand everything to the report; the wording of
sentences is in :mod:`iapt_report.narrative`.

Conventions every section keeps:

* a sentence holds only published figures (``ReportData.figure`` is None for a suppressed or
  missing one, and the sentence is rewritten or left out);
* a table cell shows ``*`` for a suppressed figure (explained under the table by
  :data:`SUPPRESSED_LEGEND`) and is empty where a figure is not published at all;
* a percentage derived here is computed from unrounded counts, or not at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timezone

import pandas as pd

from . import census, narrative
from iapt_report.engine.disclosure import SUPPRESSED, publish_cell, round_half_up
from .narrative import Category, Point
from iapt_report.data.periods import Period
from iapt_report.reference import code_lists
from .report_data import ReportData, format_cell, format_for_text, published_values

#: the legend under any table that holds a suppressed cell
SUPPRESSED_LEGEND = "* Not published to protect confidentiality: a count under 5, or a figure based on under 5 referrals."

#: organisation codes that stand for "no organisation recorded", never an organisation
UNKNOWN_ORG_CODES = {"UNKNOWN", "UNK", "X", "-1", "-3", ""}


def period_name(data: ReportData, period: Period | None = None) -> str:
    """"September 2020" for a month, "2020-21" for a financial year."""
    return narrative.period_name(period or data.period)


def caption(text: str, frame: pd.DataFrame | None = None) -> str:
    """A table caption, with the suppression legend when any cell of ``frame`` is ``*``."""
    if frame is not None and (frame.astype(str) == SUPPRESSED).any().any():
        return f"{text}. {SUPPRESSED_LEGEND}"
    return text


def derived_percentage(data: ReportData, numerator: float, denominator: float) -> str | None:
    """A percentage computed here, for a sentence: "52.1%" (England), "52%" below; None when it
    cannot be stated (no denominator, a numerator under 5 below England, or counts that were
    rounded before they reached us)."""
    cell = derived_percentage_cell(data, numerator, denominator)
    return cell if cell not in (SUPPRESSED, "") else None


def derived_percentage_cell(data: ReportData, numerator: float, denominator: float) -> str:
    """The same as a table cell: ``*`` below England when the numerator is under 5, "" when the
    percentage cannot be computed from unrounded counts."""
    if not data.values_unrounded or not denominator or denominator <= 0 or numerator != numerator:
        return ""
    value = 100.0 * numerator / denominator
    return format_cell(publish_cell(value, "percentage", national=data.national, base_count=numerator), "percentage")


def derived_count_cell(data: ReportData, value: float) -> str:
    """A count computed here (e.g. a sum) as a table cell; "" when it cannot be computed exactly."""
    if value != value or not data.values_unrounded:
        return ""
    return format_cell(publish_cell(value, "count", national=data.national), "count")


def derived_count(data: ReportData, value: float) -> str | None:
    """A count computed here, for a sentence; None when suppressed or not computable."""
    cell = derived_count_cell(data, value)
    return cell if cell not in (SUPPRESSED, "") else None


def number_from_text(published: str) -> float:
    """A published figure ("52%", "1,234", "52") as a number for a chart; NaN when suppressed or missing.

    Charts of sub-national data plot what is published, never more precise values.
    """
    cleaned = str(published).replace(",", "").rstrip("%").strip()
    try:
        return float(cleaned)
    except ValueError:
        return float("nan")


def rate_as_text(value: float, national: bool) -> str:
    """A rate such as 'per 100,000' to one decimal place (nationally) or whole (below); "" when NaN."""
    if value != value:  # NaN
        return ""
    return f"{round_half_up(value, 1 if national else 0):,}"


# --- series over periods ---------------------------------------------------------------------------

def series(data: ReportData, measure_id: str, last: int | None = None) -> list[Point]:
    """One measure over the build's periods (oldest first) as :class:`narrative.Point`s: the
    value a chart plots and the figure as written, NaN/"" where it is not published."""
    periods = data.periods()
    if last:
        periods = periods[-last:]
    out = []
    for period in periods:
        try:
            data.statistic(measure_id, period)
        except LookupError:
            continue
        out.append(Point(narrative.period_name(period), data.number(measure_id, period),
                         data.figure(measure_id, period) or "", period.start))
    return out


def trend(data: ReportData, measure_ids: dict[str, str], last: int = 13) -> pd.DataFrame:
    """Values over the build's periods (oldest first), for charts; long form.

    ``period`` is the period as a chart axis shows it ("Sep 2020", "2020-21"); ``value`` is what
    a chart may plot (unrounded for England, the published number below, NaN where not
    published); ``published`` is the figure as a table shows it.
    """
    rows = []
    for period in data.periods()[-last:]:
        for label, mid in measure_ids.items():
            try:
                cell = data.cell(mid, period)
            except LookupError:
                continue
            rows.append({"period": narrative.short_period_name(period), "period_start": period.start,
                         "measure": label, "value": data.number(mid, period), "published": cell})
    return pd.DataFrame(rows, columns=["period", "period_start", "measure", "value", "published"])


def describe_series(data: ReportData, measure_id: str, what: str, *, plural: bool, last: int = 13):
    """:func:`narrative.describe_trend` of one measure over the build's periods (None if no trend)."""
    points = series(data, measure_id, last)
    if not points:
        return None
    return narrative.describe_trend(
        points, what, statistic=data.statistic(measure_id), exact=data.national, plural=plural,
        unit="months" if data.period.kind == "month" else "years",
        compare_year_earlier=data.period.kind == "month")


def comparison(data: ReportData, measure_id: str, template: str, *, only_if_compared: bool = False) -> str | None:
    """"153,472 referrals were received in June 2021, up 3.6% from 148,118 in May 2021 and ..."

    Compares the report's period with the one just before and (months) the same month a year
    earlier, where the build holds them and they are published. ``template`` holds
    ``{figure}`` and ``{period}``. None when the report's figure is not published.
    """
    if not data.shown(measure_id):
        return None
    points = {p.start: p for p in series(data, measure_id)}
    current = points.get(data.period.start)
    if current is None:
        return None
    kind = data.period.kind
    previous = next((p for start, p in points.items()
                     if narrative.next_period(narrative.period_starting(start, kind)).start == data.period.start), None)
    year_earlier = None
    if kind == "month":
        start = data.period.start
        year_earlier = points.get(start.replace(year=start.year - 1))
    return narrative.comparison_sentence(current, template, statistic=data.statistic(measure_id),
                                         exact=data.national, previous=previous, year_earlier=year_earlier,
                                         only_if_compared=only_if_compared)


# --- key facts --------------------------------------------------------------------------------

KEY_FACT_MEASURES = {
    "referrals_received": "M001",
    "entered_treatment": "M031",
    "ended_referrals": "M056",
    "finished_course": "M076",
    "mean_sessions": "M141",
    "waited_6_weeks_count": "M052",
    "waited_6_weeks_rate": "M053",
    "waited_18_weeks_rate": "M055",
    "recovery_rate": "M192",
    "reliable_improvement_rate": "M186",
    "reliable_recovery_rate": "M195",
    "deterioration_rate": "M1010",
    "internet_therapy_sessions": "M343",
    "first_integrated_contacts": "M271",
}

KEY_FACT_LABELS = {
    "M001": "referrals received", "M031": "referrals entering treatment", "M056": "ended referrals",
    "M076": "referrals finishing a course", "M141": "treatment sessions", "M053": "waits to enter treatment",
    "M192": "recovery", "M186": "reliable improvement", "M195": "reliable recovery",
    "M1010": "reliable deterioration", "M343": "internet-enabled therapy sessions", "M271": "integrated care contacts",
}

#: what the key-facts comparisons describe, in order: (measure, sentence template)
KEY_FACT_COMPARISONS = [
    ("M001", "{figure} referrals were received in {period}"),
    ("M031", "{figure} referrals entered treatment in {period}"),
    ("M076", "{figure} referrals finished a course of treatment in {period}"),
    ("M192", "The recovery rate was {figure} in {period}"),
]


def key_facts(data: ReportData) -> dict[str, str]:
    """The headline figures, as text, by name (for ``{{< var key_facts.NAME >}}``).

    Every name of :data:`KEY_FACT_MEASURES` is set: to the figure as written, or to "" when the
    measure is absent, suppressed or missing, so that the report leaves its line out (a
    suppressed value never sits in a sentence). ``not_in_source`` says in one line which
    figures the source does not hold ("" when none).
    """
    facts = {name: data.figure(mid) or "" for name, mid in KEY_FACT_MEASURES.items()}
    facts["period"] = period_name(data)
    bullets = any(facts[name] for name in KEY_FACT_MEASURES)
    facts["lead_in"] = f"In {facts['period']}:" if bullets else ""
    facts["none_published"] = "" if bullets else (
        f"No headline figure for {data.org_name} in {facts['period']} can be published: each rests on too few "
        "referrals to publish without risk of identifying people.")
    facts["organisation"] = data.org_name if data.national else f"{data.org_name} ({data.org})"
    facts["referrals_received_phrase"] = in_words(data, "M001") or ""
    entered_share = (derived_percentage(data, data.value("M031"), data.value("M001"))
                     if data.shown("M031") and data.shown("M001") else None)
    facts["entered_treatment_share_of_referrals"] = entered_share or ""
    held = {mid for mid in KEY_FACT_LABELS if data.has(mid)}
    if "M053" not in held:  # the annual tables give waits as a breakdown of finished courses
        waits = waits_from_breakdown(data)
        if waits is not None:
            facts["waited_6_weeks_rate"] = waits["within_6_weeks"] or ""
            facts["waited_18_weeks_rate"] = waits["within_18_weeks"] or ""
            held.add("M053")
    missing = list(dict.fromkeys(label for mid, label in KEY_FACT_LABELS.items() if mid not in held))
    facts["not_in_source"] = (f"The source for this report does not hold figures for {narrative.and_list(missing)}, "
                              "so they are left out." if missing and data.from_published_file else "")
    # only worth saying when there is an earlier period to compare with
    sentences = [comparison(data, mid, template, only_if_compared=True) for mid, template in KEY_FACT_COMPARISONS]
    facts["comparison_sentences"] = " ".join(s for s in sentences if s)
    return facts


def in_words(data: ReportData, measure_id: str) -> str | None:
    """A count as published, with millions in words: "1,439,957 (1.44 million)"; None when not published."""
    text = data.figure(measure_id)
    if text is None:
        return None
    value = number_from_text(data.published(measure_id))
    if value >= 1_000_000:
        return f"{text} ({round_half_up(value / 1_000_000, 2):.2f} million)"
    return text


def outcomes_sentence(data: ReportData, when: str) -> str | None:
    """"58,421 referrals finished a course of treatment in June 2021. Of those that started at
    caseness, 51.5% moved to recovery ..." from the published measures only; None if none is."""
    sentences = []
    finished = data.figure("M076")
    if finished:
        sentences.append(f"{finished} referrals finished a course of treatment in {when}.")
    recovery, reliable_recovery = data.figure("M192"), data.figure("M195")
    if recovery and reliable_recovery:
        sentences.append(f"Of those that started treatment at caseness, {recovery} moved to recovery and "
                         f"{reliable_recovery} reliably recovered.")
    elif recovery or reliable_recovery:
        sentences.append(f"Of those that started treatment at caseness, "
                         + (f"{recovery} moved to recovery." if recovery else f"{reliable_recovery} reliably recovered."))
    changes = [(data.figure(mid), words) for mid, words in (("M186", "showed reliable improvement"),
                                                            ("M1010", "showed reliable deterioration"))]
    changes = [f"{figure} {words}" for figure, words in changes if figure]
    if changes:
        sentences.append(f"Of all referrals that finished a course, {narrative.and_list(changes)}.")
    return " ".join(sentences) or None


def key_facts_table(data: ReportData) -> pd.DataFrame:
    labels = {
        "M001": "Referrals received",
        "M031": "Referrals that entered treatment",
        "M056": "Referrals that ended",
        "M076": "Referrals that finished a course of treatment",
        "M141": "Mean number of treatment sessions (finished a course)",
        "M053": "Finished a course: waited 6 weeks or less to enter treatment",
        "M055": "Finished a course: waited 18 weeks or less to enter treatment",
        "M192": "Recovery rate",
        "M186": "Reliable improvement rate",
        "M195": "Reliable recovery rate",
        "M1010": "Reliable deterioration rate",
        "M343": "Internet-enabled therapy sessions",
        "M271": "Referrals with a first integrated care contact",
    }
    rows = [(label, data.cell(mid)) for mid, label in labels.items() if data.has(mid)]
    # a figure that could not be calculated at all (e.g. a mean of no referrals) has no row
    return pd.DataFrame([r for r in rows if r[1] != ""], columns=["Measure", period_name(data)])


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


# --- demographics and ethnicity ----------------------------------------------------------------

def breakdown_counts(data: ReportData, variable_type: str, measure_id: str = "M001",
                     groups_only: bool = True) -> pd.DataFrame:
    """One measure (default referrals received) for each value of an annual breakdown.

    Columns: label, group, count (unrounded, or as published for a published file's rows below
    England; for rates computed from unrounded counts), published (the table cell: ``*`` when
    suppressed, "" when not published).
    """
    rows = data.rows(variable_type=variable_type)
    if rows.empty:
        return pd.DataFrame(columns=["label", "group", "count", "published"])
    rows = rows[rows["MEASURE_ID"] == measure_id]
    group_rows = rows["VARIABLE_B"].isin(list(GROUP_ROW_LABELS))
    if groups_only and not group_rows.any() and len(rows):
        return _groups_from_categories(data, rows)
    rows = rows[group_rows] if groups_only else rows[~group_rows]
    published = data.published_table(rows)
    label = rows["VARIABLE_A"] if groups_only else rows["VARIABLE_B"]
    return pd.DataFrame({
        "label": label.values,
        "group": rows["VARIABLE_A"].values,
        "count": rows["MEASURE_VALUE"].values,
        "published": [format_cell(v, "count") for v in published.loc[rows.index]],
    }, columns=["label", "group", "count", "published"])


def in_age_order(counts: pd.DataFrame) -> pd.DataFrame:
    """Age-group rows youngest first (the code list's order), "not stated" last; rows whose
    labels the code list does not hold (other years' groups) keep the source's order."""
    order = {label: i for i, (label, _low, _high) in enumerate(code_lists()["age_groups"])}
    known = [label in order or narrative.is_not_stated(label) for label in counts["label"]]
    if counts.empty or not all(known):
        return counts
    return counts.sort_values("label", key=lambda labels: labels.map(lambda label: order.get(label, len(order))),
                              kind="mergesort").reset_index(drop=True)


def _groups_from_categories(data: ReportData, rows: pd.DataFrame) -> pd.DataFrame:
    """Group counts summed from category rows, for a source that publishes only categories
    (the 2014-15 to 2016-17 annual ethnic tables). A group with a suppressed or missing
    category has no total: its count is NaN and its cell empty, never a partial sum; nor
    is a sum of counts that were rounded before they reached us."""
    out = []
    for group, cell in rows.groupby("VARIABLE_A", sort=False):
        values = cell["MEASURE_VALUE"].astype(float)
        total = float(values.sum()) if values.notna().all() and data.values_unrounded else float("nan")
        out.append({"label": group, "group": group, "count": total, "published": derived_count_cell(data, total)})
    return pd.DataFrame(out, columns=["label", "group", "count", "published"])


def shares(counts: pd.DataFrame, data: ReportData, *, stated_only: bool = True) -> pd.Series:
    """Each row's share of the total (table cells), from unrounded counts; "not stated" rows are
    left out of the base when ``stated_only`` (and get an empty cell)."""
    stated = [not narrative.is_not_stated(label) for label in counts["label"]]
    known = counts["count"].astype(float)
    base_rows = known[stated] if stated_only else known
    if base_rows.isna().any() or not data.values_unrounded:
        return pd.Series([""] * len(counts), index=counts.index)
    total = float(base_rows.sum())
    return pd.Series([derived_percentage_cell(data, value, total) if keep or not stated_only else ""
                      for value, keep in zip(known, stated)], index=counts.index)


@dataclass(frozen=True)
class BreakdownActivity:
    """What a comparison with the population counts, and how the prose names it."""

    measure_id: str
    groups: pd.DataFrame  # breakdown_counts of the measure
    counted: str  # "referrals received": what a count is of
    people: str  # "people referred": the same counted as people
    did: str  # "<group> people were referred at ..."


#: what the ethnicity comparison counts, in order of preference: referrals received where the
#: source breaks them down by ethnic group; otherwise finished courses (the 2014-15 to 2016-17
#: annual tables break down only the outcome measures by ethnic group)
ETHNICITY_ACTIVITIES = [
    ("M001", "referrals received", "people referred", "were referred"),
    ("M076", "courses of treatment finished", "people who finished a course of treatment",
     "finished a course of treatment"),
]


def breakdown_activity(data: ReportData, variable_type: str) -> BreakdownActivity:
    """The first of :data:`ETHNICITY_ACTIVITIES` the breakdown holds (referrals, with no groups, if none)."""
    choices = [BreakdownActivity(measure_id, breakdown_counts(data, variable_type, measure_id), *words)
               for measure_id, *words in ETHNICITY_ACTIVITIES]
    return next((choice for choice in choices if not choice.groups.empty), choices[0])


#: which Census the rates use, and why (demographics and ethnicity, England reports)
CENSUS_NOTE = (
    "Rates per 100,000 use the population of England at the 2011 Census (ONS table DC2101EW). The 2021 Census "
    "tables of ethnic group by age for England are not yet in this project's reference data, and the 2011 tables "
    "give the population aged 16 and over for every ethnic group, so one Census serves every breakdown. England's "
    "population grew by about 6.6% between the 2011 and 2021 Censuses (ONS), and by more in some ethnic groups than "
    "in others, so these rates are higher than rates against today's population would be, by different amounts for "
    "different groups: read comparisons between groups as approximate.")


def census_rates(counts: pd.DataFrame, by: str, base: str, national: bool) -> tuple[pd.Series, pd.Series]:
    """Rates per 100,000 of the 2011 Census population for each row of ``counts`` (from
    :func:`breakdown_counts`): as table text and as numbers, "" / NaN for a row with no Census
    population (not stated, an age group the Census table cannot form), an incomplete count, or
    any row of a report below England (the Census populations are for England)."""
    empty = pd.Series([""] * len(counts), index=counts.index), pd.Series(float("nan"), index=counts.index)
    if not national or counts.empty:
        return empty
    known = counts[counts["label"].isin(census.census_population(by, base)[by]) & counts["count"].notna()]
    if known.empty:
        return empty
    rates = census.rates_per_100k(known.rename(columns={"label": by}), by, base=base, value_col="count")
    numbers = counts["label"].map(dict(zip(rates[by], rates["rate_per_100k"]))).astype(float)
    return numbers.map(lambda r: rate_as_text(r, True)), numbers


DEPRIVATION = "Indices of Deprivation Decile"


def deprivation_table(data: ReportData) -> pd.DataFrame:
    """Referrals received, finished courses and recovery rate by deprivation decile of the area
    people live in (Index of Multiple Deprivation), as published; empty when the source has none.

    Columns: Decile, and whichever of "Referrals received", "Finished a course", "Recovery rate"
    the source holds; ``recovery_rate`` and ``finished`` are numbers for charts and findings.
    """
    rows = data.rows(variable_type=DEPRIVATION)
    if rows.empty:
        return pd.DataFrame()
    published = data.published_table(rows)
    by_decile: dict[str, dict[str, str]] = {}
    for index, row in rows.iterrows():
        by_decile.setdefault(row["VARIABLE_A"], {})[row["MEASURE_ID"]] = published.loc[index]
    held = [(mid, column, statistic) for mid, column, statistic in
            (("M001", "Referrals received", "count"), ("M076", "Finished a course", "count"),
             ("M192", "Recovery rate", "percentage")) if rows["MEASURE_ID"].eq(mid).any()]
    out = []
    for decile in sorted(by_decile, key=lambda d: (narrative.is_not_stated(d), d)):
        cells = by_decile[decile]
        row = {"Decile": decile}
        for mid, column, statistic in held:
            row[column] = format_cell(cells.get(mid, ""), statistic)
        row["recovery_rate"] = number_from_text(cells.get("M192", ""))
        row["finished"] = number_from_text(cells.get("M076", ""))
        out.append(row)
    return pd.DataFrame(out)


# --- about the statistics ------------------------------------------------------------------------

COVID_MONTHS = (Period.parse("2020-03").start, Period.parse("2022-03").end)
#: when services began to submit a new version of the IAPT data set (a period that contains the
#: date says so)
DATASET_VERSIONS = [
    (Period.parse("2020-09").start, "services began to submit version 2.0 of the IAPT data set in September 2020"),
    (Period.parse("2022-04").start, "services began to submit version 2.1 of the IAPT data set in April 2022"),
]


def _release_date() -> str:
    """The date the report is produced: ``SOURCE_DATE_EPOCH`` when set (reproducible builds), else today."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    day = datetime.fromtimestamp(int(epoch), tz=timezone.utc).date() if epoch.isdigit() else date.today()
    return f"{day.day} {narrative.month_name(day)}"


def about_statements(data: ReportData, *, synthetic: bool, published_name: str | None) -> dict[str, str]:
    """What the report says about its data (``about.*`` variables): the source, the publication
    metadata (status, period, coverage, release, next release, contact) and the notes that
    depend on the source and period (COVID-19, data set versions). A note that does not apply
    is "" (the report leaves its line out). Plain text: the report sources add any emphasis."""
    period = data.period
    when = period_name(data)
    start, end = period.start, period.end
    covered = (f"{start.day} {narrative.month_name(start)} to {end.day} {narrative.month_name(end)}")
    if data.national:
        coverage = "England: NHS-funded NHS Talking Therapies services for anxiety and depression"
    else:
        coverage = f"{data.org_name} ({data.org}), {narrative.level_name(data.group_type, period)}"
    following = narrative.period_name(narrative.next_period(period))
    if published_name is not None:
        headline = "Figures as published by NHS England (formerly NHS Digital)."
        statement = (f"Source: NHS Digital/NHS England published statistics, {published_name}. Figures are shown as "
                     "published, with NHS England's disclosure control; nothing is revised or re-estimated here.")
        status = "Official statistics published by NHS England, re-presented in this report"
        contact = ("NHS England (formerly NHS Digital), which publishes NHS Talking Therapies statistics, for "
                   "questions about the source figures")
    elif synthetic:
        headline = "These figures are built from synthetic data."
        statement = ("The records were generated to resemble NHS Talking Therapies activity; organisation names are "
                     "fictional. They are not official statistics and must not be quoted as such.")
        status = "Synthetic data: not official statistics"
        contact = "not applicable: a demonstration report built from synthetic data"
    else:
        headline = "Figures from the NHS Talking Therapies data set."
        statement = (f"Computed from record-level NHS Talking Therapies (IAPT) data for {when}, with NHS England's "
                     "measure definitions and disclosure control.")
        status = "Official statistics"
        contact = "The team that produced this report"
    covid = ""
    if period.start <= COVID_MONTHS[1] and period.end >= COVID_MONTHS[0]:
        covid = ("The COVID-19 pandemic affected NHS Talking Therapies from March 2020: referrals fell sharply in "
                 "the spring of 2020 and most appointments moved to telephone and video. Take care when comparing "
                 "figures for this period with earlier or later ones.")
        if synthetic:
            covid += " The synthetic data imitate the fall in referrals in spring 2020."
    versions = [words for day, words in DATASET_VERSIONS if period.start <= day <= period.end]
    dataset_note = ""
    if versions:
        dataset_note = (narrative.capitalise(narrative.and_list(versions)) + ": figures either side of a change of "
                        "version may not be fully comparable.")
    return {
        "data_headline": headline,
        "data_statement": statement,
        "status": status,
        "period_covered": covered,
        "coverage": coverage,
        "release_date": _release_date(),
        "next_release": f"Statistics for {following}",
        "contact": contact,
        "covid_note": covid,
        "dataset_note": dataset_note,
    }


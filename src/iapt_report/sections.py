"""The content of each report section, computed from ``ReportData``.

Each function returns plain values and tidy tables: the published figures as text (disclosure
control already applied by ``ReportData``), and the unrounded numbers a chart needs. The
section notebooks call these, draw the charts and hand everything to the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .disclosure import SUPPRESSED, publish_cell, round_half_up
from .reference import code_lists
from .report_data import ReportData, format_for_text, published_values

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]


def period_name(data: ReportData) -> str:
    """"September 2020" for a month, "2020-21" for a financial year."""
    p = data.period
    return f"{MONTHS[p.start.month - 1]} {p.start.year}" if p.kind == "month" else f"{p.start.year}-{str(p.end.year)[2:]}"


def derived_percentage(data: ReportData, numerator: float, denominator: float) -> str:
    """A percentage computed here from unrounded counts, published by the same rule as a measure."""
    if denominator <= 0:
        return "not available"
    value = 100.0 * numerator / denominator
    return format_for_text(publish_cell(value, "percentage", national=data.national, base_count=numerator), "percentage")


def number_from_text(published: str) -> float:
    """A published figure ("52%", "1,234", "52") as a number for a chart; NaN when suppressed or missing.

    Charts of sub-national data plot what is published, never more precise values.
    """
    cleaned = str(published).replace(",", "").rstrip("%").strip()
    try:
        return float(cleaned)
    except ValueError:
        return float("nan")


def derived_count(data: ReportData, value: float) -> str:
    return format_for_text(publish_cell(value, "count", national=data.national), "count")


# --- key facts --------------------------------------------------------------------------------

KEY_FACT_MEASURES = {
    "referrals_received": "M001",
    "entered_treatment": "M031",
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
    "ended_referrals": "M056",
}


KEY_FACT_LABELS = {
    "M001": "referrals received", "M031": "referrals entering treatment", "M076": "referrals finishing a course",
    "M141": "treatment sessions", "M052": "waits to enter treatment", "M053": "waits to enter treatment",
    "M055": "waits to enter treatment", "M192": "recovery", "M186": "reliable improvement",
    "M195": "reliable recovery", "M1010": "reliable deterioration", "M343": "internet-enabled therapy sessions",
    "M271": "integrated care contacts", "M056": "ended referrals",
}


def key_facts(data: ReportData) -> dict[str, str]:
    """The headline figures, as text, by name (for ``{{< var key_facts.NAME >}}``).

    A figure whose measure is not in the report's measures is not set (the report leaves its
    line out); ``not_in_source`` says in one line which figures are missing ("" when none).
    """
    facts = {name: data.text(mid) for name, mid in KEY_FACT_MEASURES.items() if data.has(mid)}
    facts["period"] = period_name(data)
    facts["organisation"] = data.org_name if data.national else f"{data.org_name} ({data.org})"
    if data.has("M001"):
        facts["referrals_received_phrase"] = in_words(data, "M001")
    if data.has("M001", "M031"):
        facts["entered_treatment_share_of_referrals"] = derived_percentage(data, data.value("M031"), data.value("M001"))
    missing = list(dict.fromkeys(label for mid, label in KEY_FACT_LABELS.items() if not data.has(mid)))
    facts["not_in_source"] = (f"The source for this report does not hold figures for {_and_list(missing)}, so "
                              "they are left out." if missing and data.from_published_file else "")
    return facts


def in_words(data: ReportData, measure_id: str) -> str:
    """A count as published, with millions in words: "1,439,957 (1.44 million)"; smaller counts as text."""
    text = data.text(measure_id)
    value = number_from_text(data.published(measure_id))
    if value == value and value >= 1_000_000:
        return f"{text} ({round_half_up(value / 1_000_000, 2):.2f} million)"
    return text


def _and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def outcomes_sentence(data: ReportData, when: str) -> str | None:
    """"N referrals finished a course ... recovery rate was X ..." from the measures present; None if none."""
    parts = []
    if data.has("M192"):
        parts.append(f"The recovery rate was {data.text('M192')}")
    rates = [(mid, words) for mid, words in (("M186", "showed reliable improvement"),
                                             ("M1010", "reliable deterioration")) if data.has(mid)]
    sentence = ""
    if data.has("M076"):
        sentence = f"{data.text('M076')} referrals finished a course of treatment in {when}."
    if parts or rates:
        clauses = parts + [f"{data.text(mid)} {words}" for mid, words in rates]
        if not parts:
            clauses[0] = clauses[0][0].upper() + clauses[0][1:]
        sentence = (sentence + " " + (", ".join(clauses[:-1]) + " and " + clauses[-1] if len(clauses) > 1
                                      else clauses[0]) + ".").strip()
    return sentence or None


def key_facts_table(data: ReportData) -> pd.DataFrame:
    labels = {
        "M001": "Referrals received",
        "M031": "Referrals that entered treatment",
        "M076": "Referrals that finished a course of treatment",
        "M141": "Mean number of treatment sessions (finished a course)",
        "M053": "Finished a course: waited 6 weeks or less to enter treatment",
        "M055": "Finished a course: waited 18 weeks or less to enter treatment",
        "M192": "Recovery rate",
        "M186": "Reliable improvement rate",
        "M195": "Reliable recovery rate",
        "M343": "Internet-enabled therapy sessions",
    }
    rows = [(label, data.text(mid)) for mid, label in labels.items() if data.has(mid)]
    return pd.DataFrame(rows, columns=["Measure", period_name(data)])


# --- trends -----------------------------------------------------------------------------------

def trend(data: ReportData, measure_ids: dict[str, str], last: int = 13) -> pd.DataFrame:
    """Values over the build's periods (oldest first), for charts; long form.

    ``value`` is what a chart may plot: unrounded for England, the published figure (rounded,
    NaN where suppressed) for any other organisation.
    """
    rows = []
    for period in data.periods()[-last:]:
        for label, mid in measure_ids.items():
            try:
                published = data.published(mid, period)
                value = data.value(mid, period) if data.national else number_from_text(published)
            except LookupError:
                continue
            rows.append({"period": period.label, "period_start": period.start, "measure": label,
                         "value": value, "published": published})
    return pd.DataFrame(rows, columns=["period", "period_start", "measure", "value", "published"])


# --- activity and waiting times ---------------------------------------------------------------

WAIT_BANDS = {"28 days or less": "M032", "29 to 56 days": "M033", "57 to 90 days": "M034", "Over 90 days": "M035"}


def referral_sources(data: ReportData) -> pd.DataFrame:
    total, self_ref, gp = data.value("M001"), data.value("M002"), data.value("M003")
    other = total - self_ref - gp
    rows = [
        ("Self-referral", data.text("M002"), derived_percentage(data, self_ref, total), self_ref),
        ("GP", data.text("M003"), derived_percentage(data, gp, total), gp),
        ("Other sources", derived_count(data, other), derived_percentage(data, other, total), other),
        ("All referrals", data.text("M001"), "100%" if total else "not available", total),
    ]
    return pd.DataFrame(rows, columns=["Source of referral", "Referrals", "Share", "unrounded"])


def waits_to_treatment(data: ReportData) -> pd.DataFrame:
    """Referrals entering treatment by wait band (days from referral to first treatment)."""
    entered = data.value("M031")
    rows = []
    for band, mid in WAIT_BANDS.items():
        count = data.value(mid)
        share = derived_percentage(data, count, entered)
        rows.append((band, data.text(mid), share, number_from_text(share), count))
    return pd.DataFrame(rows, columns=["Wait to first treatment", "Entered treatment", "Share",
                                       "share_published", "unrounded"])


def ended_by_reason(data: ReportData) -> pd.DataFrame:
    """Ended referrals by end reason, largest first; reasons with none are left out."""
    rules = code_lists()
    rows = []
    for code, (label, group, mid) in rules["end_code"].items():
        if data.has(mid):
            rows.append((label, group, mid))
    rows.append(("Invalid end code", "", rules["end_code_invalid_measure"]))
    rows.append(("No end reason recorded", "", rules["end_code_missing_measure"]))
    ended = data.value("M056")
    out = []
    for label, group, mid in rows:
        count = data.value(mid)
        if count > 0:
            out.append((label, group, data.text(mid), derived_percentage(data, count, ended), count))
    frame = pd.DataFrame(out, columns=["End reason", "Seen and treated?", "Referrals", "Share of ended", "unrounded"])
    return frame.sort_values("unrounded", ascending=False, kind="mergesort").reset_index(drop=True)


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
    rows = [(label, data.text(mid)) for label, mid in OUTCOME_MEASURES.items() if data.has(mid)]
    return pd.DataFrame(rows, columns=["Outcome", period_name(data)])


def outcomes_by(data: ReportData, variable_type: str, group_level_only: bool = True) -> pd.DataFrame:
    """Finished a course and recovery rate for each value of an annual breakdown.

    ``group_level_only`` keeps the group rows (VARIABLE_B "All" or empty), not categories.
    Rates are published from unrounded counts; a group whose recovered count is under 5 shows
    as suppressed, and is left out of charts (``recovery_rate`` is NaN there).
    """
    rows = data.rows(variable_type=variable_type)
    if rows.empty:
        return pd.DataFrame(columns=[variable_type, "Finished a course", "Recovery rate", "recovery_rate", "finished"])
    if group_level_only:
        rows = rows[rows["VARIABLE_B"].isin(["All", ""])]
    published = data.published_table(rows)
    out = []
    for group, cell in rows.groupby("VARIABLE_A", sort=True):
        values = dict(zip(cell["MEASURE_ID"], cell["MEASURE_VALUE"]))
        texts = dict(zip(cell["MEASURE_ID"], published.loc[cell.index]))
        rate_text = texts.get("M192", "")
        out.append({
            variable_type: group,
            "Finished a course": format_for_text(texts.get("M076", ""), "count"),
            "Recovery rate": format_for_text(rate_text, "percentage"),
            "recovery_rate": number_from_text(rate_text),
            "finished": values.get("M076", 0.0),
        })
    return pd.DataFrame(out)


# --- variation --------------------------------------------------------------------------------

def recovery_by_organisation(data: ReportData, group_type: str) -> pd.DataFrame:
    """Recovery rate per organisation of a level, with the unrounded counts a funnel plot needs.

    Published text follows the sub-national rule; organisations whose recovery denominator is
    under 5 are marked and kept out of charts.
    """
    rows = data.level(group_type)
    if rows.empty:
        return pd.DataFrame(columns=["code", "name", "recovered", "denominator", "recovery_rate", "Recovery rate",
                                     "Finished a course"])
    code_col, name_col = ("ORG_CODE2", "ORG_NAME2") if group_type == "Provider" else ("ORG_CODE1", "ORG_NAME1")
    wide = rows.pivot_table(index=[code_col, name_col], columns="MEASURE_ID", values="MEASURE_VALUE", aggfunc="first",
                            dropna=False)
    as_published, finished_published = {}, {}
    if data.from_published_file:  # the published rate, not one recomputed from rounded counts
        rates = rows[rows["MEASURE_ID"] == "M192"]
        as_published = dict(zip(zip(rates[code_col], rates[name_col]), published_values(rates, national=False)))
        counts = rows[rows["MEASURE_ID"] == "M076"]
        finished_published = dict(zip(zip(counts[code_col], counts[name_col]), published_values(counts, national=False)))
    out = []
    for (code, name), values in wide.iterrows():
        recovered, finished, not_caseness = values.get("M191", 0), values.get("M076", 0), values.get("M179", 0)
        denominator = finished - not_caseness
        rate = 100.0 * recovered / denominator if denominator > 0 else float("nan")
        rate_text = publish_cell(rate, "percentage", national=False, base_count=recovered)
        if (code, name) in as_published:
            rate_text = as_published[(code, name)]
            rate = number_from_text(rate_text)
        out.append({
            "code": code,
            "name": name,
            "recovered": recovered,
            "denominator": denominator,
            "recovery_rate": rate if rate_text not in (SUPPRESSED, "") else float("nan"),
            "Recovery rate": format_for_text(rate_text, "percentage"),
            "Finished a course": format_for_text(finished_published.get((code, name),
                                                                        publish_cell(finished, "count", national=False)),
                                                 "count"),
        })
    frame = pd.DataFrame(out)
    return frame.sort_values(["recovery_rate", "code"], ascending=[False, True], na_position="last",
                             kind="mergesort").reset_index(drop=True)


def spread_sentence(frame: pd.DataFrame, what: str) -> str:
    """"Recovery rates ranged from 41% (X) to 60% (Y) across 7 regions." from published rates."""
    shown = frame.dropna(subset=["recovery_rate"])
    if len(shown) < 2:
        return f"Too few {what} had enough referrals to compare recovery rates."
    high, low = shown.iloc[0], shown.iloc[-1]
    return (f"Recovery rates ranged from {low['Recovery rate']} ({low['name']}) to {high['Recovery rate']} "
            f"({high['name']}) across {len(shown)} {what}.")


# --- demographics and ethnicity ----------------------------------------------------------------

def breakdown_counts(data: ReportData, variable_type: str, measure_id: str = "M001",
                     groups_only: bool = True) -> pd.DataFrame:
    """One measure (default referrals received) for each value of an annual breakdown.

    Columns: label, count (unrounded, for rates computed from unrounded counts), published
    (text as published: rounded and suppressed below England).
    """
    rows = data.rows(variable_type=variable_type)
    rows = rows[rows["MEASURE_ID"] == measure_id]
    group_rows = rows["VARIABLE_B"].isin(["All", ""])
    if groups_only and not group_rows.any() and len(rows):
        return _groups_from_categories(data, rows)
    rows = rows[group_rows] if groups_only else rows[~group_rows]
    published = data.published_table(rows)
    label = rows["VARIABLE_A"] if groups_only else rows["VARIABLE_B"]
    return pd.DataFrame({
        "label": label.values,
        "group": rows["VARIABLE_A"].values,
        "count": rows["MEASURE_VALUE"].values,
        "published": [format_for_text(v, "count") for v in published.loc[rows.index]],
    })


def _groups_from_categories(data: ReportData, rows: pd.DataFrame) -> pd.DataFrame:
    """Group counts summed from category rows, for a source that publishes only categories
    (the 2014-15 to 2016-17 annual ethnic tables). A group with a suppressed or missing
    category has no total: its count is NaN and it reads "not available", never a partial sum."""
    out = []
    for group, cell in rows.groupby("VARIABLE_A", sort=False):
        values = cell["MEASURE_VALUE"].astype(float)
        total = float(values.sum()) if values.notna().all() else float("nan")
        published = publish_cell(total, "count", national=data.national) if total == total else ""
        out.append({"label": group, "group": group, "count": total, "published": format_for_text(published, "count")})
    return pd.DataFrame(out, columns=["label", "group", "count", "published"])


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


def rate_as_text(value: float, national: bool) -> str:
    """A rate such as 'per 100,000' to one decimal place (nationally) or whole (below)."""
    if value != value:  # NaN
        return "not available"
    return f"{round_half_up(value, 1 if national else 0):,}"


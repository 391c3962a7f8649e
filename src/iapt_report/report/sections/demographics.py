"""Demographics and ethnicity: counts and shares by breakdown, rates against the 2011 Census,
activity by group, deprivation.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from iapt_report.reference import code_lists
from iapt_report.report import census, narrative
from iapt_report.report.report_data import ReportData, format_cell

from .common import derived_count_cell, derived_percentage_cell, number_from_text, rate_as_text
from .outcomes import GROUP_ROW_LABELS

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

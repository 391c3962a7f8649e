"""What a report section reads: the measures of one report (kind, period, organisation).

A section notebook opens a ``ReportData`` from the build folder and asks it for values by
measure ID. Every figure a report shows goes through disclosure control first: for an
England report national rules apply; for any other organisation the sub-national rules
(counts under 5 suppressed, counts to the nearest 5, whole percents) apply to every number,
in the narrative, the tables and the charts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from iapt_report.data.periods import Period
from iapt_report.engine.disclosure import SUPPRESSED, publish_cell

ENGLAND = "England"
# GROUP_TYPE in which an organisation code is looked for, and which ORG_CODE column holds it
ORG_LEVELS = [("CommissioningRegion", "ORG_CODE1"), ("ICB", "ORG_CODE1"), ("SubICB", "ORG_CODE1"),
              ("Provider", "ORG_CODE2")]


class ReportDataError(LookupError):
    """The measures asked for are not in the report's measures table."""


@dataclass
class ReportData:
    """The unrounded measures of a build, seen from one organisation, with publishing rules."""

    measures: pd.DataFrame  # long table for every period of the build (measures.MEASURE_COLUMNS)
    period: Period
    org: str = ENGLAND
    # lookups worked out once: a national annual table has well over a million rows, and a
    # section asks for dozens of figures (the table is read, never changed, once opened)
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def open(cls, measures_path: str | Path, period: str, org: str = ENGLAND) -> "ReportData":
        return cls(pd.read_parquet(measures_path), Period.parse(period), org or ENGLAND)

    # --- which rows ----------------------------------------------------------------------
    @property
    def from_published_file(self) -> bool:
        """The measures were read from a file NHS Digital published (not computed here)."""
        return "PUBLISHED_VALUE" in self.measures.columns

    def counts_people(self, variable_type: str) -> bool:
        """Whether the counts of a breakdown are of people, not referrals (the legacy annual tables)."""
        if "COUNTS" not in self.measures.columns:
            return False
        rows = self.rows(variable_type=variable_type)
        return bool(len(rows)) and (rows["COUNTS"] == "people").any()

    @property
    def national(self) -> bool:
        return self.org == ENGLAND

    @property
    def group_type(self) -> str:
        return self._org_rows(self.measures)["GROUP_TYPE"].iloc[0] if not self.national else ENGLAND

    @property
    def org_name(self) -> str:
        if self.national:
            return ENGLAND
        rows = self._org_rows(self.measures)
        name_column = "ORG_NAME2" if rows["GROUP_TYPE"].iloc[0] == "Provider" else "ORG_NAME1"
        return str(rows[name_column].iloc[0])

    def _org_rows(self, table: pd.DataFrame) -> pd.DataFrame:
        if self.national:
            return table[table["GROUP_TYPE"] == ENGLAND]
        for group_type, column in ORG_LEVELS:
            rows = table[(table["GROUP_TYPE"] == group_type) & (table[column] == self.org)]
            if len(rows):
                return rows
        raise ReportDataError(
            f"organisation {self.org!r} is not in the measures (not a region, ICB, sub-ICB or provider code)"
        )

    def _slice(self, period: Period, variable_type: str) -> pd.DataFrame:
        """Every organisation's rows of one period and breakdown (positions found once for all)."""
        if "positions" not in self._cache:
            self._cache["positions"] = self.measures.groupby(
                ["REPORTING_PERIOD_START", "REPORTING_PERIOD_END", "VARIABLE_TYPE"], sort=False).indices
        found = self._cache["positions"].get((period.start.isoformat(), period.end.isoformat(), variable_type))
        return self.measures.iloc[found if found is not None else []]

    def rows(self, period: Period | None = None, variable_type: str = "Total") -> pd.DataFrame:
        """The organisation's rows for a period (default: the report's) and breakdown."""
        period = period or self.period
        key = ("rows", period, variable_type)
        if key not in self._cache:
            table = self._slice(period, variable_type)
            # e.g. a breakdown the measures do not hold: nothing to show, not an error
            self._cache[key] = table if table.empty else self._org_rows(table)
        return self._cache[key]

    def level(self, group_type: str, period: Period | None = None) -> pd.DataFrame:
        """Every organisation of one level (for variation), Total rows, for a period."""
        table = self._slice(period or self.period, "Total")
        return table[table["GROUP_TYPE"] == group_type]

    def periods(self) -> list[Period]:
        """Periods in the build of the same kind as the report, oldest first, up to the report's."""
        if "period_pairs" not in self._cache:
            self._cache["period_pairs"] = sorted(set(zip(self.measures["REPORTING_PERIOD_START"],
                                                         self.measures["REPORTING_PERIOD_END"])))
        starts = self._cache["period_pairs"]
        out = []
        for start, end in starts:
            label = start[:7] if self.period.kind == "month" else f"{start[:4]}-{str(int(start[:4]) + 1)[2:]}"
            candidate = Period.parse(label)
            if candidate.kind == self.period.kind and candidate.end.isoformat() == end and candidate.end <= self.period.end:
                out.append(candidate)
        return out

    # --- values ------------------------------------------------------------------------
    def value(self, measure_id: str, period: Period | None = None) -> float:
        """The unrounded value (for computing, never for showing)."""
        rows = self.rows(period)
        found = rows.loc[rows["MEASURE_ID"] == measure_id, "MEASURE_VALUE"]
        if found.empty:
            raise ReportDataError(f"measure {measure_id} is not in the measures for {self.org} {period or self.period}")
        return float(found.iloc[0])

    def has(self, *measure_ids: str) -> bool:
        try:
            rows = self.rows()
        except ReportDataError:
            return False
        return set(measure_ids) <= set(rows["MEASURE_ID"])

    def published(self, measure_id: str, period: Period | None = None) -> str:
        """The value as published (disclosure control applied), e.g. "132237", "*", "52"."""
        key = ("published", period or self.period)
        if key not in self._cache:
            self._cache[key] = _published_cells(self.rows(period), self.national)
        return self._cache[key].get(measure_id, "")

    def text(self, measure_id: str, period: Period | None = None) -> str:
        """The published value written for prose: "132,237", "90.4%", "fewer than 5"."""
        rows = self.rows(period)
        row = rows[rows["MEASURE_ID"] == measure_id]
        if row.empty:
            raise ReportDataError(f"measure {measure_id} is not in the measures for {self.org}")
        return format_for_text(self.published(measure_id, period), row["STATISTIC"].iloc[0])

    def published_table(self, rows: pd.DataFrame) -> pd.Series:
        """Published strings for any rows of the same organisation (e.g. a breakdown), by row index."""
        return published_values(rows, self.national)

    # --- figures for prose and tables ----------------------------------------------------
    @property
    def values_unrounded(self) -> bool:
        """Whether ``value()`` gives the unrounded figure, from which percentages may be derived.

        True for England and for anything computed from record-level data; False below England
        in a published file, whose counts NHS Digital rounded to the nearest 5 (a percentage of
        two rounded counts is not a figure the rule allows: 1,205 of 1,210 is not "100%").
        """
        return self.national or not self.from_published_file

    def statistic(self, measure_id: str, period: Period | None = None) -> str:
        rows = self.rows(period)
        row = rows[rows["MEASURE_ID"] == measure_id]
        if row.empty:
            raise ReportDataError(f"measure {measure_id} is not in the measures for {self.org}")
        return str(row["STATISTIC"].iloc[0])

    def shown(self, measure_id: str, period: Period | None = None) -> bool:
        """Whether the measure is in the report's measures and published (not suppressed or missing)."""
        try:
            return self.published(measure_id, period) not in (SUPPRESSED, "")
        except ReportDataError:
            return False

    def figure(self, measure_id: str, period: Period | None = None) -> str | None:
        """The published value written for a sentence ("132,237", "90.4%"), or None when the
        measure is absent, suppressed or missing: such a value never goes inside a sentence."""
        if not self.shown(measure_id, period):
            return None
        return format_for_text(self.published(measure_id, period), self.statistic(measure_id, period))

    def cell(self, measure_id: str, period: Period | None = None) -> str:
        """The published value for a table cell: "132,237", "90.4%", ``*`` when suppressed, "" when missing."""
        return format_cell(self.published(measure_id, period), self.statistic(measure_id, period))

    def number(self, measure_id: str, period: Period | None = None) -> float:
        """The figure a chart may plot: unrounded for England, the published number below
        England (NaN when suppressed or missing)."""
        if not self.shown(measure_id, period):
            return float("nan")
        if self.national:
            return self.value(measure_id, period)
        return float(self.published(measure_id, period))


def _published_cells(rows: pd.DataFrame, national: bool) -> dict[str, str]:
    return dict(zip(rows["MEASURE_ID"], published_values(rows, national)))


def published_values(rows: pd.DataFrame, national: bool) -> pd.Series:
    """Published strings for rows that share one organisation, period and breakdown cell.

    Rows read from a file NHS Digital published (a ``PUBLISHED_VALUE`` column) are shown as
    published: ``*`` stays suppressed, missing stays missing, numbers are only normalised
    (``54021.0`` -> ``54021``; England percentages, means and medians to one decimal place).
    """
    if "PUBLISHED_VALUE" in rows.columns:
        return pd.Series({index: _as_published(row, national) for index, row in rows.iterrows()}, dtype="str")
    keys = ["REPORTING_PERIOD_START", "GROUP_TYPE", "ORG_CODE1", "ORG_CODE2", "VARIABLE_TYPE", "VARIABLE_A", "VARIABLE_B"]
    lookup = {tuple(r[k] for k in keys) + (r["MEASURE_ID"],): r["MEASURE_VALUE"] for _, r in rows.iterrows()}
    out = {}
    for index, row in rows.iterrows():
        base = row["BASE_MEASURE_ID"]
        base_value = lookup.get(tuple(row[k] for k in keys) + (base,)) if base else None
        out[index] = publish_cell(row["MEASURE_VALUE"], row["STATISTIC"], national=national, base_count=base_value)
    return pd.Series(out, dtype="str")


def _as_published(row, national: bool) -> str:
    if bool(row.get("SUPPRESSED", False)) or str(row["PUBLISHED_VALUE"]).strip() == SUPPRESSED:
        return SUPPRESSED
    value = row["MEASURE_VALUE"]
    if value != value:  # NaN: missing in the file
        return ""
    if national or row["STATISTIC"] in ("count", "sum", "max", "min"):
        return publish_cell(value, row["STATISTIC"], national=True)
    return str(int(value)) if float(value).is_integer() else str(value)


def format_cell(published: str, statistic: str) -> str:
    """A published cell for a table: thousands separators and a % sign; ``*`` stays ``*``
    (the report's legend explains it) and a missing figure is an empty cell."""
    if published in (SUPPRESSED, ""):
        return published
    return format_for_text(published, statistic)


def format_for_text(published: str, statistic: str) -> str:
    """A published cell as prose: thousands separators, a % sign, suppressed said in words."""
    if published == SUPPRESSED:
        return "fewer than 5" if statistic in ("count", "sum", "max", "min") else "suppressed"
    if published == "":
        return "not available"
    if statistic in ("count", "sum", "max", "min"):
        return f"{int(published):,}"
    if statistic == "percentage":
        return f"{published}%"
    whole, _, decimals = published.partition(".")
    return f"{int(whole):,}" + (f".{decimals}" if decimals else "")

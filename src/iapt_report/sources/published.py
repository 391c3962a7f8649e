"""Readers for the figures NHS Digital publishes, as the project's long measures table.

``read_published(path)`` recognises the layout from the file's columns and returns the
columns of ``measures.MEASURE_COLUMNS`` plus three that only published data have:

* ``SUPPRESSED`` (bool) - the cell was published as ``*``; its ``MEASURE_VALUE`` is NaN and
  reports show it as suppressed, never as zero;
* ``PUBLISHED_VALUE`` (str) - the cell as published, ``""`` when missing (``-``, blank,
  ``N/A``, ``NA``, ``NULL``) and ``*`` when suppressed;
* ``COUNTS`` (str) - what a count counts: ``referrals``, or ``people`` for the Gender, Age
  Group and Ethnic Group rows of the annual reports before 2017-18 (the legacy tables).

Layouts (docs/published-data.md):

* NHS Digital's monthly CSV (``REPORTING_PERIOD_START ... MEASURE_VALUE_SUPPRESSED``, or
  ``MEASURE_VALUE`` as in March 2021; ISO or dd/mm/yyyy dates). Measures are keyed on
  ``MEASURE_ID``, so a measure renamed between 2021 and 2026 is one measure; the statistic
  comes from the name's prefix (``Count_``, ``Percentage_``, ``Mean_`` ...).
* The tidy monthly Parquet (``reporting_period, start_date ... measure_statistic, value``).
* The tidy annual Parquet, current (2017-18 on) and legacy (2013-14 to 2016-17):
  ``org_type, org_code, org_name, variable_type, variable_a, variable_b, measure_name,
  measure_statistic, value``. Annual measure names map to IDs through
  ``reference/published_measure_map.csv``.

Parquet files are read with pyarrow filters (periods, organisations) so that only the rows a
report needs are loaded. A file in none of these layouts raises ``PublishedFileError`` naming
the columns expected and the columns found.

Kept as one module: every layout is read into the same table and checked by the same steps
(:func:`_finish`), so the layouts and what they share stay side by side.
"""

from __future__ import annotations

import csv
import io
import warnings
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.parquet as pq

from iapt_report.data.periods import Period
from iapt_report.engine.measures import MEASURE_COLUMNS
from iapt_report.engine.registry import load_registry
from iapt_report.reference import _read_text

PUBLISHED_COLUMNS = [*MEASURE_COLUMNS, "SUPPRESSED", "PUBLISHED_VALUE", "COUNTS"]
SUPPRESSED_MARKER = "*"
MISSING_MARKERS = {"", "-", "N/A", "NA", "NULL", "NAN", "NONE", ":", ".."}

MONTHLY_CSV_COLUMNS = ["REPORTING_PERIOD_START", "REPORTING_PERIOD_END", "GROUP_TYPE", "ORG_CODE1", "ORG_NAME1",
                       "ORG_CODE2", "ORG_NAME2", "MEASURE_ID", "MEASURE_NAME"]
MONTHLY_VALUE_COLUMNS = ["MEASURE_VALUE_SUPPRESSED", "MEASURE_VALUE"]
TIDY_MONTHLY_COLUMNS = ["reporting_period", "start_date", "end_date", "group_type", "org_code1", "org_name1",
                        "org_code2", "org_name2", "measure_id", "measure_statistic", "value"]
TIDY_ANNUAL_COLUMNS = ["reporting_period", "start_date", "end_date", "org_type", "org_code", "org_name",
                       "variable_type", "variable_a", "variable_b", "measure_name", "measure_statistic", "value"]

# GROUP_TYPE as published (any case, spaces ignored) -> the project's GROUP_TYPE. Older names
# (STP, CCG) map to their successors; combined rows such as "SubICB/Provider" are kept as
# combinations of the mapped names (reports do not read them; the measures file keeps them).
GROUP_TYPES = {
    "england": "England",
    "national": "England",
    "commissioningregion": "CommissioningRegion",
    "region": "CommissioningRegion",
    "icb": "ICB",
    "stp": "ICB",
    "subicb": "SubICB",
    "subicblocation": "SubICB",
    "ccg": "SubICB",
    "provider": "Provider",
}
STATISTIC_PREFIXES = {"count": "count", "percentage": "percentage", "mean": "mean", "median": "median",
                      "max": "max", "min": "min", "sum": "sum"}
# before 2017-18 the annual Gender, Age Group and Ethnic Group tables count people, not referrals
LEGACY_PEOPLE_BREAKDOWNS = {"Gender", "Age Group", "Ethnic Group"}
LEGACY_BEFORE = date(2017, 4, 1)
# annual VARIABLE_TYPE names that changed over the years -> the name the measure engine uses
VARIABLE_TYPES = {"Problem Descriptor": "Presenting Complaint", "IMD Decile": "Indices of Deprivation Decile"}


class PublishedFileError(ValueError):
    """A published file this package cannot read; the message names what was expected and found."""


class PublishedDataWarning(UserWarning):
    """Part of a published file was left out (the warning says which part and why)."""


# --- entry point ---------------------------------------------------------------------------------

def detect_layout(path: str | Path) -> str:
    """``"monthly_csv"``, ``"tidy_monthly"`` or ``"tidy_annual"`` from the file's columns."""
    columns = _columns_of(Path(path))
    upper = {c.strip().upper() for c in columns}
    lower = {c.strip().lower() for c in columns}
    if set(MONTHLY_CSV_COLUMNS) <= upper and upper & set(MONTHLY_VALUE_COLUMNS):
        return "monthly_csv"
    if set(TIDY_MONTHLY_COLUMNS) <= lower:
        return "tidy_monthly"
    if set(TIDY_ANNUAL_COLUMNS) <= lower:
        return "tidy_annual"
    raise PublishedFileError(
        f"{path}: not a layout of NHS Digital's published IAPT / NHS Talking Therapies files. Expected the "
        f"monthly CSV columns {MONTHLY_CSV_COLUMNS + ['MEASURE_VALUE_SUPPRESSED (or MEASURE_VALUE)']}, or the "
        f"tidy monthly columns {TIDY_MONTHLY_COLUMNS}, or the tidy annual columns {TIDY_ANNUAL_COLUMNS}; "
        f"found {list(columns)}"
    )


def read_published(path: str | Path, *, periods: list[str] | None = None, orgs: list[str] | None = None,
                   totals_only: bool = False) -> pd.DataFrame:
    """The measures in a published file, as the long measures table (``PUBLISHED_COLUMNS``).

    ``periods`` (labels such as ``2021-06`` or ``2020-21``) keeps those periods only;
    ``orgs`` keeps England and those organisation codes (any level) only; ``totals_only``
    keeps the ``Total`` rows (no breakdowns). Each is applied while reading.
    """
    path = Path(path)
    if not path.is_file():
        raise PublishedFileError(f"published file {path} not found")
    layout = detect_layout(path)
    reader = {"monthly_csv": _read_monthly_csv, "tidy_monthly": _read_tidy_monthly,
              "tidy_annual": _read_tidy_annual}[layout]
    table = reader(path, periods=periods, orgs=orgs, totals_only=totals_only)
    if layout == "monthly_csv":
        columns = {c.strip().upper() for c in _columns_of(path)}
        value_column = next(c for c in MONTHLY_VALUE_COLUMNS if c in columns)
    else:
        value_column = _actual_columns(path, ["value"]).get("value", "value")
    return _finish(table, path, value_column)


def published_periods(path: str | Path) -> list[str]:
    """The period labels a published file holds, oldest first."""
    path = Path(path)
    layout = detect_layout(path)
    if layout == "monthly_csv":
        table = _read_csv(path, usecols=["REPORTING_PERIOD_START", "REPORTING_PERIOD_END"])
        starts = _parse_dates(table["REPORTING_PERIOD_START"], path).drop_duplicates()
        ends = _parse_dates(table["REPORTING_PERIOD_END"], path).drop_duplicates()
        return sorted({_label(s, e) for s, e in zip(starts, ends)})
    column = _actual_columns(path, ["reporting_period"])["reporting_period"]
    values = _read_tidy_table(path, [column]).column(0).unique().to_pylist()
    return sorted(str(v) for v in values if v is not None)


# --- NHS Digital's monthly CSV ------------------------------------------------------------------

def _read_monthly_csv(path: Path, *, periods, orgs, totals_only) -> pd.DataFrame:
    raw = _read_csv(path)
    raw.columns = [c.strip().upper() for c in raw.columns]
    value_column = next(c for c in MONTHLY_VALUE_COLUMNS if c in raw.columns)
    start = _parse_dates(raw["REPORTING_PERIOD_START"], path)
    end = _parse_dates(raw["REPORTING_PERIOD_END"], path)
    table = pd.DataFrame({
        "REPORTING_PERIOD_START": start.map(date.isoformat),
        "REPORTING_PERIOD_END": end.map(date.isoformat),
        "GROUP_TYPE": raw["GROUP_TYPE"].map(map_group_type),
        "ORG_CODE1": raw["ORG_CODE1"].str.strip(),
        "ORG_NAME1": raw["ORG_NAME1"].str.strip(),
        "ORG_CODE2": raw["ORG_CODE2"].str.strip(),
        "ORG_NAME2": raw["ORG_NAME2"].str.strip(),
        "VARIABLE_TYPE": "Total",
        "VARIABLE_A": "",
        "VARIABLE_B": "",
        "MEASURE_ID": raw["MEASURE_ID"].str.strip(),
        "PUBLISHED_NAME": raw["MEASURE_NAME"].str.strip(),
        "RAW_VALUE": raw[value_column],
    })
    table["STATISTIC"] = [statistic_from_name(name, mid) for name, mid in zip(table.PUBLISHED_NAME, table.MEASURE_ID)]
    if periods:
        labels = pd.Series([_label(s, e) for s, e in zip(start, end)], index=table.index)
        table = table[labels.isin([Period.parse(p).label for p in periods])]
    if orgs:
        table = table[(table.GROUP_TYPE == "England") | table.ORG_CODE1.isin(orgs) | table.ORG_CODE2.isin(orgs)]
    return table


def statistic_from_name(name: str, measure_id: str = "") -> str:
    """``count`` from ``Count_ReferralsReceived``; the registry's statistic when there is no prefix."""
    prefix = str(name).split("_", 1)[0].strip().lower()
    if prefix in STATISTIC_PREFIXES:
        return STATISTIC_PREFIXES[prefix]
    known = _registry().get(measure_id)
    return known.statistic if known else "count"


def _parse_dates(values: pd.Series, path: Path) -> pd.Series:
    """ISO (``2025-06-01``) or day-first (``01/05/2023``) dates, as ``datetime.date``."""
    text = values.astype(str).str.strip()
    day = text.str.split(r"[ T]", n=1, regex=True).str[0]  # "01/06/2021 00:00:00" -> "01/06/2021"
    slash = day.str.contains("/")
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    parsed[~slash] = pd.to_datetime(day[~slash], format="%Y-%m-%d", errors="coerce")
    parsed[slash] = pd.to_datetime(day[slash], format="%d/%m/%Y", errors="coerce")
    bad = text[parsed.isna()]
    if len(bad):
        raise PublishedFileError(f"{path}: dates must be yyyy-mm-dd or dd/mm/yyyy; found {bad.iloc[0]!r}")
    return parsed.dt.date


def _dates(values: pd.Series, path: Path) -> pd.Series:
    """Dates of a tidy file: typed in Parquet, text (ISO or day-first) in a CSV."""
    if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
        if all(isinstance(v, str) for v in values.head(100)):
            return _parse_dates(values, path)
    return pd.to_datetime(values).dt.date


def map_group_type(value: str) -> str:
    """The project's GROUP_TYPE for a published one; combinations keep their parts' order."""
    text = str(value).strip()

    def mapped(part: str) -> str | None:
        return GROUP_TYPES.get(part.replace(" ", "").replace("_", "").replace("-", "").lower())

    if mapped(text):  # "Sub-ICB", "Sub ICB Location"
        return mapped(text)
    for separator in ("/", "-"):  # "CCG/Provider", "SubICB - Provider"
        parts = [mapped(part) for part in text.split(separator)]
        if len(parts) > 1 and all(parts):
            return "/".join(parts)
    return text


# --- the tidy files (Parquet, or the same columns in a CSV) ---------------------------------------

def _read_tidy_monthly(path: Path, *, periods, orgs, totals_only) -> pd.DataFrame:
    names = _actual_columns(path, TIDY_MONTHLY_COLUMNS + ["measure_name"])
    filters = _filters(
        period=(names["reporting_period"], [Period.parse(p).label for p in periods] if periods else None),
        org_alternatives=[[(names["group_type"], "==", "England")], [(names["org_code1"], "in", orgs)],
                          [(names["org_code2"], "in", orgs)]] if orgs else None,
    )
    raw = _read_tidy_table(path, list(dict.fromkeys(names.values())), filters).to_pandas()
    raw.columns = [c.lower() for c in raw.columns]
    table = pd.DataFrame({
        "REPORTING_PERIOD_START": _dates(raw["start_date"], path).map(date.isoformat),
        "REPORTING_PERIOD_END": _dates(raw["end_date"], path).map(date.isoformat),
        "GROUP_TYPE": raw["group_type"].map(map_group_type),
        "ORG_CODE1": raw["org_code1"], "ORG_NAME1": raw["org_name1"],
        "ORG_CODE2": raw["org_code2"], "ORG_NAME2": raw["org_name2"],
        "VARIABLE_TYPE": "Total", "VARIABLE_A": "", "VARIABLE_B": "",
        "MEASURE_ID": raw["measure_id"],
        "PUBLISHED_NAME": raw.get("measure_name", pd.Series("", index=raw.index)),
        "STATISTIC": raw["measure_statistic"].str.lower(),
        # the tidy monthly file stores suppressed cells as nulls: below England they are suppressed
        "RAW_VALUE": [_tidy_monthly_value(v, g) for v, g in zip(raw["value"], raw["group_type"])],
    })
    return table


def _tidy_monthly_value(value, group_type: str) -> str:
    """The tidy monthly file stores suppressed cells as nulls: below England a null is suppressed."""
    if isinstance(value, str):
        value = _blank(value) or None
        if value is not None and value != SUPPRESSED_MARKER:
            return value
    if value is None or value != value:
        return "" if group_type == "England" else SUPPRESSED_MARKER
    return value if value == SUPPRESSED_MARKER else _number_text(value)


def _read_tidy_annual(path: Path, *, periods, orgs, totals_only) -> pd.DataFrame:
    names = _actual_columns(path, TIDY_ANNUAL_COLUMNS)
    filters = _filters(
        period=(names["reporting_period"], [Period.parse(p).label for p in periods] if periods else None),
        org_alternatives=[[(names["org_type"], "==", "England")], [(names["org_code"], "in", orgs)]] if orgs else None,
        totals=(names["variable_type"], "Total") if totals_only else None,
    )
    raw = _read_tidy_table(path, list(names.values()), filters).to_pandas()
    raw.columns = [c.lower() for c in raw.columns]
    mapping = annual_measure_map()
    keys = list(zip(raw["measure_name"].astype(str).str.strip(), raw["measure_statistic"].astype(str).str.strip()))
    unknown = sorted({k for k in keys if k not in mapping})
    if unknown:
        message = (f"{path}: annual measures not in reference/published_measure_map.csv: {unknown}; "
                   "add a row for each (measure_name, measure_statistic) -> measure_id")
        if len(unknown) == len(set(keys)):
            raise PublishedFileError(message)
        # a later or earlier year may publish a measure this package has not met: the rest is usable
        warnings.warn(message + "; they are left out", PublishedDataWarning, stacklevel=4)
        known = np.array([k in mapping for k in keys])
        raw = raw[known].reset_index(drop=True)
        keys = [k for k in keys if k in mapping]
    group_type = raw["org_type"].map(map_group_type)
    provider = group_type == "Provider"
    england = group_type == "England"
    code = raw["org_code"].astype(str).str.strip()
    name = raw["org_name"].astype(str).str.strip()
    variable_type = raw["variable_type"].fillna("Total").astype(str).str.strip().replace(VARIABLE_TYPES)
    variable_a, variable_b = _annual_variables(variable_type, raw["variable_a"], raw["variable_b"])
    start = _dates(raw["start_date"], path)
    table = pd.DataFrame({
        "REPORTING_PERIOD_START": start.map(date.isoformat),
        "REPORTING_PERIOD_END": _dates(raw["end_date"], path).map(date.isoformat),
        "GROUP_TYPE": group_type,
        "ORG_CODE1": np.where(provider | england, "all", code),
        "ORG_NAME1": np.where(provider | england, "all", name),
        "ORG_CODE2": np.where(provider, code, "all"),
        "ORG_NAME2": np.where(provider, name, "all"),
        "VARIABLE_TYPE": variable_type,
        "VARIABLE_A": variable_a,
        "VARIABLE_B": variable_b,
        "MEASURE_ID": [mapping[k]["measure_id"] for k in keys],
        "PUBLISHED_NAME": [mapping[k]["published_name"] for k in keys],
        "STATISTIC": [k[1].lower() for k in keys],
        "BASE_MEASURE_ID": [mapping[k]["base_measure_id"] for k in keys],
        "RAW_VALUE": [_number_text(v) if isinstance(v, (float, int, np.floating, np.integer)) else v
                      for v in raw["value"]],
    })
    legacy = (start < LEGACY_BEFORE) & variable_type.isin(LEGACY_PEOPLE_BREAKDOWNS)
    table["COUNTS"] = np.where(legacy, "people", "referrals")
    return table


def _read_tidy_table(path: Path, columns: list[str], filters=None) -> pyarrow.Table:
    """Columns of a tidy file, Parquet (filters applied while reading) or the same columns in a CSV."""
    if path.suffix.lower() == ".parquet":
        return pq.read_table(path, columns=columns, filters=filters)
    frame = _read_csv(path, usecols=[c.upper() for c in columns])
    frame.columns = [c.lower() for c in frame.columns]
    table = pyarrow.Table.from_pandas(frame[[c.lower() for c in columns]], preserve_index=False)
    table = table.rename_columns(columns)
    if filters:
        table = table.filter(pq.filters_to_expression(filters))
    return table


def _annual_variables(variable_type: pd.Series, a: pd.Series, b: pd.Series) -> tuple[list[str], list[str]]:
    """VARIABLE_A / VARIABLE_B as the measure engine writes them: ``""`` for none, ``All`` for a
    group's row of a two-level breakdown. The 2013-14 ethnic table has group rows with the group
    in both columns and category rows with no group: the group is taken from the NHS list."""
    groups = _legacy_ethnic_groups()
    out_a, out_b = [], []
    for vt, va, vb in zip(variable_type, a, b):
        va, vb = _blank(va), _blank(vb)
        if vt == "Total":
            va, vb = "", ""
        elif va and va == vb:
            vb = "All"
        elif not va and vb:
            va = groups.get(vb.lower(), "Not stated/Not known/Invalid")
        out_a.append(va)
        out_b.append(vb)
    return out_a, out_b


def _blank(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = str(value).strip()
    return "" if text.upper() in MISSING_MARKERS else text


@lru_cache(maxsize=None)
def _legacy_ethnic_groups() -> dict[str, str]:
    rows = csv.DictReader(io.StringIO(_read_text("ethnicity_census_mapping.csv")))
    out = {}
    for row in rows:
        for label in (row["label_2013_14"], row["nhs_category"]):
            if label:
                out[label.lower()] = row["nhs_group"]
    return out


@lru_cache(maxsize=None)
def annual_measure_map() -> dict[tuple[str, str], dict[str, str]]:
    """(measure_name, measure_statistic) of the tidy annual files -> measure ID, name, base measure."""
    rows = csv.DictReader(io.StringIO(_read_text("published_measure_map.csv")))
    return {(r["measure_name"], r["measure_statistic"]): r for r in rows}


def _filters(period=None, org_alternatives=None, totals=None):
    """pyarrow DNF filters: (period AND totals) AND (any of the org alternatives)."""
    base = []
    if period and period[1]:
        base.append((period[0], "in", period[1]))
    if totals:
        base.append((totals[0], "==", totals[1]))
    if org_alternatives:
        return [base + alternative for alternative in org_alternatives]
    return [base] if base else None


# --- common -------------------------------------------------------------------------------------

def _finish(table: pd.DataFrame, path: Path, value_column: str) -> pd.DataFrame:
    """Values from the published strings, registry names and bases, the published columns in order.

    Raises :class:`PublishedFileError` for values that cannot be right (see :func:`_value_problems`).
    """
    registry = _registry()
    raw = table.pop("RAW_VALUE")
    text = pd.Series([_blank(v) if v != SUPPRESSED_MARKER else v for v in raw.astype(object).where(raw.notna(), "")],
                     index=table.index, dtype=object).str.strip()
    table["SUPPRESSED"] = text == SUPPRESSED_MARKER
    table["PUBLISHED_VALUE"] = text.astype(str)
    numbers = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce").astype(float)
    problems = _value_problems(table, text, numbers, value_column)
    if problems:
        raise PublishedFileError(f"{path}: {problems}")
    table["MEASURE_VALUE"] = numbers
    name = table.pop("PUBLISHED_NAME")
    table["MEASURE_NAME"] = [registry[m].name if m in registry else n for m, n in zip(table.MEASURE_ID, name)]
    if "BASE_MEASURE_ID" not in table:
        table["BASE_MEASURE_ID"] = [(registry[m].base_measure_id or "") if m in registry else ""
                                    for m in table.MEASURE_ID]
    if "COUNTS" not in table:
        table["COUNTS"] = "referrals"
    table["BASE_MEASURE_ID"] = table["BASE_MEASURE_ID"].fillna("")
    for column in ("ORG_CODE1", "ORG_NAME1", "ORG_CODE2", "ORG_NAME2", "VARIABLE_A", "VARIABLE_B"):
        table[column] = table[column].fillna("").astype(str)
    return table[PUBLISHED_COLUMNS].reset_index(drop=True)


#: Statistics whose published values can be neither negative nor above 100 (percentages), or negative (counts).
_NOT_NEGATIVE = ("count", "sum")
_PERCENTAGES = ("percentage",)
MAX_SHOWN = 5


def _value_problems(table: pd.DataFrame, text: pd.Series, numbers: pd.Series, value_column: str) -> str | None:
    """What is wrong with the published values, naming each cell's measure, organisation and
    period, or None. A value must be a number, ``*`` (suppressed) or empty (missing); a count
    cannot be negative, nor a percentage below 0 or above 100. (NHS Digital's files hold none
    of these: such a file has been edited or damaged, and its figures would be published.)"""
    present = (text != "") & (text != SUPPRESSED_MARKER)
    not_number = present & ~np.isfinite(numbers.fillna(np.nan).to_numpy(dtype=float))
    statistic = table["STATISTIC"].astype(str).str.lower()
    negative = statistic.isin(_NOT_NEGATIVE) & (numbers < 0)
    percent = statistic.isin(_PERCENTAGES) & ((numbers < 0) | (numbers > 100))
    found = []
    for mask, what in ((not_number, "is not a number, * (suppressed) or empty"),
                       (negative, "is negative, which a count cannot be"),
                       (percent, "is outside 0 to 100, where a percentage must lie")):
        rows = np.flatnonzero(np.asarray(mask, dtype=bool))
        found += [(row, what) for row in rows]
    if not found:
        return None
    found.sort()
    shown = [f"{value_column} {text.iloc[row][:40]!r} {what} ({_cell_of(table, row)})" for row, what in found[:MAX_SHOWN]]
    more = f"; and {len(found) - MAX_SHOWN} more" if len(found) > MAX_SHOWN else ""
    return (f"{len(found)} published value{'s' if len(found) > 1 else ''} cannot be right: " + "; ".join(shown)
            + more + ". Correct the file, or use the file as NHS Digital published it")


def _cell_of(table: pd.DataFrame, row: int) -> str:
    """'measure M001, organisation NLS, period 2021-06' (and the breakdown, if any) for one row."""
    cell = table.iloc[row]
    group = str(cell["GROUP_TYPE"])
    org = "England" if group == "England" else (cell["ORG_CODE2"] if group == "Provider" else cell["ORG_CODE1"])
    try:
        period = _label(date.fromisoformat(cell["REPORTING_PERIOD_START"]), date.fromisoformat(cell["REPORTING_PERIOD_END"]))
    except (TypeError, ValueError):
        period = f"{cell['REPORTING_PERIOD_START']} to {cell['REPORTING_PERIOD_END']}"
    breakdown = "" if cell.get("VARIABLE_TYPE", "Total") == "Total" else \
        f", {cell['VARIABLE_TYPE']} {' / '.join(str(v) for v in (cell['VARIABLE_A'], cell['VARIABLE_B']) if v)}"
    return f"measure {cell['MEASURE_ID']}, organisation {str(org)[:40]}, period {period}{breakdown}"


def _number_text(value) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


@lru_cache(maxsize=None)
def _registry() -> dict:
    return {m.id: m for m in load_registry()}


def _label(start: date, end: date) -> str:
    if start.month == 4 and start.day == 1 and end.year == start.year + 1 and end.month == 3:
        return f"{start.year}-{str(end.year)[2:]}"
    return f"{start.year:04d}-{start.month:02d}"


#: NHS Digital's CSVs are UTF-8 (some with a byte-order mark); older ones are Windows-1252
CSV_ENCODINGS = ("utf-8-sig", "cp1252")


def _read_csv(path: Path, usecols=None, nrows=None) -> pd.DataFrame:
    """A CSV as text columns (upper-case names); ``.zip`` / ``.gz`` files holding one CSV are read too."""
    for encoding in CSV_ENCODINGS:
        try:
            table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding, nrows=nrows,
                                compression="infer",
                                usecols=(lambda c: c.strip().upper() in usecols) if usecols else None)
            break
        except UnicodeDecodeError:
            continue
        except (OSError, ValueError, pd.errors.ParserError) as error:  # zip of several files, damaged file
            raise PublishedFileError(f"{path}: cannot read as CSV: {error}") from None
    else:
        raise PublishedFileError(f"{path}: cannot read as CSV: the text is neither UTF-8 nor Windows-1252")
    table.columns = [c.strip().upper() for c in table.columns]
    return table


def _columns_of(path: Path) -> list[str]:
    if path.suffix.lower() == ".parquet":
        try:
            return list(pq.read_schema(path).names)
        except Exception as error:  # pyarrow raises several types for a damaged file
            raise PublishedFileError(f"{path}: cannot read as Parquet: {error}") from None
    return list(_read_csv(path, nrows=0).columns)  # names upper-cased, as every CSV is read


def _actual_columns(path: Path, wanted: list[str]) -> dict[str, str]:
    """Wanted (lower-case) column -> the file's spelling of it; optional columns may be absent."""
    found = {c.lower(): c for c in _columns_of(path)}
    return {w: found[w] for w in wanted if w in found}

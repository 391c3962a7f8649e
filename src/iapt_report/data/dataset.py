"""Load and validate the record-level input dataset.

The dataset is one folder holding one file per table, ``<TABLE>.parquet`` or ``<TABLE>.csv``,
as described by ``reference/dataset_schema.yaml`` (and, for users, ``docs/dataset.md``).

* :func:`read_tables` reads the files and :func:`normalise` types each column as the schema
  says (text, dates at midnight, nullable ``Int64`` integers, float numbers) and tidies codes
  (``' 5'``/``'05'`` -> ``'5'`` for AttendOrDNACode, ``'2'`` -> ``'02'`` for AppType).
* :func:`validate` checks the tables and raises one :class:`DatasetError` listing *every*
  problem found, each naming the file, the column, how many rows and a few example rows.
* :func:`load_dataset` does both, one table at a time, and keeps each valid table in DuckDB
  rather than in pandas (see :class:`Dataset`); :func:`connect` hands the tables to Ibis.

Row numbers in messages count data rows from 1: row 1 is the first row after a CSV header.
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import ibis
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
from pandera.errors import SchemaErrors

from iapt_report.reference import code_lists, dataset_schema, instruments

SCHEMA: dict = dataset_schema()
TABLES: dict[str, dict] = SCHEMA["tables"]
TABLE_NAMES: tuple[str, ...] = tuple(TABLES)
FILE_FORMATS: tuple[str, ...] = ("parquet", "csv")

#: pandas dtype of each schema type, as returned by read_tables / normalise.
PANDAS_DTYPES = {"string": "str", "date": "datetime64[ms]", "integer": "Int64", "number": "float64"}

#: CSV cells read as missing (besides empty cells); anything else is a value to check.
CSV_MISSING_MARKERS = ("", "NA", "N/A", "NULL", "null", "NaN", "nan", "None")

MAX_EXAMPLES = 5

#: The plausible window of event dates (schema columns with ``event_date: true``): see
#: :func:`event_date_window`.
EVENT_DATES: dict = SCHEMA["event_dates"]
EVENT_DATE_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (table, column) for table, spec in TABLES.items() for column, column_spec in spec["columns"].items()
    if column_spec.get("event_date"))


def event_date_window(today: date | None = None) -> tuple[date, date]:
    """The first and last day (inclusive) an event date may fall on: ``event_dates.earliest`` of
    the schema (the first IAPT services) to ``latest_years_after_today`` years after today
    (an extract may hold appointments booked ahead)."""
    today = today or date.today()
    years = int(EVENT_DATES["latest_years_after_today"])
    try:
        latest = today.replace(year=today.year + years)
    except ValueError:  # 29 February
        latest = today.replace(year=today.year + years, day=28)
    return EVENT_DATES["earliest"], latest


def event_date_range(tables: Mapping[str, ibis.Table]) -> tuple[date, date]:
    """The first and last event date in a dataset's tables (as :func:`connect` gives them)."""
    bounds = []
    for table, column in EVENT_DATE_COLUMNS:
        values = tables[table][column]
        row = tables[table].aggregate(first=values.min(), last=values.max()).to_pyarrow().to_pylist()[0]
        bounds += [_as_date(row["first"]), _as_date(row["last"])]
    known = [day for day in bounds if day is not None]
    return min(known), max(known)


def _as_date(value) -> date | None:
    if value is None:
        return None
    return value.date() if hasattr(value, "date") and callable(value.date) else value

# YYYY-MM-DD, optionally with a time of day (which is dropped)
_ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
# a whole number, possibly written with a zero fraction (12.0), captured without it
_WHOLE_NUMBER = r"^([+-]?\d{1,18})(?:\.0*)?$"


# --- problems and the error -----------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, phrased so the user knows what to change.

    ``rows`` is how many rows have the problem (None for a problem with a whole file or
    column); ``examples`` describe up to five of them, starting with their row number.
    """

    file: str
    column: str | None
    problem: str
    fix: str
    rows: int | None = None
    examples: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        where = self.file if self.column is None else f"{self.file}, column {self.column}"
        if self.rows is None:
            what = self.problem
        else:
            what = f"{self.rows} {'row' if self.rows == 1 else 'rows'} with {self.problem}"
        if self.examples:
            shown = "; ".join(self.examples)
            more = self.rows - len(self.examples) if self.rows else 0
            what += f" ({shown}{f'; and {more} more' if more > 0 else ''})"
        return f"{where}: {what}. {self.fix}"


class DatasetError(Exception):
    """The input dataset cannot be used; ``problems`` lists everything found wrong with it."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems: list[Problem] = list(problems)
        super().__init__(self._report())

    def _report(self) -> str:
        count = len(self.problems)
        heading = (
            f"The input dataset has {count} {'problem' if count == 1 else 'problems'}; "
            "correct the files named below and run again:"
        )
        lines = [heading, *(f"  - {problem}" for problem in self.problems)]
        if any(problem.examples for problem in self.problems):
            lines.append("Rows are numbered from 1 at the first row of data (a CSV header is not counted).")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._report()


# --- reading --------------------------------------------------------------------------------

def read_tables(data_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Every table of the dataset from ``data_dir``, typed and normalised (see :func:`normalise`).

    Raises :class:`DatasetError` naming every table file that is missing or cannot be read.
    A column whose values do not all convert to the schema type is left as text, so that
    :func:`validate` can point at the values.
    """
    tables, _sources, problems = _read_folder(Path(data_dir))
    if problems:
        raise DatasetError(problems)
    return tables


def load_dataset(data_dir: str | Path, *, parquet_in_place: bool = True) -> Dataset:
    """The dataset in ``data_dir``, read, validated and held in DuckDB (see :class:`Dataset`).

    Reading it as a mapping gives the typed frames :func:`read_tables` returns. A dataset of
    typed Parquet files that DuckDB finds clean is read where it lies, through views (see
    :mod:`parquet_dataset`; ``parquet_in_place=False`` skips that). Otherwise tables are read
    and checked in pandas one at a time, each before the tables that refer to it, and a valid
    table goes into DuckDB before the next is read, so only one table is ever held in pandas.

    Raises one :class:`DatasetError` listing every problem: files, columns, values, references,
    in the order :func:`read_tables` and :func:`find_problems` give them.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError([_folder_not_found(data_dir)])
    located = {table: _table_file(data_dir, table) for table in TABLE_NAMES}
    if parquet_in_place and not any(problem for _path, problem in located.values()):
        from .parquet_dataset import open_parquet_dataset  # it builds on this module

        in_place = open_parquet_dataset({table: path for table, (path, _problem) in located.items()})
        if in_place is not None:
            return in_place
    files = dict(zip(TABLE_NAMES, TABLE_NAMES))
    unreadable, found = {}, {}
    keys = _KeyValues()
    # a dataset with a file missing will be refused: then keep nothing, but check everything
    store = None if any(problem for _path, problem in located.values()) else _DatasetStore()
    try:
        for table in LOAD_ORDER:
            path, problem = located[table]
            if problem is None:
                frame, problem = _read_file(path)
            if problem is not None:
                unreadable[table] = problem
                continue
            frame.attrs["source"] = files[table] = str(path)
            frame = normalise_table(table, frame)
            keys.keep(table, frame)
            found[table] = _table_problems(table, frame, files, keys.get, normalised=True)
            keys.release_after(table)
            if store is not None and (unreadable or any(found.values())):
                store, refused = None, store
                refused.discard()  # the dataset will be refused: stop copying it into DuckDB
            if store is not None:
                store.add(table, frame)
            del frame
            pyarrow.default_memory_pool().release_unused()  # hand the table's memory back before the next
    except BaseException:
        if store is not None:
            store.discard()
        raise
    problems = [unreadable[table] for table in TABLE_NAMES if table in unreadable]
    problems += [problem for table in TABLE_NAMES for problem in found.get(table, [])]
    if problems:
        raise DatasetError(problems)
    return store.finish({table: files[table] for table in TABLE_NAMES})


def _folder_not_found(data_dir: Path) -> Problem:
    return Problem(str(data_dir), None, "folder not found",
                   "Point the run at the folder that holds the dataset's table files.")


def _read_folder(data_dir: Path) -> tuple[dict[str, pd.DataFrame], dict[str, str], list[Problem]]:
    if not data_dir.is_dir():
        return {}, {}, [_folder_not_found(data_dir)]
    tables, sources, problems = {}, {}, []
    for table in TABLE_NAMES:
        path, problem = _table_file(data_dir, table)
        if problem is None:
            frame, problem = _read_file(path)
        if problem is not None:
            problems.append(problem)
            continue
        frame.attrs["source"] = sources[table] = str(path)
        tables[table] = normalise_table(table, frame)
    return tables, sources, problems


def _table_file(data_dir: Path, table: str) -> tuple[Path | None, Problem | None]:
    candidates = [data_dir / f"{table}.{fmt}" for fmt in FILE_FORMATS]
    found = [path for path in candidates if path.is_file()]
    if len(found) == 1:
        return found[0], None
    if not found:
        names = " or ".join(path.name for path in candidates)
        return None, Problem(str(data_dir / table), None, f"table file not found (looked for {names})",
                             f"Add {table} as one of these files; docs/dataset.md lists its columns.")
    return None, Problem(str(found[0]), None, f"both {found[0].name} and {found[1].name} are present",
                         "Keep only one file for the table, so it is clear which one to read.")


def _read_file(path: Path) -> tuple[pd.DataFrame | None, Problem | None]:
    fmt = path.suffix.lstrip(".")
    try:
        if fmt == "csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False,
                                na_values=list(CSV_MISSING_MARKERS), encoding="utf-8-sig")
        else:
            frame = pd.read_parquet(path, engine="pyarrow")
    except Exception as error:  # any reader failure means the same thing to the user
        reason = f"{type(error).__name__}: {error}".splitlines()[0]
        kind = "CSV" if fmt == "csv" else "Parquet"
        encoding = " in UTF-8" if fmt == "csv" else ""
        return None, Problem(str(path), None, f"the file could not be read as {kind} ({reason})",
                             f"Export the table again as a valid {kind} file{encoding}.")
    frame.columns = [str(name).strip() for name in frame.columns]
    return frame, None


# --- typing and normalisation ---------------------------------------------------------------

def normalise(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Each known table typed and tidied as :func:`read_tables` does; other entries unchanged."""
    return {name: normalise_table(name, frame) if name in TABLES else frame
            for name, frame in tables.items()}


def normalise_table(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The table with its schema columns first, in schema order, typed as the schema says.

    Text is stripped and empty text is missing; code columns are tidied (see CODE_FORMATS).
    A column with values that do not convert stays as text, so validate() can show the values.
    An absent column is left absent for validate() to report: every schema column must be in
    the file, even one whose values may be empty, so that a misspelt header cannot load
    silently as an empty column. Columns the schema does not know are kept, unchanged, at the end.
    """
    out = {}
    for name, spec in TABLES[table]["columns"].items():
        if name not in frame.columns:
            continue
        values, unconvertible = convert(frame[name], spec["type"])
        if unconvertible.any():
            values = _as_text(frame[name])
        elif name in CODE_FORMATS:
            values = _per_distinct_value(CODE_FORMATS[name], values)
        out[name] = values
    extra = {name: frame[name] for name in frame.columns if name not in TABLES[table]["columns"]}
    typed = pd.DataFrame({**out, **extra}, index=frame.index).reset_index(drop=True)
    typed.attrs = dict(frame.attrs)
    return typed


def convert(values: pd.Series, kind: str) -> tuple[pd.Series, pd.Series]:
    """``values`` as schema type ``kind``, and a mask of the values that were present but did not convert.

    Values that do not convert become missing in the first result.
    """
    return _CONVERTERS[kind](values)


def _as_text(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_float_dtype(values.dtype):
        values = values.map(_number_text, na_action="ignore").astype(object)
    elif values.dtype == object or not pd.api.types.is_string_dtype(values.dtype):
        values = values.map(_text, na_action="ignore").astype(object)
    text = values.astype(PANDAS_DTYPES["string"]).str.strip()
    empty = text == ""
    return text.mask(empty) if empty.any() else text  # masking copies every value: only when needed


def _text(value) -> str:
    return _number_text(value) if isinstance(value, float) else str(value)


def _number_text(value: float) -> str:
    # a code stored as a float (5.0, because the column had nulls) means the code "5"
    return str(int(value)) if float(value).is_integer() else str(value)


def _no_failures(values: pd.Series) -> pd.Series:
    return pd.Series(False, index=values.index)


def _as_string_type(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    return _as_text(values), _no_failures(values)


def _as_dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_localize(None)
        return values.dt.normalize().astype(PANDAS_DTYPES["date"]), _no_failures(values)
    text = _as_text(values)
    date_part = text.str.fullmatch(_ISO_DATE).fillna(False)
    iso = text.where(date_part).str.slice(0, 10)
    dates = pd.to_datetime(iso, format="%Y-%m-%d", errors="coerce").astype(PANDAS_DTYPES["date"])
    return dates, text.notna() & dates.isna()


def _as_integers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype(PANDAS_DTYPES["integer"]), _no_failures(values)
    if pd.api.types.is_float_dtype(values.dtype):
        whole = values.notna() & (values == values.round())
        return values.where(whole).astype(PANDAS_DTYPES["integer"]), values.notna() & ~whole
    text = _as_text(values)
    digits = text.str.extract(_WHOLE_NUMBER, expand=False)
    return digits.astype(PANDAS_DTYPES["integer"]), text.notna() & digits.isna()


def _as_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        numbers, present = values.astype(PANDAS_DTYPES["number"]), values.notna()
    else:
        text = _as_text(values)
        numbers, present = pd.to_numeric(text, errors="coerce").astype(PANDAS_DTYPES["number"]), text.notna()
    finite = numbers.abs() < float("inf")  # NaN and infinity are not scores
    return numbers.where(finite), present & ~finite


_CONVERTERS: dict[str, Callable[[pd.Series], tuple[pd.Series, pd.Series]]] = {
    "string": _as_string_type,
    "date": _as_dates,
    "integer": _as_integers,
    "number": _as_numbers,
}


def _per_distinct_value(tidy: Callable[[pd.Series], pd.Series], values: pd.Series) -> pd.Series:
    """``tidy(values)`` for a tidy-up that treats each value on its own, worked out once per distinct value.

    A code column has a handful of distinct values in millions of rows.
    """
    positions, distinct = values.factorize()
    tidied = tidy(pd.Series(distinct, dtype=values.dtype))
    return pd.Series(tidied.array.take(positions, allow_fill=True), index=values.index, name=values.name)


def _digits_only(codes: pd.Series) -> pd.Series:
    return codes.str.fullmatch(r"\d+").fillna(False)


def _unpadded(codes: pd.Series) -> pd.Series:
    """' 5', '05' -> '5' (AttendOrDNACode is published as a one-character code)."""
    stripped = codes.str.lstrip("0")
    return codes.mask(_digits_only(codes), stripped.mask(stripped == "", "0"))


def _two_digits(codes: pd.Series) -> pd.Series:
    """'2' -> '02' for numeric codes; other codes are left for validation to judge."""
    return codes.mask(_digits_only(codes), _unpadded(codes).str.zfill(2))


#: Tidy-ups applied to code columns (after stripping spaces) before they are checked.
CODE_FORMATS: dict[str, Callable[[pd.Series], pd.Series]] = {
    "AttendOrDNACode": _unpadded,
    "AppType": _two_digits,
    "ConsMechanism": _two_digits,
}


# --- validation -----------------------------------------------------------------------------

def validate(tables: Mapping[str, pd.DataFrame], source: Mapping[str, str] | None = None) -> None:
    """Raise one :class:`DatasetError` listing every problem in ``tables``; return None when there are none.

    ``source`` names the file each table came from (``{"IDS101Referral": "data/IDS101Referral.csv"}``)
    for the messages; without it a frame's ``attrs["source"]`` (set by read_tables) or the table
    name is used.
    """
    problems = find_problems(tables, source)
    if problems:
        raise DatasetError(problems)


def find_problems(
    tables: Mapping[str, pd.DataFrame],
    source: Mapping[str, str] | None = None,
    *,
    report_missing_tables: bool = True,
) -> list[Problem]:
    """Every problem in ``tables``, in schema order; an empty list when the dataset is valid."""
    files = _file_names(tables, source or {})
    key_values: dict[tuple[str, str], pyarrow.Array | None] = {}

    def parent_keys(table: str, column: str) -> pyarrow.Array | None:
        if (table, column) not in key_values:
            parent = tables.get(table)
            key_values[table, column] = (None if parent is None or column not in parent
                                         else _key_values(_as_text(parent[column])))
        return key_values[table, column]

    problems = []
    for table in TABLE_NAMES:
        if table not in tables:
            if report_missing_tables:
                problems.append(Problem(files[table], None, "table is missing from the dataset",
                                        f"Provide the {table} table; docs/dataset.md lists its columns."))
            continue
        problems += _table_problems(table, tables[table].reset_index(drop=True), files, parent_keys)
    return problems


def _table_problems(table: str, frame: pd.DataFrame, files: Mapping[str, str],
                    parent_keys: Callable[[str, str], pyarrow.Array | None], normalised: bool = False) -> list[Problem]:
    """Every problem with one table (rows numbered from 0): its rows, columns, dates and references.

    ``parent_keys(table, column)`` gives the values another table's column holds, or None when
    that table or column is missing (which is reported on its own). ``normalised``: the frame
    comes from :func:`normalise_table`, so its text columns are already as :func:`_as_text` gives.
    """
    file = files[table]
    return [
        *_empty_table_problems(table, frame, file),
        *_column_problems(table, frame, file),
        *_date_order_problems(table, frame, file),
        *_score_range_problems(table, frame, file, normalised),
        *_reference_problems(table, frame, files, parent_keys, normalised),
    ]


def _load_order() -> tuple[str, ...]:
    """The tables in schema order, except that a table comes after every table it refers to."""
    refers_to = {
        table: {spec["references"].split(".")[0] for spec in TABLES[table]["columns"].values()
                if spec.get("references")} - {table}
        for table in TABLE_NAMES
    }
    order: list[str] = []
    while len(order) < len(TABLE_NAMES):
        ready = [t for t in TABLE_NAMES if t not in order and refers_to[t] <= set(order)]
        if not ready:
            raise ValueError(f"dataset_schema.yaml: the references between {set(TABLE_NAMES) - set(order)} form a cycle")
        order.append(ready[0])
    return tuple(order)


#: The order load_dataset reads the tables in: each table after the tables it refers to, so the
#: referenced keys are at hand when it is checked and nothing else need stay in pandas.
LOAD_ORDER: tuple[str, ...] = _load_order()


class _KeyValues:
    """The key columns later tables refer to, kept (as Arrow arrays) only until the last of them is checked."""

    def __init__(self):
        self._values: dict[tuple[str, str], pyarrow.Array] = {}
        targets = [(table, column, spec["references"]) for table in LOAD_ORDER
                   for column, spec in TABLES[table]["columns"].items() if spec.get("references")]
        self._wanted = {tuple(target.split(".")) for _table, _column, target in targets}
        self._last_use = {tuple(target.split(".")): table for table, _column, target in targets}

    def keep(self, table: str, frame: pd.DataFrame) -> None:
        """Keep what later tables refer to in ``frame``, a table from :func:`normalise_table`."""
        for target_table, column in self._wanted:
            if target_table == table and column in frame:
                self._values[table, column] = _key_values(_text_column(table, frame, column, normalised=True))

    def get(self, table: str, column: str) -> pyarrow.Array | None:
        return self._values.get((table, column))

    def release_after(self, table: str) -> None:
        for target, last in self._last_use.items():
            if last == table:
                self._values.pop(target, None)


def _text_column(table: str, frame: pd.DataFrame, column: str, normalised: bool) -> pd.Series:
    """A column as text, as :func:`_as_text` gives it (which a normalised text column already is)."""
    if normalised and TABLES[table]["columns"][column]["type"] == "string":
        return frame[column]
    return _as_text(frame[column])


def _key_values(text: pd.Series) -> pyarrow.Array:
    """The values of a referenced column (given as text, which is how references are compared)."""
    return _arrow_text(text.dropna()).combine_chunks()


def _arrow_text(text: pd.Series) -> pyarrow.ChunkedArray:
    """Text values (as :func:`_as_text` gives them) as Arrow large strings, without copying them."""
    array = pyarrow.Table.from_pandas(text.to_frame(name="text"), preserve_index=False).column(0)
    return array if array.type == pyarrow.large_string() else array.cast(pyarrow.large_string())


def _file_names(tables: Mapping[str, pd.DataFrame], source: Mapping[str, str]) -> dict[str, str]:
    names = {}
    for table in TABLE_NAMES:
        frame = tables.get(table)
        attrs_source = frame.attrs.get("source") if frame is not None else None
        names[table] = source.get(table) or attrs_source or table
    return names


def _empty_table_problems(table: str, frame: pd.DataFrame, file: str) -> list[Problem]:
    if len(frame) or TABLES[table].get("may_be_empty"):
        return []
    return [Problem(file, None, "the table has no rows (only a header, or nothing)",
                    f"{table} needs at least one row: check that the export selected the right period.")]


# --- per-column checks through pandera ------------------------------------------------------

@dataclass(frozen=True)
class _Rule:
    """A column check and the words used to report it."""

    problem: str
    fix: str


def _column_problems(table: str, frame: pd.DataFrame, file: str) -> list[Problem]:
    schema, rules = _pandera_schema(table)
    failures = []
    try:
        # inplace: the checks only read the frame, and a copy of a national table is gigabytes
        schema.validate(frame, lazy=True, inplace=True)
    except SchemaErrors as errors:
        failures.append(errors.failure_cases)
    key = TABLES[table].get("key", [])
    if len(key) == 1 and key[0] in frame:
        failures.append(_repeated_key_failures(frame[key[0]]))
    failures = [cases for cases in failures if len(cases)]
    if failures:
        return _problems_from_failures(table, frame, file, pd.concat(failures, ignore_index=True), rules)
    return []


def _pandera_schema(table: str) -> tuple[pa.DataFrameSchema, dict[str, _Rule]]:
    """A pandera schema for ``table`` and, by check name, how to report each of its checks.

    Columns are checked as given (dtype=None): each typed column has a check that its values
    convert, so a bad value is reported once, by row, rather than as a column of the wrong dtype.
    A one-column key is checked for repeats by :func:`_repeated_key_failures`, not by pandera,
    whose check (pandas' ``is_unique``) hashed every key string and took a quarter of the time
    of loading a national year; its failures are reported exactly as pandera's would be.
    """
    spec = TABLES[table]
    key = spec.get("key", [])
    columns, rules = {}, {}
    for name, column in spec["columns"].items():
        checks = []
        for check_name, check, rule in _column_checks(name, column):
            checks.append(pa.Check(check, name=check_name))
            rules[check_name] = rule
        columns[name] = pa.Column(
            checks=checks,
            required=True,  # every column must be present; `required` in the schema means non-null
            nullable=not column.get("required"),
        )
    unique = key if len(key) > 1 else None
    return pa.DataFrameSchema(columns, unique=unique, strict=False, coerce=False), rules


def _repeated_key_failures(values: pd.Series) -> pd.DataFrame:
    """pandera's failure cases for a one-column key: every row whose (non-missing) value repeats.

    Sorting 64-bit hashes of the values (DuckDB's) finds any that repeat in a fraction of the
    time and memory of hashing millions of strings into a table; only values whose hash repeats
    (usually none) are then compared, and the rows holding the repeated ones looked up. Values
    that Arrow cannot hold (mixed types in an unconverted column) are left to pandas.
    """
    try:
        array = pyarrow.Table.from_pandas(values.to_frame(name="value"), preserve_index=False).column(0)
    except (pyarrow.ArrowException, TypeError, ValueError):
        repeated = values.notna() & values.duplicated(keep=False)
    else:
        key_values = pyarrow.table({"value": array})  # noqa: F841 (read by the queries below)
        con = duckdb.connect(config=_duckdb_settings(spill=False))
        try:
            hashes = np.sort(con.execute(
                "SELECT hash(value) AS h FROM key_values WHERE value IS NOT NULL").fetchnumpy()["h"])
            repeated_hashes = pyarrow.table({"h": np.unique(hashes[1:][hashes[1:] == hashes[:-1]])})  # noqa: F841
            del hashes
            found = con.execute(
                "SELECT value FROM key_values WHERE hash(value) IN (SELECT h FROM repeated_hashes)"
                " AND value IS NOT NULL GROUP BY value HAVING count(*) > 1"
            ).fetchall() if len(repeated_hashes) else []
        finally:
            con.close()
        if not found:
            return pd.DataFrame(columns=["column", "check", "failure_case", "index"])
        repeats = pyarrow.array([value for (value,) in found], type=array.type)
        in_repeats = pc.is_in(array, value_set=repeats).to_numpy(zero_copy_only=False)
        repeated = pd.Series(in_repeats, index=values.index) & values.notna()
    rows = values[repeated]
    return pd.DataFrame({"column": values.name, "check": "field_uniqueness",
                         "failure_case": rows.to_numpy(dtype=object), "index": rows.index})


def _column_checks(name: str, column: dict) -> Iterator[tuple[str, Callable, _Rule]]:
    """(check name, vectorised check, rule) for one column's type, bounds and code list."""
    kind = column["type"]
    if kind != "string":
        problem, fix = _TYPE_WORDS[kind]
        fix += "." if column.get("required") else ", or leave the cell empty."
        yield (f"{name}:type", lambda s: ~convert(s, kind)[1], _Rule(problem, fix))
    if "min" in column:
        low = column["min"]
        yield (f"{name}:min", _bound(kind, lambda v: v >= low),
               _Rule(f"a value below the minimum of {low}", f"Use values of {low} or more."))
    if "max" in column:
        high = column["max"]
        yield (f"{name}:max", _bound(kind, lambda v: v <= high),
               _Rule(f"a value above the maximum of {high}", f"Use values of {high} or less."))
    if column.get("event_date"):
        earliest, latest = (pd.Timestamp(day) for day in event_date_window())
        yield (f"{name}:window", _bound(kind, lambda v: (v >= earliest) & (v <= latest)),
               _Rule(f"a date outside {earliest:%Y-%m-%d} to {latest:%Y-%m-%d}",
                     f"{name} must be a date of IAPT activity, from {earliest:%Y-%m-%d} (the first IAPT services) "
                     f"to one year after today: correct these dates."))
    if "codes" in column:
        list_name = column["codes"]
        allowed = [str(code) for code in code_lists()[list_name]]
        yield (f"{name}:codes", lambda s: s.isin(allowed),
               _Rule(f"a code that is not in the {list_name} code list",
                     f"Use one of {', '.join(allowed)} (code_lists.yaml: {list_name}), or leave it empty."
                     if not column.get("required") else
                     f"Use one of {', '.join(allowed)} (code_lists.yaml: {list_name})."))


_TYPE_WORDS = {
    "date": ("a value that is not a date", "Write dates as YYYY-MM-DD, such as 2020-09-01"),
    "integer": ("a value that is not a whole number", "Use whole numbers such as 12"),
    "number": ("a value that is not a number", "Use numbers such as 12 or 12.5"),
}


def _bound(kind: str, within: Callable[[pd.Series], pd.Series]) -> Callable[[pd.Series], pd.Series]:
    """A bounds check on the converted values; values that do not convert are left to the type check."""
    def check(values: pd.Series) -> pd.Series:
        converted, _failed = convert(values, kind)
        return within(converted).fillna(True).astype(bool) | converted.isna()
    return check


_STANDARD_RULES = {
    "not_nullable": lambda column: _Rule(
        "no value", f"{column} is required: fill it in on every row."),
    "field_uniqueness": lambda column: _Rule(
        f"{_a(column)} {column} that is on more than one row",
        f"Each {column} must appear once: remove or renumber the repeats."),
    "multiple_fields_uniqueness": lambda column: _Rule(
        "a key that is on more than one row", "Each key must appear once: remove or renumber the repeats."),
}


def _problems_from_failures(table: str, frame: pd.DataFrame, file: str, failures: pd.DataFrame,
                            rules: dict[str, _Rule]) -> list[Problem]:
    problems = []
    missing = failures[failures["check"] == "column_in_dataframe"]
    for column in missing["failure_case"]:
        problems.append(_missing_column_problem(file, column, table, frame.columns))
    failures = failures[failures["check"] != "column_in_dataframe"]
    order = {name: i for i, name in enumerate(TABLES[table]["columns"])}
    groups = failures.groupby(["column", "check"], sort=False, dropna=False)
    for (column, check), cases in sorted(groups, key=lambda g: _failure_order(g[0], order)):
        column = None if pd.isna(column) else column
        rule = _rule_for(check, column, rules)
        if check == "field_uniqueness":
            cases = cases[cases["failure_case"].notna()]  # empty keys are reported as missing values
        rows = sorted({int(i) for i in cases["index"].dropna()})
        if rows:
            examples = _examples(table, frame, rows, lambda i: _show_present(frame, i, column), column)
            problems.append(Problem(file, column, rule.problem, rule.fix, len(rows), examples))
        elif len(cases):  # a check that failed as a whole rather than row by row
            detail = cases["failure_case"].iloc[0]
            problems.append(Problem(file, column, f"{rule.problem} ({detail})", rule.fix))
    return problems


_CHECK_ORDER = ("type", "min", "max", "window", "codes", "not_nullable", "field_uniqueness")


def _failure_order(group: tuple, column_order: dict[str, int]) -> tuple[int, int]:
    """Report a table's failures in schema column order, then type, bounds, codes, nulls, repeats."""
    column, check = group
    kind = str(check).rsplit(":", 1)[-1]
    rank = _CHECK_ORDER.index(kind) if kind in _CHECK_ORDER else len(_CHECK_ORDER)
    return column_order.get(column, len(column_order)), rank


def _rule_for(check: str, column: str | None, rules: dict[str, _Rule]) -> _Rule:
    if check in rules:
        return rules[check]
    if check in _STANDARD_RULES:
        return _STANDARD_RULES[check](column)
    return _Rule(f"a value that failed the check {check}", "Correct these values.")


def _missing_column_problem(file: str, column: str, table: str, present: Iterable[str]) -> Problem:
    unknown = [str(c) for c in present if c not in TABLES[table]["columns"]]
    close = difflib.get_close_matches(column.lower(), [c.lower() for c in unknown], n=1, cutoff=0.8)
    originals = {c.lower(): c for c in unknown}
    hint = f" (the file has a column {originals[close[0]]!r}: rename it if that is the one)" if close else ""
    return Problem(file, column, f"this column is missing{hint}",
                   f"Add a column named exactly {column}.")


# --- checks across columns and tables -------------------------------------------------------

def _date_order_problems(table: str, frame: pd.DataFrame, file: str) -> list[Problem]:
    problems = []
    for earlier, later in TABLES[table].get("date_order", []):
        if earlier not in frame or later not in frame:
            continue
        start, _ = convert(frame[earlier], "date")
        end, _ = convert(frame[later], "date")
        wrong = (end < start).fillna(False)
        rows = list(frame.index[wrong])
        if not rows:
            continue
        describe = lambda i: f"{_day(end[i])} < {_day(start[i])}"  # noqa: E731
        problems.append(Problem(
            file, later, f"{later} before {earlier}",
            f"{later} must be on or after {earlier}: correct whichever date is wrong.",
            len(rows), _examples(table, frame, rows, describe, later),
        ))
    return problems


def score_ranges() -> dict[str, tuple[str, float, float]]:
    """Instrument SNOMED CT code -> (instrument name, lowest score, highest score), from instruments.csv."""
    return {spec["snomed_code"]: (name, spec["score_min"], spec["score_max"]) for name, spec in instruments().items()}


def _score_range_problems(table: str, frame: pd.DataFrame, file: str, normalised: bool = False) -> list[Problem]:
    """Scores outside their instrument's range (columns with ``score_range_by``)."""
    problems = []
    for column, spec in TABLES[table]["columns"].items():
        by = spec.get("score_range_by")
        if not by or column not in frame or by not in frame:
            continue
        scores, _ = convert(frame[column], spec["type"])
        codes = _text_column(table, frame, by, normalised)
        wrong = pd.Series(False, index=frame.index)
        for code, (_name, low, high) in score_ranges().items():
            wrong |= ((codes == code) & ((scores < low) | (scores > high))).fillna(False).astype(bool)
        rows = list(frame.index[wrong])
        if not rows:
            continue
        ranges = score_ranges()

        def describe(i: int) -> str:
            name, low, high = ranges[codes[i]]
            return f"{name} ({codes[i]}) score {scores[i]:g}, outside {low:g} to {high:g}"

        used = sorted({ranges[codes[i]][0] for i in rows})
        limits = ", ".join(f"{name} {low:g} to {high:g}" for name, low, high in
                           sorted(ranges.values()) if name in used)
        problems.append(Problem(
            file, column, f"a score outside the range of its instrument ({by})",
            f"Each score must lie within its instrument's range ({limits}; "
            "src/iapt_report/reference/instruments.csv): correct these scores.",
            len(rows), _examples(table, frame, rows, describe, column),
        ))
    return problems


def _reference_problems(table: str, frame: pd.DataFrame, files: Mapping[str, str],
                        parent_keys: Callable[[str, str], pyarrow.Array | None],
                        normalised: bool = False) -> list[Problem]:
    problems = []
    for column, spec in TABLES[table]["columns"].items():
        target = spec.get("references")
        if not target or column not in frame:
            continue
        target_table, target_column = target.split(".")
        allowed = parent_keys(target_table, target_column)
        if allowed is None:
            continue  # the missing table or column is reported on its own
        values = _text_column(table, frame, column, normalised)
        unknown = values.notna() & ~_is_in(values, allowed)
        rows = list(frame.index[unknown])
        if not rows:
            continue
        problems.append(Problem(
            files[table], column,
            f"{_a(column)} {column} not found in column {target_column} of {files[target_table]}",
            f"Add rows for these values to {target_table}, or correct the {column} values.",
            len(rows), _examples(table, frame, rows, lambda i: _show(values[i]), column),
        ))
    return problems


def _is_in(values: pd.Series, allowed: pyarrow.Array) -> pd.Series:
    """Whether each text value (as :func:`_as_text` gives them) is one of ``allowed``; missing is not.

    DuckDB first counts the present values that are not allowed (a parallel anti-join, much
    faster than hashing the allowed values in Arrow); only when there are some is each value
    looked up, to say which rows they are on.
    """
    text = _arrow_text(values)
    checked, known = pyarrow.table({"value": text}), pyarrow.table({"value": allowed})  # noqa: F841
    con = duckdb.connect(config=_duckdb_settings(spill=False))
    try:
        (unknown,), = con.execute(
            "SELECT count(*) FROM checked ANTI JOIN known ON checked.value = known.value"
            " WHERE checked.value IS NOT NULL"
        ).fetchall()
    finally:
        con.close()
    if not unknown:
        return values.notna()
    found = pc.is_in(text, value_set=allowed).fill_null(False)
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index)


# --- describing rows ------------------------------------------------------------------------

def _examples(table: str, frame: pd.DataFrame, rows: list[int], describe: Callable[[int], str],
              column: str | None) -> tuple[str, ...]:
    """'row 4, PathwayID P0004: <what is wrong>' for the first few rows (row numbers count from 1).

    The row's key identifies it unless the key is the column at fault, whose value is shown anyway.
    """
    key = [name for name in TABLES[table].get("key", []) if name in frame and name != column]
    shown = []
    for i in rows[:MAX_EXAMPLES]:
        label = f"row {i + 1}"
        key_values = ", ".join(f"{name} {_plain(frame.at[i, name])}" for name in key)
        if key_values:
            label += f", {key_values}"
        detail = describe(i)
        shown.append(f"{label}: {detail}" if detail else label)
    return tuple(shown)


def _show_present(frame: pd.DataFrame, row: int, column: str | None) -> str:
    """The value at fault, or nothing when it is missing (the problem then says so)."""
    if column not in frame or _is_missing(frame.at[row, column]):
        return ""
    return _show(frame.at[row, column])


def _a(word: str) -> str:
    return "an" if word[:1].upper() in "AEIO" else "a"


def _show(value) -> str:
    """A value as it would appear in the file: text quoted, missing as 'empty'."""
    if _is_missing(value):
        return "empty"
    if isinstance(value, pd.Timestamp):
        return _day(value)
    return repr(value) if isinstance(value, str) else str(value)


def _plain(value) -> str:
    return "(empty)" if _is_missing(value) else str(value)


def _day(value) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def _is_missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


# --- the loaded dataset and handing over to Ibis ----------------------------------------------

#: The most memory DuckDB may use for the dataset's tables and the queries on them; beyond it
#: DuckDB spills to a temporary folder of its own (its default limit is 80% of the machine's RAM,
#: which let a national year reach 10 GB). The environment variable ``IAPT_DUCKDB_MEMORY_LIMIT``
#: (a DuckDB size such as "6GB") overrides it for a machine with more or less memory.
DUCKDB_MEMORY_LIMIT = "3GB"


def _duckdb_settings(spill: bool = True) -> dict[str, str]:
    settings = {"memory_limit": os.environ.get("IAPT_DUCKDB_MEMORY_LIMIT") or DUCKDB_MEMORY_LIMIT}
    if spill:
        # a private folder, not DuckDB's default ".tmp" in whatever the working directory is
        settings["temp_directory"] = tempfile.mkdtemp(prefix="iapt-report-duckdb-")
    return settings


def _copy_into(backend: ibis.BaseBackend, table: str, frame: pd.DataFrame) -> None:
    """Copy a frame into a DuckDB backend as a table, with the column types ``create_table`` gives.

    Straight from Arrow (dates as microsecond timestamps, as Ibis would make them), so that
    nothing else keeps the frame's data alive once the copy is made.
    """
    arrow = pyarrow.Table.from_pandas(frame, preserve_index=False)
    types = [pyarrow.timestamp("us") if pyarrow.types.is_timestamp(f.type) and f.type.tz is None else f.type
             for f in arrow.schema]
    arrow = arrow.cast(pyarrow.schema([f.with_type(t) for f, t in zip(arrow.schema, types)]))
    con = backend.con
    con.register("_iapt_incoming", arrow)
    try:
        con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM _iapt_incoming')
    finally:
        con.unregister("_iapt_incoming")


class _DatasetStore:
    """Where :func:`load_dataset` puts each valid table: a DuckDB database compressed in memory.

    An in-memory DuckDB database compresses its tables only when it is checkpointed: a national
    year then takes under 1 GB instead of 4 GB, so the pathway and measure queries need not
    spill. A checkpoint costs time (compressing text is most of it, and about the same whether
    done per table or for several), so the store checkpoints once the tables copied since the
    last checkpoint reach :attr:`COMPRESS_AFTER_BYTES`, and once at the end. An older DuckDB
    without in-memory compression keeps the tables as they are.
    """

    DATABASE = "iapt_dataset"
    #: pandas bytes of uncompressed tables that may wait for the next checkpoint
    COMPRESS_AFTER_BYTES = 500_000_000

    def __init__(self):
        self.backend = duckdb_backend()
        self.dtypes: dict[str, pd.Series] = {}
        self._uncompressed = 0
        try:
            self.backend.con.execute(f"ATTACH ':memory:' AS {self.DATABASE} (COMPRESS)")
        except duckdb.Error:
            self._compressed = False
        else:
            self.backend.con.execute(f"USE {self.DATABASE}")
            self._compressed = True

    def add(self, table: str, frame: pd.DataFrame) -> None:
        _copy_into(self.backend, table, frame)
        self.dtypes[table] = frame.dtypes
        self._uncompressed += int(frame.memory_usage(index=False).sum())
        if self._uncompressed >= self.COMPRESS_AFTER_BYTES:
            self._compress()

    def _compress(self) -> None:
        if self._compressed and self._uncompressed:
            self.backend.con.execute(f"CHECKPOINT {self.DATABASE}")
        self._uncompressed = 0

    def finish(self, sources: Mapping[str, str]) -> Dataset:
        """The loaded dataset, every table compressed."""
        self._compress()
        return Dataset(self.backend, sources, self.dtypes)

    def discard(self) -> None:
        self.backend.disconnect()


def duckdb_backend() -> ibis.BaseBackend:
    """A new in-memory DuckDB backend whose memory is bounded by :data:`DUCKDB_MEMORY_LIMIT`.

    What does not fit is spilled to a temporary folder, removed when the backend is discarded.
    """
    settings = _duckdb_settings()
    backend = ibis.duckdb.connect(**settings)
    backend.con.execute("SET enable_progress_bar = false")  # a long query would draw a bar in a build's output
    weakref.finalize(backend, shutil.rmtree, settings["temp_directory"], ignore_errors=True)
    return backend


class Dataset(Mapping[str, pd.DataFrame]):
    """A validated dataset, held in an in-memory DuckDB database rather than in pandas.

    It reads as a mapping of table name to the typed frame :func:`read_tables` would give (built
    from DuckDB on each access, so take a table once and keep it if it is used repeatedly);
    :func:`connect` hands its tables to Ibis without copying them. ``sources`` names the file
    each table was read from.
    """

    def __init__(self, backend: ibis.BaseBackend, sources: Mapping[str, str], dtypes: Mapping[str, pd.Series]):
        self.backend = backend
        self.sources = dict(sources)
        self._dtypes = dict(dtypes)

    def __getitem__(self, table: str) -> pd.DataFrame:
        if table not in self._dtypes:
            raise KeyError(table)
        arrow = self.backend.table(table).to_pyarrow()
        # whole numbers as Int64 straight from Arrow, so that none pass through float64
        frame = arrow.to_pandas(types_mapper={pyarrow.int64(): pd.Int64Dtype()}.get)
        frame = frame.astype(self._dtypes[table].to_dict())
        frame.attrs["source"] = self.sources[table]
        return frame

    def __iter__(self) -> Iterator[str]:
        return iter(self._dtypes)

    def __len__(self) -> int:
        return len(self._dtypes)

    def tables(self) -> dict[str, ibis.Table]:
        """Every table as an Ibis table of :attr:`backend`."""
        return {name: self.backend.table(name) for name in self._dtypes}


def connect(tables: Mapping[str, pd.DataFrame], con: ibis.BaseBackend | None = None) -> dict[str, ibis.Table]:
    """The tables as tables of an Ibis backend: ``con``, or else a new DuckDB (see :func:`duckdb_backend`).

    A :class:`Dataset` from :func:`load_dataset` is already in DuckDB: without ``con`` its own
    tables are handed over as they are. Anything else (frames, or a Dataset given another
    ``con``) is copied into the backend table by table, replacing any table of the same name.
    """
    if isinstance(tables, Dataset):
        if con is None or con is tables.backend:
            return tables.tables()
        return {name: con.create_table(name, tables.backend.table(name).to_pyarrow(), overwrite=True)
                for name in tables}
    con = duckdb_backend() if con is None else con
    return {name: con.create_table(name, frame, overwrite=True) for name, frame in tables.items()}


#: Same as :func:`connect`.
to_ibis = connect


#: A file the synthetic generator's command leaves in a dataset folder: reports built from a
#: folder holding it say on every page that the data are synthetic.
SYNTHETIC_MARKER = "_synthetic.json"

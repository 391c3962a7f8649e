"""A dataset of typed Parquet files, checked and read by DuckDB where the files lie.

:func:`dataset.load_dataset` first tries :func:`open_parquet_dataset`. When every table is a
Parquet file whose columns already have the schema's types (text, dates or timestamps, whole
numbers, numbers), DuckDB checks the files with one query per table and per reference, and the
dataset's tables become DuckDB views that read the files, tidied exactly as
:func:`reading.normalise_table` tidies a frame. Nothing is copied into memory: a national year
is checked in seconds and the pathway queries read the (already compressed) Parquet directly.

The checks here only decide whether the dataset is clean. They are written to err one way: a
file they cannot type, or any count above zero (even one that the full checks would accept,
such as a 64-bit hash that two keys share), sends the whole dataset down the pandas path, which
reads, checks and reports every problem with its rows, as it does for CSV files. So the
messages a user sees come from one place, and a clean dataset loads the same either way (the
test suite compares the two table by table).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from iapt_report.reference import code_lists

from .duckdb_sql import identifier, string_literal
from .reading import CODE_FORMATS, _two_digits, _unpadded
from .schema import PANDAS_DTYPES, TABLES, event_date_window
from .store import Dataset, duckdb_backend
from .validation import score_ranges

#: Every character Python's ``str.strip()`` removes (what pandas strips from text), for DuckDB's
#: ``trim``, whose default removes spaces only.
_WHITESPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
assert all(ord(c) <= 32 or ord(c) >= 133 for c in _WHITESPACE)  # what _tidied relies on

_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}
_FLOAT_TYPES = {"FLOAT", "DOUBLE"}
_DATE_TYPES = {"DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"}

#: The Parquet column types each schema type is read from here; any other sends the load to pandas.
_SOURCE_TYPES = {
    "string": {"VARCHAR"} | _INTEGER_TYPES,
    "date": _DATE_TYPES,
    "integer": _INTEGER_TYPES,
    "number": _INTEGER_TYPES | _FLOAT_TYPES,
}


def open_parquet_dataset(located: Mapping[str, Path]) -> Dataset | None:
    """The dataset as DuckDB views over its Parquet files, or None when the pandas path must load it.

    ``located`` gives each table's file. None means: a file is not Parquet, a column's type is
    not one read here, a schema column is missing, or a check found something to report.
    """
    if any(path.suffix != ".parquet" for path in located.values()) or not _every_rule_known():
        return None
    backend = duckdb_backend()
    try:
        clean = _clean_views(backend.con, located)
    except (duckdb.Error, OSError):  # unreadable files are for the pandas path to describe
        clean = False
    if not clean:
        backend.disconnect()
        return None
    dtypes = {table: pd.Series({name: PANDAS_DTYPES[spec["type"]] for name, spec in TABLES[table]["columns"].items()},
                               dtype=object)
              for table in TABLES}
    return Dataset(backend, {table: str(path) for table, path in located.items()}, dtypes)


def _clean_views(con: duckdb.DuckDBPyConnection, located: Mapping[str, Path]) -> bool:
    """Create a view of each table over its file; whether every column was typed and every check passed."""
    views = _views(con, located)
    if views is None:
        return False
    for view in views.values():
        con.execute(view.definition(tidy_all=True))
    if not _checks_pass(con, views):
        return False
    for view in views.values():  # the columns found tidy are read as they are, which is quicker
        con.execute(view.definition(tidy_all=False))
    return _references_found(con)


@dataclass
class _Column:
    """A schema column of a Parquet file: how it is read, and whether its values need tidying."""

    name: str
    kind: str
    source_type: str
    #: True once the checks have found that no value changes when tidied
    tidy: bool = False

    def tidied(self) -> str:
        """SQL giving the column as :func:`reading.normalise_table` types and tidies it."""
        column = identifier(self.name)
        if self.kind == "string":
            text = f"CAST({column} AS VARCHAR)"
            # trimming with a set of characters is slow in DuckDB: only text that starts or ends
            # with a character at or below a space or from U+0085 up (where the rest are) is trimmed
            ends = [f"unicode({text})", f"unicode(right({text}, 1))"]
            may_have_space = " OR ".join(f"{end} <= 32 OR {end} >= 133" for end in ends)
            text = f"NULLIF(CASE WHEN {may_have_space} THEN trim({text}, {string_literal(_WHITESPACE)}) ELSE {text} END, '')"
            return _TIDY_UPS_SQL[CODE_FORMATS[self.name]](text) if self.name in CODE_FORMATS else text
        if self.kind == "date":
            return f"CAST(CAST({column} AS DATE) AS TIMESTAMP)"
        if self.kind == "integer":
            return f"CAST({column} AS BIGINT)"
        # pandas reads NaN as missing; an infinity is a problem (counted in _checks)
        return f"CASE WHEN isnan({column}) THEN NULL ELSE CAST({column} AS DOUBLE) END"

    def untidy_count(self) -> str | None:
        """SQL counting the values that tidying changes, or None when the file's type must be cast anyway."""
        if self.source_type != _VIEW_TYPES[self.kind]:
            return None
        return f"count(*) FILTER (WHERE {identifier(self.name)} IS DISTINCT FROM {identifier(self.name + _AS_READ)})"

    def select(self, tidy_all: bool) -> str:
        return identifier(self.name) if self.tidy and not tidy_all else f"{self.tidied()} AS {identifier(self.name)}"


_AS_READ = " as read"

#: The DuckDB type of each schema type in the views (what store._copy_into gives the pandas path's tables)
_VIEW_TYPES = {"string": "VARCHAR", "date": "TIMESTAMP", "integer": "BIGINT", "number": "DOUBLE"}


@dataclass
class _View:
    table: str
    source: str
    columns: list[_Column]
    extra_columns: list[str]

    def rows_as_read_and_tidied(self) -> str:
        """SQL of the view's rows (every column tidied) beside each column as read (named ``<column> as read``)."""
        selected = [column.select(tidy_all=True) for column in self.columns]
        selected += [f"{identifier(column.name)} AS {identifier(column.name + _AS_READ)}" for column in self.columns]
        return f"(SELECT {', '.join(selected)} FROM {self.source})"

    def definition(self, tidy_all: bool) -> str:
        selected = [column.select(tidy_all) for column in self.columns] + [identifier(name) for name in self.extra_columns]
        return f"CREATE OR REPLACE VIEW {identifier(self.table)} AS SELECT {', '.join(selected)} FROM {self.source}"


def _views(con: duckdb.DuckDBPyConnection, located: Mapping[str, Path]) -> dict[str, _View] | None:
    """Each table's view over its file, or None when a column is missing or of a type not read here."""
    views = {}
    for table, path in located.items():
        source = f"read_parquet({string_literal(str(path.resolve()))})"
        types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {source})").fetchall())
        schema = TABLES[table]["columns"]
        columns = []
        for name, spec in schema.items():
            if types.get(name) not in _SOURCE_TYPES[spec["type"]]:
                return None  # missing, or a type the pandas path must convert (and may reject)
            columns.append(_Column(name, spec["type"], types[name]))
        views[table] = _View(table, source, columns, [name for name in types if name not in schema])
    return views


def _digits_unpadded(code: str) -> str:
    return f"coalesce(NULLIF(ltrim({code}, '0'), ''), '0')"


def _if_digits(code: str, tidied: str) -> str:
    return f"(CASE WHEN regexp_full_match({code}, '[0-9]+') THEN {tidied} ELSE {code} END)"


def _unpadded_sql(code: str) -> str:
    return _if_digits(code, _digits_unpadded(code))


def _two_digits_sql(code: str) -> str:
    unpadded = _digits_unpadded(code)  # zfill(2) pads, but never cuts as lpad would
    return _if_digits(code, f"(CASE WHEN length({unpadded}) < 2 THEN lpad({unpadded}, 2, '0') ELSE {unpadded} END)")


#: The SQL of each tidy-up reading.CODE_FORMATS applies (which says which columns get which).
_TIDY_UPS_SQL = {_unpadded: _unpadded_sql, _two_digits: _two_digits_sql}


def _checks_pass(con: duckdb.DuckDBPyConnection, views: Mapping[str, _View]) -> bool:
    """Whether every table's checks count no row that may be wrong (references aside).

    On the way, marks the columns whose values need no tidying (see :meth:`_Column.untidy_count`).
    """
    for table, view in views.items():
        checks = _checks(table)
        untidy = {column.name: column.untidy_count() for column in view.columns}
        untidy = {name: count for name, count in untidy.items() if count is not None}
        counts = con.execute(f"SELECT {', '.join(checks + list(untidy.values()))} FROM {view.rows_as_read_and_tidied()}").fetchone()
        if any(counts[:len(checks)]):
            return False
        tidy = {name for name, count in zip(untidy, counts[len(checks):]) if count == 0}
        for column in view.columns:
            column.tidy = column.name in tidy
    return True


def _references_found(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether every value of every referring column is in the column it refers to."""
    for table, spec in TABLES.items():
        for column, column_spec in spec["columns"].items():
            if column_spec.get("references"):
                parent, parent_column = column_spec["references"].split(".")
                (unknown,) = con.execute(
                    f"SELECT count(*) FROM {identifier(table)} AS child ANTI JOIN {identifier(parent)} AS parent"
                    f" ON child.{identifier(column)} = parent.{identifier(parent_column)}"
                    f" WHERE child.{identifier(column)} IS NOT NULL").fetchone()
                if unknown:
                    return False
    return True


#: The schema's keys (dataset_schema.yaml) that :func:`_checks` checks or that check nothing. A
#: rule added to the schema and not here sends every dataset through pandas, whose checks are
#: the reference, until it is checked here too.
_KNOWN_TABLE_KEYS = {"description", "columns", "key", "may_be_empty", "date_order"}
_KNOWN_COLUMN_KEYS = {"description", "type", "required", "min", "max", "codes", "references", "event_date",
                      "score_range_by"}


def _every_rule_known() -> bool:
    return all(set(spec) <= _KNOWN_TABLE_KEYS
               and all(set(column) <= _KNOWN_COLUMN_KEYS for column in spec["columns"].values())
               for spec in TABLES.values())


def _timestamp(day) -> str:
    return f"TIMESTAMP {string_literal(day.isoformat() + ' 00:00:00')}"


def _checks(table: str) -> list[str]:
    """SQL counts, over one table's view, of the rows each check of the schema may fail.

    An empty table that may not be empty counts 1.
    """
    spec = TABLES[table]
    counts = ["0" if spec.get("may_be_empty") else "CAST(count(*) = 0 AS INTEGER)"]
    for name, column in spec["columns"].items():
        value = identifier(name)
        if column.get("required"):
            counts.append(f"count(*) - count({value})")
        if "min" in column:
            counts.append(f"count(*) FILTER (WHERE {value} < {column['min']})")
        if "max" in column:
            counts.append(f"count(*) FILTER (WHERE {value} > {column['max']})")
        if column["type"] == "number":
            counts.append(f"count(*) FILTER (WHERE isinf({value}))")
        if column.get("event_date"):
            earliest, latest = event_date_window()
            counts.append(f"count(*) FILTER (WHERE {value} < {_timestamp(earliest)} OR {value} > {_timestamp(latest)})")
        if column.get("score_range_by"):
            instrument = identifier(column["score_range_by"])
            outside = " OR ".join(f"({instrument} = {string_literal(code)} AND ({value} < {low!r} OR {value} > {high!r}))"
                                  for code, (_name, low, high) in score_ranges().items())
            counts.append(f"count(*) FILTER (WHERE {outside})")
        if "codes" in column:
            allowed = ", ".join(string_literal(str(code)) for code in code_lists()[column["codes"]])
            counts.append(f"count(*) FILTER (WHERE {value} NOT IN ({allowed}))")
    for earlier, later in spec.get("date_order", []):
        counts.append(f"count(*) FILTER (WHERE {identifier(later)} < {identifier(earlier)})")
    key = spec.get("key", [])
    if key:
        # a repeat, or two keys whose 64-bit hashes collide (then the full check decides)
        hashed = f"hash({', '.join(identifier(name) for name in key)})"
        present = " AND ".join(f"{identifier(name)} IS NOT NULL" for name in key)
        counts.append(f"count(*) FILTER (WHERE {present}) - count(DISTINCT {hashed}) FILTER (WHERE {present})")
    return counts

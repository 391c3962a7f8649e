"""Load the record-level input dataset: checked and read by DuckDB where its files lie.

The dataset is one folder holding one file per table, ``<TABLE>.parquet`` or ``<TABLE>.csv``,
as described by ``reference/dataset_schema.yaml`` (and, for users, ``docs/dataset.md``).

* :func:`open_source` makes each file a DuckDB relation: Parquet read in place; CSV read as text
  (by pandas, whose reader decides what an unreadable CSV file is, what the missing-value markers
  are and how a header is spelt) and handed to DuckDB as Arrow without a copy.
* :func:`~.checks.check_sources` runs every check of the schema there (:mod:`.checks`, the only
  implementation of the checks) and :func:`load_dataset` raises one
  :class:`~.problems.DatasetError` listing *every* problem.
* A clean dataset's tables become DuckDB views over the Parquet files (a CSV table is copied
  into DuckDB once, typed), each column typed and tidied as the checks typed it, and are handed
  to Ibis by :func:`~.store.connect`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

import duckdb
import ibis
import pandas as pd
import pyarrow

from .checks import ROW, Source, check_sources, unreadable_problem
from .duckdb_sql import identifier as q
from .duckdb_sql import string_literal as lit
from .problems import DatasetError, Problem
from .reading import _folder_not_found, _read_file, _table_file, absent
from .schema import EVENT_DATE_COLUMNS, OPTIONAL_TABLES, PANDAS_DTYPES, TABLE_NAMES, TABLES
from .store import Dataset, duckdb_backend
from .typing_sql import VIEW_TYPES, as_text, typed_sql


def load_dataset(data_dir: str | Path) -> Dataset:
    """The dataset in ``data_dir``, checked and read by DuckDB (see :class:`Dataset`).

    Raises one :class:`DatasetError` listing every problem: files, columns, values, references,
    table by table in schema order. Nothing is kept when there is one. An optional table whose
    file is absent, or an optional column absent from its file, is simply not in the dataset.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError([_folder_not_found(data_dir)])
    backend = duckdb_backend()
    try:
        sources, unreadable = {}, {}
        for table in TABLE_NAMES:
            path, problem = _table_file(data_dir, table)
            if path is None and table in OPTIONAL_TABLES and absent(data_dir, table):
                continue  # an older extract without this v2.1 table: its measures are not computable
            source = None
            if problem is None:
                source, problem = open_source(backend.con, table, path)
            if problem is not None:
                unreadable[table] = problem
            else:
                sources[table] = source
        problems, tidy = check_sources(backend.con, sources)
        found = [unreadable[table] for table in TABLE_NAMES if table in unreadable]
        found += [problem for table in TABLE_NAMES for problem in problems.get(table, [])]
        if found:
            raise DatasetError(found)
        for table, source in sources.items():
            _create_table(backend.con, source, tidy[table])
    except BaseException:
        backend.disconnect()
        raise
    dtypes = {table: pd.Series({name: PANDAS_DTYPES[spec["type"]] for name, spec in TABLES[table]["columns"].items()
                                if name in source.names}, dtype=object)
              for table, source in sources.items()}
    return Dataset(backend, {table: source.file for table, source in sources.items()}, dtypes)


def open_source(con: duckdb.DuckDBPyConnection, table: str, path: Path) -> tuple[Source | None, Problem | None]:
    """The table's file as a DuckDB relation, or the problem that it cannot be read."""
    if path.suffix == ".csv":
        frame, problem = _read_file(path)
        if problem is not None:
            return None, problem
        return arrow_source(con, table, str(path), frame), None
    relation = f"read_parquet({lit(str(path.resolve()))}, file_row_number = true)"
    try:
        types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {relation})").fetchall())
    except duckdb.Error as error:
        return None, unreadable_problem(str(path), error)
    types.pop("file_row_number", None)
    return Source(table, str(path), relation, "file_row_number", types), None


def arrow_source(con: duckdb.DuckDBPyConnection, table: str, file: str, frame: pd.DataFrame) -> Source:
    """A frame (a CSV file read as text, or a table in memory) as a DuckDB relation, through Arrow.

    Columns of Python objects or categories are handed over as the text of their values.
    """
    columns = {}
    for name in frame.columns:
        values = frame[name]
        if values.dtype == object or isinstance(values.dtype, pd.CategoricalDtype):
            from .reading import _as_text as text_of  # only frames of mixed values need it
            values = text_of(values)
        columns[str(name)] = values
    arrow = pyarrow.Table.from_pandas(pd.DataFrame(columns, index=frame.index), preserve_index=False)
    arrow = arrow.append_column(ROW, pyarrow.array(range(len(arrow)), type=pyarrow.int64()))
    name = f"file {table}"
    con.register(name, arrow)
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {q(name)})").fetchall())
    types.pop(ROW)
    return Source(table, file, q(name), q(ROW), types)


def _create_table(con: duckdb.DuckDBPyConnection, source: Source, tidy: set[str]) -> None:
    """The checked table, typed and tidied: a view over a Parquet file, a DuckDB table from a CSV file."""
    spec = TABLES[source.table]["columns"]
    inner, outer = [], []
    for column, name in source.names.items():
        kind, source_type = spec[column]["type"], source.types[name]
        if column in tidy:
            inner.append(f"{q(name)} AS {q(column + ' raw')}")
            outer.append(f"{q(column + ' raw')} AS {q(column)}")
            continue
        inner += [f"{q(name)} AS {q(column + ' raw')}", f"{as_text(q(name), source_type)} AS {q(column + ' text')}"]
        value = typed_sql(column, kind, q(column + " raw"), source_type, q(column + " text"))
        outer.append(f"CAST({value} AS {VIEW_TYPES[kind]}) AS {q(column)}")
    extra = [q(name) for name in source.extra_columns]
    relation = source.relation.replace(", file_row_number = true", "")
    select = f"SELECT {', '.join(outer + extra)} FROM (SELECT {', '.join(inner + extra)} FROM {relation})"
    con.execute(f"DROP VIEW IF EXISTS {q('checked ' + source.table)}")
    if source.relation.startswith("read_parquet("):
        con.execute(f"CREATE OR REPLACE VIEW {q(source.table)} AS {select}")
    else:
        con.execute(f"CREATE OR REPLACE TABLE {q(source.table)} AS {select}")
        con.unregister(f"file {source.table}")


def event_date_range(tables: Mapping[str, ibis.Table]) -> tuple[date, date]:
    """The first and last event date in a dataset's tables (as :func:`connect` gives them)."""
    bounds = []
    for table, column in EVENT_DATE_COLUMNS:
        if table not in tables or column not in tables[table].columns:
            continue  # an optional table or column the dataset does not have
        values = tables[table][column]
        row = tables[table].aggregate(first=values.min(), last=values.max()).to_pyarrow().to_pylist()[0]
        bounds += [_as_date(row["first"]), _as_date(row["last"])]
    known = [day for day in bounds if day is not None]
    return min(known), max(known)


def _as_date(value) -> date | None:
    if value is None:
        return None
    return value.date() if hasattr(value, "date") and callable(value.date) else value

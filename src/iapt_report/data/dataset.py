"""Load the record-level input dataset: read, validated and held in DuckDB, one table at a time.

The dataset is one folder holding one file per table, ``<TABLE>.parquet`` or ``<TABLE>.csv``,
as described by ``reference/dataset_schema.yaml`` (and, for users, ``docs/dataset.md``).

* :func:`~.reading.read_tables` reads the files and :func:`~.reading.normalise` types each
  column as the schema says (:mod:`.reading`).
* :func:`~.validation.validate` checks the tables and raises one
  :class:`~.problems.DatasetError` listing *every* problem found (:mod:`.validation`,
  :mod:`.column_checks`, :mod:`.problems`).
* :func:`load_dataset` does both, one table at a time, and keeps each valid table in DuckDB
  rather than in pandas (see :class:`~.store.Dataset`); :func:`~.store.connect` hands the
  tables to Ibis. A dataset of typed Parquet files is read in place (:mod:`.parquet_dataset`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

import ibis
import pyarrow

from .parquet_dataset import open_parquet_dataset
from .problems import DatasetError
from .reading import _folder_not_found, _read_file, _table_file, normalise_table
from .schema import EVENT_DATE_COLUMNS, LOAD_ORDER, TABLE_NAMES
from .store import Dataset, _DatasetStore
from .validation import _KeyValues, _table_problems


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

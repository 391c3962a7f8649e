"""The dataset held in DuckDB (views over its Parquet files, or tables copied from CSV), handed
to Ibis without copying; DuckDB's memory bounded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping

import ibis
import pandas as pd
import pyarrow

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

"""The dataset held in DuckDB: a validated table is copied into an in-memory DuckDB database
(compressed) rather than kept in pandas, and handed to Ibis without copying.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping

import duckdb
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

"""Which engine computes the measures: the one place a dataset folder becomes Ibis tables of a backend.

``duckdb`` (the default) loads and validates the dataset into an in-process DuckDB database
(:func:`dataset.load_dataset`). ``spark`` validates the same files the same way, so a bad file
is refused with the same message, and then has Spark read them itself (:mod:`.spark`): on a
Spark cluster the data never pass through this machine's memory on the way to the measures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis

from .dataset import load_dataset
from .store import connect

#: The backends the measures can be computed on; the first is the default.
BACKENDS = ("duckdb", "spark")
DEFAULT_BACKEND = BACKENDS[0]


def check_backend(name: str) -> str:
    """``name`` if it is a known backend; ValueError naming the choices otherwise."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose {' or '.join(BACKENDS)}")
    return name


def open_tables(data_dir: str | Path, backend: str = DEFAULT_BACKEND, session: Any = None) -> dict[str, ibis.Table]:
    """The validated dataset in ``data_dir`` as Ibis tables of ``backend``.

    Raises :class:`problems.DatasetError` (every problem, as :func:`load_dataset` reports them)
    for an invalid dataset, on either backend; :class:`spark.SparkUnavailable` when Spark is
    asked for and cannot run. ``session``: the Spark session to use (default: the active one,
    or a new local one).
    """
    check_backend(backend)
    dataset = load_dataset(data_dir)
    if backend == "duckdb":
        return connect(dataset)
    dataset.backend.disconnect()  # validated: Spark reads the files itself
    from .spark import spark_tables

    return spark_tables(Path(data_dir), session)

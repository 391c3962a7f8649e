"""Checking tables held in memory (pandas frames) with the same checks as a dataset's files.

:func:`validate` raises one :class:`~.problems.DatasetError` listing *every* problem found;
:func:`find_problems` returns them. The frames are handed to DuckDB through Arrow and checked by
:mod:`.checks`, the one implementation of the schema's rules, exactly as :func:`dataset.load_dataset`
checks files.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pandas as pd

from .checks import check_sources, score_ranges
from .dataset import arrow_source
from .problems import DatasetError, Problem
from .schema import OPTIONAL_TABLES, TABLE_NAMES
from .store import _duckdb_settings

__all__ = ["find_problems", "score_ranges", "validate"]


def validate(tables: Mapping[str, pd.DataFrame], source: Mapping[str, str] | None = None) -> None:
    """Raise one :class:`DatasetError` listing every problem in ``tables``; return None when there are none.

    ``source`` names the file each table came from (``{"IDS101Referral": "data/IDS101Referral.csv"}``)
    for the messages; without it a frame's ``attrs["source"]`` or the table name is used.
    """
    problems = find_problems(tables, source)
    if problems:
        raise DatasetError(problems)


def find_problems(tables: Mapping[str, pd.DataFrame], source: Mapping[str, str] | None = None, *,
                  report_missing_tables: bool = True) -> list[Problem]:
    """Every problem in ``tables``, in schema order; an empty list when the dataset is valid."""
    source = source or {}
    settings: dict = _duckdb_settings(spill=False)
    con = duckdb.connect(config=settings)
    try:
        sources, missing = {}, {}
        for table in TABLE_NAMES:
            frame = tables.get(table)
            file = source.get(table) or (frame.attrs.get("source") if frame is not None else None) or table
            if frame is None:
                if report_missing_tables and table not in OPTIONAL_TABLES:
                    missing[table] = [Problem(file, None, "table is missing from the dataset",
                                              f"Provide the {table} table; docs/dataset.md lists its columns.")]
                continue
            sources[table] = arrow_source(con, table, file, frame.reset_index(drop=True))
        found, _tidy = check_sources(con, sources)
    finally:
        con.close()
    return [problem for table in TABLE_NAMES for problem in missing.get(table, []) + found.get(table, [])]

"""``iapt-report check``: a dataset validated and described, without computing any measure.

The same reading and validation as every build (:func:`~.dataset.load_dataset`), then the
event-date range and the rows of each table. A dataset with problems is still described as far
as its files allow (rows counted from each readable file), with every problem listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .dataset import event_date_range, load_dataset
from .problems import DatasetError, Problem
from .reading import _table_file, absent
from .schema import OPTIONAL_TABLES, SYNTHETIC_MARKER, TABLE_NAMES


@dataclass
class DatasetSummary:
    folder: Path
    rows: dict[str, int | None] = field(default_factory=dict)  # None: the file is missing or unreadable
    absent: set[str] = field(default_factory=set)  # optional tables without a file (older extracts)
    first_date: date | None = None
    last_date: date | None = None
    problems: list[Problem] = field(default_factory=list)
    synthetic: bool = False

    @property
    def clean(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """The summary as the command prints it."""
        kind = " (synthetic)" if self.synthetic else ""
        out = [f"dataset {self.folder}{kind}: {len(TABLE_NAMES)} tables"]
        if self.first_date is not None and self.last_date is not None:
            out.append(f"event dates: {self.first_date.isoformat()} to {self.last_date.isoformat()}")
        else:
            out.append("event dates: not known (the dataset did not load)")
        out.append("rows per table:")
        width = max(len(name) for name in TABLE_NAMES)
        for name in TABLE_NAMES:
            count = self.rows.get(name)
            shown = ("absent (optional: its measures are not computable)" if name in self.absent
                     else "not read" if count is None else f"{count:,}")
            out.append(f"  {name:<{width}}  {shown}")
        if self.clean:
            out.append("no problems found")
        else:
            out.append(str(DatasetError(self.problems)))
        return out


def check_dataset(folder: str | Path) -> DatasetSummary:
    """Validate the dataset in ``folder`` and describe it; never computes measures."""
    folder = Path(folder)
    summary = DatasetSummary(folder, synthetic=(folder / SYNTHETIC_MARKER).is_file())
    if folder.is_dir():
        summary.absent = {name for name in OPTIONAL_TABLES if absent(folder, name)}
    try:
        dataset = load_dataset(folder)
    except DatasetError as error:
        summary.problems = list(error.problems)
        summary.rows = {name: _file_rows(folder, name) for name in TABLE_NAMES}
        return summary
    try:
        tables = dataset.tables()
        summary.rows = {name: int(tables[name].count().to_pyarrow().as_py()) for name in TABLE_NAMES if name in tables}
        summary.first_date, summary.last_date = event_date_range(tables)
    finally:
        close = getattr(dataset, "close", None)
        if callable(close):
            close()
    return summary


def _file_rows(folder: Path, table: str) -> int | None:
    """Rows of one table's file, read as cheaply as the format allows, or None."""
    path, problem = _table_file(folder, table)
    if path is None or problem is not None:
        return None
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        import pandas as pd

        return len(pd.read_csv(path, dtype=str, usecols=[0], encoding="utf-8-sig"))
    except Exception:  # an unreadable file is already one of the problems
        return None

"""What is wrong with an input dataset, phrased so the user knows what to change: one
:class:`Problem` per file, column and kind of fault, with example rows, gathered into one
:class:`DatasetError`.

Row numbers in messages count data rows from 1: row 1 is the first row after a CSV header.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pandas as pd

from .schema import TABLES

MAX_EXAMPLES = 5


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

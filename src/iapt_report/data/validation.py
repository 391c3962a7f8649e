"""Checking the dataset: :func:`validate` raises one :class:`~.problems.DatasetError` listing
*every* problem found, each naming the file, the column, how many rows and a few example rows.

Column by column (types, bounds, code lists, required values, repeated keys) through pandera
in :mod:`.column_checks`; here the checks across columns and tables: empty tables, dates in
order, scores within their instrument's range, references to other tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import duckdb
import pandas as pd
import pyarrow
import pyarrow.compute as pc

from iapt_report.reference import instruments

from .column_checks import _column_problems
from .problems import DatasetError, Problem, _a, _day, _examples, _show
from .reading import _as_text, convert
from .schema import LOAD_ORDER, TABLE_NAMES, TABLES
from .store import _duckdb_settings


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

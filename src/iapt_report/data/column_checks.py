"""Per-column checks through pandera: each column's type, bounds, event-date window and code list,
required values and repeated keys, reported as :class:`~.problems.Problem` rows in schema
column order.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
from pandera.errors import SchemaErrors

from iapt_report.reference import code_lists

from .problems import Problem, _a, _examples, _show_present
from .reading import convert
from .schema import TABLES, event_date_window
from .store import _duckdb_settings


@dataclass(frozen=True)
class _Rule:
    """A column check and the words used to report it."""

    problem: str
    fix: str


def _column_problems(table: str, frame: pd.DataFrame, file: str) -> list[Problem]:
    schema, rules = _pandera_schema(table)
    failures = []
    try:
        # inplace: the checks only read the frame, and a copy of a national table is gigabytes
        schema.validate(frame, lazy=True, inplace=True)
    except SchemaErrors as errors:
        failures.append(errors.failure_cases)
    key = TABLES[table].get("key", [])
    if len(key) == 1 and key[0] in frame:
        failures.append(_repeated_key_failures(frame[key[0]]))
    failures = [cases for cases in failures if len(cases)]
    if failures:
        return _problems_from_failures(table, frame, file, pd.concat(failures, ignore_index=True), rules)
    return []


def _pandera_schema(table: str) -> tuple[pa.DataFrameSchema, dict[str, _Rule]]:
    """A pandera schema for ``table`` and, by check name, how to report each of its checks.

    Columns are checked as given (dtype=None): each typed column has a check that its values
    convert, so a bad value is reported once, by row, rather than as a column of the wrong dtype.
    A one-column key is checked for repeats by :func:`_repeated_key_failures`, not by pandera,
    whose check (pandas' ``is_unique``) hashed every key string and took a quarter of the time
    of loading a national year; its failures are reported exactly as pandera's would be.
    """
    spec = TABLES[table]
    key = spec.get("key", [])
    columns, rules = {}, {}
    for name, column in spec["columns"].items():
        checks = []
        for check_name, check, rule in _column_checks(name, column):
            checks.append(pa.Check(check, name=check_name))
            rules[check_name] = rule
        columns[name] = pa.Column(
            checks=checks,
            required=True,  # every column must be present; `required` in the schema means non-null
            nullable=not column.get("required"),
        )
    unique = key if len(key) > 1 else None
    return pa.DataFrameSchema(columns, unique=unique, strict=False, coerce=False), rules


def _repeated_key_failures(values: pd.Series) -> pd.DataFrame:
    """pandera's failure cases for a one-column key: every row whose (non-missing) value repeats.

    Sorting 64-bit hashes of the values (DuckDB's) finds any that repeat in a fraction of the
    time and memory of hashing millions of strings into a table; only values whose hash repeats
    (usually none) are then compared, and the rows holding the repeated ones looked up. Values
    that Arrow cannot hold (mixed types in an unconverted column) are left to pandas.
    """
    try:
        array = pyarrow.Table.from_pandas(values.to_frame(name="value"), preserve_index=False).column(0)
    except (pyarrow.ArrowException, TypeError, ValueError):
        repeated = values.notna() & values.duplicated(keep=False)
    else:
        key_values = pyarrow.table({"value": array})  # noqa: F841 (read by the queries below)
        con = duckdb.connect(config=_duckdb_settings(spill=False))
        try:
            hashes = np.sort(con.execute(
                "SELECT hash(value) AS h FROM key_values WHERE value IS NOT NULL").fetchnumpy()["h"])
            repeated_hashes = pyarrow.table({"h": np.unique(hashes[1:][hashes[1:] == hashes[:-1]])})  # noqa: F841
            del hashes
            found = con.execute(
                "SELECT value FROM key_values WHERE hash(value) IN (SELECT h FROM repeated_hashes)"
                " AND value IS NOT NULL GROUP BY value HAVING count(*) > 1"
            ).fetchall() if len(repeated_hashes) else []
        finally:
            con.close()
        if not found:
            return pd.DataFrame(columns=["column", "check", "failure_case", "index"])
        repeats = pyarrow.array([value for (value,) in found], type=array.type)
        in_repeats = pc.is_in(array, value_set=repeats).to_numpy(zero_copy_only=False)
        repeated = pd.Series(in_repeats, index=values.index) & values.notna()
    rows = values[repeated]
    return pd.DataFrame({"column": values.name, "check": "field_uniqueness",
                         "failure_case": rows.to_numpy(dtype=object), "index": rows.index})


def _column_checks(name: str, column: dict) -> Iterator[tuple[str, Callable, _Rule]]:
    """(check name, vectorised check, rule) for one column's type, bounds and code list."""
    kind = column["type"]
    if kind != "string":
        problem, fix = _TYPE_WORDS[kind]
        fix += "." if column.get("required") else ", or leave the cell empty."
        yield (f"{name}:type", lambda s: ~convert(s, kind)[1], _Rule(problem, fix))
    if "min" in column:
        low = column["min"]
        yield (f"{name}:min", _bound(kind, lambda v: v >= low),
               _Rule(f"a value below the minimum of {low}", f"Use values of {low} or more."))
    if "max" in column:
        high = column["max"]
        yield (f"{name}:max", _bound(kind, lambda v: v <= high),
               _Rule(f"a value above the maximum of {high}", f"Use values of {high} or less."))
    if column.get("event_date"):
        earliest, latest = (pd.Timestamp(day) for day in event_date_window())
        yield (f"{name}:window", _bound(kind, lambda v: (v >= earliest) & (v <= latest)),
               _Rule(f"a date outside {earliest:%Y-%m-%d} to {latest:%Y-%m-%d}",
                     f"{name} must be a date of IAPT activity, from {earliest:%Y-%m-%d} (the first IAPT services) "
                     f"to one year after today: correct these dates."))
    if "codes" in column:
        list_name = column["codes"]
        allowed = [str(code) for code in code_lists()[list_name]]
        yield (f"{name}:codes", lambda s: s.isin(allowed),
               _Rule(f"a code that is not in the {list_name} code list",
                     f"Use one of {', '.join(allowed)} (code_lists.yaml: {list_name}), or leave it empty."
                     if not column.get("required") else
                     f"Use one of {', '.join(allowed)} (code_lists.yaml: {list_name})."))


_TYPE_WORDS = {
    "date": ("a value that is not a date", "Write dates as YYYY-MM-DD, such as 2020-09-01"),
    "integer": ("a value that is not a whole number", "Use whole numbers such as 12"),
    "number": ("a value that is not a number", "Use numbers such as 12 or 12.5"),
}


def _bound(kind: str, within: Callable[[pd.Series], pd.Series]) -> Callable[[pd.Series], pd.Series]:
    """A bounds check on the converted values; values that do not convert are left to the type check."""
    def check(values: pd.Series) -> pd.Series:
        converted, _failed = convert(values, kind)
        return within(converted).fillna(True).astype(bool) | converted.isna()
    return check


_STANDARD_RULES = {
    "not_nullable": lambda column: _Rule(
        "no value", f"{column} is required: fill it in on every row."),
    "field_uniqueness": lambda column: _Rule(
        f"{_a(column)} {column} that is on more than one row",
        f"Each {column} must appear once: remove or renumber the repeats."),
    "multiple_fields_uniqueness": lambda column: _Rule(
        "a key that is on more than one row", "Each key must appear once: remove or renumber the repeats."),
}


def _problems_from_failures(table: str, frame: pd.DataFrame, file: str, failures: pd.DataFrame,
                            rules: dict[str, _Rule]) -> list[Problem]:
    problems = []
    missing = failures[failures["check"] == "column_in_dataframe"]
    for column in missing["failure_case"]:
        problems.append(_missing_column_problem(file, column, table, frame.columns))
    failures = failures[failures["check"] != "column_in_dataframe"]
    order = {name: i for i, name in enumerate(TABLES[table]["columns"])}
    groups = failures.groupby(["column", "check"], sort=False, dropna=False)
    for (column, check), cases in sorted(groups, key=lambda g: _failure_order(g[0], order)):
        column = None if pd.isna(column) else column
        rule = _rule_for(check, column, rules)
        if check == "field_uniqueness":
            cases = cases[cases["failure_case"].notna()]  # empty keys are reported as missing values
        rows = sorted({int(i) for i in cases["index"].dropna()})
        if rows:
            examples = _examples(table, frame, rows, lambda i: _show_present(frame, i, column), column)
            problems.append(Problem(file, column, rule.problem, rule.fix, len(rows), examples))
        elif len(cases):  # a check that failed as a whole rather than row by row
            detail = cases["failure_case"].iloc[0]
            problems.append(Problem(file, column, f"{rule.problem} ({detail})", rule.fix))
    return problems


_CHECK_ORDER = ("type", "min", "max", "window", "codes", "not_nullable", "field_uniqueness")


def _failure_order(group: tuple, column_order: dict[str, int]) -> tuple[int, int]:
    """Report a table's failures in schema column order, then type, bounds, codes, nulls, repeats."""
    column, check = group
    kind = str(check).rsplit(":", 1)[-1]
    rank = _CHECK_ORDER.index(kind) if kind in _CHECK_ORDER else len(_CHECK_ORDER)
    return column_order.get(column, len(column_order)), rank


def _rule_for(check: str, column: str | None, rules: dict[str, _Rule]) -> _Rule:
    if check in rules:
        return rules[check]
    if check in _STANDARD_RULES:
        return _STANDARD_RULES[check](column)
    return _Rule(f"a value that failed the check {check}", "Correct these values.")


def _missing_column_problem(file: str, column: str, table: str, present: Iterable[str]) -> Problem:
    unknown = [str(c) for c in present if c not in TABLES[table]["columns"]]
    close = difflib.get_close_matches(column.lower(), [c.lower() for c in unknown], n=1, cutoff=0.8)
    originals = {c.lower(): c for c in unknown}
    hint = f" (the file has a column {originals[close[0]]!r}: rename it if that is the one)" if close else ""
    return Problem(file, column, f"this column is missing{hint}",
                   f"Add a column named exactly {column}.")

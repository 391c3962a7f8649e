"""Checking the dataset where it lies: every rule of ``reference/dataset_schema.yaml`` as SQL that
DuckDB runs over the files (Parquet read in place, CSV as text), reporting *every* problem as a
:class:`~.problems.Problem` naming the file, the column, how many rows and up to five examples.

This is the only implementation of the checks. For each table, :class:`Source` says where its
rows are; :func:`typed_columns` gives each schema column three ways, as SQL: the value typed as
the schema says (``"<column>"``), as text (``"<column> text"``: stripped, empty as missing, what
an example shows when a column holds values of the wrong type) and whether it was present but
would not convert (``"<column> failed"``). One aggregate query per table counts the rows every
check fails; only a check that counts some rows is asked for its first five rows, and each
reference is one anti-join. A clean national year is checked in a few scans of its files.

The rules, in the order problems are reported within a table: no rows; missing columns; then
column by column (schema order) its type, minimum, maximum, event-date window, code list,
required value and repeated key; dates in order; scores within their instrument's range;
references to other tables. Values are compared as :func:`typed_columns` types them: text is
stripped and codes tidied (``reading.CODE_FORMATS``) before they are checked.

Kept as one module: each rule's SQL and the words that report it sit side by side, and the
order problems are reported in is that of this file, read top to bottom.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

import duckdb

from iapt_report.reference import code_lists, instruments

from .duckdb_sql import identifier as q
from .duckdb_sql import string_literal as lit
from .problems import MAX_EXAMPLES, Problem, _a
from .schema import TABLES, event_date_window
from .typing_sql import VIEW_TYPES, as_text, failed_sql, typed_sql

ROW = "__iapt_row"


@dataclass
class Source:
    """Where one table's rows are: ``relation`` (SQL after FROM) with columns ``types`` (name as
    the file spells it -> DuckDB type) and a 0-based row number ``row`` (SQL)."""

    table: str
    file: str
    relation: str
    row: str
    types: dict[str, str]
    #: schema column -> the name in the file (header names are read with spaces stripped)
    names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        stripped = {str(name).strip(): name for name in self.types}
        self.names = {column: stripped[column] for column in TABLES[self.table]["columns"] if column in stripped}

    @property
    def extra_columns(self) -> list[str]:
        known = set(self.names.values())
        return [name for name in self.types if name not in known and name != ROW]


def typed_columns(source: Source) -> tuple[list[str], list[str]]:
    """SELECT items of every schema column in the file, in two steps: the value as read
    (``"<column> raw"``) and as text; then typed, and whether it failed to convert."""
    read, typed = [f"{source.row} AS {q(ROW)}"], [q(ROW)]
    for column, spec in TABLES[source.table]["columns"].items():
        if column not in source.names:
            continue
        raw, text = q(column + " raw"), q(column + " text")
        source_type = source.types[source.names[column]]
        read += [f"{q(source.names[column])} AS {raw}", f"{as_text(q(source.names[column]), source_type)} AS {text}"]
        value = typed_sql(column, spec["type"], raw, source_type, text)
        typed += [raw, text, f"{value} AS {q(column)}",
                  f"{failed_sql(spec['type'], raw, source_type, text, value)} AS {q(column + ' failed')}"]
    return read, typed


def checked_relation(con: duckdb.DuckDBPyConnection, source: Source) -> str:
    """Create and name the view of ``source`` with its columns typed three ways (see the module)."""
    view = q(f"checked {source.table}")
    read, typed = typed_columns(source)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {', '.join(typed)}"
                f" FROM (SELECT {', '.join(read)} FROM {source.relation})")
    return view


# --- the checks ----------------------------------------------------------------------------

@dataclass
class _Check:
    """A row-level check: ``condition`` (SQL over the checked view) true on the rows at fault."""

    column: str | None
    condition: str
    problem: str
    fix: str
    #: (row values by column name) -> what the example says about the row
    describe: Callable[[dict], str]
    #: the columns ``describe`` reads
    reads: tuple[str, ...] = ()


_TYPE_WORDS = {
    "date": ("a value that is not a date", "Write dates as YYYY-MM-DD, such as 2020-09-01"),
    "integer": ("a value that is not a whole number", "Use whole numbers such as 12"),
    "number": ("a value that is not a number", "Use numbers such as 12 or 12.5"),
}


def score_ranges() -> dict[str, tuple[str, float, float]]:
    """Instrument SNOMED CT code -> (instrument name, lowest score, highest score), from instruments.csv."""
    return {spec["snomed_code"]: (name, spec["score_min"], spec["score_max"]) for name, spec in instruments().items()}


def _timestamp(day: date) -> str:
    return f"TIMESTAMP {lit(day.isoformat() + ' 00:00:00')}"


def _column_checks(table: str, column: str, spec: dict, shown: Callable[[dict], str]) -> list[_Check]:
    """The checks of one column, in the order they are reported; ``shown`` gives a row's value at fault."""
    kind, value, checks = spec["type"], q(column), []
    present = f"{value} IS NOT NULL"
    if kind != "string":
        problem, fix = _TYPE_WORDS[kind]
        fix += "." if spec.get("required") else ", or leave the cell empty."
        checks.append(_Check(column, q(column + " failed"), problem, fix, shown))
    if "min" in spec:
        low = spec["min"]
        checks.append(_Check(column, f"{present} AND {value} < {low}", f"a value below the minimum of {low}",
                             f"Use values of {low} or more.", shown))
    if "max" in spec:
        high = spec["max"]
        checks.append(_Check(column, f"{present} AND {value} > {high}", f"a value above the maximum of {high}",
                             f"Use values of {high} or less.", shown))
    if spec.get("event_date"):
        earliest, latest = event_date_window()
        checks.append(_Check(
            column, f"{value} < {_timestamp(earliest)} OR {value} > {_timestamp(latest)}",
            f"a date outside {earliest:%Y-%m-%d} to {latest:%Y-%m-%d}",
            f"{column} must be a date of IAPT activity, from {earliest:%Y-%m-%d} (the first IAPT services) "
            f"to one year after today: correct these dates.", shown))
    if "codes" in spec:
        list_name = spec["codes"]
        allowed = [str(code) for code in code_lists()[list_name]]
        fix = f"Use one of {', '.join(allowed)} (code_lists.yaml: {list_name})"
        checks.append(_Check(
            column, f"{present} AND {value} NOT IN ({', '.join(lit(code) for code in allowed)})",
            f"a code that is not in the {list_name} code list",
            fix + (", or leave it empty." if not spec.get("required") else "."), shown))
    if spec.get("required"):
        # missing: no typed value, and not a value of the wrong type (which is reported as such)
        checks.append(_Check(column, f"{q(column)} IS NULL AND NOT {q(column + ' failed')}", "no value",
                             f"{column} is required: fill it in on every row.", lambda row: ""))
    return checks


def _late_checks(source: Source) -> list[_Check]:
    """The checks across a table's columns, reported after its column checks: dates in order, score ranges."""
    spec = TABLES[source.table]
    checks = []
    for earlier, later in spec.get("date_order", []):
        if earlier in source.names and later in source.names:
            checks.append(_Check(
                later, f"{q(later)} < {q(earlier)}", f"{later} before {earlier}",
                f"{later} must be on or after {earlier}: correct whichever date is wrong.",
                _date_order_describer(earlier, later), (earlier, later)))
    checks += _score_range_checks(source)
    return checks


def _date_order_describer(earlier: str, later: str) -> Callable[[dict], str]:
    return lambda row: f"{_day(row[later])} < {_day(row[earlier])}"


def _text_describer(column: str) -> Callable[[dict], str]:
    return lambda row: repr(row[column + " text"])


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    """The one row a query of aggregates gives."""
    row = con.execute(sql).fetchone()
    assert row is not None
    return row


def _score_range_checks(source: Source) -> list[_Check]:
    checks = []
    ranges = score_ranges()
    for column, spec in TABLES[source.table]["columns"].items():
        by = spec.get("score_range_by")
        if not by or column not in source.names or by not in source.names:
            continue
        code = q(by + " text")
        outside = " OR ".join(f"({code} = {lit(c)} AND ({q(column)} < {low!r} OR {q(column)} > {high!r}))"
                              for c, (_name, low, high) in ranges.items())

        def describe(row: dict, column=column, by=by) -> str:
            name, low, high = ranges[row[by + " text"]]
            return f"{name} ({row[by + ' text']}) score {row[column]:g}, outside {low:g} to {high:g}"

        checks.append(_Check(column, outside, f"a score outside the range of its instrument ({by})", "",
                             describe, (column, by + " text")))
    return checks


def _score_range_fix(used: Iterable[str]) -> str:
    used = set(used)
    limits = ", ".join(f"{name} {low:g} to {high:g}" for name, low, high in sorted(score_ranges().values())
                       if name in used)
    return (f"Each score must lie within its instrument's range ({limits}; "
            "src/iapt_report/reference/instruments.csv): correct these scores.")


def _shower(column: str, kind: str, failed: set[str]) -> Callable[[dict], str]:
    """How an example shows the value at fault: as the text in the file when the column holds
    values of the wrong type, else the typed value (text quoted, dates as days)."""
    def show(row: dict) -> str:
        if column in failed:
            return repr(row[column + " text"]) if row[column + " text"] is not None else ""
        return _show(row[column])
    return show


def _show(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return _day(value)
    return repr(value) if isinstance(value, str) else str(value)


def _day(value) -> str:
    return value.strftime("%Y-%m-%d")


def _plain(value) -> str:
    return "(empty)" if value is None else str(value)


# --- running them --------------------------------------------------------------------------

def table_problems(con: duckdb.DuckDBPyConnection, source: Source) -> tuple[list[Problem], set[str], set[str]]:
    """Every problem of one table but its references; the columns holding values of the wrong
    type; and the columns whose values are read as they are (no value changes when typed and
    tidied: the loaded table then selects them as read)."""
    table, spec, file = source.table, TABLES[source.table], source.file
    problems = [_missing_column_problem(file, column, table, [str(n).strip() for n in source.types])
                for column, column_spec in spec["columns"].items()
                if column not in source.names and not column_spec.get("optional")]
    view = checked_relation(con, source)
    present = [c for c in spec["columns"] if c in source.names]
    failed: set[str] = set()  # filled in below; the examples read it when they are made
    by_column = {c: _column_checks(table, c, spec["columns"][c], _shower(c, spec["columns"][c]["type"], failed))
                 for c in present}
    late = _late_checks(source)
    checks = [check for column in present for check in by_column[column]] + late
    # one scan: the rows, the values that do not convert, the values tidying changes, every check
    failed_counts = [f"count(*) FILTER (WHERE {q(c + ' failed')})" for c in present]
    untidy = {c: f"count(*) FILTER (WHERE {q(c)} IS DISTINCT FROM {q(c + ' raw')})" for c in present
              if source.types[source.names[c]] == VIEW_TYPES[spec["columns"][c]["type"]]}
    selected = failed_counts + list(untidy.values()) + [f"count(*) FILTER (WHERE {check.condition})" for check in checks]
    counts = _one(con, f"SELECT count(*), {', '.join(selected) or '0'} FROM {view}")
    failed.update(c for c, n in zip(present, counts[1:]) if n)
    tidy = {c for c, n in zip(untidy, counts[1 + len(present):]) if n == 0}
    if not counts[0] and not spec.get("may_be_empty"):
        problems.insert(0, Problem(file, None, "the table has no rows (only a header, or nothing)",
                                   f"{table} needs at least one row: check that the export selected the right period."))
    values = counts[1 + len(present) + len(untidy):]
    found = {id(check): _problem_of(con, view, source, check, count, failed)
             for check, count in zip(checks, values) if count}
    key = spec.get("key", [])
    repeated = None
    if key and all(c in source.names for c in key) and _repeats(con, view, key, failed, tidy):
        repeated = _repeated_key_problem(con, view, source, key, failed)
    for column in present:
        problems += [found[id(check)] for check in by_column[column] if id(check) in found]
        if repeated is not None and repeated.column == column:
            problems.append(repeated)
    if repeated is not None and repeated.column is None:
        problems.append(repeated)
    problems += [found[id(check)] for check in late if id(check) in found]
    return problems, failed, tidy


def check_sources(con: duckdb.DuckDBPyConnection, sources: Mapping[str, Source]
                  ) -> tuple[dict[str, list[Problem]], dict[str, set[str]]]:
    """Every problem of every table (its own, then its references), by table; and the tidy columns of each.

    A file that DuckDB cannot read to the end is one problem, and its table is left out.
    """
    _check_rules_known()
    problems: dict[str, list[Problem]] = {}
    failed: dict[str, set[str]] = {}
    tidy: dict[str, set[str]] = {}
    readable = {}
    for table, source in sources.items():
        try:
            problems[table], failed[table], tidy[table] = table_problems(con, source)
        except duckdb.Error as error:
            problems[table] = [unreadable_problem(source.file, error)]
            continue
        readable[table] = source
    for table, found in reference_problems(con, readable, failed, tidy).items():
        problems[table] += found
    return problems, tidy


#: The schema's keys (dataset_schema.yaml) that the checks here check, or that check nothing.
_KNOWN_TABLE_KEYS = {"description", "columns", "key", "may_be_empty", "date_order", "optional", "since"}
_KNOWN_COLUMN_KEYS = {"description", "type", "required", "min", "max", "codes", "references", "event_date",
                      "score_range_by", "optional", "since"}


def _check_rules_known() -> None:
    """A rule added to the schema must be checked here before any dataset is accepted."""
    unknown = {key for spec in TABLES.values() for key in set(spec) - _KNOWN_TABLE_KEYS}
    unknown |= {key for spec in TABLES.values() for column in spec["columns"].values()
                for key in set(column) - _KNOWN_COLUMN_KEYS}
    if unknown:
        raise ValueError(f"dataset_schema.yaml: rules not checked by data/checks.py: {', '.join(sorted(unknown))}")


def unreadable_problem(file: str, error: BaseException) -> Problem:
    """The file could not be read (as CSV or Parquet, from its name)."""
    reason = f"{type(error).__name__}: {error}".splitlines()[0]
    csv = file.endswith(".csv")
    kind, encoding = ("CSV", " in UTF-8") if csv else ("Parquet", "")
    return Problem(file, None, f"the file could not be read as {kind} ({reason})",
                   f"Export the table again as a valid {kind} file{encoding}.")


def _problem_of(con, view: str, source: Source, check: _Check, count: int, failed: set[str]) -> Problem:
    examples = _examples(con, view, source, check.condition, check.column, check.describe, failed, check.reads)
    fix = check.fix
    if not fix:  # a score range: the fix names the instruments the rows use
        by = TABLES[source.table]["columns"][check.column]["score_range_by"]
        used = con.execute(f"SELECT DISTINCT {q(by + ' text')} FROM {view} WHERE {check.condition}").fetchall()
        fix = _score_range_fix(score_ranges()[code][0] for (code,) in used)
    return Problem(source.file, check.column, check.problem, fix, count, examples)


def _examples(con, view: str, source: Source, condition: str, column: str | None,
              describe: Callable[[dict], str], failed: set[str], reads: Iterable[str] = ()) -> tuple[str, ...]:
    """'row 4, PathwayID P0004: <what is wrong>' for the first rows at fault (rows count from 1).

    The row's key identifies it unless the key is the column at fault, whose value is shown anyway.
    """
    key = [name for name in TABLES[source.table].get("key", []) if name in source.names and name != column]
    wanted = list(dict.fromkeys([ROW, *key, *([column, column + " text"] if column else []), *reads]))
    key_shown = [f"{q(k + ' text') if k in failed else f'CAST({q(k)} AS VARCHAR)'} AS {q('key ' + k)}" for k in key]
    rows = con.execute(f"SELECT {', '.join([q(w) for w in wanted] + key_shown)} FROM {view} WHERE {condition}"
                       f" ORDER BY {q(ROW)} LIMIT {MAX_EXAMPLES}").fetchall()
    names = wanted + [f"key {k}" for k in key]
    shown = []
    for values in rows:
        row = dict(zip(names, values))
        label = f"row {row[ROW] + 1}"
        key_values = ", ".join(f"{k} {_plain(row['key ' + k])}" for k in key)
        if key_values:
            label += f", {key_values}"
        detail = describe(row)
        shown.append(f"{label}: {detail}" if detail else label)
    return tuple(shown)


def _repeats(con, view: str, key: list[str], failed: set[str], tidy: set[str]) -> bool:
    """Whether two rows may share a key: 64-bit hashes of the keys that repeat (a repeat, or a
    collision, which :func:`_repeated_key_problem` tells apart). Grouped, so DuckDB may spill."""
    values = [q(c + " text") if c in failed else q(c + " raw") if c in tidy else q(c) for c in key]
    present = " AND ".join(f"{v} IS NOT NULL" for v in values)
    (count,) = _one(con, f"SELECT count(*) FROM (SELECT hash({', '.join(values)}) AS h FROM {view}"
                         f" WHERE {present} GROUP BY h HAVING count(*) > 1)")
    return bool(count)


def _repeated_key_problem(con, view: str, source: Source, key: list[str], failed: set[str]) -> Problem | None:
    values = [q(c + " text") if c in failed else q(c) for c in key]
    present = " AND ".join(f"{v} IS NOT NULL" for v in values)
    repeated = (f"({', '.join(values)}) IN (SELECT ({', '.join(values)}) FROM {view} WHERE {present}"
                f" GROUP BY ALL HAVING count(*) > 1)") if len(values) > 1 else (
                f"{values[0]} IN (SELECT {values[0]} FROM {view} WHERE {present} GROUP BY ALL HAVING count(*) > 1)")
    (count,) = _one(con, f"SELECT count(*) FROM {view} WHERE {present} AND {repeated}")
    if not count:
        return None  # only two hashes collided
    if len(key) == 1:
        column = key[0]
        shower = _shower(column, TABLES[source.table]["columns"][column]["type"], failed)
        examples = _examples(con, view, source, f"{present} AND {repeated}", column, shower, failed)
        return Problem(source.file, column, f"{_a(column)} {column} that is on more than one row",
                       f"Each {column} must appear once: remove or renumber the repeats.", count, examples)
    examples = _examples(con, view, source, f"{present} AND {repeated}", None, lambda row: "", failed)
    return Problem(source.file, None, "a key that is on more than one row",
                   "Each key must appear once: remove or renumber the repeats.", count, examples)


def reference_problems(con: duckdb.DuckDBPyConnection, sources: Mapping[str, Source],
                       failed: Mapping[str, set[str]], tidy: Mapping[str, set[str]] | None = None
                       ) -> dict[str, list[Problem]]:
    """Values not found in the column they refer to, by table; compared as text.

    A reference to a table that could not be read, or to a column it lacks, is not checked
    (the missing table or column is reported on its own).
    """
    found: dict[str, list[Problem]] = {}
    tidy = tidy or {}
    for table, source in sources.items():
        for column, spec in TABLES[table]["columns"].items():
            target = spec.get("references")
            if not target or column not in source.names:
                continue
            parent, parent_column = target.split(".")
            if parent not in sources or parent_column not in sources[parent].names:
                continue
            child_view, parent_view = q(f"checked {table}"), q(f"checked {parent}")
            # compared as text; a text column that needs no tidying is compared as read (quicker)
            as_read = (column in tidy.get(table, set()) and parent_column in tidy.get(parent, set())
                       and source.types[source.names[column]] == "VARCHAR"
                       and sources[parent].types[sources[parent].names[parent_column]] == "VARCHAR")
            suffix = " raw" if as_read else " text"
            value, parent_value = f"{child_view}.{q(column + suffix)}", f"parent.{q(parent_column + suffix)}"
            unknown = (f"{value} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {parent_view} AS parent"
                       f" WHERE {parent_value} = {value})")
            (count,) = _one(con, f"SELECT count(*) FROM {child_view} ANTI JOIN {parent_view} AS parent"
                                 f" ON {value} = {parent_value} WHERE {value} IS NOT NULL")
            if not count:
                continue
            examples = _examples(con, child_view, source, unknown, column,
                                 _text_describer(column), failed.get(table, set()))
            found.setdefault(table, []).append(Problem(
                source.file, column,
                f"{_a(column)} {column} not found in column {parent_column} of {sources[parent].file}",
                f"Add rows for these values to {parent}, or correct the {column} values.", count, examples))
    return found


def _missing_column_problem(file: str, column: str, table: str, present: Iterable[str]) -> Problem:
    unknown = [str(c) for c in present if c not in TABLES[table]["columns"]]
    close = difflib.get_close_matches(column.lower(), [c.lower() for c in unknown], n=1, cutoff=0.8)
    originals = {c.lower(): c for c in unknown}
    hint = f" (the file has a column {originals[close[0]]!r}: rename it if that is the one)" if close else ""
    return Problem(file, column, f"this column is missing{hint}", f"Add a column named exactly {column}.")

"""Typing a column as SQL: the value as the schema's type, as text, and whether it failed to
convert, for a column of any type DuckDB reads (text from CSV; text, numbers or dates from
Parquet). The rules are those :mod:`.reading` applies to frames (text stripped as Python's
``str.strip`` does, empty text missing, a whole float 5.0 read as the code '5', dates written
YYYY-MM-DD, codes tidied as ``reading.CODE_FORMATS`` says); :mod:`.checks` and the loaded
tables (:mod:`.dataset`) both use them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from .duckdb_sql import string_literal as lit
from .reading import _ISO_DATE, CODE_FORMATS, _two_digits, _unpadded

#: Every character Python's ``str.strip()`` removes, for DuckDB's ``trim`` (whose default removes spaces only).
_WHITESPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
assert all(ord(c) <= 32 or ord(c) >= 133 for c in _WHITESPACE)  # what _stripped relies on

_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT"}
_FLOAT_TYPES = {"FLOAT", "DOUBLE"}
_DATE_TYPES = {"DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE"}
#: The DuckDB type of each schema type in the loaded tables.
VIEW_TYPES = {"string": "VARCHAR", "date": "TIMESTAMP", "integer": "BIGINT", "number": "DOUBLE"}


def _stripped(text: str) -> str:
    # trimming with a set of characters is slow in DuckDB: only text that starts or ends with a
    # character at or below a space or from U+0085 up (where all whitespace is) is trimmed
    # (compared as text: DuckDB compares UTF-8 bytes, which keeps code point order, so text below
    # '!' starts with a character at or below a space, and text from U+0085 up starts there)
    ends = [text, f"right({text}, 1)"]
    may_have_space = " OR ".join(f"{end} < '!' OR {end} >= '\u0085'" for end in ends)
    return f"NULLIF(CASE WHEN {may_have_space} THEN trim({text}, {lit(_WHITESPACE)}) ELSE {text} END, '')"


def as_text(value: str, source_type: str) -> str:
    """The value as text, as ``reading._as_text`` gives it (a whole float 5.0 is '5')."""
    if source_type == "VARCHAR":
        return _stripped(value)
    if source_type in _FLOAT_TYPES:
        whole = f"CAST(CAST({value} AS HUGEINT) AS VARCHAR)"
        return (f"(CASE WHEN isnan({value}) THEN NULL WHEN isfinite({value}) AND {value} = round({value})"
                f" AND abs({value}) < 1e18 THEN {whole} ELSE CAST({value} AS VARCHAR) END)")
    return _stripped(f"CAST({value} AS VARCHAR)")


def _digits_unpadded(code: str) -> str:
    return f"coalesce(NULLIF(ltrim({code}, '0'), ''), '0')"


def _if_digits(code: str, tidied: str) -> str:
    return f"(CASE WHEN regexp_full_match({code}, '[0-9]+') THEN {tidied} ELSE {code} END)"


def _is_digit(char: str) -> str:
    return f"(ascii({char}) BETWEEN 48 AND 57)"


def _unpadded_sql(code: str) -> str:
    # most codes are one digit already: only others go through the regular expression
    tidy = f"(length({code}) = 1 AND {_is_digit(code)})"
    return f"(CASE WHEN {tidy} THEN {code} ELSE {_if_digits(code, _digits_unpadded(code))} END)"


def _two_digits_sql(code: str) -> str:
    unpadded = _digits_unpadded(code)  # zfill(2) pads, but never cuts as lpad would
    tidy = f"(length({code}) = 2 AND {_is_digit(code)} AND {_is_digit(f'right({code}, 1)')})"
    tidied = _if_digits(code, f"(CASE WHEN length({unpadded}) < 2 THEN lpad({unpadded}, 2, '0') ELSE {unpadded} END)")
    return f"(CASE WHEN {tidy} THEN {code} ELSE {tidied} END)"


#: The SQL of each tidy-up reading.CODE_FORMATS applies (which says which columns get which).
_TIDY_UPS_SQL: dict[Callable, Callable[[str], str]] = {_unpadded: _unpadded_sql, _two_digits: _two_digits_sql}


def typed_sql(name: str, kind: str, value: str, source_type: str, text: str) -> str:
    """SQL of the value typed as the schema says; NULL when missing or when it does not convert."""
    if kind == "string":
        return _TIDY_UPS_SQL[CODE_FORMATS[name]](text) if name in CODE_FORMATS else text
    if kind == "date":
        if source_type in _DATE_TYPES:
            return f"CAST(CAST({value} AS DATE) AS TIMESTAMP)"
        return (f"(CASE WHEN regexp_full_match({text}, {lit(_ISO_DATE)})"
                f" THEN CAST(TRY_CAST(left({text}, 10) AS DATE) AS TIMESTAMP) END)")
    if kind == "integer":
        if source_type in _INTEGER_TYPES:
            return f"TRY_CAST({value} AS BIGINT)"
        if source_type in _FLOAT_TYPES:
            return f"(CASE WHEN isfinite({value}) AND {value} = round({value}) THEN TRY_CAST({value} AS BIGINT) END)"
        digits = f"regexp_extract({text}, '^([+-]?[0-9]{{1,18}})(?:\\.0*)?$', 1)"
        return f"TRY_CAST(NULLIF({digits}, '') AS BIGINT)"
    number = (f"CAST({value} AS DOUBLE)" if source_type in _INTEGER_TYPES | _FLOAT_TYPES
              else f"TRY_CAST({text} AS DOUBLE)")
    return f"(CASE WHEN isfinite({number}) THEN {number} END)"


def failed_sql(kind: str, value: str, source_type: str, text: str, typed: str) -> str:
    """SQL: the value is present but does not convert to the schema type."""
    if kind == "string" or (kind == "date" and source_type in _DATE_TYPES) or (
            kind == "integer" and source_type in _INTEGER_TYPES):
        return "FALSE"
    if source_type in _FLOAT_TYPES:  # NaN is missing, as pandas reads it
        return f"({value} IS NOT NULL AND NOT isnan({value}) AND {typed} IS NULL)"
    return f"({text} IS NOT NULL AND {typed} IS NULL)"

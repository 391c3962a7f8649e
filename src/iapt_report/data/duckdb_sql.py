"""Names and text written into DuckDB SQL: quoted, so that any name or path reads as itself."""

from __future__ import annotations


def identifier(name: str) -> str:
    """A column, table or view name as a quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def string_literal(text: str) -> str:
    """Text (a path, a list of characters) as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"

"""Reading the dataset's files and typing their columns.

:func:`read_tables` reads the files (``<TABLE>.parquet`` or ``<TABLE>.csv``) and
:func:`normalise` types each column as the schema says (text, dates at midnight, nullable
``Int64`` integers, float numbers) and tidies codes (``' 5'``/``'05'`` -> ``'5'`` for
AttendOrDNACode, ``'2'`` -> ``'02'`` for AppType). A value that does not convert is left as
text for validation to point at.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from .problems import DatasetError, Problem
from .schema import FILE_FORMATS, OPTIONAL_TABLES, PANDAS_DTYPES, TABLE_NAMES, TABLES

#: CSV cells read as missing (besides empty cells); anything else is a value to check.
CSV_MISSING_MARKERS = ("", "NA", "N/A", "NULL", "null", "NaN", "nan", "None")


_ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
# a whole number, possibly written with a zero fraction (12.0), captured without it
_WHOLE_NUMBER = r"^([+-]?\d{1,18})(?:\.0*)?$"


def read_tables(data_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Every table of the dataset from ``data_dir``, typed and normalised (see :func:`normalise`).

    Raises :class:`DatasetError` naming every table file that is missing or cannot be read. An
    optional table (``optional: true`` in the schema) whose file is absent is left out.
    A column whose values do not all convert to the schema type is left as text, so that
    :func:`validate` can point at the values.
    """
    tables, _sources, problems = _read_folder(Path(data_dir))
    if problems:
        raise DatasetError(problems)
    return tables


def _folder_not_found(data_dir: Path) -> Problem:
    return Problem(str(data_dir), None, "folder not found",
                   "Point the run at the folder that holds the dataset's table files.")


def _read_folder(data_dir: Path) -> tuple[dict[str, pd.DataFrame], dict[str, str], list[Problem]]:
    if not data_dir.is_dir():
        return {}, {}, [_folder_not_found(data_dir)]
    tables, sources, problems = {}, {}, []
    for table in TABLE_NAMES:
        path, problem = _table_file(data_dir, table)
        if path is None and table in OPTIONAL_TABLES and absent(data_dir, table):
            continue
        if problem is None:
            frame, problem = _read_file(path)
        if problem is not None:
            problems.append(problem)
            continue
        frame.attrs["source"] = sources[table] = str(path)
        tables[table] = normalise_table(table, frame)
    return tables, sources, problems


def _table_file(data_dir: Path, table: str) -> tuple[Path | None, Problem | None]:
    candidates = [data_dir / f"{table}.{fmt}" for fmt in FILE_FORMATS]
    found = [path for path in candidates if path.is_file()]
    if len(found) == 1:
        return found[0], None
    if not found:
        names = " or ".join(path.name for path in candidates)
        return None, Problem(str(data_dir / table), None, f"table file not found (looked for {names})",
                             f"Add {table} as one of these files; docs/dataset.md lists its columns.")
    return None, Problem(str(found[0]), None, f"both {found[0].name} and {found[1].name} are present",
                         "Keep only one file for the table, so it is clear which one to read.")


def absent(data_dir: Path, table: str) -> bool:
    """Whether no file of the table is in the folder (an optional table may be absent)."""
    return not any((data_dir / f"{table}.{fmt}").exists() for fmt in FILE_FORMATS)


def _read_file(path: Path) -> tuple[pd.DataFrame | None, Problem | None]:
    fmt = path.suffix.lstrip(".")
    try:
        if fmt == "csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False,
                                na_values=list(CSV_MISSING_MARKERS), encoding="utf-8-sig")
        else:
            frame = pd.read_parquet(path, engine="pyarrow")
    except Exception as error:  # any reader failure means the same thing to the user
        reason = f"{type(error).__name__}: {error}".splitlines()[0]
        kind = "CSV" if fmt == "csv" else "Parquet"
        encoding = " in UTF-8" if fmt == "csv" else ""
        return None, Problem(str(path), None, f"the file could not be read as {kind} ({reason})",
                             f"Export the table again as a valid {kind} file{encoding}.")
    frame.columns = [str(name).strip() for name in frame.columns]
    return frame, None


# --- typing and normalisation ---------------------------------------------------------------

def normalise(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Each known table typed and tidied as :func:`read_tables` does; other entries unchanged."""
    return {name: normalise_table(name, frame) if name in TABLES else frame
            for name, frame in tables.items()}


def normalise_table(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The table with its schema columns first, in schema order, typed as the schema says.

    Text is stripped and empty text is missing; code columns are tidied (see CODE_FORMATS).
    A column with values that do not convert stays as text, so validate() can show the values.
    An absent column is left absent for validate() to report: every schema column must be in
    the file, even one whose values may be empty, so that a misspelt header cannot load
    silently as an empty column. Columns the schema does not know are kept, unchanged, at the end.
    """
    out = {}
    for name, spec in TABLES[table]["columns"].items():
        if name not in frame.columns:
            continue
        values, unconvertible = convert(frame[name], spec["type"])
        if unconvertible.any():
            values = _as_text(frame[name])
        elif name in CODE_FORMATS:
            values = _per_distinct_value(CODE_FORMATS[name], values)
        out[name] = values
    extra = {name: frame[name] for name in frame.columns if name not in TABLES[table]["columns"]}
    typed = pd.DataFrame({**out, **extra}, index=frame.index).reset_index(drop=True)
    typed.attrs = dict(frame.attrs)
    return typed


def convert(values: pd.Series, kind: str) -> tuple[pd.Series, pd.Series]:
    """``values`` as schema type ``kind``, and a mask of the values that were present but did not convert.

    Values that do not convert become missing in the first result.
    """
    return _CONVERTERS[kind](values)


def _as_text(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_float_dtype(values.dtype):
        values = values.map(_number_text, na_action="ignore").astype(object)
    elif values.dtype == object or not pd.api.types.is_string_dtype(values.dtype):
        values = values.map(_text, na_action="ignore").astype(object)
    text = values.astype(PANDAS_DTYPES["string"]).str.strip()
    empty = text == ""
    return text.mask(empty) if empty.any() else text  # masking copies every value: only when needed


def _text(value) -> str:
    return _number_text(value) if isinstance(value, float) else str(value)


def _number_text(value: float) -> str:
    # a code stored as a float (5.0, because the column had nulls) means the code "5"
    return str(int(value)) if float(value).is_integer() else str(value)


def _no_failures(values: pd.Series) -> pd.Series:
    return pd.Series(False, index=values.index)


def _as_string_type(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    return _as_text(values), _no_failures(values)


def _as_dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_localize(None)
        return values.dt.normalize().astype(PANDAS_DTYPES["date"]), _no_failures(values)
    text = _as_text(values)
    date_part = text.str.fullmatch(_ISO_DATE).fillna(False)
    iso = text.where(date_part).str.slice(0, 10)
    dates = pd.to_datetime(iso, format="%Y-%m-%d", errors="coerce").astype(PANDAS_DTYPES["date"])
    return dates, text.notna() & dates.isna()


def _as_integers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype(PANDAS_DTYPES["integer"]), _no_failures(values)
    if pd.api.types.is_float_dtype(values.dtype):
        whole = values.notna() & (values == values.round())
        return values.where(whole).astype(PANDAS_DTYPES["integer"]), values.notna() & ~whole
    text = _as_text(values)
    digits = text.str.extract(_WHOLE_NUMBER, expand=False)
    return digits.astype(PANDAS_DTYPES["integer"]), text.notna() & digits.isna()


def _as_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        numbers, present = values.astype(PANDAS_DTYPES["number"]), values.notna()
    else:
        text = _as_text(values)
        numbers, present = pd.to_numeric(text, errors="coerce").astype(PANDAS_DTYPES["number"]), text.notna()
    finite = numbers.abs() < float("inf")  # NaN and infinity are not scores
    return numbers.where(finite), present & ~finite


_CONVERTERS: dict[str, Callable[[pd.Series], tuple[pd.Series, pd.Series]]] = {
    "string": _as_string_type,
    "date": _as_dates,
    "integer": _as_integers,
    "number": _as_numbers,
}


def _per_distinct_value(tidy: Callable[[pd.Series], pd.Series], values: pd.Series) -> pd.Series:
    """``tidy(values)`` for a tidy-up that treats each value on its own, worked out once per distinct value.

    A code column has a handful of distinct values in millions of rows.
    """
    positions, distinct = values.factorize()
    tidied = tidy(pd.Series(distinct, dtype=values.dtype))
    return pd.Series(tidied.array.take(positions, allow_fill=True), index=values.index, name=values.name)


def _digits_only(codes: pd.Series) -> pd.Series:
    return codes.str.fullmatch(r"\d+").fillna(False)


def _unpadded(codes: pd.Series) -> pd.Series:
    """' 5', '05' -> '5' (AttendOrDNACode is published as a one-character code)."""
    stripped = codes.str.lstrip("0")
    return codes.mask(_digits_only(codes), stripped.mask(stripped == "", "0"))


def _two_digits(codes: pd.Series) -> pd.Series:
    """'2' -> '02' for numeric codes; other codes are left for validation to judge."""
    return codes.mask(_digits_only(codes), _unpadded(codes).str.zfill(2))


#: Tidy-ups applied to code columns (after stripping spaces) before they are checked.
CODE_FORMATS: dict[str, Callable[[pd.Series], pd.Series]] = {
    "AttendOrDNACode": _unpadded,
    "AppType": _two_digits,
    "ConsMechanism": _two_digits,
}

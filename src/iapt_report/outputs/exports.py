"""Writing outputs: publication CSVs, metadata, manifest; all-or-nothing folders.

Outputs are built in a temporary sibling folder and moved into place only when complete, so a
failed run never leaves a half-written folder behind (``staged_folder``). CSVs are written
with a fixed row order, column order, line ending and float format so the same inputs and
parameters give byte-identical files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pandas as pd

from iapt_report import __version__
from iapt_report.data.duckdb_sql import identifier, string_literal

from .paths import check_replaceable, exchange_folders, inside, remove_stale_staging, replace_problem, signals_deferred

PUBLICATION_COLUMNS = [
    "REPORTING_PERIOD_START",
    "REPORTING_PERIOD_END",
    "GROUP_TYPE",
    "ORG_CODE1",
    "ORG_NAME1",
    "ORG_CODE2",
    "ORG_NAME2",
    "MEASURE_ID",
    "MEASURE_NAME",
    "MEASURE_VALUE_SUPPRESSED",
]
BREAKDOWN_COLUMNS = ["VARIABLE_TYPE", "VARIABLE_A", "VARIABLE_B"]
KEY_PACKAGES = ["ibis-framework", "duckdb", "pandas", "numpy", "pyarrow", "papermill", "seaborn",
                "matplotlib", "pypandoc-binary", "typst"]


@contextlib.contextmanager
def staged_folder(final: Path, *, within: Path | None = None, option: str = "output",
                  replace_problem: Callable[[Path], str | None] = replace_problem):
    """Yield a temporary folder that replaces ``final`` only if the block succeeds.

    ``final`` must lie inside ``within`` when that is given (:func:`paths.inside`), and may
    replace only a folder this package wrote (``replace_problem`` says why not, by default
    :func:`paths.replace_problem`; checked before the block runs and again before the swap;
    ``option`` names the setting in the message).
    The temporary folder is ``.<name>.partial-<pid>-...`` beside ``final``: if the process is
    killed, a later run removes it (:func:`paths.remove_stale_staging`, also run here). The
    swap is one step where the system allows it, and Ctrl-C or SIGTERM wait until it is done.
    """
    final = Path(final) if within is None else inside(within, final)
    check_replaceable(final, option, replace_problem)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(final.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-{os.getpid()}-", dir=final.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    with signals_deferred():
        try:
            check_replaceable(final, option, replace_problem)  # someone may have used the folder meanwhile
            staging.chmod(0o755)  # mkdtemp makes the folder owner-only; outputs are for sharing
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if not final.exists():
            staging.rename(final)
        elif exchange_folders(staging, final):
            shutil.rmtree(staging, ignore_errors=True)  # it now holds the previous folder
        else:
            backup = final.with_name(f".{final.name}.old-{os.getpid()}")
            final.rename(backup)
            try:
                staging.rename(final)
            except BaseException:
                backup.rename(final)
                shutil.rmtree(staging, ignore_errors=True)
                raise
            shutil.rmtree(backup, ignore_errors=True)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV with a fixed format: UTF-8, LF line endings, no index, floats to 10 significant digits,
    a value quoted only when it holds a comma, a quote or a line break, missing values empty,
    and no text cell (or column name) that a spreadsheet would run as a formula: see
    :func:`spreadsheet_safe`."""
    if len(frame) >= LARGE_TEXT_TABLE_ROWS and all(pd.api.types.is_string_dtype(t) and t != object for t in frame.dtypes):
        _write_text_csv(frame, Path(path))
    else:
        _write_csv_with_pandas(frame, path)


def _write_csv_with_pandas(frame: pd.DataFrame, path: Path) -> None:
    spreadsheet_safe(frame).to_csv(path, index=False, lineterminator="\n", float_format="%.10g", encoding="utf-8")


# --- cells a spreadsheet would run as formulas -------------------------------------------------

#: A text cell starting with one of these characters is read as a formula by spreadsheets
#: (OWASP, "CSV Injection": =, +, -, @, tab, carriage return) ...
FORMULA_START = r"[=+\-@\t\r]"
#: ... unless the whole cell is a number, such as -3.5, +2 or 1e-05, which stays a number.
NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_FORMULA_START = re.compile(FORMULA_START)
_NUMBER = re.compile(NUMBER)
#: What such a cell is prefixed with: a spreadsheet then shows it as the text it is.
FORMULA_ESCAPE = "'"


def neutralise_formula(text: str) -> str:
    """``text`` as a spreadsheet should show it: prefixed with ``'`` if it would run as a formula."""
    if _FORMULA_START.match(text) and not _NUMBER.fullmatch(text):
        return FORMULA_ESCAPE + text
    return text


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell and column name that a spreadsheet (Excel, LibreOffice,
    Google Sheets) would run as a formula prefixed with a single quote, as OWASP recommends:
    text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, unless the whole
    cell is a number (``-3.5`` and ``+2`` stay as they are). Numbers in numeric columns are
    never touched. Data files are opened in spreadsheets, and names and values in them come
    from files we do not control (``=HYPERLINK(...)`` as an organisation name)."""
    changed = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_string_dtype(column.dtype) and column.dtype != object:
            risky = column.str.match(FORMULA_START, na=False)
            if risky.any():
                risky &= ~column.str.fullmatch(NUMBER, na=False)
                if risky.any():
                    changed[name] = column.mask(risky, FORMULA_ESCAPE + column)
        elif column.dtype == object or isinstance(column.dtype, pd.CategoricalDtype):
            values = column.astype(object)
            if any(isinstance(value, str) and neutralise_formula(value) != value for value in values):
                changed[name] = values.map(lambda v: neutralise_formula(v) if isinstance(v, str) else v)
    names = [neutralise_formula(str(name)) if isinstance(name, str) else name for name in frame.columns]
    if not changed and names == list(frame.columns):
        return frame
    safe = frame.copy(deep=False)
    for name, column in changed.items():
        safe[name] = column
    safe.columns = names
    return safe


#: From this many rows a table of text columns is written by DuckDB: the same bytes as pandas
#: writes (tests/test_exports.py) in a quarter of the time (an annual measures.csv, 1.75
#: million rows: 4.2 s with pandas, 1.0 s so).
LARGE_TEXT_TABLE_ROWS = 10_000


def _write_text_csv(frame: pd.DataFrame, path: Path) -> None:
    """A frame of text columns written as pandas' ``to_csv`` writes it, by DuckDB.

    DuckDB quotes an empty string to tell it from a missing value; pandas writes both as
    nothing, so empty strings are written as missing. DuckDB also quotes a value holding a
    carriage return, which pandas (with LF line endings) does not: such a table, if there ever
    is one, is written by pandas. Cells that would run as formulas are neutralised as
    :func:`spreadsheet_safe` does, in SQL.
    """
    import duckdb
    import pyarrow

    rows = pyarrow.Table.from_pandas(frame, preserve_index=False)  # noqa: F841 (read by the query)
    columns = ", ".join(f"NULLIF({_formula_safe_sql(identifier(name))}, '') AS {identifier(neutralise_formula(name))}"
                        for name in frame.columns)
    con = duckdb.connect()
    try:
        carriage_return = " OR ".join(f"contains({identifier(name)}, chr(13))" for name in frame.columns)
        if con.execute(f"SELECT count(*) FROM rows WHERE {carriage_return}").fetchone()[0]:
            _write_csv_with_pandas(frame, path)
            return
        con.execute(f"COPY (SELECT {columns} FROM rows) TO {string_literal(str(path))} "
                    "(FORMAT csv, HEADER, DELIMITER ',', QUOTE '\"', ESCAPE '\"')")
    finally:
        con.close()


def _formula_safe_sql(column: str) -> str:
    """SQL giving a text column as :func:`neutralise_formula` gives each value."""
    return (f"CASE WHEN regexp_matches({column}, {string_literal('^' + FORMULA_START)})"
            f" AND NOT regexp_full_match({column}, {string_literal(NUMBER)})"
            f" THEN {string_literal(FORMULA_ESCAPE)} || {column} ELSE {column} END")


def publication_columns(breakdowns: bool) -> list[str]:
    """NHS Digital's CSV layout: :data:`PUBLICATION_COLUMNS`, with the breakdown columns after the
    organisation columns when ``breakdowns``."""
    columns = list(PUBLICATION_COLUMNS)
    if breakdowns:
        columns[7:7] = BREAKDOWN_COLUMNS
    return columns


def publication_table(published: pd.DataFrame) -> pd.DataFrame:
    """NHS Digital's monthly CSV layout; breakdown columns added only when the table has breakdowns."""
    has_breakdowns = "VARIABLE_TYPE" in published and (published["VARIABLE_TYPE"] != "Total").any()
    return published[publication_columns(has_breakdowns)]


#: The most rows a spreadsheet opens (Excel: 1,048,576 including the header). A larger table is
#: published as NHS Digital publishes its large annual files: split into files a spreadsheet can
#: open (here one per level of geography) and zipped.
SPREADSHEET_ROWS = 1_048_575
MEASURES_CSV = "measures.csv"
MEASURES_ZIP = "measures.zip"
_LEVEL_ORDER = ["England", "CommissioningRegion", "ICB", "SubICB", "Provider"]


def write_publication_files(table: pd.DataFrame, folder: Path) -> str:
    """Write the publication table into ``folder`` and return the name of the file written.

    Up to :data:`SPREADSHEET_ROWS` rows: ``measures.csv``. More: ``measures.zip`` holding one
    CSV per level of geography (``measures_england.csv``, ``measures_commissioningregion.csv``
    ... ``measures_provider.csv``, split again into ``_part2`` ... if one level is still too big),
    each with the same columns and row order as ``measures.csv`` would have had. The zip is
    byte-reproducible: fixed member order, timestamps and compression level.
    """
    import zipfile

    folder = Path(folder)
    if len(table) <= SPREADSHEET_ROWS:
        write_csv(table, folder / MEASURES_CSV)
        return MEASURES_CSV
    levels = sorted(table["GROUP_TYPE"].unique(), key=lambda level: (
        _LEVEL_ORDER.index(level) if level in _LEVEL_ORDER else len(_LEVEL_ORDER), str(level)))
    members = []
    with tempfile.TemporaryDirectory(dir=folder, prefix=".measures-") as scratch:
        for level in levels:
            rows = table[table["GROUP_TYPE"] == level]
            name = re.sub(r"[^a-z0-9]+", "_", str(level).lower()).strip("_") or "other"
            for part, start in enumerate(range(0, len(rows), SPREADSHEET_ROWS), start=1):
                member = f"measures_{name}{'' if part == 1 else f'_part{part}'}.csv"
                write_csv(rows.iloc[start:start + SPREADSHEET_ROWS], Path(scratch) / member)
                members.append(member)
        partial = folder / f".{MEASURES_ZIP}.partial"
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for member in members:
                info = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
                with open(Path(scratch) / member, "rb") as source, archive.open(info, "w") as target:
                    shutil.copyfileobj(source, target, 1 << 20)
        os.replace(partial, folder / MEASURES_ZIP)
    return MEASURES_ZIP


def read_publication_files(folder: Path) -> pd.DataFrame:
    """The publication table of ``folder`` (``measures.csv``, or every CSV in ``measures.zip``), as text."""
    import zipfile

    folder = Path(folder)
    if (folder / MEASURES_CSV).exists():
        return pd.read_csv(folder / MEASURES_CSV, dtype=str, keep_default_na=False)
    with zipfile.ZipFile(folder / MEASURES_ZIP) as archive:
        return pd.concat([pd.read_csv(archive.open(name), dtype=str, keep_default_na=False)
                          for name in archive.namelist()], ignore_index=True)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_hashes(folder: Path) -> dict[str, str]:
    folder = Path(folder)
    return {p.name: file_sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "iapt-report": __version__}
    for name in KEY_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def write_manifest(folder: Path, *, inputs: dict[str, str], parameters: dict, timings: dict | None = None,
                   outputs_of: Path | None = None, not_computed: dict | None = None) -> None:
    """manifest.json: inputs' hashes, parameters, versions, timings, and the outputs' hashes;
    ``not_computed`` (measure ID -> its name and why) when given: the measures the dataset could not give."""
    outputs_of = Path(outputs_of or folder)
    manifest = {
        "tool": "iapt-report",
        "command": " ".join(Path(sys.argv[0]).name if i == 0 else a for i, a in enumerate(sys.argv)),
        "parameters": parameters,
        "inputs": inputs,
        "outputs": {p.name: file_sha256(p) for p in sorted(outputs_of.iterdir()) if p.is_file()},
        "versions": package_versions(),
        "timings_seconds": timings or {},
    }
    if not_computed is not None:
        manifest["not_computed"] = not_computed
    (Path(folder) / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

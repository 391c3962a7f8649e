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
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import pandas as pd

from . import __version__
from .duckdb_sql import identifier, string_literal

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
KEY_PACKAGES = ["ibis-framework", "duckdb", "pandas", "numpy", "pyarrow", "pandera", "papermill", "seaborn",
                "matplotlib", "pypandoc-binary", "typst"]


@contextlib.contextmanager
def staged_folder(final: Path):
    """Yield a temporary folder that replaces ``final`` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.chmod(0o755)  # mkdtemp makes the folder owner-only; outputs are for sharing
    backup = None
    if final.exists():
        backup = final.with_name(f".{final.name}.old-{os.getpid()}")
        final.rename(backup)
    staging.rename(final)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV with a fixed format: UTF-8, LF line endings, no index, floats to 10 significant digits,
    a value quoted only when it holds a comma, a quote or a line break, missing values empty."""
    if len(frame) >= LARGE_TEXT_TABLE_ROWS and all(pd.api.types.is_string_dtype(t) and t != object for t in frame.dtypes):
        _write_text_csv(frame, Path(path))
    else:
        _write_csv_with_pandas(frame, path)


def _write_csv_with_pandas(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n", float_format="%.10g", encoding="utf-8")


#: From this many rows a table of text columns is written by DuckDB: the same bytes as pandas
#: writes (tests/test_exports.py) in a quarter of the time (an annual measures.csv, 1.75
#: million rows: 4.2 s with pandas, 1.0 s so).
LARGE_TEXT_TABLE_ROWS = 10_000


def _write_text_csv(frame: pd.DataFrame, path: Path) -> None:
    """A frame of text columns written as pandas' ``to_csv`` writes it, by DuckDB.

    DuckDB quotes an empty string to tell it from a missing value; pandas writes both as
    nothing, so empty strings are written as missing. DuckDB also quotes a value holding a
    carriage return, which pandas (with LF line endings) does not: such a table, if there ever
    is one, is written by pandas.
    """
    import duckdb
    import pyarrow

    rows = pyarrow.Table.from_pandas(frame, preserve_index=False)  # noqa: F841 (read by the query)
    columns = ", ".join(f"NULLIF({identifier(name)}, '') AS {identifier(name)}" for name in frame.columns)
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


def publication_table(published: pd.DataFrame) -> pd.DataFrame:
    """NHS Digital's monthly CSV layout; breakdown columns added only when the table has breakdowns."""
    has_breakdowns = "VARIABLE_TYPE" in published and (published["VARIABLE_TYPE"] != "Total").any()
    columns = list(PUBLICATION_COLUMNS)
    if has_breakdowns:
        columns[7:7] = BREAKDOWN_COLUMNS
    return published[columns]


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
                   outputs_of: Path | None = None) -> None:
    """manifest.json: inputs' hashes, parameters, versions, timings, and the outputs' hashes."""
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
    (Path(folder) / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

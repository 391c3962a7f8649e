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
    """CSV with a fixed format: UTF-8, LF line endings, no index, floats to 10 significant digits."""
    frame.to_csv(path, index=False, lineterminator="\n", float_format="%.10g", encoding="utf-8")


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

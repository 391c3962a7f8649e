"""``<output>/index.html``: the list of every report built, with links to its files."""

from __future__ import annotations

import contextlib
import html
import json
import os
from pathlib import Path

from iapt_report.outputs.exports import MEASURES_CSV, MEASURES_ZIP

from .config import BuildError

# --- index of built reports ---------------------------------------------------------------

#: Marks an ``index.html`` as written by this package: only such a page is ever replaced.
INDEX_GENERATOR = '<meta name="generator" content="iapt-report">'
#: How the index began before it carried :data:`INDEX_GENERATOR` (recognised as ours too).
_EARLIER_INDEX_START = ('<!DOCTYPE html>\n<html lang="en-GB">\n<head><meta charset="utf-8">'
                        '<title>NHS Talking Therapies reports</title>\n')


def _index_problem(path: Path) -> str | None:
    """Why ``path`` (an output folder's index.html) must not be replaced, or None when it may be."""
    if not path.exists() and not path.is_symlink():
        return None
    start = ""
    if path.is_file() and not path.is_symlink():
        with contextlib.suppress(OSError):
            start = path.read_text(encoding="utf-8", errors="replace")[:2000]
    if INDEX_GENERATOR in start or start.startswith(_EARLIER_INDEX_START):
        return None
    return (f"--output: {path} was not written by iapt-report (it has no {INDEX_GENERATOR}) and would be "
            f"replaced by the list of reports. Move it, or choose another output folder")


def write_index(output: Path) -> Path:
    """``<output>/index.html``: every built report with links to its HTML, PDF and CSV.

    Folders whose path has a part starting with ``.`` or ``_`` (staging and backup folders,
    ``_cache``, ``_failed``) are not reports and are never listed. An ``index.html`` this
    package did not write is not replaced (:class:`BuildError`).
    """
    output = Path(output)
    problem = _index_problem(output / "index.html")
    if problem:
        raise BuildError(problem)
    rows: list[tuple[str, str, str, str]] = []
    for manifest_path in sorted(output.glob("*/*/*/manifest.json")):
        folder = manifest_path.parent
        relative_parts = folder.relative_to(output).parts
        if any(part.startswith((".", "_")) for part in relative_parts):
            continue
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # not a manifest of ours
        if not isinstance(manifest, dict) or manifest.get("tool") != "iapt-report":
            continue
        params = manifest.get("parameters", {})
        if not isinstance(params, dict):
            params = {}
        relative = folder.relative_to(output).as_posix()
        links = " ".join(
            f'<a href="{html.escape(relative)}/{name}">{label}</a>'
            for name, label in (("report.html", "HTML"), ("report.pdf", "PDF"), (MEASURES_CSV, "measures CSV"),
                                (MEASURES_ZIP, "measures CSVs (zip)"), ("metadata.csv", "metadata CSV"))
            if (folder / name).exists()
        )
        synthetic = " (synthetic data)" if params.get("synthetic") else ""
        code = str(params.get("org", folder.name))
        name = str(params.get("org_name") or code)
        organisation = name if name == code else f"{name} ({code})"
        period_shown = str(params.get("period_name") or params.get("period", folder.parts[-2]))
        rows.append((str(params.get("kind", folder.parts[-3])), str(params.get("period", folder.parts[-2])),
                     name.lower(),
                     f"<tr><td>{html.escape(str(params.get('kind', folder.parts[-3])).capitalize())}</td>"
                     f"<td>{html.escape(period_shown)}</td>"
                     f"<td>{html.escape(organisation)}{synthetic}</td><td>{links}</td></tr>"))
    lines = [line for *_, line in sorted(rows, key=lambda r: (r[0], r[1], r[2] != "england", r[2]))]
    page = f"""<!DOCTYPE html>
<html lang="en-GB">
<head><meta charset="utf-8"><title>NHS Talking Therapies reports</title>
{INDEX_GENERATOR}
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #888;padding:.4rem;text-align:left}}</style>
</head>
<body>
<h1>NHS Talking Therapies reports</h1>
<table>
<thead><tr><th scope="col">Report</th><th scope="col">Period</th><th scope="col">Organisation</th><th scope="col">Files</th></tr></thead>
<tbody>
{chr(10).join(lines) if lines else '<tr><td colspan="4">No reports built yet.</td></tr>'}
</tbody>
</table>
</body>
</html>
"""
    output.mkdir(parents=True, exist_ok=True)
    target = output / "index.html"
    temporary = output / f".index.html.{os.getpid()}.tmp"
    temporary.write_text(page, encoding="utf-8")
    temporary.replace(target)
    return target

"""The release's landing page (``index.html``) and checksum list (``SHA256SUMS``).

The page says what the release is (title, period, statistics status, release date, source),
lists every file with what it is, its size and its SHA-256, and links each organisation's
report by name. Every name read from data is escaped (:mod:`iapt_report.report.safe_text`,
then HTML-escaped): a provider called ``<script>`` is shown as that text.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from iapt_report.outputs.exports import file_sha256
from iapt_report.report import safe_text

#: Marks a landing page as written by this package.
GENERATOR = '<meta name="generator" content="iapt-report">'
CHECKSUMS = "SHA256SUMS"
INDEX = "index.html"

#: What each file of a release is, for the landing page.
FILE_DESCRIPTIONS = {
    "report.html": "The report, as one web page that needs nothing else (open it in any browser).",
    "report.pdf": "The report as a PDF, for printing.",
    "measures.csv": "The data: every measure for England, commissioning regions, ICBs, sub-ICB locations and "
                    "providers, in NHS Digital's CSV layout, with disclosure control applied.",
    "measures.zip": "The data: every measure for England, commissioning regions, ICBs, sub-ICB locations and "
                    "providers, in NHS Digital's CSV layout, with disclosure control applied. The table has more "
                    "rows than a spreadsheet opens, so it is one CSV per level of geography, zipped.",
    "metadata.csv": "Measure metadata: the ID, name, description and construction of every measure (CSV).",
    "reference_tables.xlsx": "Reference tables: the figures the report shows, as an accessible spreadsheet (a cover "
                             "sheet, contents, notes, and one table per sheet).",
}


def describe(name: str) -> str:
    """What a file of the release is, for the landing page."""
    if name in FILE_DESCRIPTIONS:
        return FILE_DESCRIPTIONS[name]
    if name.startswith("figures/") and name.endswith(".csv"):
        return "The data behind a chart of the report (CSV), linked from the chart."
    return ""


@dataclass
class OrganisationReport:
    code: str
    name: str
    files: list[str] = field(default_factory=list)  # paths relative to the release folder


@dataclass
class Release:
    title: str
    period_words: str
    release_date_words: str
    status: str
    source: str
    synthetic: bool
    files: list[str]  # the release's own files, in the order listed
    organisations: list[OrganisationReport] = field(default_factory=list)


def human_size(size: int) -> str:
    """``1,234 bytes``, ``6.5 KB``, ``12.3 MB`` (decimal units, as file managers show them)."""
    if size < 1000:
        return f"{size:,} bytes"
    for unit in ("KB", "MB", "GB"):
        size_in = size / 1000
        if size_in < 1000 or unit == "GB":
            return f"{size_in:.1f} {unit}"
        size = int(size_in)
    raise AssertionError("unreachable")


def _shown(text) -> str:
    return html.escape(safe_text.plain(text), quote=True)


def write_landing_page(folder: Path, release: Release) -> Path:
    """Write ``index.html`` into the release folder (its files must be there already)."""
    folder = Path(folder)
    rows = []
    for name in release.files:
        path = folder / name
        size = path.stat().st_size
        rows.append(f'<tr><th scope="row"><a href="{html.escape(name)}">{html.escape(name)}</a></th>'
                    f"<td>{html.escape(describe(name))}</td>"
                    f'<td class="size"><span title="{size:,} bytes">{html.escape(human_size(size))}</span></td>'
                    f'<td><code class="sha">{file_sha256(path)}</code></td></tr>')
    organisations = ""
    if release.organisations:
        items = []
        for org in sorted(release.organisations, key=lambda o: (safe_text.plain(o.name).lower(), o.code)):
            links = ", ".join(f'<a href="{html.escape(path)}">{html.escape(Path(path).suffix.lstrip(".").upper() or path)}'
                              f"</a>" for path in org.files if path.endswith((".html", ".pdf")))
            data = [p for p in org.files if p.endswith((".csv", ".zip")) and Path(p).parent.name != "figures"]
            data_links = ", ".join(f'<a href="{html.escape(p)}">{html.escape(Path(p).name)}</a>' for p in data)
            items.append(f"<li><strong>{_shown(org.name)}</strong> ({_shown(org.code)}): {links}"
                         + (f"; data: {data_links}" if data_links else "") + "</li>")
        organisations = ("<h2>Reports for organisations</h2>\n<ul>\n" + "\n".join(items) + "\n</ul>\n")
    banner = ('<p class="banner" role="note"><strong>Synthetic data.</strong> This release is built from synthetic '
              "data: every figure and organisation name in it is fictional. It is not official statistics.</p>\n"
              if release.synthetic else "")
    page = f"""<!DOCTYPE html>
<html lang="en-GB">
<head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_shown(release.title)}</title>
{GENERATOR}
<style>
body{{font-family:Arial,Helvetica,sans-serif;line-height:1.5;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#212b32}}
a{{color:#005eb8}}a:focus{{outline:3px solid #ffeb3b;background:#ffeb3b;color:#212b32}}
.banner{{border-left:8px solid #d5281b;background:#fde8e6;padding:.75rem 1rem}}
dl{{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}}dt{{font-weight:bold}}dd{{margin:0}}
.files{{overflow-x:auto}}table{{border-collapse:collapse;width:100%}}
th,td{{border:1px solid #768692;padding:.5rem;text-align:left;vertical-align:top}}
code.sha{{font-size:.8rem;overflow-wrap:anywhere;word-break:break-all}}td.size{{white-space:nowrap}}
caption{{text-align:left;font-weight:bold;padding:.25rem 0}}
@media (max-width:40rem){{dl{{grid-template-columns:1fr}}dd{{margin-bottom:.5rem}}
table,thead,tbody,tr,th,td,caption{{display:block}}tr{{margin-bottom:.75rem}}thead{{position:absolute;left:-9999px}}
td::before{{content:attr(data-label) ": ";font-weight:bold}}}}
</style>
</head>
<body>
<main>
<h1>{_shown(release.title)}</h1>
{banner}<dl>
<dt>Period</dt><dd>{_shown(release.period_words)}</dd>
<dt>Statistics status</dt><dd>{_shown(release.status)}</dd>
<dt>Release date</dt><dd>{_shown(release.release_date_words)}</dd>
<dt>Source</dt><dd>{_shown(release.source)}</dd>
</dl>
<h2>Files in this release</h2>
<div class="files">
<table>
<caption>Each file of the release, what it is, its size and its SHA-256 checksum</caption>
<thead><tr><th scope="col">File</th><th scope="col">What it is</th><th scope="col">Size</th><th scope="col">SHA-256</th></tr></thead>
<tbody>
{chr(10).join(_labelled(row) for row in rows)}
</tbody>
</table>
</div>
<p>The checksums are also in <a href="{CHECKSUMS}">{CHECKSUMS}</a>, for every file of the release: check a download with
<code>sha256sum -c {CHECKSUMS}</code>.</p>
{organisations}</main>
</body>
</html>
"""
    target = folder / INDEX
    target.write_text(page, encoding="utf-8")
    return target


def _labelled(row: str) -> str:
    """A table row whose cells carry their column's name, shown before each value on narrow screens."""
    for label in ("What it is", "Size", "SHA-256"):
        row = re.sub(r"<td(?= |>)(?! data-label)", f'<td data-label="{label}"', row, count=1)
    return row


def write_checksums(folder: Path) -> Path:
    """``SHA256SUMS``: every file of the release folder (sub-folders too), in ``sha256sum`` format."""
    folder = Path(folder)
    lines = [f"{file_sha256(path)}  {path.relative_to(folder).as_posix()}"
             for path in sorted(folder.rglob("*")) if path.is_file() and path.name not in (CHECKSUMS, "manifest.json")]
    target = folder / CHECKSUMS
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target

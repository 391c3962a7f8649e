"""Checks a built report as a reader would read it: the faults a statistician signing it off looks for.

Reads ``report.html`` (and ``report.pdf`` when poppler is installed) of a report folder through
:mod:`report_content` and lists, as sentences, every place where the report:

* shows a placeholder (``?var:``, an unexpanded shortcode, ``nan``, ``None``) or a table row
  whose every value is "not available";
* puts a suppressed or missing value inside a sentence ("a mean of suppressed sessions", "fewer
  than 5 of the fewer than 5 referrals") outside the notes that explain the rule;
* says a figure rose while its own numbers fell (or the reverse);
* calls a category the highest or lowest when the table beside the sentence says otherwise;
* lists an organisation or category twice in one table;
* writes a month as ``2019-09`` instead of "September 2019";
* links to a file or a place in the page that is not there.

The checks are deliberately narrow: each looks for one pattern that is wrong whatever the data,
so a report that passes is not proved right, but one that fails is wrong. The build runs them
on every report it writes (``manifest.json``, ``reader_checks``); tests run them over a matrix
of builds and require none.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from .report_content import ReportContent, Table, normal, pdf_text, read_html

#: sections where the disclosure rule and missing data are explained, in words that name them
EXPLAINING_SECTIONS = ("about these statistics", "notes", "definitions", "data quality", "methods",
                       "how to read", "disclosure")
_MISSING_WORDS = re.compile(r"\b(suppressed|not available|fewer than 5)\b", re.I)
# a sentence about the rule itself, not a figure
_EXPLAINS_RULE = re.compile(r"shown as|disclosure|are suppressed|is suppressed|were suppressed because|"
                            r"suppressed to|suppression|marked|legend|stands for|means that", re.I)
_PLACEHOLDER = re.compile(r"\?(var|meta|env):|\{\{<|>\}\}|\b(nan|NaN|None|NaT|undefined)\b")
_MONTH_AS_CODE = re.compile(r"\b(20\d\d)-(0[1-9]|1[0-2])\b(?!-\d)")
_NUMBER = r"(-?[\d,]*\.?\d+)\s*(%|per cent)?"
_DIRECTION = re.compile(
    rf"\b(rose|increased|went up|fell|decreased|went down|dropped)\b(?:\s+by\s+[^\s]+)?\s+from\s+{_NUMBER}"
    rf"(?:\s+in\s+[^,;]+?)?\s+to\s+{_NUMBER}", re.I)
_UP = {"rose", "increased", "went up"}
_EXTREME = re.compile(
    rf"\b(highest|lowest)\b[^.;]*?\b(?:for|in|among|was|were|of)\s+(?:people\s+(?:of|in|aged)\s+)?"
    rf"([^(;:]+?)\s*\(\s*{_NUMBER}", re.I)


def check_report(folder: Path | str) -> list[str]:
    """Every problem a reader would find in the report in ``folder``, as sentences (none: ``[]``)."""
    folder = Path(folder)
    content = read_html(folder / "report.html")
    problems = (_placeholders(content) + _empty_rows(content) + _missing_values_in_sentences(content)
                + _directions(content) + _extremes(content) + _duplicated_rows(content)
                + _months_as_codes(content) + _broken_links(content, folder))
    pdf = folder / "report.pdf"
    if pdf.exists():
        try:
            text = " ".join(pdf_text(pdf))
        except RuntimeError:  # no poppler here: the HTML has been read
            text = ""
        found = _PLACEHOLDER.search(re.sub(r"\b(nan|NaN|None|NaT|undefined)\b", "", text))
        if found:
            problems.append(f"the PDF shows the placeholder {found.group(0)!r}")
    return problems


def _sentences(content: ReportContent):
    """(section heading, text) of every paragraph, list item, caption and table cell."""
    heading = ""
    for kind, item in content.flow:
        if kind == "heading":
            heading = item[1]
        elif kind == "block":
            yield heading, item
        elif kind == "table":
            yield heading, item.caption
            for row in item.rows:
                for cell in row:
                    yield heading, cell
        elif kind == "figure":
            yield heading, item.caption
            yield heading, item.alt


def _placeholders(content: ReportContent) -> list[str]:
    problems = []
    for heading, text in _sentences(content):
        found = _PLACEHOLDER.search(text)
        if found:
            problems.append(f"{_where(heading)}: the placeholder {found.group(0)!r} in {_quote(text)}")
    for label in (content.title, content.subtitle):
        if _PLACEHOLDER.search(label):
            problems.append(f"the title shows a placeholder: {_quote(label)}")
    return problems


def _empty_rows(content: ReportContent) -> list[str]:
    problems = []
    for table in content.tables:
        for row in table.rows[1:]:
            values = [cell.strip().lower() for cell in row[1:]]
            if values and all(value in ("not available", "n/a", "") for value in values):
                problems.append(f"table {_quote(_name(table))}: the row {_quote(row[0])} has no values")
    return problems


def _missing_values_in_sentences(content: ReportContent) -> list[str]:
    problems = []
    heading = ""
    for kind, item in content.flow:
        if kind == "heading":
            heading = item[1]
        elif kind in ("block", "figure"):
            texts = [item] if kind == "block" else [item.caption, item.alt]
            for text in texts:
                if (_MISSING_WORDS.search(text) and not _EXPLAINS_RULE.search(text)
                        and not heading.lower().startswith(EXPLAINING_SECTIONS)):
                    problems.append(f"{_where(heading)}: a suppressed or missing value inside a sentence: "
                                    f"{_quote(text)}")
    return problems


def _directions(content: ReportContent) -> list[str]:
    problems = []
    for heading, text in _sentences(content):
        for found in _DIRECTION.finditer(text):
            word, start, end = found.group(1).lower(), _number(found.group(2)), _number(found.group(4))
            if start is None or end is None:
                continue
            up = word in _UP
            if (up and not end > start) or (not up and not end < start):
                problems.append(f"{_where(heading)}: {_quote(found.group(0))} - the numbers say otherwise")
    return problems


def _extremes(content: ReportContent) -> list[str]:
    """A "highest/lowest for X (v)" sentence checked against the next table that has X and v."""
    problems = []
    flow = content.flow
    for index, (kind, item) in enumerate(flow):
        if kind != "block":
            continue
        for found in _EXTREME.finditer(item):
            which, name, value = found.group(1).lower(), normal(found.group(2)), _number(found.group(3))
            table = next((other for k, other in flow[index + 1:index + 6] if k == "table"), None)
            if table is None or value is None:
                continue
            column = _column_holding(table, name, found.group(3))
            if column is None:
                continue
            values = [v for v in (_number(row[column]) for row in table.rows[1:] if len(row) > column)
                      if v is not None]
            best = max(values) if which == "highest" else min(values)
            if value != best:
                problems.append(f"{_quote(found.group(0))}: the table {_quote(_name(table))} has "
                                f"{best:g} as the {which}")
    return problems


def _column_holding(table: Table, name: str, value_text: str) -> int | None:
    for row in table.rows[1:]:
        if row and normal(row[0]).lower() == name.lower():
            for column, cell in enumerate(row[1:], start=1):
                if _number(cell) is not None and _number(cell) == _number(value_text):
                    return column
    return None


def _duplicated_rows(content: ReportContent) -> list[str]:
    """A row label (the text cells before the first figure: "Group | Category") given twice."""
    problems = []
    for table in content.tables:
        labels = [" | ".join(_label_cells(row)) for row in table.rows[1:]]
        labels = [label for label in labels if label]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            problems.append(f"table {_quote(_name(table))} lists {', '.join(map(_quote, repeated))} more than once")
    return problems


def _label_cells(row: list[str]) -> list[str]:
    cells = []
    for cell in row:
        if _number(cell) is not None or cell.strip() in ("*", "-", ""):
            break
        cells.append(cell)
    return cells


def _months_as_codes(content: ReportContent) -> list[str]:
    problems = []
    for heading, text in _sentences(content):
        for found in _MONTH_AS_CODE.finditer(text):
            year, month = int(found.group(1)), int(found.group(2))
            if month == (year + 1) % 100:  # a financial year, 2010-11 or 2011-12
                continue
            problems.append(f"{_where(heading)}: the month {found.group(0)} written as a code in {_quote(text)}")
    return problems


def _broken_links(content: ReportContent, folder: Path) -> list[str]:
    problems = []
    for text, href in content.links:
        parsed = urlparse(href)
        if parsed.scheme in ("http", "https", "mailto", "data"):
            continue
        if href.startswith("#"):
            if unquote(href[1:]) not in content.ids:
                problems.append(f"the link {_quote(text)} goes to {href}, which is not in the page")
        elif not (folder / unquote(parsed.path)).exists():
            problems.append(f"the link {_quote(text)} goes to {href}, which is not beside the report")
    return problems


def _number(text: str) -> float | None:
    try:
        return float(str(text).replace(",", "").replace("%", "").replace("per cent", "").strip())
    except ValueError:
        return None


def _name(table: Table) -> str:
    return table.caption or (" | ".join(table.rows[0]) if table.rows else "untitled")


def _where(heading: str) -> str:
    return f"under {heading!r}" if heading else "before the first heading"


def _quote(text: str, limit: int = 160) -> str:
    text = normal(text)
    return repr(text if len(text) <= limit else text[:limit] + "...")

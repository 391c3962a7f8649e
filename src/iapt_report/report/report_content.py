"""What a reader gets from a rendered report: its headings, text, tables, figures and links.

Read from ``report.html`` (either renderer's) with the standard library's HTML parser, and from
``report.pdf`` as text (poppler's ``pdftotext``). The page furniture is left out: the
synthetic-data banner, the skip link, the title block and the table of contents, Quarto's
scripts and styles. What is left is the report's content, the same whichever renderer made it,
which is what the tests and the report checks compare and read.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from .safe_text import WORD_JOINER, ZERO_WIDTH_SPACE

_BLOCKS = {"p", "li", "dt", "dd", "blockquote"}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_SPACES = re.compile(r"\s+")


@dataclass
class Table:
    caption: str
    rows: list[list[str]]  # the header row(s) first, as the page shows them


@dataclass
class Figure:
    caption: str
    alt: str
    src: str


@dataclass
class ReportContent:
    title: str = ""
    subtitle: str = ""
    headings: list[tuple[int, str]] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)  # paragraphs and list items, in order
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (text, href)
    images: list[str] = field(default_factory=list)  # every <img> src, figures or not
    external: list[str] = field(default_factory=list)  # resources the page would fetch from elsewhere
    ids: set[str] = field(default_factory=set)  # every element id (the targets of "#..." links)
    #: the content in reading order: ("heading", (level, text)), ("block", text), ("table", Table),
    #: ("figure", Figure)
    flow: list[tuple[str, object]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Every heading, block, table cell and caption, one per line."""
        lines = [text for _, text in self.headings] + self.blocks
        for table in self.tables:
            lines += [table.caption, *(" | ".join(row) for row in table.rows)]
        lines += [f"{figure.caption} | {figure.alt}" for figure in self.figures]
        return "\n".join(line for line in lines if line)


def read_html(path: Path | str) -> ReportContent:
    """The content of a rendered ``report.html``."""
    parser = _ReportParser()
    parser.feed(Path(path).read_text(encoding="utf-8"))
    parser.close()
    return parser.content


def pdf_text(path: Path | str) -> list[str]:
    """The text of each page of a PDF, white space collapsed; needs ``pdftotext`` (poppler)."""
    if shutil.which("pdftotext") is None:
        raise RuntimeError("pdftotext (poppler-utils) is not installed")
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True)
    return [normal(page) for page in done.stdout.split("\f")[:-1]]


def normal(text: str) -> str:
    """Text as compared: the invisible characters :mod:`safe_text` adds (and soft hyphens) out,
    white space collapsed."""
    for invisible in (WORD_JOINER, ZERO_WIDTH_SPACE, "\u00ad"):
        text = text.replace(invisible, "")
    return _SPACES.sub(" ", text).strip()


class _ReportParser(HTMLParser):
    """Collects content outside the furniture; skips ``script``, ``style``, ``nav``, the banner."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.content = ReportContent()
        self._stack: list[tuple[str, bool]] = []  # (tag, opened a skipped region)
        self._skipping = 0
        self._text: list[str] | None = None  # text of the block or heading being read
        self._where: str | None = None
        self._in_title_block = 0
        self._title_part: str | None = None
        self._table: Table | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None
        self._figure: Figure | None = None
        self._figcaption: list[str] | None = None
        self._link: tuple[str, list[str]] | None = None

    # -- structure ---------------------------------------------------------------------------

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        self._note_external(tag, attributes)
        if attributes.get("id"):
            self.content.ids.add(attributes["id"])
        classes = attributes.get("class", "").split()
        skip = (tag in ("script", "style", "template", "noscript")
                or (tag == "nav" and attributes.get("id") == "TOC")
                or "synthetic-banner" in classes or "skip-link" in classes
                or "quarto-title-meta" in classes)
        if tag not in _VOID:
            self._stack.append((tag, skip))
        if skip:
            self._skipping += 1
            return
        if self._skipping:
            return
        if tag == "header" and attributes.get("id") == "title-block-header":
            self._in_title_block += 1
        if self._in_title_block and tag == "h1" and "title" in classes:
            self._title_part, self._text = "title", []
        elif self._in_title_block and "subtitle" in classes:
            self._title_part, self._text = "subtitle", []
        elif tag in _HEADINGS and not self._in_title_block:
            self._where, self._text = tag, []
        elif tag in _BLOCKS and self._text is None and self._table is None and self._figcaption is None:
            self._where, self._text = tag, []
        elif tag == "table":
            self._table = Table("", [])
        elif tag == "caption" and self._table is not None:
            self._caption = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "figure":
            self._figure = Figure("", "", "")
        elif tag == "figcaption" and self._figure is not None:
            self._figcaption = []
        elif tag == "img":
            self.content.images.append(attributes.get("src", ""))
            if self._figure is not None:
                self._figure.alt, self._figure.src = normal(attributes.get("alt", "")), attributes.get("src", "")
        elif tag == "a" and "href" in attributes:
            self._link = (attributes["href"], [])

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        # close up to the matching tag (HTML lets some end tags be left out)
        while self._stack:
            open_tag, skipped = self._stack.pop()
            if skipped:
                self._skipping -= 1
            if not self._skipping:
                self._close(open_tag)
            if open_tag == tag:
                break

    def _close(self, tag):
        if tag == "header" and self._in_title_block:
            self._in_title_block -= 1
        if self._title_part and tag in ("h1", "p"):
            setattr(self.content, self._title_part, normal("".join(self._text or [])))
            self._title_part, self._text = None, None
        elif self._where == tag and self._text is not None:
            text = normal("".join(self._text))
            if tag in _HEADINGS:
                self.content.headings.append((int(tag[1]), text))
                self.content.flow.append(("heading", (int(tag[1]), text)))
            elif text:
                self.content.blocks.append(text)
                self.content.flow.append(("block", text))
            self._where, self._text = None, None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(normal("".join(self._cell)))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self._table.rows.append(self._row)
            self._row = None
        elif tag == "caption" and self._caption is not None and self._table is not None:
            self._table.caption = normal("".join(self._caption))
            self._caption = None
        elif tag == "table" and self._table is not None:
            self.content.tables.append(self._table)
            self.content.flow.append(("table", self._table))
            self._table = None
        elif tag == "figcaption" and self._figcaption is not None and self._figure is not None:
            self._figure.caption = normal("".join(self._figcaption))
            self._figcaption = None
        elif tag == "figure" and self._figure is not None:
            self.content.figures.append(self._figure)
            self.content.flow.append(("figure", self._figure))
            self._figure = None
        elif tag == "a" and self._link is not None:
            href, text = self._link
            self.content.links.append((normal("".join(text)), href))
            self._link = None

    def handle_data(self, data):
        if self._skipping:
            return
        for collector in (self._text, self._cell, self._caption, self._figcaption):
            if collector is not None:
                collector.append(data)
        if self._link is not None:
            self._link[1].append(data)

    def _note_external(self, tag, attributes):
        """A resource fetched from another host when the page loads (links to follow are not)."""
        for name in ("src", "srcset", "data-src") if tag != "a" else ():
            value = attributes.get(name, "")
            if re.match(r"(?i)\s*(https?:)?//", value):
                self.content.external.append(f"<{tag} {name}={value}>")
        if tag == "link" and re.match(r"(?i)\s*(https?:)?//", attributes.get("href", "")):
            self.content.external.append(f"<link href={attributes['href']}>")

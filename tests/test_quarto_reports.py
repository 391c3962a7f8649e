"""Reports rendered by the real Quarto, for every kind and source, held to the fallback's content.

Quarto is what users render with, so every report kind is built with it here: synthetic monthly
(England, a region, a provider, a small sub-ICB) and annual, and from NHS Digital's published files
(monthly for England and a provider, annual, a legacy year). Each must be complete: every
variable filled, a table of contents, ``lang="en-GB"``, a self-contained page, the synthetic-data
banner on every screen and page when the data are synthetic, no Quarto scratch files, and
nothing the reader's checks (report_check.py) find wrong. Then
the same build folder is rendered by the fallback: the two must say the same things (headings,
sentences, tables, figure captions and alt text, and the words of the PDFs).

Without Quarto on PATH these tests skip; in CI (``CI`` set) a missing Quarto fails the run
(tests/conftest.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from browser import check_pages, page_check_available, problems
from iapt_report.report.build import BuildConfig, build_reports
from iapt_report.report.render import BANNER_TEXT, quarto_available, render_report
from iapt_report.report.report_check import check_report
from iapt_report.report.report_content import normal, pdf_text, read_html
from iapt_report.sources.synthetic import generate, write_dataset

PUBLISHED = Path(__file__).resolve().parents[2] / "shared" / "data" / "published"
MONTHLY = PUBLISHED / "monthly_2021-01_to_2025-12.parquet"
ANNUAL = PUBLISHED / "annual_2017-18_to_2024-25.parquet"
LEGACY = PUBLISHED / "annual_legacy_2013-14_to_2016-17.parquet"

pytestmark = pytest.mark.skipif(not quarto_available(), reason="quarto not on PATH")
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) not installed")


def build(output: Path, **options) -> list[Path]:
    results = build_reports(BuildConfig(output=output, renderer="quarto", **options))
    for result in results:
        assert result.error is None, f"{result.kind} {result.period} {result.org}: {result.error}"
        assert re.fullmatch(r"quarto \d+\.\d+\.\d+", result.renderer), result.renderer
    return [result.folder for result in results]


@pytest.fixture(scope="module")
def synthetic_reports(tmp_path_factory) -> list[Path]:
    data = tmp_path_factory.mktemp("data") / "synthetic"
    write_dataset(generate(date(2019, 9, 1), date(2021, 3, 31), scale=0.01), data)
    (data / "_synthetic.json").write_text('{"synthetic": true}\n')
    output = tmp_path_factory.mktemp("quarto")
    return (build(output, kind="monthly", periods=["2020-09"], orgs=["England", "Y94", "ZP007", "ZS045"], data=data,
                  trend_months=3)
            + build(output, kind="annual", periods=["2020-21"], orgs=["England"], data=data))


@pytest.fixture(scope="module")
def published_reports(tmp_path_factory) -> list[Path]:
    output = tmp_path_factory.mktemp("quarto-published")
    folders = []
    if MONTHLY.exists():
        folders += build(output, kind="monthly", periods=["2021-06"], orgs=["England", "NLS"], published=MONTHLY,
                         trend_months=3)
    if ANNUAL.exists():
        folders += build(output, kind="annual", periods=["2020-21"], orgs=["England"], published=ANNUAL)
    if LEGACY.exists():
        folders += build(output, kind="annual", periods=["2015-16"], orgs=["England"], published=LEGACY)
    if not folders:
        pytest.skip(f"no published data files in {PUBLISHED}")
    return folders


def assert_complete(folder: Path, synthetic: bool) -> None:
    page = (folder / "report.html").read_text(encoding="utf-8")
    where = folder.relative_to(folder.parents[2])
    assert "?var:" not in page and "{{<" not in page, where
    assert re.search(r'<html[^>]*\slang="en-GB"', page), where
    toc = re.search(r'<nav id="TOC"[^>]*>(.*?)</nav>', page, re.S)
    assert toc and len(re.findall(r"<a href=\"#", toc.group(1))) >= 4, f"{where}: no table of contents"
    content = read_html(folder / "report.html")
    assert content.external == [], f"{where} fetches {content.external}"
    assert content.images and all(src.startswith("data:image/") for src in content.images), where
    assert content.title.startswith("NHS Talking Therapies")
    assert (BANNER_TEXT in page) is synthetic, where
    names = {path.name for path in folder.iterdir()}
    assert ".quarto" not in names and not any(name.endswith("_files") for name in names), where
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["parameters"]["renderer"].startswith("quarto 1.")
    assert check_report(folder) == [], where  # what a reader would find wrong (report_check.py)
    if shutil.which("pdftotext"):
        pages = pdf_text(folder / "report.pdf")
        assert len(pages) >= 2, where
        if synthetic:
            assert all(BANNER_TEXT in text for text in pages), f"{where}: a PDF page without the banner"


def test_synthetic_reports_are_complete(synthetic_reports):
    for folder in synthetic_reports:
        assert_complete(folder, synthetic=True)


def test_published_reports_are_complete(published_reports):
    for folder in published_reports:
        assert_complete(folder, synthetic=False)


def fallback_copy(folder: Path, destination: Path, synthetic: bool) -> Path:
    copy = destination / "-".join(folder.parts[-3:])
    shutil.copytree(folder, copy)
    render_report(copy, synthetic=synthetic, renderer="fallback")
    return copy


def assert_same_content(quarto: Path, fallback: Path) -> None:
    one, other = read_html(quarto / "report.html"), read_html(fallback / "report.html")
    assert (one.title, one.subtitle) == (other.title, other.subtitle)
    assert one.headings == other.headings
    assert one.blocks == other.blocks  # every sentence, key facts included
    assert [(t.caption, t.rows) for t in one.tables] == [(t.caption, t.rows) for t in other.tables]
    assert [(f.caption, f.alt) for f in one.figures] == [(f.caption, f.alt) for f in other.figures]
    assert [link for link in one.links if not link[1].startswith("#")] == \
        [link for link in other.links if not link[1].startswith("#")]
    if shutil.which("pdftotext"):
        assert pdf_words(quarto / "report.pdf") == pdf_words(fallback / "report.pdf")


def pdf_words(pdf: Path) -> list[str]:
    """The words of a PDF without what repeats on every page (banner, page numbers) and the
    contents' dot leaders and page numbers: the two typesetters break lines and pages in
    different places, so words split at a hyphen are joined again."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout.replace(BANNER_TEXT, " ")
    lines = [re.sub(r"(\s*\.){3,}[\s\u2060]*\d+\s*$", " ", line) for line in text.splitlines()]
    text = normal(re.sub(r"Page \d+ of \d+", " ", " ".join(lines)))
    words = re.sub(r"(\w)- (\w)", r"\1-\2", text).split()  # a line broken after a hyphen
    return [word for word in words if word.strip(".")]


@needs_poppler
def test_quarto_and_fallback_say_the_same_synthetic(synthetic_reports, tmp_path):
    for folder in synthetic_reports:
        assert_same_content(folder, fallback_copy(folder, tmp_path, synthetic=True))


@needs_poppler
def test_quarto_and_fallback_say_the_same_published(published_reports, tmp_path):
    for folder in published_reports:
        assert_same_content(folder, fallback_copy(folder, tmp_path, synthetic=False))


# --- in a reader's browser ---------------------------------------------------------------------

needs_page_check = pytest.mark.skipif(not page_check_available(),
                                      reason="Chromium, node or tests/page_check's npm packages not installed")


@needs_page_check
def test_pages_meet_wcag_aa_at_desktop_and_phone_widths(synthetic_reports, published_reports, tmp_path):
    """axe-core finds no WCAG 2.2 A/AA violation at 1280 and 390 px; no page scrolls sideways, fetches
    anything from elsewhere, has a script error, or hides a heading under the banner."""
    pages = [folder / "report.html" for folder in synthetic_reports + published_reports]
    pages.append(fallback_copy(synthetic_reports[0], tmp_path, synthetic=True) / "report.html")
    found = [problem for result in check_pages(pages) for problem in problems(result)]
    assert found == []

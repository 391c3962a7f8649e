"""Rendering a build folder (tests/render_fixtures/basic) into report.html and report.pdf.

The fallback (pandoc + Typst) is always tested; the Quarto path only where quarto is on PATH.
Checks that need poppler (pdftotext, pdftoppm) or Chromium skip, saying why, when those are
absent.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

from iapt_report import render
from iapt_report.render import BANNER_TEXT, RenderError, RenderWarning, expand_sources, render_report

FIXTURE = Path(__file__).parent / "render_fixtures" / "basic"
VALUES = ["September 2020", "132,237", "50.4%"]
INCLUDED_TEXT = "Included section text: key facts paragraph."
ALT_TEXT = "Line chart of referrals received each month, rising from 120,000 to 132,237."

needs_poppler = pytest.mark.skipif(not (shutil.which("pdftotext") and shutil.which("pdftoppm")),
                                   reason="poppler-utils (pdftotext, pdftoppm) not installed")
needs_chromium = pytest.mark.skipif(not shutil.which("chromium"), reason="chromium not installed")
needs_quarto = pytest.mark.skipif(not render.quarto_available(), reason="quarto not on PATH")


def build_folder(destination: Path) -> Path:
    """A copy of the fixture with the chart the notebooks would have drawn."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    shutil.copytree(FIXTURE, destination)
    (destination / "figures").mkdir()
    fig = Figure(figsize=(8, 4), dpi=150)
    fig.add_subplot().plot([120_000, 124_500, 128_000, 132_237])
    fig.savefig(destination / "figures" / "trend.png", dpi=150)
    return destination


def render_quietly(folder: Path, **options):
    """Render, returning the result and the RenderWarnings raised on the way."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = render_report(folder, **options)
    return result, [w for w in caught if issubclass(w.category, RenderWarning)]


def pdf_pages(pdf: Path) -> list[str]:
    """The text of each page, whitespace collapsed (pdftotext ends every page with a form feed)."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return [" ".join(page.split()) for page in text.split("\f")[:-1]]


@pytest.fixture(scope="module")
def fallback(tmp_path_factory):
    folder = build_folder(tmp_path_factory.mktemp("render") / "build")
    result, render_warnings = render_quietly(folder, synthetic=True, renderer="fallback")
    return folder, result, render_warnings


# --- the fallback, synthetic data -----------------------------------------------------------

def test_fallback_writes_both_outputs_and_cleans_up(fallback):
    folder, result, render_warnings = fallback
    assert result.renderer.startswith("fallback (pandoc 3") and "+ typst " in result.renderer
    assert result.html == folder / "report.html" and result.html.stat().st_size > 0
    assert result.pdf == folder / "report.pdf" and result.pdf.read_bytes().startswith(b"%PDF")
    assert result.seconds > 0
    assert render_warnings == []  # fonts exist, figures found
    leftovers = [p.name for p in folder.iterdir() if "partial" in p.name or "fallback" in p.name]
    assert leftovers == []


def test_html_has_values_included_text_alt_text_and_banner(fallback):
    folder, result, _ = fallback
    page = result.html.read_text(encoding="utf-8")
    for value in VALUES:
        assert value in page
    assert "<title>Render fixture: September 2020</title>" in page
    assert INCLUDED_TEXT in page
    assert '<html lang="en-GB">' in page
    images = re.findall(r"<img[^>]*>", page)
    assert len(images) == 1 and f'alt="{ALT_TEXT}"' in images[0]
    assert 'src="data:image/png;base64,' in images[0]  # self-contained
    assert f'class="synthetic-banner" role="note" aria-label="Synthetic data warning">{BANNER_TEXT}<' in page
    assert "position: sticky" in page and "@top-center" in page
    assert 'class="callout-note" role="note"' in page
    assert "{{<" not in page and ">}}" not in page


@needs_poppler
def test_pdf_has_values_and_banner_on_every_page(fallback):
    _, result, _ = fallback
    pages = pdf_pages(result.pdf)
    assert len(pages) >= 2
    for number, text in enumerate(pages, start=1):
        assert BANNER_TEXT in text, f"page {number} has no synthetic-data banner"
        assert f"Page {number} of {len(pages)}" in text
    whole = " ".join(pages)
    for value in VALUES:
        assert value in whole
    assert INCLUDED_TEXT in whole
    assert "Provider 80 (fictional)" in whole  # the long table broke across pages, none lost
    assert "{{<" not in whole


@needs_poppler
def test_every_pdf_page_rasterises(fallback, tmp_path):
    _, result, _ = fallback
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(result.pdf), str(tmp_path / "page")], check=True)
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == len(pdf_pages(result.pdf))
    assert all(image.stat().st_size > 1000 for image in images)


@needs_chromium
def test_html_loads_in_chromium_without_errors(fallback, tmp_path):
    _, result, _ = fallback
    checked = tmp_path / "checked.html"
    probe = """<script>
  window.renderErrors = [];
  window.addEventListener("error",
    e => renderErrors.push(String(e.message || (e.target && e.target.src))), true);
  window.addEventListener("load", () => {
    const images = Array.from(document.images);
    const marker = document.createElement("pre");
    marker.id = "render-check";
    marker.textContent = JSON.stringify({images: images.length, errors: renderErrors,
      loaded: images.filter(i => i.complete && i.naturalWidth > 0).length});
    document.body.appendChild(marker);
  });
</script>"""
    page = result.html.read_text(encoding="utf-8")
    checked.write_text(page.replace("<head>", "<head>\n" + probe, 1), encoding="utf-8")
    done = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=5000", "--dump-dom", checked.as_uri()],
        capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="render-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the page did not finish loading:\n{done.stderr[-2000:]}"
    check = json.loads(html.unescape(found.group(1)))
    assert check == {"images": 1, "loaded": 1, "errors": []}
    console = [line for line in done.stderr.splitlines()
               if "CONSOLE" in line and re.search(r"Uncaught|Error|Failed", line)]
    assert console == []


# --- without synthetic data, and failures ------------------------------------------------------

@needs_poppler
def test_no_banner_without_synthetic_data(tmp_path):
    folder = build_folder(tmp_path / "build")
    result, _ = render_quietly(folder, synthetic=False, renderer="fallback")
    assert "synthetic-banner" not in result.html.read_text(encoding="utf-8")
    assert all(BANNER_TEXT not in page for page in pdf_pages(result.pdf))


def test_missing_variable_names_key_and_file(tmp_path):
    folder = build_folder(tmp_path / "build")
    section = folder / "sections" / "key_facts.qmd"
    section.write_text(section.read_text() + "\nAlso {{< var key_facts.not_computed >}}.\n")
    with pytest.raises(RenderError) as raised:
        render_report(folder, synthetic=True, renderer="fallback")
    message = str(raised.value)
    assert "key_facts.not_computed" in message and "_variables.yml" in message
    assert "sections/key_facts.qmd" in message
    assert not (folder / "report.html").exists() and not (folder / "report.pdf").exists()


def test_unknown_shortcodes_are_all_listed(tmp_path):
    folder = build_folder(tmp_path / "build")
    report = folder / "report.qmd"
    report.write_text(report.read_text() + "\n{{< pagebreak >}}\n\n{{< meta title >}}\n")
    with pytest.raises(RenderError, match=r"unsupported shortcode \{\{< pagebreak >\}\}") as raised:
        render_report(folder, synthetic=True, renderer="fallback")
    assert "{{< meta title >}}" in str(raised.value)


def test_missing_include_and_missing_figure_are_errors(tmp_path):
    folder = build_folder(tmp_path / "build")
    report = folder / "report.qmd"
    report.write_text(report.read_text() + "\n{{< include sections/not_written.qmd >}}\n")
    with pytest.raises(RenderError, match="sections/not_written.qmd not found"):
        render_report(folder, synthetic=True, renderer="fallback")

    folder = build_folder(tmp_path / "second")
    (folder / "figures" / "trend.png").unlink()
    with pytest.raises(RenderError, match="figures/trend.png"):
        render_report(folder, synthetic=True, renderer="fallback")

    folder = build_folder(tmp_path / "third")
    section = folder / "sections" / "providers.qmd"
    section.write_text(section.read_text() + "\n{{< include report.qmd >}}\n")
    with pytest.raises(RenderError, match="includes a file that includes it"):
        render_report(folder, synthetic=True, renderer="fallback")


def test_failed_pdf_leaves_the_previous_pdf_and_no_partial_file(tmp_path):
    folder = build_folder(tmp_path / "build")
    (folder / "report.pdf").write_bytes(b"%PDF previous")
    (folder / "figures" / "trend.png").write_bytes(b"not a png")  # pandoc embeds it; Typst cannot
    with pytest.raises(RenderError, match="typst could not make the PDF"):
        render_quietly(folder, synthetic=True, renderer="fallback")
    assert (folder / "report.pdf").read_bytes() == b"%PDF previous"
    assert not list(folder.glob("*partial*"))


def test_includes_resolve_from_the_report_folder_as_in_quarto(tmp_path):
    folder = build_folder(tmp_path / "build")
    metadata, text = expand_sources(folder)
    assert metadata["title"] == "Render fixture: September 2020"
    assert "params" not in metadata
    assert "| Provider 80 (fictional)" in text  # sections/providers.qmd includes tables/providers.md
    assert "{{<" not in text


def test_renderer_choice(tmp_path, monkeypatch):
    folder = build_folder(tmp_path / "build")
    monkeypatch.setattr(render, "quarto_available", lambda: False)
    with pytest.raises(RenderError, match="quarto is not on PATH"):
        render_report(folder, synthetic=True, renderer="quarto")
    with pytest.raises(RenderError, match="renderer must be one of"):
        render_report(folder, synthetic=True, renderer="latex")
    result, _ = render_quietly(folder, synthetic=True, renderer="auto")
    assert result.renderer.startswith("fallback")


# --- Quarto ----------------------------------------------------------------------------------

@needs_quarto
@needs_poppler
def test_quarto_renders_the_same_sources_with_the_banner(tmp_path):
    folder = build_folder(tmp_path / "build")
    result = render_report(folder, synthetic=True, renderer="quarto")
    assert result.renderer == "quarto"
    page = result.html.read_text(encoding="utf-8")
    assert BANNER_TEXT in page and INCLUDED_TEXT in page and ALT_TEXT in page
    for value in VALUES:
        assert value in page
    pages = pdf_pages(result.pdf)
    assert pages and all(BANNER_TEXT in text for text in pages)
    assert not list(folder.glob("_synthetic_banner*"))

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

from iapt_report.report import render
from iapt_report.report.render import BANNER_TEXT, RenderError, RenderWarning, expand_sources, render_report

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

@pytest.fixture(scope="module")
def quarto(tmp_path_factory):
    if not render.quarto_available():
        pytest.skip("quarto not on PATH")
    folder = build_folder(tmp_path_factory.mktemp("quarto") / "build")
    return folder, render_report(folder, synthetic=True, renderer="quarto")


@needs_poppler
def test_quarto_renders_the_same_sources_with_the_banner(quarto):
    folder, result = quarto
    assert re.fullmatch(r"quarto \d+\.\d+\.\d+", result.renderer)
    page = result.html.read_text(encoding="utf-8")
    assert BANNER_TEXT in page and INCLUDED_TEXT in page and ALT_TEXT in page
    assert 'lang="en-GB"' in page and "?var:" not in page
    for value in VALUES:
        assert value in page
    pages = pdf_pages(result.pdf)
    assert pages and all(BANNER_TEXT in text for text in pages)


def test_quarto_leaves_no_scratch_and_can_render_again_by_hand(quarto):
    folder, result = quarto
    names = {path.name for path in folder.iterdir()}
    assert ".quarto" not in names and not any(name.endswith("_files") or "partial" in name for name in names)
    # the folder is a Quarto project a statistician can render by hand: banner and page style
    # come from its _metadata.yml, not from the build's command line
    section = folder / "sections" / "key_facts.qmd"
    section.write_text(section.read_text() + "\nA sentence added by hand.\n")
    (folder / "report.html").unlink()
    done = subprocess.run(["quarto", "render", "report.qmd", "--to", "html"], cwd=folder, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "A sentence added by hand." in page and BANNER_TEXT in page and "skip-link" in page


def test_quarto_warnings_fail_the_render(tmp_path):
    if not render.quarto_available():
        pytest.skip("quarto not on PATH")
    folder = build_folder(tmp_path / "build")
    (folder / "report.html").write_text("previous report")
    section = folder / "sections" / "providers.qmd"
    # text Quarto renders on after warning about: it takes ":::" for a broken fenced div
    section.write_text(section.read_text() + "\nAn unclosed ::: fence.\n")
    with pytest.raises(RenderError, match="fenced div") as raised:
        render_report(folder, synthetic=True, renderer="quarto")
    assert "WARNING" in str(raised.value)
    assert (folder / "report.html").read_text() == "previous report"  # never replaced by a broken one


def test_quarto_problems_are_read_from_its_output():
    stderr = ("\x1b[1mpandoc\x1b[22m\n  to: html\n"
              "\x1b[33mWARNING (shortcodes-handlers.lua:302) Unknown var key_facts.x specified in a var shortcode.\n"
              "\x1b[39mOutput created: report.html\n")
    assert render.quarto_problems(stderr) == [
        "WARNING (shortcodes-handlers.lua:302) Unknown var key_facts.x specified in a var shortcode."]
    assert render.quarto_problems("pandoc\n  to: html\nOutput created: report.html\n") == []


def test_includes_outside_the_folder_are_refused(tmp_path):
    folder = build_folder(tmp_path / "build")
    (tmp_path / "secret.md").write_text("a secret")
    report = folder / "report.qmd"
    report.write_text(report.read_text() + "\n{{< include ../secret.md >}}\n")
    for renderer in ("fallback", "quarto") if render.quarto_available() else ("fallback",):
        with pytest.raises(RenderError, match="outside the report's folder"):
            render_report(folder, synthetic=True, renderer=renderer)

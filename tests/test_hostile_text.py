"""Names from data reach the report as text, never as markup (issue 10, items 1 and 2).

Organisation, measure and category names come from files we do not control. Whatever they
hold (HTML, script, markdown, Quarto shortcodes, Typst markup, Unicode controls, very long
strings), both renderers must show them literally, and nothing in them may run, read a file
or break the build. What the reader sees is ``safe_text.plain(name)``: the name with control
characters removed, white space collapsed and doubled braces kept apart by an invisible word
joiner (see safe_text.py).

Three levels: the escaping itself against pandoc on generated names (fast, Hypothesis); one
document of every kind of place a name goes (variable, table cell, caption, alt text, note)
through both renderers and Chromium; and whole reports built from a published file whose
organisation names were replaced by hostile ones.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pypandoc
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iapt_report.report import safe_text
from iapt_report.report.build import BuildConfig, build_reports
from iapt_report.report.charts import ChartRef
from iapt_report.report.render import quarto_available, render_report
from iapt_report.report.report_content import normal, pdf_text, read_html
from iapt_report.report.section_output import SectionOutput

PUBLISHED_MONTHLY = Path(__file__).resolve().parents[2] / "shared" / "data" / "published" / \
    "monthly_2021-01_to_2025-12.parquet"

#: names as a careless or hostile file might hold them
HOSTILE = [
    '<script>document.body.setAttribute("data-pwned", "script")</script>',
    '<img src=x onerror="document.body.setAttribute(\'data-pwned\', \'img\')">',
    '<svg onload="document.body.setAttribute(\'data-pwned\', \'svg\')"></svg>',
    '[click me](javascript:document.body.setAttribute("data-pwned","link"))',
    '<img src="/etc/hostname">',
    "{{< include /etc/hostname >}}",
    "{{< include ../../../../etc/passwd >}}",
    "{{< env HOME >}}",
    "{{< var key_facts.period >}}",
    "{{{< meta title >}}}",
    "half {{< open",
    "closed >}}} only",
    "**bold** _em_ `code` ~~strike~~ ^sup^ ~sub~ $x^2$ @cite [@cite] <https://example.org>",
    "# Heading\n\n- list item\n1. numbered",
    "| pipe | table |\n|---|---|",
    "::: {.callout-warning}\nfenced\n:::",
    "#set page(fill: red) #{ read(\"/etc/hostname\") } $ x $ <label> @ref",
    "=HYPERLINK(\"http://example.org\") +1 -1 @SUM(A1)",
    "it's \"quoted\" -- and --- dashes ... ellipsis",
    "&lt;b&gt; &amp; &#60;script&#62; \\escaped \\\\",
    "Tab\there\r\nnew line\u202eright-to-left override\u2066isolate\u0000nul\u0007bell\ufeffbom",
    "Ünïcödé 名前 اسم שם 🏥 ZWJ family 👨\u200d👩\u200d👧",
    "N" * 300,
]

HOSTILE_ALPHABET = st.sampled_from(list("<>&\"'`*_[](){}#|\\$@^~=+-:!.;/?% \t\n\u202e\u2066\u0000\u00ad")
                                   + ["{{<", ">}}", "{{{<", ">}}}", ":::", "<script>", "</script>",
                                      "javascript:", "onerror=", "#set", "#{", "include ", "var ", "é",
                                      "名", "\u200d", "\u2060", "a", "b", "1"])
hostile_text = st.lists(HOSTILE_ALPHABET, max_size=40).map("".join)

needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) not installed")


# --- the escaping, against pandoc ----------------------------------------------------------------

def pandoc_paragraph_texts(markdown: str) -> list[str]:
    """What pandoc reads from markdown: the text of each paragraph (every inline as text)."""
    ast = json.loads(pypandoc.convert_text(markdown, "json", format="markdown"))
    return [normal(stringify(block["c"])) for block in ast["blocks"] if block["t"] == "Para"]


def stringify(inlines) -> str:
    out = []
    for inline in inlines:
        kind, content = inline["t"], inline.get("c")
        if kind == "Str":
            out.append(content)
        elif kind in ("Space", "SoftBreak", "LineBreak"):
            out.append(" ")
        else:  # anything but plain text means the name was read as markup
            out.append(f"<<{kind}>>")
    return "".join(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile_text, min_size=1, max_size=8))
def test_escaped_names_read_back_as_plain_text(names):
    names = [name for name in names if safe_text.plain(name)]
    markdown = "\n\n".join(f"Name: {safe_text.markdown(name)}" for name in names)
    assert pandoc_paragraph_texts(markdown) == [normal(f"Name: {safe_text.plain(name)}") for name in names]


@settings(max_examples=60, deadline=None)
@given(hostile_text)
def test_plain_text_has_nothing_a_renderer_reacts_to(name):
    plain = safe_text.plain(name)
    for sequence in ("{{", "}}", "::", "\n", "\t", "\u202e", "\u0000"):
        assert sequence not in plain
    # only invisible characters are added
    assert normal(plain) == plain.replace(safe_text.WORD_JOINER, "").replace(safe_text.ZERO_WIDTH_SPACE, "")


def test_the_hostile_names_read_back_as_plain_text():
    markdown = "\n\n".join(f"Name: {safe_text.markdown(name)}" for name in HOSTILE)
    assert pandoc_paragraph_texts(markdown) == [normal(f"Name: {safe_text.plain(name)}") for name in HOSTILE]


# --- every place a name goes, through both renderers ---------------------------------------------

def hostile_build_folder(folder: Path, names: list[str]) -> Path:
    """A build folder whose variables, table, notes, caption and alt text all hold the names."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    folder.mkdir(parents=True)
    repository = Path(__file__).resolve().parents[1]
    shutil.copy(repository / "_quarto.yml", folder / "_quarto.yml")
    out = SectionOutput(folder, "hostile")
    for number, name in enumerate(names):
        out.variable(f"name_{number}", name)
    out.table("names", pd.DataFrame({"Organisation": names, "Referrals": ["1,234"] * len(names)}),
              caption=names[0])
    out.note("note", names[1])
    out.save()
    from iapt_report.report.section_output import merge_variables
    merge_variables(folder)
    figure = Figure(figsize=(4, 2), dpi=50)
    figure.add_subplot().plot([1, 2])
    figure.savefig(folder / "figures" / "names.png")
    (folder / "figures" / "names.md").write_text(
        ChartRef("names", names[2], " ".join(names), folder / "figures/names.png", folder / "figures/names.csv")
        .markdown() + "\n")
    lines = [f"Name {number}: {{{{< var hostile.name_{number} >}}}}" for number in range(len(names))]
    (folder / "report.qmd").write_text(
        '---\ntitle: "Names: {{< var hostile.name_0 >}}"\n---\n\n# Names\n\n' + "\n\n".join(lines)
        + "\n\n{{< include tables/names.md >}}\n\n{{< include tables/note.md >}}\n\n"
        "{{< include figures/names.md >}}\n")
    return folder


def renderers() -> list[str]:
    return ["fallback", "quarto"] if quarto_available() else ["fallback"]


@pytest.fixture(scope="module", params=renderers())
def rendered(request, tmp_path_factory):
    folder = hostile_build_folder(tmp_path_factory.mktemp(request.param) / "build", HOSTILE)
    render_report(folder, synthetic=True, renderer=request.param)
    return folder


def test_names_are_shown_literally_everywhere(rendered):
    content = read_html(rendered / "report.html")
    expected = [normal(safe_text.plain(name)) for name in HOSTILE]
    assert content.title == f"Names: {expected[0]}"
    assert content.blocks[:len(HOSTILE)] == [f"Name {n}: {text}" for n, text in enumerate(expected)]
    [table] = content.tables
    assert table.caption == expected[0]
    assert [row[0] for row in table.rows[1:]] == expected
    assert content.blocks[len(HOSTILE)] == expected[1]  # the note
    [figure] = content.figures
    assert figure.caption == expected[2] and figure.alt == normal(safe_text.plain(" ".join(HOSTILE)))
    assert content.external == []
    page = (rendered / "report.html").read_text(encoding="utf-8")
    for secret in (Path("/etc/hostname"), Path("/etc/passwd")):
        if secret.exists() and secret.read_text().strip():
            lines = [line for line in secret.read_text().splitlines() if len(line) > 8]
            assert not any(line in page for line in lines[:3]), f"{secret} was read into the report"


@needs_poppler
def test_names_are_text_in_the_pdf(rendered):
    # compared without white space (a long name wraps across lines of the page); Typst sets a
    # hyphen before a digit as a minus sign and three dots as an ellipsis, as typesetters do
    text = re.sub(r"\s+", "", " ".join(pdf_text(rendered / "report.pdf")))
    text = text.replace("\u2212", "-").replace("\u2026", "...")
    for name in HOSTILE:
        if max(map(ord, name)) > 0x2FF:
            continue  # letters the report's fonts do not have (CJK, emoji) are not in the PDF's text
        assert re.sub(r"\s+", "", normal(safe_text.plain(name))) in text, name


def dom_after_scripts(page: Path, tmp_path: Path) -> str:
    done = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert "</html>" in done.stdout, done.stderr[-2000:]
    return done.stdout


@needs_chromium
def test_nothing_in_a_name_runs_in_the_browser(rendered, tmp_path):
    dom = dom_after_scripts(rendered / "report.html", tmp_path)
    assert "data-pwned" not in re.search(r"<body[^>]*>", dom).group(0)
    elements = elements_of(dom[dom.index("<main"):dom.index("</main>") + len("</main>")])
    tags = {tag for tag, _ in elements}
    assert tags <= {"main", "header", "div", "section", "h1", "h2", "h3", "p", "a", "span", "nav", "ul", "li",
                    "table", "colgroup", "col", "thead", "tbody", "tr", "th", "td", "caption", "figure", "img",
                    "figcaption", "strong", "em", "code", "button", "i",
                    "label", "input"}, tags  # label and input: the tables' own search box (table_tools.html)
    for tag, attributes in elements:
        assert not any(name.startswith("on") for name in attributes), f"an event handler on <{tag}> {attributes}"
        assert not attributes.get("href", "").strip().lower().startswith("javascript:"), attributes
        if tag == "input":  # only the search box the table tools add, never a form a name asked for
            assert attributes.get("type") == "search" and attributes.get("id", "").endswith("-search"), attributes
        if tag == "img":
            assert attributes.get("src", "").startswith("data:image/png"), "an image a name asked for"


def elements_of(markup: str) -> list[tuple[str, dict]]:
    """Every element of a piece of HTML, with its attributes, as a browser's parser sees them."""
    from html.parser import HTMLParser

    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, {name: value or "" for name, value in attrs}))

    Collector().feed(markup)
    return found


# --- whole reports from a published file with hostile names ---------------------------------------

@pytest.fixture(scope="module")
def hostile_published(tmp_path_factory):
    if not PUBLISHED_MONTHLY.exists():
        pytest.skip(f"{PUBLISHED_MONTHLY} not present")
    measures = pd.read_parquet(PUBLISHED_MONTHLY, filters=[("reporting_period", "in", ["2021-05", "2021-06"])])
    regions = sorted(measures.loc[measures.group_type == "CommissioningRegion", "org_code1"].unique())
    region_names = {code: HOSTILE[number % 12] + f" {code}" for number, code in enumerate(regions)}
    is_region = measures.group_type == "CommissioningRegion"
    measures.loc[is_region, "org_name1"] = measures.loc[is_region, "org_code1"].map(region_names)
    provider = measures.org_code2 == "NLS"
    measures.loc[provider, "org_name2"] = HOSTILE[0] + " {{< include /etc/hostname >}}"
    source = tmp_path_factory.mktemp("published") / "hostile_monthly.parquet"
    measures.to_parquet(source, index=False)
    built = {}
    for renderer in renderers():
        output = tmp_path_factory.mktemp(f"hostile-{renderer}")
        results = build_reports(BuildConfig(kind="monthly", periods=["2021-06"], orgs=["England", "NLS"],
                                            published=source, output=output, trend_months=2, renderer=renderer))
        for result in results:
            assert result.error is None, result.error
        built[renderer] = output / "monthly" / "2021-06"
    return built, region_names


def test_reports_from_a_hostile_file_show_the_names_as_text(hostile_published, tmp_path):
    built, region_names = hostile_published
    for renderer, folder in built.items():
        england = read_html(folder / "England" / "report.html")
        shown = england.text
        for name in region_names.values():
            assert normal(safe_text.plain(name)) in shown, (renderer, name)
        provider = read_html(folder / "NLS" / "report.html")
        assert provider.subtitle.startswith(normal(safe_text.plain(HOSTILE[0])))
        if shutil.which("chromium"):
            dom = dom_after_scripts(folder / "England" / "report.html", tmp_path / renderer)
            assert "data-pwned" not in re.search(r"<body[^>]*>", dom).group(0), renderer
        if shutil.which("pdftotext"):
            assert re.sub(r"\s+", "", normal(safe_text.plain("{{< include /etc/hostname >}}"))) in re.sub(
                r"\s+", "", " ".join(pdf_text(folder / "NLS" / "report.pdf"))), renderer
        variables = yaml.safe_load((folder / "NLS" / "_variables.yml").read_text(encoding="utf-8"))
        assert variables  # the build wrote them; their values are escaped text

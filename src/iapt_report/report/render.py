"""Rendering a report's build folder into ``report.html`` and ``report.pdf``.

Real Quarto renders when it is on PATH (``quarto render report.qmd --to html`` and
``--to typst``). Without it a small fallback reads the same sources: it expands the Quarto
shortcodes of the documented subset (``include`` and ``var``; docs/report-sources.md) in Python,
then pandoc writes the HTML and pandoc's Typst writer plus the ``typst`` wheel the PDF. The
fallback is a stand-in for machines without Quarto, not a second publishing system: tests hold
the two to the same content.

Both renderers use the page furniture in ``report_templates/``: page style, a pandoc filter for
tables, a skip link, search and sort for the longer tables (``table_tools.html``) and, with ``synthetic=True``, the synthetic-data warning (a banner that stays
on screen as the HTML page scrolls, and the header of every PDF page). For Quarto they are copied
into the build folder and named in its ``_metadata.yml``, so that ``quarto render`` run there by
hand gives the same report.

Outputs are written to a temporary name and renamed into place, so a failed render never
leaves a half-written report; every failure, a warning from Quarto included, ends in one
``RenderError`` saying what to fix.

Kept as one module: the two renderers are held to the same report, so what they share (front
matter, page templates, the banner, running tools, writing outputs in one step) stays beside both.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shlex
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import yaml

from .section_output import variable_value

TEMPLATES = Path(__file__).parent / "report_templates"
BANNER_TEXT = "These figures are built from SYNTHETIC data: they are not official statistics"
RENDERERS = ("auto", "quarto", "fallback")
#: Search and sort for the HTML report's longer tables (a self-contained script; the tables stay
#: plain tables without it)
TABLE_TOOLS = "table_tools.html"

# front matter keys the fallback keeps (Quarto reads them all); other keys (params, format ...)
# mean nothing to pandoc here
KEPT_METADATA = ("title", "subtitle", "date", "author", "lang")
DEFAULT_LANG = "en-GB"

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_SHORTCODE = re.compile(r"\{\{<\s*((?:(?!\{\{<).)*?)\s*>\}\}", re.S)
_TIMEOUT_SECONDS = 900


class RenderError(RuntimeError):
    """A report could not be rendered; the message says which source or tool and what to fix."""


class RenderWarning(UserWarning):
    """pandoc or Typst reported a problem that did not stop the render."""


@dataclass(frozen=True)
class RenderResult:
    renderer: str  # "quarto 1.11.0" or "fallback (pandoc X + typst Y)"
    html: Path
    pdf: Path
    seconds: float


def quarto_available() -> bool:
    return shutil.which("quarto") is not None


def render_report(build_dir: Path, source: str = "report.qmd", *, synthetic: bool,
                  renderer: str = "auto") -> RenderResult:
    """Render ``build_dir/source`` into ``build_dir/report.html`` and ``build_dir/report.pdf``.

    ``renderer``: ``"auto"`` (Quarto when on PATH, else the fallback), ``"quarto"`` or
    ``"fallback"``. ``synthetic=True`` puts the synthetic-data warning on the page and on
    every PDF page.
    """
    build_dir = Path(build_dir)
    if renderer not in RENDERERS:
        raise RenderError(f"renderer must be one of {list(RENDERERS)}, not {renderer!r}")
    if not (build_dir / source).is_file():
        raise RenderError(f"report source {build_dir / source} not found")
    if renderer == "quarto" and not quarto_available():
        raise RenderError("renderer 'quarto' was asked for but quarto is not on PATH; install Quarto "
                          "(https://quarto.org) or use renderer 'auto' or 'fallback'")
    use_quarto = renderer == "quarto" or (renderer == "auto" and quarto_available())

    started = time.perf_counter()
    html, pdf = build_dir / "report.html", build_dir / "report.pdf"
    if use_quarto:
        _render_with_quarto(build_dir, source, synthetic, html, pdf)
        label = f"quarto {quarto_version()}"
    else:
        _render_with_fallback(build_dir, source, synthetic, html, pdf)
        label = f"fallback (pandoc {_pandoc_version()} + typst {_typst_version()})"
    return RenderResult(label, html, pdf, round(time.perf_counter() - started, 3))


# --- Quarto -------------------------------------------------------------------------------

#: the page furniture of a Quarto render (page style, table filter, skip link and, for synthetic
#: data, the banner) is copied into this ``_`` folder of the build folder, which Quarto does not
#: render, and named in the folder's ``_metadata.yml``, so that a plain ``quarto render`` run
#: there by hand gives the same report as the build
QUARTO_PAGE_FOLDER = "_report_page"
QUARTO_METADATA = "_metadata.yml"
_QUARTO_METADATA_MARK = "# written by iapt-report"
# what Quarto writes beside a report while rendering it and does not need afterwards
_QUARTO_SCRATCH = (".quarto",)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_QUARTO_PROBLEM = re.compile(r"^(WARNING|WARN|ERROR)\b")


def _render_with_quarto(build_dir: Path, source: str, synthetic: bool, html: Path, pdf: Path) -> None:
    # the sources are checked as the fallback reads them first: the same messages for a missing
    # variable or include, an unsupported shortcode or an include outside the folder
    expand_sources(build_dir, source)
    _write_quarto_page(build_dir, synthetic)
    stem = Path(source).stem
    try:
        for to, target in (("html", html), ("typst", pdf)):
            with _atomic(target) as partial_output:
                stderr = _run(["quarto", "render", source, "--to", to, "--output", partial_output.name],
                              build_dir, f"quarto render {source} --to {to}")
                problems = quarto_problems(stderr)
                if problems:
                    raise RenderError(f"quarto render {source} --to {to} reported problems in {build_dir}; "
                                      "the report is not published until they are fixed:\n  "
                                      + "\n  ".join(problems))
    finally:
        for name in _QUARTO_SCRATCH:
            shutil.rmtree(build_dir / name, ignore_errors=True)
        for scratch in (*build_dir.glob(f"{stem}*_files"), *build_dir.glob(f"{stem}.partial-*")):
            if scratch.is_dir():
                shutil.rmtree(scratch, ignore_errors=True)
            else:
                scratch.unlink(missing_ok=True)


def quarto_problems(stderr: str) -> list[str]:
    """Quarto's warnings and errors in its output, each with the lines that explain it.

    Quarto renders on after a warning (an unknown variable prints ``?var:name`` in the page, a
    broken include or fenced div loses content), so every warning is a problem of the report.
    """
    lines = [_ANSI.sub("", line).rstrip() for line in stderr.splitlines()]
    problems = []
    for number, line in enumerate(lines):
        if _QUARTO_PROBLEM.match(line.strip()):
            explained = [line.strip()]
            for following in lines[number + 1:number + 6]:
                if _QUARTO_PROBLEM.match(following.strip()) or following.startswith(("Output created", "\x1b")):
                    break
                if following.strip():
                    explained.append(following.strip())
            problems.append(" ".join(explained))
    return problems


def _write_quarto_page(build_dir: Path, synthetic: bool) -> None:
    """Copy the page furniture into the build folder and name it in ``_metadata.yml``."""
    metadata = build_dir / QUARTO_METADATA
    if metadata.exists() and not metadata.read_text(encoding="utf-8").startswith(_QUARTO_METADATA_MARK):
        raise RenderError(f"{metadata} was not written by iapt-report, which needs that file name for the "
                          "report's page style; move its settings into _quarto.yml")
    folder = build_dir / QUARTO_PAGE_FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    html_head, html_before, typst_head = [], ["skip_link.html"], ["page.typ"]
    if synthetic:
        html_head.append("synthetic_banner_head.html")
        html_before.append("synthetic_banner.html")
        typst_head.append("synthetic_banner.typ")
    html_after = [TABLE_TOOLS]
    for name in ("page.css", "report.lua", *html_head, *html_before, *html_after, *typst_head):
        shutil.copyfile(TEMPLATES / name, folder / name)

    def inside(names: list[str]) -> list[str]:
        return [f"{QUARTO_PAGE_FOLDER}/{name}" for name in names]

    settings = {
        "filters": inside(["report.lua"]),
        "format": {
            "html": {"css": inside(["page.css"]), "include-in-header": inside(html_head),
                     "include-before-body": inside(html_before), "include-after-body": inside(html_after)},
            "typst": {"include-in-header": inside(typst_head)},
        },
    }
    what = "page style" + (" and synthetic-data banner" if synthetic else "")
    metadata.write_text(f"{_QUARTO_METADATA_MARK}: the report's {what} (files in {QUARTO_PAGE_FOLDER}/)\n"
                        + yaml.safe_dump(settings, sort_keys=True), encoding="utf-8")


@functools.cache
def quarto_version() -> str:
    """The version of the ``quarto`` on PATH (``"1.11.0"``), or ``"unknown"``."""
    try:
        done = subprocess.run(["quarto", "--version"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    found = re.search(r"\d+(?:\.\d+)+", done.stdout)
    return found.group(0) if found else "unknown"


# --- fallback: sources ----------------------------------------------------------------------

def expand_sources(build_dir: Path, source: str = "report.qmd") -> tuple[dict, str]:
    """The report's front matter (the kept keys) and its markdown with every shortcode resolved.

    ``{{< include path >}}`` is replaced by the file's text, recursively; as in Quarto, paths are
    relative to the folder of the report source (``/path`` to ``build_dir``), also inside included
    files. ``{{< var dotted.key >}}`` is replaced by its value in ``_variables.yml``. Every missing
    file, missing variable and unsupported shortcode is listed in one ``RenderError``.
    """
    build_dir = Path(build_dir)
    main = build_dir / source
    expander = _Expander(build_dir, main.parent)
    front_matter, body = _split_front_matter(main.read_text(encoding="utf-8"), main)
    metadata = {key: expander.in_metadata(front_matter[key], main)
                for key in KEPT_METADATA if key in front_matter}
    text = expander.expand(body, main, stack=(main,))
    if expander.problems:
        listed = "\n  ".join(dict.fromkeys(expander.problems))
        raise RenderError(f"cannot render {source}; fix these in the report sources:\n  {listed}")
    return metadata, text


def _split_front_matter(text: str, path: Path) -> tuple[dict, str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        front_matter = yaml.safe_load(match.group(1) or "") or {}
    except yaml.YAMLError as error:
        raise RenderError(f"{path.name}: the front matter is not valid YAML: {error}") from None
    if not isinstance(front_matter, dict):
        raise RenderError(f"{path.name}: the front matter must be YAML keys and values")
    return front_matter, text[match.end():]


class _Expander:
    """Resolves ``include`` and ``var`` shortcodes, collecting every problem it meets."""

    def __init__(self, build_dir: Path, base: Path):
        self.build_dir = build_dir
        self.base = base
        self.variables_file = build_dir / "_variables.yml"
        self.problems: list[str] = []
        self._variables: dict | None = None

    def expand(self, text: str, path: Path, stack: tuple[Path, ...]) -> str:
        if text.count("{{<") > len(_SHORTCODE.findall(text)):
            self.problems.append(f"{self._relative(path)}: a shortcode opened with {{{{< is not closed "
                                 "with >}}")
        return _SHORTCODE.sub(lambda m: self._replace(m.group(1), path, stack), text)

    def in_metadata(self, value, path: Path):
        """Front matter values may use ``var`` (Quarto allows it in titles)."""
        if isinstance(value, str):
            return self.expand(value, path, stack=(path,))
        if isinstance(value, list):
            return [self.in_metadata(item, path) for item in value]
        if isinstance(value, dict):
            return {key: self.in_metadata(item, path) for key, item in value.items()}
        return value

    def _replace(self, shortcode: str, path: Path, stack: tuple[Path, ...]) -> str:
        where = self._relative(path)
        try:
            name, *arguments = shlex.split(shortcode)
        except ValueError:
            name, arguments = shortcode, []
        if name in ("include", "var") and len(arguments) != 1:
            self.problems.append(f"{where}: {{{{< {shortcode} >}}}} needs exactly one argument")
        elif name == "include":
            return self._include(arguments[0], path, stack)
        elif name == "var":
            return self._variable(arguments[0], where)
        else:
            self.problems.append(f"{where}: unsupported shortcode {{{{< {shortcode} >}}}} "
                                 "(report sources may use only include and var)")
        return ""

    def _include(self, argument: str, path: Path, stack: tuple[Path, ...]) -> str:
        target = (self.build_dir / argument.lstrip("/")) if argument.startswith("/") else self.base / argument
        where = self._relative(path)
        if not target.resolve().is_relative_to(self.build_dir.resolve()):
            self.problems.append(f"{where}: {{{{< include {argument} >}}}} names a file outside the report's "
                                 "folder; includes may name only files inside it")
            return ""
        if target.resolve() in {p.resolve() for p in stack}:
            self.problems.append(f"{where}: {{{{< include {argument} >}}}} includes a file that includes it")
            return ""
        if not target.is_file():
            self.problems.append(f"{where}: included file {argument} not found (looked for {target})")
            return ""
        text = target.read_text(encoding="utf-8")
        # pandoc needs blank lines around blocks, as Quarto's include gives them
        return "\n" + self.expand(text, target, stack + (target,)).strip("\n") + "\n"

    def _variable(self, key: str, where: str) -> str:
        value = self._lookup(key)
        if value is None or isinstance(value, (dict, list)):
            if isinstance(value, (dict, list)):
                what = "is a group of values in _variables.yml, not one value"
            elif self.variables_file.exists():
                what = "is not set in _variables.yml"
            else:
                what = f"has no value: there is no {self.variables_file}"
            self.problems.append(f"{where}: {{{{< var {key} >}}}}: {key} {what}")
            return ""
        return str(value)

    def _lookup(self, key: str):
        return variable_value(self._load_variables(), key)

    def _load_variables(self) -> dict:
        if self._variables is None:
            self._variables = {}
            if self.variables_file.exists():
                try:
                    text = self.variables_file.read_text(encoding="utf-8")
                    self._variables = yaml.safe_load(text) or {}
                except yaml.YAMLError as error:
                    raise RenderError(f"{self.variables_file} is not valid YAML: {error}") from None
        return self._variables

    def _relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.build_dir))
        except ValueError:
            return str(path)


# --- fallback: pandoc and Typst ---------------------------------------------------------------

def _render_with_fallback(build_dir: Path, source: str, synthetic: bool, html: Path, pdf: Path) -> None:
    metadata, text = expand_sources(build_dir, source)
    metadata.setdefault("lang", DEFAULT_LANG)
    # one markdown file with a YAML block, so a failed render leaves something to inspect
    markdown = build_dir / f".{Path(source).stem}.fallback.md"
    typst_source = markdown.with_suffix(".typ")
    markdown.write_text(f"---\n{yaml.safe_dump(metadata, allow_unicode=True, sort_keys=True)}---\n\n{text}",
                        encoding="utf-8")
    common = ["--from", "markdown", "--standalone", "--toc", "--toc-depth=2",
              f"--lua-filter={TEMPLATES / 'fallback.lua'}", f"--lua-filter={TEMPLATES / 'report.lua'}"]

    before_body = [f"--include-before-body={TEMPLATES / 'skip_link.html'}"]
    banner_head = []
    if synthetic:
        banner_head = [f"--include-in-header={TEMPLATES / 'synthetic_banner_head.html'}"]
        before_body.append(f"--include-before-body={TEMPLATES / 'synthetic_banner.html'}")
    with _atomic(html) as partial:
        _pandoc([markdown.name, *common, "--to", "html5", "--embed-resources", "--wrap=none",
                 f"--template={TEMPLATES / 'report.html'}", f"--css={TEMPLATES / 'report.css'}",
                 f"--css={TEMPLATES / 'page.css'}", *banner_head, *before_body,
                 f"--include-after-body={TEMPLATES / TABLE_TOOLS}", "--output", partial.name],
                build_dir, "HTML")

    banner_typst = [f"--include-in-header={TEMPLATES / 'synthetic_banner.typ'}"] if synthetic else []
    _pandoc([markdown.name, *common, "--to", "typst", "--variable=papersize:a4",
             "--variable=section-numbering:1.", f"--include-in-header={TEMPLATES / 'page.typ'}",
             *banner_typst, "--output", typst_source.name], build_dir, "Typst")
    with _atomic(pdf) as partial:
        _compile_pdf(typst_source, partial, build_dir)

    markdown.unlink()
    typst_source.unlink()


def _pandoc(arguments: list[str], cwd: Path, what: str) -> None:
    stderr = _run([_pandoc_path(), *arguments], cwd, f"pandoc ({what})")
    # a figure that is not there is a broken report, not a warning
    missing = [line for line in stderr.splitlines() if "Could not fetch resource" in line]
    if missing:
        raise RenderError(f"pandoc ({what}) could not find files the report refers to (paths are "
                          f"relative to {cwd}):\n  " + "\n  ".join(missing))
    for line in stderr.splitlines():
        if line.strip():
            warnings.warn(f"pandoc ({what}): {line.strip()}", RenderWarning, stacklevel=3)


def _compile_pdf(typst_source: Path, output: Path, root: Path) -> None:
    import typst

    try:
        _, problems = typst.compile_with_warnings(
            str(typst_source), output=str(output), format="pdf", root=str(root),
            font_paths=_font_paths(), ignore_system_fonts=True, timestamp=_source_date())
    except typst.TypstError as error:
        detail = "\n".join(filter(None, [error.diagnostic, *(error.hints or [])]))
        raise RenderError(f"typst could not make the PDF from {typst_source} (kept for inspection): "
                          f"{error.message}\n{detail}") from None
    except RuntimeError as error:  # file not found and other failures before compiling
        raise RenderError(f"typst could not make the PDF from {typst_source}: {error}") from None
    for problem in problems:
        warnings.warn(f"typst: {problem.message}", RenderWarning, stacklevel=3)


def _font_paths() -> list[str]:
    """DejaVu Sans, the charts' font, shipped with matplotlib: the same text face on every
    machine (system fonts are ignored; Typst's embedded Libertinus Serif is the fallback)."""
    import matplotlib

    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [str(fonts)] if (fonts / "DejaVuSans.ttf").exists() else []


def _source_date() -> int | None:
    """``SOURCE_DATE_EPOCH`` when set, for a byte-reproducible PDF."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    return int(value) if value and value.isdigit() else None


@functools.cache
def _pandoc_path() -> str:
    import pypandoc

    try:
        return pypandoc.get_pandoc_path()
    except OSError as error:
        raise RenderError(f"pandoc not found ({error}); install the pypandoc-binary package") from None


@functools.cache
def _pandoc_version() -> str:
    import pypandoc

    return pypandoc.get_pandoc_version()


@functools.cache
def _typst_version() -> str:
    """The Typst compiler's version (the wheel's own version if the compiler does not say)."""
    import importlib.metadata

    import typst

    try:
        found = re.findall(r"\d+", typst.Compiler().eval("sys.version"))
        return ".".join(found) if found else importlib.metadata.version("typst")
    except Exception:  # noqa: BLE001 - a label only; never fail a render over it
        return importlib.metadata.version("typst")


# --- shared helpers ---------------------------------------------------------------------------

def _run(command: list[str], cwd: Path, what: str) -> str:
    """Run a tool in ``cwd``; its stderr, or a ``RenderError`` ending with its last lines."""
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=_TIMEOUT_SECONDS)
    except FileNotFoundError:
        raise RenderError(f"{what}: {command[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"{what} did not finish in {_TIMEOUT_SECONDS} seconds") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-25:])
        raise RenderError(f"{what} failed (exit {done.returncode}) in {cwd}:\n{tail}")
    return done.stderr


@contextlib.contextmanager
def _atomic(target: Path):
    """``with _atomic(target) as partial:`` write ``partial``; it replaces ``target`` only when
    the block succeeds, and is removed when it fails."""
    # same folder (so the rename is atomic) and same suffix (tools choose the format by it)
    partial = target.with_name(f"{target.stem}.partial-{os.getpid()}{target.suffix}")
    try:
        yield partial
        if not partial.is_file() or partial.stat().st_size == 0:
            raise RenderError(f"the renderer did not write {target.name}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)

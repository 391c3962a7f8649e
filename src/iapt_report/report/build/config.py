"""What a build run is given: the settings (a TOML file, overridden by the command line), checked
for their kind before anything is built, and the sections of each kind of report.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from iapt_report.data.backends import BACKENDS, DEFAULT_BACKEND
from iapt_report.data.periods import Period
from iapt_report.outputs.paths import OutputPathError, org_folder_name, separate_folders, shown
from iapt_report.report.render import RENDERERS
from iapt_report.report.report_data import ENGLAND

REPOSITORY = Path(__file__).resolve().parents[4]
SECTIONS = {
    "monthly": ["key_facts", "activity_waiting", "outcomes", "variation"],
    "annual": ["key_facts", "activity_waiting", "demographics", "ethnicity", "outcomes", "variation"],
}

#: Where the unrounded measures of every report are kept: outside the report folders, which are
#: published. Folders starting with "_" are never listed as reports (index.write_index).
UNROUNDED_FOLDER = "_unrounded"
UNROUNDED_FILE = "measures_unrounded.parquet"


def unrounded_measures_path(output: str | Path, kind: str, period: str, org: str) -> Path:
    """``<output>/_unrounded/<kind>/<period>/<org>/measures_unrounded.parquet``: the unrounded
    measures a report's sections read (``org`` checked as a safe folder name)."""
    return (Path(output) / UNROUNDED_FOLDER / kind / Period.parse(period).label / org_folder_name(org)
            / UNROUNDED_FILE)


class BuildError(RuntimeError):
    """A report could not be built; the message names the step (and notebook) that failed."""


@dataclass
class BuildConfig:
    """Everything a run needs; read from a TOML file, overridden by the command line."""

    kind: str = "monthly"
    periods: list[str] = field(default_factory=lambda: ["2020-09"])
    orgs: list[str] = field(default_factory=lambda: [ENGLAND])
    data: Path = Path("_data/synthetic")
    output: Path = Path("_output")
    trend_months: int = 13
    renderer: str = "auto"
    published: Path | None = None  # a file NHS Digital published: build from it instead of `data`
    # section notebooks of one report run side by side, each in its own kernel
    notebook_workers: int = field(default_factory=lambda: min(2, os.cpu_count() or 1))
    # measures computed from record-level data are kept in <output>/_cache and reused while the
    # data files and this package are unchanged (see RecordLevelMeasures)
    cache: bool = True
    # build a report for a period outside the data's dates (all zeros) instead of refusing it
    allow_empty: bool = False
    # the engine that computes measures from record-level data: "duckdb" or "spark" (docs/spark.md)
    backend: str = DEFAULT_BACKEND
    notebooks: Path = REPOSITORY / "notebooks"
    report_sources: Path = REPOSITORY / "report"
    # the section notebooks to run; the other sections' outputs are reused from the report built
    # before from the same measures (None: run every section; []: none, re-render only)
    sections: list[str] | None = None

    @classmethod
    def from_file(cls, path: Path) -> "BuildConfig":
        try:
            values = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise BuildError(f"cannot read config {path}: {error}") from None
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise BuildError(f"config {path}: unknown setting(s) {unknown}; known: {sorted(known)}")
        return cls(**{key: _setting(path, key, value) for key, value in values.items()})

    def check(self) -> None:
        """Raise :class:`BuildError` for any setting that cannot be built, before anything is built."""
        if self.kind not in SECTIONS:
            raise BuildError(f"--kind must be one of {sorted(SECTIONS)}, not {shown(self.kind)}")
        for option, value in (("--period", self.periods), ("--org", self.orgs)):
            if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value \
                    or not all(isinstance(item, str) for item in value):
                raise BuildError(f"{option}: expected a list of text values (e.g. [\"2020-09\"]), not {shown(value)}")
        for label in self.periods:
            period = Period.parse(label)
            wanted = "month" if self.kind == "monthly" else "year"
            if period.kind != wanted:
                raise BuildError(f"a {self.kind} report needs a {'month (YYYY-MM)' if wanted == 'month' else 'financial year (YYYY-YY)'}, not {label!r}")
        for org in self.orgs:
            try:
                org_folder_name(org)
            except OutputPathError as error:
                raise BuildError(str(error)) from None
        if self.backend not in BACKENDS:
            raise BuildError(f"--backend must be one of {list(BACKENDS)}, not {shown(self.backend)}")
        if self.sections is not None:
            if isinstance(self.sections, str) or not isinstance(self.sections, (list, tuple)):
                raise BuildError(f"sections: expected a list of section names, not {shown(self.sections)}")
            unknown = [name for name in self.sections if name not in SECTIONS[self.kind]]
            if unknown:
                raise BuildError(f"--section: a {self.kind} report has no section {shown(unknown[0])}; its sections "
                                 f"are {', '.join(SECTIONS[self.kind])}")
        if self.renderer not in RENDERERS:
            raise BuildError(f"--renderer must be one of {list(RENDERERS)}, not {shown(self.renderer)}")
        for option, value in (("trend_months", self.trend_months), ("notebook_workers", self.notebook_workers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BuildError(f"{option} must be a whole number of 1 or more (e.g. {option} = 13), "
                                 f"not {shown(value)}")
        if self.published is not None and not Path(self.published).is_file():
            raise BuildError(f"published file {self.published} not found")
        if self.published is None:
            try:
                separate_folders(self.data, "--data", self.output, "--output")
            except OutputPathError as error:
                raise BuildError(str(error)) from None


#: The TOML type each config setting takes: text, a list of text (one text is taken as a
#: one-item list), a whole number, true/false, or a folder or file (text).
_SETTING_TYPES = {"kind": "text", "periods": "list", "orgs": "list", "data": "path", "output": "path",
                  "trend_months": "integer", "renderer": "text", "published": "path", "notebook_workers": "integer",
                  "cache": "boolean", "allow_empty": "boolean", "backend": "text", "notebooks": "path",
                  "report_sources": "path", "sections": "list"}
_SETTING_EXAMPLES = {"kind": 'kind = "monthly"', "periods": 'periods = ["2020-08", "2020-09"]',
                     "orgs": 'orgs = ["England", "NLS"]', "trend_months": "trend_months = 13",
                     "renderer": 'renderer = "auto"', "notebook_workers": "notebook_workers = 2",
                     "cache": "cache = true", "allow_empty": "allow_empty = false",
                     "backend": 'backend = "duckdb"', "sections": 'sections = ["outcomes"]'}


def _setting(path: Path, key: str, value):
    """A config value checked against its type (see :data:`_SETTING_TYPES`); paths as Paths."""
    kind = _SETTING_TYPES[key]
    example = _SETTING_EXAMPLES.get(key, f'{key} = "folder/name"')
    if kind == "list" and isinstance(value, str):
        return [value]  # periods = "2020-09" means the one period, never its characters
    ok = {"text": isinstance(value, str), "path": isinstance(value, str),
          "list": isinstance(value, list) and all(isinstance(item, str) for item in value),
          "integer": isinstance(value, int) and not isinstance(value, bool),
          "boolean": isinstance(value, bool)}[kind]
    if not ok:
        wanted = {"text": "text in quotes", "path": "a folder or file name in quotes",
                  "list": "a list of text values", "integer": "a whole number (no quotes)",
                  "boolean": "true or false (no quotes)"}[kind]
        raise BuildError(f"config {path}: {key} must be {wanted}, for example {example}; found {_toml_shown(value)}")
    if kind == "path" and "\x00" in value:
        raise BuildError(f"config {path}: {key} holds a NUL character, which no file name may hold")
    return Path(value) if kind == "path" else value


def _toml_shown(value) -> str:
    kinds = {str: "the text", bool: "", int: "the number", float: "the number", list: "the list", dict: "a table"}
    kind = next((name for cls, name in kinds.items() if isinstance(value, cls)), type(value).__name__)
    return f"{kind} {shown(value)}".strip()

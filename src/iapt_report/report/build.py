"""Building reports: measures, section notebooks (papermill), rendering, in a batch.

One report is one (kind, period, organisation). Each is built in a staging folder and moved to
``<output>/<kind>/<period>/<org>/`` only when complete; a failing report does not stop the
batch, and every failure is listed at the end. ``<output>/index.html`` lists every report built.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import logging
import os
import re
import shutil
import threading
import time
import tomllib
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import papermill
from tqdm import tqdm

from . import safe_text
from iapt_report.data.dataset import event_date_range, load_dataset
from iapt_report.data.schema import SYNTHETIC_MARKER
from iapt_report.data.store import connect
from iapt_report.engine.disclosure import apply_disclosure, disclosure_rule_text
from iapt_report.outputs.exports import (file_sha256, input_hashes, package_versions, publication_table, staged_folder, write_csv,
                      write_manifest)
from iapt_report.engine.measures import LEVELS, MeasureEngine
from iapt_report.sources.published import PublishedFileError, published_periods, read_published
from iapt_report.data.periods import Period, check_periods_have_data
from iapt_report.engine.registry import measure_metadata
from iapt_report.outputs.paths import (OutputPathError, check_replaceable, check_writable, inside, org_folder_name, remove_stale_staging,
                    separate_folders, shown)
from .render import RENDERERS, render_report
from .report_check import check_report
from .report_data import ENGLAND, ReportData, ReportDataError
from .section_output import merge_variables

REPOSITORY = Path(__file__).resolve().parents[3]
SECTIONS = {
    "monthly": ["key_facts", "activity_waiting", "outcomes", "variation"],
    "annual": ["key_facts", "activity_waiting", "demographics", "ethnicity", "outcomes", "variation"],
}



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
    notebooks: Path = REPOSITORY / "notebooks"
    report_sources: Path = REPOSITORY / "report"

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
                  "cache": "boolean", "allow_empty": "boolean", "notebooks": "path", "report_sources": "path"}
_SETTING_EXAMPLES = {"kind": 'kind = "monthly"', "periods": 'periods = ["2020-08", "2020-09"]',
                     "orgs": 'orgs = ["England", "NLS"]', "trend_months": "trend_months = 13",
                     "renderer": 'renderer = "auto"', "notebook_workers": "notebook_workers = 2",
                     "cache": "cache = true", "allow_empty": "allow_empty = false"}


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


@dataclass
class BuiltReport:
    kind: str
    period: str
    org: str
    folder: Path | None = None
    error: str | None = None
    renderer: str | None = None
    seconds: dict = field(default_factory=dict)
    left_out: list = field(default_factory=list)  # report-source lines left out: their figures are absent
    measures_from_cache: bool = False  # every measure came from the cache: the dataset was not read again
    reader_checks: list = field(default_factory=list)  # what report_check found wrong in the built report


def build_reports(config: BuildConfig) -> list[BuiltReport]:
    """Build every (period, organisation) report of the config; never raises for one report.

    Raises :class:`BuildError` before any report is built for a mistake in the settings: a
    setting of the wrong kind, an organisation code that is not safe as a folder name, an
    output folder that cannot be written or holds a report folder or ``index.html`` that this
    package did not write, a published file that does not hold a period asked for; and
    :class:`periods.EmptyPeriodError` for a period outside the record-level data (see
    :func:`periods.check_periods_have_data`) unless ``allow_empty``. A published file whose
    values cannot be right stops the batch with :class:`BuildError` when the period holding
    them is read (reports of earlier periods, complete, are kept and listed in the index).
    """
    config.check()
    _prepare_output(config)
    started = time.perf_counter()
    if config.published is not None:
        source = Path(config.published)
        try:
            available = published_periods(source)
        except PublishedFileError as error:
            raise BuildError(str(error)) from None
        missing = [label for label in config.periods if Period.parse(label).label not in available]
        if missing:
            held = f"{available[0]} to {available[-1]}" if available else "no periods"
            raise BuildError(f"{source.name} does not hold {', '.join(missing)}; it holds {held}")
        synthetic = False
        hashes = {source.name: file_sha256(source)}

        def measures_for(period: Period) -> pd.DataFrame:
            return _published_measures(source, available, period, config)
        record_level = None
    else:
        data_dir = Path(config.data)
        synthetic = (data_dir / SYNTHETIC_MARKER).exists()
        hashes = input_hashes(data_dir)
        record_level = RecordLevelMeasures(data_dir, hashes, Path(config.output) / CACHE_FOLDER if config.cache else None)
        record_level.load()  # fails here, before any report, when the dataset is invalid (unless cached)
        if not config.allow_empty:
            check_periods_have_data([Period.parse(label) for label in config.periods], record_level.date_range(),
                                    "--allow-empty (or allow_empty = true in the config)")

        def measures_for(period: Period) -> pd.DataFrame:
            return _measures_for(record_level, period, config)
    load_seconds = round(time.perf_counter() - started, 3)

    results: list[BuiltReport] = []
    damaged: PublishedFileError | None = None
    jobs = [(p, o) for p in config.periods for o in config.orgs]
    with tqdm(total=len(jobs), desc=f"{config.kind} reports", unit="report", disable=None) as progress:
        for period_label in config.periods:
            period = Period.parse(period_label)
            started = time.perf_counter()
            if record_level is not None:
                record_level.all_from_cache = True  # said of each period's measures
            try:
                measures, measures_error = measures_for(period), None
            except PublishedFileError as error:  # the file itself is wrong: no report from it can be right
                damaged = error
                break
            except BuildError as error:
                measures, measures_error = None, error
            measure_seconds = round(time.perf_counter() - started, 3)
            from_cache = record_level is not None and record_level.all_from_cache
            for org in config.orgs:
                progress.set_postfix_str(f"{period_label} {org}")
                report = BuiltReport(config.kind, period_label, org)
                report.seconds = {"load_and_derive": load_seconds, "measures": measure_seconds}
                report.measures_from_cache = from_cache
                try:
                    if measures_error is not None:
                        raise measures_error
                    _build_one(report, measures, period, config, synthetic, hashes)
                except Exception as error:  # isolate the failure, keep building the batch
                    report.error = _describe(error)
                results.append(report)
                progress.update()
    write_index(config.output)
    if damaged is not None:
        built = [f"{r.period} {r.org}" for r in results if not r.error]
        raise BuildError(str(damaged) + (f" (built before the problem was found: {', '.join(built)})" if built else ""))
    return results


CACHE_FOLDER = "_cache"
FAILED_FOLDER = "_failed"


def _prepare_output(config: BuildConfig) -> None:
    """Make sure the output folder can take this run, before anything is built.

    It must be a folder that can be written; its ``index.html``, if any, must be ours; every
    report folder the run will replace must be ours (:func:`paths.replace_problem`). What
    earlier runs left when they were killed (staging and backup folders, half-written cache
    files) is cleaned up first, once their processes are gone.
    """
    output = Path(config.output)
    try:
        check_writable(output, "--output")
    except OutputPathError as error:
        raise BuildError(str(error)) from None
    problem = _index_problem(output / "index.html")
    if problem:
        raise BuildError(problem)
    for folder in [output, *sorted(output.glob(f"{config.kind}/*")), output / CACHE_FOLDER]:
        if folder.is_dir() and not folder.is_symlink():
            remove_stale_staging(folder)
    problems = []
    for label in config.periods:
        for org in config.orgs:
            final = inside(output, Path(config.kind) / Period.parse(label).label / org_folder_name(org))
            try:
                check_replaceable(final, "--output")
            except OutputPathError as error:
                problems.append(str(error))
    if problems:
        raise BuildError("\n".join(problems))


class RecordLevelMeasures:
    """Measures computed from a record-level dataset folder, read and derived only when needed.

    With a cache folder, every table the engine computes (one period, levels, breakdowns) is
    kept there as Parquet, under a key made of the data files' hashes, this package's own files
    (code, registry, reference data) and the engine's library versions. A later build of the
    same data then reads the measures instead of loading, validating and deriving the dataset
    again: the statistician who rewrites the narrative, or a batch that adds organisations,
    waits seconds, not minutes. Any change to a data file or to the package makes a new key.
    """

    def __init__(self, data_dir: Path, hashes: dict[str, str], cache_dir: Path | None):
        self.data_dir = Path(data_dir)
        self.cache_dir = cache_dir
        self._engine: MeasureEngine | None = None
        self.all_from_cache = True  # until a table has to be computed (reset per report period)
        self._fingerprint = _cache_fingerprint(hashes) if cache_dir is not None else ""

    def load(self) -> None:
        """Read and validate the dataset now, so that an invalid one fails before any report is
        built; not when the cache already holds measures of these very files (they were
        validated when those were computed; any table still missing loads them then)."""
        cached = self.cache_dir is not None and any(self.cache_dir.glob(f"{self._fingerprint[:16]}-*.parquet"))
        if not cached:
            self._engine_now()

    def _engine_now(self) -> MeasureEngine:
        if self._engine is None:
            self._engine = MeasureEngine(connect(load_dataset(self.data_dir)))
        return self._engine

    def compute(self, period: Period, levels: list[str] | None = None, breakdowns: bool | None = None) -> pd.DataFrame:
        """What :meth:`MeasureEngine.compute` gives, from the cache when it holds it."""
        return self._cached([period.label, levels, breakdowns],
                            lambda engine: engine.compute(period, levels=levels, breakdowns=breakdowns))

    def compute_totals(self, periods: list[Period], levels: list[str] | None = None) -> pd.DataFrame:
        """What :meth:`MeasureEngine.compute_totals` gives, from the cache when it holds it."""
        return self._cached(["totals", [p.label for p in periods], levels],
                            lambda engine: engine.compute_totals(periods, levels=levels))

    def date_range(self) -> tuple[date, date]:
        """The first and last event date of the dataset (:func:`dataset.event_date_range`), from
        the cache when it holds them."""
        def compute(engine: MeasureEngine) -> pd.DataFrame:
            first, last = event_date_range(engine.tables)
            return pd.DataFrame({"first": [first.isoformat()], "last": [last.isoformat()]})

        table = self._cached(["event_date_range"], compute)
        return date.fromisoformat(table["first"].iloc[0]), date.fromisoformat(table["last"].iloc[0])

    def _cached(self, request: list, compute: Callable[[MeasureEngine], pd.DataFrame]) -> pd.DataFrame:
        if self.cache_dir is None:
            self.all_from_cache = False
            return compute(self._engine_now())
        key = hashlib.sha256((self._fingerprint + json.dumps(request)).encode()).hexdigest()
        path = self.cache_dir / f"{self._fingerprint[:16]}-{key[:32]}.parquet"
        if path.is_file():
            try:
                return pd.read_parquet(path)
            except Exception:  # a damaged cache file is recomputed, never trusted
                path.unlink(missing_ok=True)
        self.all_from_cache = False
        table = compute(self._engine_now())
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        table.to_parquet(partial, index=False)
        os.replace(partial, path)
        return table


def _cache_fingerprint(hashes: dict[str, str]) -> str:
    """What a cached measures table depends on: the data files, this package's files, the engine."""
    digest = hashlib.sha256(json.dumps(sorted(hashes.items())).encode())
    package = Path(__file__).resolve().parents[1]  # the whole iapt_report package
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".yaml", ".yml", ".csv", ".json", ".toml", ".txt"):
            digest.update(path.relative_to(package).as_posix().encode())
            digest.update(path.read_bytes())
    versions = package_versions()
    digest.update(json.dumps({k: versions.get(k) for k in ("ibis-framework", "duckdb", "pandas", "pyarrow")},
                             sort_keys=True).encode())
    return digest.hexdigest()


def _measures_for(engine: MeasureEngine | RecordLevelMeasures, period: Period, config: BuildConfig) -> pd.DataFrame:
    """The report period (every level, breakdowns for a year) and, for months, the trend months."""
    frames = [engine.compute(period)]
    if period.kind == "month" and config.trend_months > 1:
        # trends are drawn for England and the reports' own organisations: only their levels
        current = frames[0]
        org_levels = current.loc[current.ORG_CODE1.isin(config.orgs) | current.ORG_CODE2.isin(config.orgs),
                                 "GROUP_TYPE"].unique().tolist()
        levels = [level for level in LEVELS if level == ENGLAND or level in org_levels]
        frames.append(engine.compute_totals(_previous_months(period, config.trend_months - 1), levels=levels))
    return pd.concat(frames, ignore_index=True)


def _published_measures(source: Path, available: list[str], period: Period, config: BuildConfig) -> pd.DataFrame:
    """The report period from a published file (every organisation's totals, breakdowns for England
    and the report's organisations) and, for trends, earlier periods the file holds (England and
    the report's organisations: the last ``trend_months`` months, or every earlier year)."""
    if period.label not in available:
        held = f"{available[0]} to {available[-1]}" if available else "no periods"
        raise BuildError(f"{source.name} does not hold {period.label}; it holds {held}")
    orgs = [o for o in config.orgs if o != ENGLAND] or [ENGLAND]
    if period.kind == "month":
        frames = [read_published(source, periods=[period.label])]
        earlier = [p.label for p in _previous_months(period, max(config.trend_months - 1, 0))
                   if p.label in available]
    else:
        frames = [read_published(source, periods=[period.label], totals_only=True),
                  read_published(source, periods=[period.label], orgs=orgs)]
        earlier = [label for label in available
                   if Period.parse(label).kind == "year" and Period.parse(label).end < period.start]
    if earlier:
        frames.append(read_published(source, periods=earlier, orgs=orgs, totals_only=True))
    return pd.concat(frames, ignore_index=True).drop_duplicates(ignore_index=True)


def _previous_months(period: Period, count: int) -> list[Period]:
    out, year, month = [], period.start.year, period.start.month
    for _ in range(count):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        out.append(Period.parse(f"{year:04d}-{month:02d}"))
    return out


def _build_one(report: BuiltReport, measures: pd.DataFrame, period: Period, config: BuildConfig,
               synthetic: bool, hashes: dict[str, str]) -> None:
    data = ReportData(measures, period, report.org)
    org_rows = data.rows()  # fails early, with a clear message, for an unknown organisation
    # absolute: the notebooks run in the report's own folder, where a relative path means something else
    output = Path(config.output).absolute()
    where = Path(config.kind) / period.label / org_folder_name(report.org)  # a code becomes a name only if safe
    final = inside(output, where)
    with staged_folder(final, within=output, option="--output") as staging:
        started = time.perf_counter()
        measures_path = staging / "data" / "measures_unrounded.parquet"
        measures_path.parent.mkdir()
        _report_measures(measures, data).to_parquet(measures_path, index=False)
        published = measures[(measures.REPORTING_PERIOD_START == period.start.isoformat())
                             & (measures.REPORTING_PERIOD_END == period.end.isoformat())]
        if not data.national:
            published = published.loc[published.index.intersection(_all_rows_of(published, data).index)]
        if "PUBLISHED_VALUE" in published.columns:  # as NHS Digital published it: nothing to apply
            published = published.assign(MEASURE_VALUE_SUPPRESSED=published["PUBLISHED_VALUE"])
        else:
            published = apply_disclosure(published)
        write_csv(publication_table(published), staging / "measures.csv")
        write_csv(measure_metadata(), staging / "metadata.csv")
        _copy_sources(config, staging)
        _write_about(staging, synthetic, data, period, config.published)
        report.seconds["prepare"] = round(time.perf_counter() - started, 3)

        started = time.perf_counter()
        parameters = {"kind": config.kind, "period": period.label, "org": report.org,
                      "measures_path": str(measures_path), "build_dir": str(staging)}
        failed_dir = inside(output, FAILED_FOLDER / where)
        _run_notebooks([config.notebooks / f"{section}.ipynb" for section in SECTIONS[config.kind]],
                       staging / "notebooks", parameters, staging, failed_dir, config.notebook_workers)
        merge_variables(staging)
        report.left_out = adapt_sources(staging, [*SECTIONS[config.kind], "about", "notes"],
                                        drop_unset=config.published is not None)
        report.seconds["notebooks"] = round(time.perf_counter() - started, 3)

        started = time.perf_counter()
        rendered = render_report(staging, "report.qmd", synthetic=synthetic, renderer=config.renderer)
        report.renderer = rendered.renderer
        report.seconds["render"] = round(time.perf_counter() - started, 3)
        report.reader_checks = check_report(staging)
        write_manifest(
            staging,
            inputs=hashes,
            parameters={**{k: v for k, v in parameters.items() if k not in ("measures_path", "build_dir")},
                        "data": str(config.published or config.data), "synthetic": synthetic,
                        "published_file": config.published is not None, "renderer": rendered.renderer,
                        "left_out": report.left_out, "measures_from_cache": report.measures_from_cache,
                        "rows_for_org": int(len(org_rows)), "reader_checks": report.reader_checks},
            timings=report.seconds,
        )
    report.folder = final


def _all_rows_of(table: pd.DataFrame, data: ReportData) -> pd.DataFrame:
    """Every row of one organisation (all breakdowns) in a measures table."""
    view = ReportData(table, data.period, data.org)
    return view._org_rows(table)


def _report_measures(measures: pd.DataFrame, data: ReportData) -> pd.DataFrame:
    """What a report's notebooks see: England, the report's organisation, and every level's
    Total rows (for variation); for an organisation report nothing of other organisations'
    breakdowns."""
    total = measures[measures.VARIABLE_TYPE == "Total"]
    own = measures if data.national else _all_rows_of(measures, data)
    england = measures[measures.GROUP_TYPE == ENGLAND]
    return pd.concat([total, own, england]).drop_duplicates().reset_index(drop=True)


def _copy_sources(config: BuildConfig, staging: Path) -> None:
    sources = Path(config.report_sources)
    shutil.copy(sources / f"{config.kind}.qmd", staging / "report.qmd")
    shutil.copytree(sources / "sections", staging / "sections")
    quarto_project = sources.parent / "_quarto.yml"
    if quarto_project.exists():
        shutil.copy(quarto_project, staging / "_quarto.yml")


def _write_about(staging: Path, synthetic: bool, data: ReportData, period: Period,
                 published: Path | None = None) -> None:
    """``variables/about.yml``: what the data are, the publication metadata and the notes that
    depend on the source and period (see :func:`iapt_report.report.sections.about.about_statements`)."""
    import yaml

    from .sections.about import about_statements

    about = about_statements(data, synthetic=synthetic, published_name=Path(published).name if published else None)
    rule = disclosure_rule_text()
    about["disclosure_statement"] = rule if not data.national else f"National figures are shown unrounded. {rule}"
    (staging / "variables").mkdir(exist_ok=True)
    about = {name: safe_text.markdown(text) for name, text in about.items()}  # names from data read as text
    (staging / "variables" / "about.yml").write_text(yaml.safe_dump({"about": about}, sort_keys=True,
                                                                    allow_unicode=True), encoding="utf-8")


_VAR = re.compile(r"\{\{<\s*var\s+([^\s>]+)\s*>\}\}")


def adapt_sources(staging: Path, sections: list[str] | None = None, *, drop_unset: bool = True) -> list[str]:
    """Fit the report sources in a build folder to the figures the sections produced.

    A section whose notebook left it out (variable ``<section>.left_out``) is replaced by its
    heading and that one-line reason. A line that inserts a figure set to "" (a figure the
    section has no true value for: suppressed, or not in the source) is dropped, so that a
    suppressed value never sits in a sentence; with ``drop_unset`` (builds from a published
    file) so is a line inserting a figure the sections did not set at all. Returns what was
    left out, for the manifest.
    """
    import yaml

    variables = yaml.safe_load((staging / "_variables.yml").read_text(encoding="utf-8")) or {}
    left_out = []
    for path in sorted((staging / "sections").glob("*.qmd")):
        section = path.stem.removesuffix("_annual")
        if sections is not None and section not in sections:
            continue
        reason = (variables.get(section) or {}).get("left_out")
        text = path.read_text(encoding="utf-8")
        if reason:
            heading = next((line for line in text.splitlines() if line.startswith("# ")), f"# {section}")
            path.write_text(f"{heading}\n\n{reason}\n", encoding="utf-8")
            left_out.append(f"{path.name}: {reason}")
            continue
        kept = []
        for line in text.splitlines():
            keys = _VAR.findall(line)
            empty = [key for key in keys if _lookup(variables, key) == ""]
            unset = [key for key in keys if _lookup(variables, key) is None] if drop_unset else []
            if empty or unset:
                left_out.append(f"{path.name}: line needing {', '.join(empty + unset)}")
            else:
                kept.append(line)
        path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return left_out


def _lookup(variables: dict, key: str):
    value = variables
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _run_notebooks(templates: list[Path], executed_dir: Path, parameters: dict, cwd: Path, failed_dir: Path,
                   workers: int) -> None:
    """Execute a report's section notebooks, ``workers`` at a time (each has its own kernel and
    writes only its own files). Every notebook runs; the first failing one, in section order,
    fails the build.

    When the run is stopped (Ctrl-C, SIGTERM: a ``KeyboardInterrupt`` here), no further
    notebook starts, the kernels running are killed, and this returns (raising the interrupt)
    only once every notebook thread has ended, so none writes into the build folder after it
    is removed.
    """
    executed_dir.mkdir(parents=True, exist_ok=True)
    kernels = _Kernels()

    def run(template: Path) -> None:
        _run_notebook(template, executed_dir / template.name, parameters, cwd, failed_dir, kernels)

    # once stopped, the kernels killed on purpose are not errors to log (papermill's logger)
    quiet_when_stopped = _QuietWhenStopped(kernels.stopped)
    logging.getLogger("papermill").addFilter(quiet_when_stopped)
    try:
        if workers <= 1:
            try:
                for template in templates:
                    run(template)
            except BaseException:
                kernels.stop()
                raise
            return
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notebook")
        try:
            futures = [pool.submit(run, template) for template in templates]
            for future in futures:
                future.exception()  # waits; an interrupt here stops the others below
        except BaseException:
            kernels.stop()
            pool.shutdown(wait=False, cancel_futures=True)
            pool.shutdown(wait=True)
            raise
        pool.shutdown(wait=True)
        for future in futures:
            future.result()  # raises the first failure in section order
    finally:
        logging.getLogger("papermill").removeFilter(quiet_when_stopped)


class _QuietWhenStopped(logging.Filter):
    def __init__(self, stopped: threading.Event):
        super().__init__()
        self.stopped = stopped

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.stopped.is_set()


class _Kernels:
    """The notebook kernels of one report, so that they can be stopped at once.

    :attr:`manager_class` is given to papermill (nbclient) as its kernel manager: it records each
    kernel's process as it starts and refuses to start one once :meth:`stop` has been called.
    """

    def __init__(self):
        self.stopped = threading.Event()
        self._processes: list = []  # subprocess.Popen of each kernel started
        self._lock = threading.Lock()
        kernels = self

        from jupyter_client.manager import AsyncKernelManager

        class StoppableKernelManager(AsyncKernelManager):
            async def start_kernel(self, **kw):
                if kernels.stopped.is_set():
                    raise BuildStopped("the build was stopped")
                await super().start_kernel(**kw)
                process = getattr(self.provisioner, "process", None)
                if process is not None:
                    kernels._started(process)

        self.manager_class = StoppableKernelManager

    def _started(self, process) -> None:
        with self._lock:
            self._processes.append(process)
            if not self.stopped.is_set():
                return
        self._kill(process)  # started just as the build was stopped

    def stop(self) -> None:
        """Start no more kernels and kill the running ones (their notebooks then end at once)."""
        with self._lock:
            self.stopped.set()
            running = list(self._processes)
        for process in running:
            self._kill(process)

    @staticmethod
    def _kill(process) -> None:
        # Popen.kill signals only a child still running (never a process id reused since)
        with contextlib.suppress(OSError):
            process.kill()


class BuildStopped(BuildError):
    """The build was stopped (Ctrl-C, SIGTERM) while a notebook was about to start."""


#: how often a section notebook's kernel is started before the notebook is reported as failed
KERNEL_START_ATTEMPTS = 3
_KERNEL_START_FAILURE = re.compile(r"kernel died before replying to kernel_info|kernel didn't respond", re.IGNORECASE)


def _run_notebook(template: Path, executed: Path, parameters: dict, cwd: Path, failed_dir: Path,
                  kernels: _Kernels | None = None) -> None:
    """Execute one section notebook; on failure keep the executed copy in ``failed_dir`` for inspection."""
    if not template.exists():
        raise BuildError(f"notebook {template.name} not found in {template.parent}")
    kernels = kernels or _Kernels()
    if kernels.stopped.is_set():
        raise BuildStopped("the build was stopped")
    try:
        for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
            try:
                papermill.execute_notebook(
                    str(template), str(executed), parameters=parameters,
                    # the kernel starts in cwd; papermill's own cwd= would chdir this whole process,
                    # which notebooks running side by side must not do
                    resources={"metadata": {"path": str(cwd)}},
                    progress_bar=False, kernel_name="python3", log_output=False,
                    # the kernel's own log (a warning about its local TCP ports at every start,
                    # the interrupt it is sent when shut down) would fill the build's output; a
                    # cell's error or the kernel dying reaches the build through papermill
                    extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
                    kernel_manager_class=kernels.manager_class,
                )
                break
            except (RuntimeError, TimeoutError) as error:
                # the kernel died or did not answer before any cell ran: kernels starting side by
                # side can race for the same free TCP port. Start it again; a cell's failure (a
                # PapermillExecutionError) or a kernel dying later is never retried.
                if kernels.stopped.is_set() or not _KERNEL_START_FAILURE.search(str(error)):
                    raise
                if attempt == KERNEL_START_ATTEMPTS:
                    raise BuildError(f"notebook {template.name}: the Python kernel did not start "
                                     f"({attempt} attempts): {error}") from error
    except papermill.PapermillExecutionError as error:
        if kernels.stopped.is_set():
            raise
        failed_dir.mkdir(parents=True, exist_ok=True)
        kept = failed_dir / template.name
        shutil.copy(executed, kept)
        raise BuildError(f"notebook {template.name} failed in cell {error.exec_count}: {error.ename}: {error.evalue}"
                         f" (executed copy kept at {kept})") from error


def _describe(error: Exception) -> str:
    if isinstance(error, (BuildError, ReportDataError, OutputPathError, PublishedFileError)):
        return str(error)
    last = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f" at {Path(last.filename).name}:{last.lineno}" if last else ""
    return f"{type(error).__name__}: {error}{where}"


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
    rows = []
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
            for name, label in (("report.html", "HTML"), ("report.pdf", "PDF"), ("measures.csv", "measures CSV"),
                                ("metadata.csv", "metadata CSV"))
            if (folder / name).exists()
        )
        synthetic = " (synthetic data)" if params.get("synthetic") else ""
        rows.append(f"<tr><td>{html.escape(str(params.get('kind', folder.parts[-3])))}</td>"
                    f"<td>{html.escape(str(params.get('period', folder.parts[-2])))}</td>"
                    f"<td>{html.escape(str(params.get('org', folder.name)))}{synthetic}</td><td>{links}</td></tr>")
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
{chr(10).join(rows) if rows else '<tr><td colspan="4">No reports built yet.</td></tr>'}
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

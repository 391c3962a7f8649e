"""Building reports: measures, section notebooks (papermill), rendering, in a batch.

One report is one (kind, period, organisation). Each is built in a staging folder and moved to
``<output>/<kind>/<period>/<org>/`` only when complete; a failing report does not stop the
batch, and every failure is listed at the end. ``<output>/index.html`` lists every report built.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import time
import tomllib
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import papermill
from tqdm import tqdm

from . import safe_text
from .dataset import SYNTHETIC_MARKER, connect, load_dataset
from .disclosure import apply_disclosure, disclosure_rule_text
from .exports import (file_sha256, input_hashes, package_versions, publication_table, staged_folder, write_csv,
                      write_manifest)
from .measures import LEVELS, MeasureEngine
from .published import PublishedFileError, published_periods, read_published
from .periods import Period
from .registry import measure_metadata
from .render import render_report
from .report_check import check_report
from .report_data import ENGLAND, ReportData, ReportDataError
from .section_output import merge_variables

REPOSITORY = Path(__file__).resolve().parents[2]
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
    notebooks: Path = REPOSITORY / "notebooks"
    report_sources: Path = REPOSITORY / "report"

    @classmethod
    def from_file(cls, path: Path) -> "BuildConfig":
        try:
            values = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise BuildError(f"cannot read config {path}: {error}") from None
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise BuildError(f"config {path}: unknown setting(s) {unknown}; known: {sorted(known)}")
        for key in ("data", "output", "notebooks", "report_sources", "published"):
            if key in values:
                values[key] = Path(values[key])
        return cls(**values)

    def check(self) -> None:
        if self.kind not in SECTIONS:
            raise BuildError(f"--kind must be one of {sorted(SECTIONS)}, not {self.kind!r}")
        for label in self.periods:
            period = Period.parse(label)
            wanted = "month" if self.kind == "monthly" else "year"
            if period.kind != wanted:
                raise BuildError(f"a {self.kind} report needs a {'month (YYYY-MM)' if wanted == 'month' else 'financial year (YYYY-YY)'}, not {label!r}")
        if self.published is not None and not Path(self.published).is_file():
            raise BuildError(f"published file {self.published} not found")


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
    """Build every (period, organisation) report of the config; never raises for one report."""
    config.check()
    started = time.perf_counter()
    if config.published is not None:
        source = Path(config.published)
        try:
            available = published_periods(source)
        except PublishedFileError as error:
            raise BuildError(str(error)) from None
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

        def measures_for(period: Period) -> pd.DataFrame:
            return _measures_for(record_level, period, config)
    load_seconds = round(time.perf_counter() - started, 3)

    results: list[BuiltReport] = []
    jobs = [(p, o) for p in config.periods for o in config.orgs]
    with tqdm(total=len(jobs), desc=f"{config.kind} reports", unit="report", disable=None) as progress:
        for period_label in config.periods:
            period = Period.parse(period_label)
            started = time.perf_counter()
            if record_level is not None:
                record_level.all_from_cache = True  # said of each period's measures
            try:
                measures, measures_error = measures_for(period), None
            except (BuildError, PublishedFileError) as error:  # e.g. a period the file does not hold
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
    return results


CACHE_FOLDER = "_cache"


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
    package = Path(__file__).resolve().parent
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
    final = Path(config.output).absolute() / config.kind / period.label / report.org
    with staged_folder(final) as staging:
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
        failed_dir = Path(config.output) / "_failed" / config.kind / period.label / report.org
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
    depend on the source and period (see :func:`iapt_report.sections.about_statements`)."""
    import yaml

    from .sections import about_statements

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
    fails the build."""
    def run(template: Path) -> None:
        _run_notebook(template, executed_dir / template.name, parameters, cwd, failed_dir)

    if workers <= 1:
        for template in templates:
            run(template)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notebook") as pool:
        futures = [pool.submit(run, template) for template in templates]
    for future in futures:
        future.result()  # raises the first failure in section order


#: how often a section notebook's kernel is started before the notebook is reported as failed
KERNEL_START_ATTEMPTS = 3
_KERNEL_START_FAILURE = re.compile(r"kernel died before replying to kernel_info|kernel didn't respond", re.IGNORECASE)


def _run_notebook(template: Path, executed: Path, parameters: dict, cwd: Path, failed_dir: Path) -> None:
    """Execute one section notebook; on failure keep the executed copy in ``failed_dir`` for inspection."""
    if not template.exists():
        raise BuildError(f"notebook {template.name} not found in {template.parent}")
    executed.parent.mkdir(parents=True, exist_ok=True)
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
                )
                break
            except (RuntimeError, TimeoutError) as error:
                # the kernel died or did not answer before any cell ran: kernels starting side by
                # side can race for the same free TCP port. Start it again; a cell's failure (a
                # PapermillExecutionError) or a kernel dying later is never retried.
                if not _KERNEL_START_FAILURE.search(str(error)):
                    raise
                if attempt == KERNEL_START_ATTEMPTS:
                    raise BuildError(f"notebook {template.name}: the Python kernel did not start "
                                     f"({attempt} attempts): {error}") from error
    except papermill.PapermillExecutionError as error:
        failed_dir.mkdir(parents=True, exist_ok=True)
        kept = failed_dir / template.name
        shutil.copy(executed, kept)
        raise BuildError(f"notebook {template.name} failed in cell {error.exec_count}: {error.ename}: {error.evalue}"
                         f" (executed copy kept at {kept})") from error


def _describe(error: Exception) -> str:
    if isinstance(error, (BuildError, ReportDataError)):
        return str(error)
    last = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f" at {Path(last.filename).name}:{last.lineno}" if last else ""
    return f"{type(error).__name__}: {error}{where}"


# --- index of built reports ---------------------------------------------------------------

def write_index(output: Path) -> Path:
    """``<output>/index.html``: every built report with links to its HTML, PDF and CSV."""
    output = Path(output)
    rows = []
    for manifest_path in sorted(output.glob("*/*/*/manifest.json")):
        folder = manifest_path.parent
        manifest = json.loads(manifest_path.read_text())
        params = manifest.get("parameters", {})
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
    temporary = target.with_suffix(".html.partial")
    temporary.write_text(page, encoding="utf-8")
    temporary.replace(target)
    return target

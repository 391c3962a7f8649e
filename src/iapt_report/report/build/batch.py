"""A batch of reports: every (period, organisation) of the config, each built on its own so that a
failing report does not stop the others, and the output folder checked before any is built.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from iapt_report.data.periods import Period, check_periods_have_data
from iapt_report.data.schema import SYNTHETIC_MARKER
from iapt_report.outputs.exports import file_sha256, input_hashes
from iapt_report.outputs.paths import (
    OutputPathError,
    check_replaceable,
    check_writable,
    inside,
    org_folder_name,
    remove_stale_staging,
)
from iapt_report.report.report_data import ReportDataError
from iapt_report.sources.published import PublishedFileError, published_periods

from .config import UNROUNDED_FOLDER, BuildConfig, BuildError, unrounded_measures_path
from .index import _index_problem, write_index
from .measure_sources import RecordLevelMeasures, _measures_for, _published_measures
from .report_folder import CACHE_FOLDER, BuiltReport, _build_one


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
        not_computed = None  # not known of a published file: NHS Digital's own choice
    else:
        data_dir = Path(config.data)
        synthetic = (data_dir / SYNTHETIC_MARKER).exists()
        hashes = input_hashes(data_dir)
        record_level = RecordLevelMeasures(data_dir, hashes, Path(config.output) / CACHE_FOLDER if config.cache else None,
                                           config.backend)
        record_level.load()  # fails here, before any report, when the dataset is invalid (unless cached)
        if not config.allow_empty:
            check_periods_have_data([Period.parse(label) for label in config.periods], record_level.date_range(),
                                    "--allow-empty (or allow_empty = true in the config)")
        not_computed = record_level.not_computed()

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
                report.measures_cache = record_level.cache_key if record_level is not None else None
                try:
                    if measures_error is not None:
                        raise measures_error
                    _build_one(report, measures, period, config, synthetic, hashes, not_computed)
                except Exception as error:  # isolate the failure, keep building the batch
                    report.error = _describe(error)
                results.append(report)
                progress.update()
    write_index(config.output)
    if damaged is not None:
        built = [f"{r.period} {r.org}" for r in results if not r.error]
        raise BuildError(str(damaged) + (f" (built before the problem was found: {', '.join(built)})" if built else ""))
    return results


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
    for folder in [output, *sorted(output.glob(f"{config.kind}/*")), output / CACHE_FOLDER,
                   *sorted(output.glob(f"{UNROUNDED_FOLDER}/{config.kind}/*"))]:
        if folder.is_dir() and not folder.is_symlink():
            remove_stale_staging(folder)
    problems = []
    for label in config.periods:
        for org in config.orgs:
            final = inside(output, Path(config.kind) / Period.parse(label).label / org_folder_name(org))
            unrounded = unrounded_measures_path(output, config.kind, label, org).parent
            for folder in (final, unrounded):
                try:
                    check_replaceable(folder, "--output")
                except OutputPathError as error:
                    problems.append(str(error))
    if problems:
        raise BuildError("\n".join(problems))


def _describe(error: Exception) -> str:
    if isinstance(error, (BuildError, ReportDataError, OutputPathError, PublishedFileError)):
        return str(error)
    last = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f" at {Path(last.filename).name}:{last.lineno}" if last else ""
    return f"{type(error).__name__}: {error}{where}"

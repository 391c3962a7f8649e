"""One release folder: what a statistician uploads on release day (``iapt-report publish``).

A release is the England report (HTML and PDF), the data in NHS Digital's layout
(``measures.csv``, or ``measures.zip`` when the table is longer than a spreadsheet opens), the
measure metadata, the reference tables workbook, a landing page (``index.html``), the checksum
list (``SHA256SUMS``) and a ``manifest.json``; with ``--org``, each organisation's report in
``organisations/<code>/``.

The reports are made by the build (:mod:`iapt_report.report.build`) in a scratch folder inside
the release's staging folder; the release is assembled there and swapped into place only when
complete (:func:`iapt_report.outputs.exports.staged_folder`), so a failure leaves the previous
release as it was. The release date is given, never read from the clock: rebuilding the same
release gives byte-identical data files (CSV, zip, workbook).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from pathlib import Path

from iapt_report.data.periods import Period
from iapt_report.engine.disclosure import disclosure_rule_text
from iapt_report.outputs.exports import (
    MEASURES_CSV,
    MEASURES_ZIP,
    input_hashes,
    read_publication_files,
    staged_folder,
    write_manifest,
)
from iapt_report.outputs.paths import OutputPathError, check_replaceable, org_folder_name, separate_folders
from iapt_report.report import narrative
from iapt_report.report.build import BuildConfig, BuildError, build_reports
from iapt_report.report.report_data import ENGLAND

from .landing_page import CHECKSUMS, INDEX, OrganisationReport, Release, write_checksums, write_landing_page
from .reference_tables import ReleaseDescription, write_reference_tables

REFERENCE_TABLES = "reference_tables.xlsx"
DEFAULT_DATA = Path("_data/synthetic")
ORGANISATIONS = "organisations"
#: The files of a report copied into a release (the rest of a build folder is for its makers).
REPORT_FILES = ["report.html", "report.pdf", MEASURES_CSV, MEASURES_ZIP, "metadata.csv"]
#: the folder of a report that holds its charts' data, linked from the report
CHART_DATA = "figures"


@dataclass
class PublishOptions:
    kind: str
    period: str
    output: Path
    release_date: date
    data: Path | None = None
    published: Path | None = None
    orgs: list[str] = field(default_factory=list)
    renderer: str = "auto"


def period_in_words(period: Period) -> str:
    """"September 2020"; "financial year 2020-21 (1 April 2020 to 31 March 2021)"."""
    if period.kind == "month":
        return f"{narrative.month_name(period.start)}"
    return (f"financial year {period.label} ({period.start.day} {narrative.month_name(period.start)} to "
            f"{period.end.day} {narrative.month_name(period.end)})")


def check_options(options: PublishOptions) -> Period:
    """Refuse, before any work, what cannot make a release; return the period."""
    period = Period.parse(options.period)
    wanted = "month" if options.kind == "monthly" else "year"
    if period.kind != wanted:
        raise BuildError(f"a {options.kind} release needs a "
                         f"{'month (YYYY-MM)' if wanted == 'month' else 'financial year (YYYY-YY)'}, "
                         f"not {options.period!r}")
    if options.data is not None and options.published is not None:
        raise BuildError("give one source: --data DIR (a record-level dataset) or --published FILE, not both")
    if options.data is None and options.published is None:
        options.data = DEFAULT_DATA
    if options.published is not None and not Path(options.published).is_file():
        raise BuildError(f"--published {options.published}: file not found")
    if options.data is not None:
        if not Path(options.data).is_dir():
            raise BuildError(f"--data {options.data} is not a folder (expected one file per IAPT table)")
        try:
            separate_folders(options.data, "--data", options.output, "--output")
        except OutputPathError as error:
            raise BuildError(str(error)) from None
    for org in options.orgs:
        try:
            org_folder_name(org)
        except OutputPathError as error:
            raise BuildError(str(error)) from None
    check_replaceable(Path(options.output), "--output")
    return period


@contextlib.contextmanager
def _release_date_for_reports(day: date) -> Iterator[None]:
    """The reports state the release date (``SOURCE_DATE_EPOCH``, which the section notebooks read)."""
    previous = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(int(datetime.combine(day, time(), tzinfo=timezone.utc).timestamp()))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = previous


def publish(options: PublishOptions) -> Path:
    """Assemble the release folder ``options.output``, all or nothing; return it.

    Raises :class:`BuildError` for options that cannot make a release (before any work) and
    when any report of the release fails (nothing is then replaced).
    """
    period = check_options(options)
    output = Path(options.output).absolute()
    orgs = [ENGLAND, *[org for org in dict.fromkeys(options.orgs) if org != ENGLAND]]
    with staged_folder(output, option="--output") as staging:
        scratch = staging / "_build"
        config = BuildConfig(kind=options.kind, periods=[period.label], orgs=orgs, output=scratch,
                             renderer=options.renderer, cache=False,
                             data=Path(options.data or "_data/synthetic"), published=options.published)
        with _release_date_for_reports(options.release_date):
            results = build_reports(config)
        failures = [r for r in results if r.error]
        if failures:
            raise BuildError("the release was not made (nothing was replaced): "
                             + "; ".join(f"{r.org}: {r.error}" for r in failures))
        folders = {r.org: Path(r.folder) for r in results if r.folder is not None}
        england = folders[ENGLAND]
        built = json.loads((england / "manifest.json").read_text(encoding="utf-8"))
        synthetic = bool(built["parameters"].get("synthetic"))
        files = _copy_report(england, staging)
        organisations = []
        for org in orgs[1:]:
            target = staging / ORGANISATIONS / org_folder_name(org)
            copied = _copy_report(folders[org], target)
            name = json.loads((folders[org] / "manifest.json").read_text(encoding="utf-8"))["parameters"]["org_name"]
            organisations.append(OrganisationReport(org, str(name), [f"{ORGANISATIONS}/{org}/{f}" for f in copied]))
        shutil.rmtree(scratch)

        words = period_in_words(period)
        source = _source_sentence(options, synthetic)
        description = ReleaseDescription(kind=options.kind, period_words=words, release_date=options.release_date,
                                         synthetic=synthetic, source=source, disclosure_rule=disclosure_rule_text())
        write_reference_tables(read_publication_files(staging), staging / REFERENCE_TABLES, description)
        files.append(REFERENCE_TABLES)
        kind = "Monthly" if options.kind == "monthly" else "Annual"
        release = Release(
            title=f"NHS Talking Therapies for anxiety and depression: {kind.lower()} statistics, {_short(period)}"
                  + (" (synthetic data)" if synthetic else ""),
            period_words=words,
            release_date_words=f"{options.release_date.day} {narrative.month_name(options.release_date)}",
            status=_status(options, synthetic), source=source, synthetic=synthetic,
            files=files, organisations=organisations)
        write_landing_page(staging, release)
        write_checksums(staging)
        hashes = ({Path(options.published).name: built["inputs"][Path(options.published).name]}
                  if options.published else input_hashes(Path(options.data or ".")))
        write_manifest(staging, inputs=hashes, timings={}, parameters={
            "command": "publish", "kind": options.kind, "period": period.label, "period_name": words,
            "release_date": options.release_date.isoformat(), "synthetic": synthetic,
            "data": str(options.published or options.data), "published_file": options.published is not None,
            "orgs": orgs, "renderer": results[0].renderer, "files": [*files, INDEX, CHECKSUMS],
        })
    return output


def _copy_report(folder: Path, target: Path) -> list[str]:
    """Copy the release files of one built report into ``target``; return their names."""
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in REPORT_FILES:
        if (folder / name).is_file():
            shutil.copy2(folder / name, target / name)
            copied.append(name)
    # the data behind each chart: the report links it ("Download the data for this chart")
    for chart_data in sorted((folder / CHART_DATA).glob("*.csv")):
        (target / CHART_DATA).mkdir(exist_ok=True)
        shutil.copy2(chart_data, target / CHART_DATA / chart_data.name)
        copied.append(f"{CHART_DATA}/{chart_data.name}")
    return copied


def _short(period: Period) -> str:
    return narrative.month_name(period.start) if period.kind == "month" else period.label


def _status(options: PublishOptions, synthetic: bool) -> str:
    if synthetic:
        return "Not official statistics: synthetic data (a demonstration of the release; every figure is fictional)"
    if options.published is not None:
        return "Official statistics, as published by NHS England (formerly NHS Digital), re-presented"
    return "Official statistics"


def _source_sentence(options: PublishOptions, synthetic: bool) -> str:
    if options.published is not None:
        return (f"NHS Digital/NHS England published statistics, {Path(options.published).name}: figures as "
                "published, with NHS England's disclosure control.")
    if synthetic:
        return ("Synthetic record-level data generated to resemble NHS Talking Therapies activity; organisation "
                "names are fictional.")
    return ("Record-level NHS Talking Therapies (IAPT) data, with NHS England's measure definitions and disclosure "
            "control.")

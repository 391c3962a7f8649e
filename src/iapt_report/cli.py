"""Command line: ``iapt-report synthesize``, ``measures``, ``build``, ``publish`` and ``check``.

Kept as one module: every command's options, and how each is run and its errors reported, read in
one place, as ``iapt-report --help`` shows them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
import time
import warnings
from datetime import date
from pathlib import Path

from tqdm import tqdm

from iapt_report.cli_publication import UserError, add_publication_commands, version_lines

DESCRIPTION = """\
NHS Talking Therapies (IAPT) official statistics from record-level data.

  iapt-report synthesize --start 2019-09-01 --end 2021-03-31 --scale 0.05 --out _data/synthetic
      writes a synthetic record-level dataset (fictional, calibrated to national figures)

  iapt-report build --kind monthly --period 2020-09 [--org CODE ...] [--config FILE]
      builds reports (HTML, PDF, measures.csv, metadata.csv, manifest.json) into
      _output/<kind>/<period>/<org>/, one per period and organisation, and _output/index.html

  iapt-report build --kind monthly --period 2020-09 --section outcomes   (or --render-only)
      re-runs one section's notebook (or none) and re-renders the report in seconds

  iapt-report build --kind monthly --period 2021-06 --published FILE [--org CODE ...]
      the same reports from a file NHS Digital published (docs/published-data.md)

  iapt-report measures --period 2020-09 --data _data/synthetic --out _output/measures/2020-09
      computes NHS Digital's measures (M001 ...) for England, regions, ICBs, sub-ICBs and
      providers and writes measures.csv (disclosure control applied), metadata.csv,
      measures_unrounded.parquet and manifest.json

  iapt-report publish --kind annual --period 2020-21 --release-date 2021-06-10 --output _output/release/2020-21
      assembles a release folder: the England report, the data (CSV, zipped when large), the
      metadata, the reference tables workbook, a landing page index.html and SHA256SUMS

  iapt-report check --data _data/synthetic
      validates a dataset and reports its date range, rows per table and problems
"""


class Stopped(KeyboardInterrupt):
    """The run was asked to stop by a signal (SIGTERM): handled exactly as Ctrl-C is."""

    def __init__(self, signal_number: int):
        super().__init__(signal_number)
        self.signal_number = signal_number


def main(argv: list[str] | None = None) -> int:
    """Run one command; every mistake a user can make ends in one line on stderr and exit status 2.

    Ctrl-C (SIGINT) and SIGTERM stop the run cleanly: nothing half-written is kept (each output
    folder is staged and swapped into place only when complete), one line says so, and the
    exit status is 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "version", False):
        print("\n".join(version_lines()))
        return 0
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from iapt_report.data.periods import PeriodError
    from iapt_report.data.problems import DatasetError
    from iapt_report.data.spark import SparkUnavailable
    from iapt_report.outputs.paths import OutputPathError
    from iapt_report.report.build import BuildError
    from iapt_report.sources.published import PublishedFileError

    with _signals_stop_the_run():
        try:
            return args.run(args)
        except KeyboardInterrupt as stop:
            number = getattr(stop, "signal_number", signal.SIGINT)  # a KeyboardInterrupt raised otherwise
            name = "Ctrl-C" if number == signal.SIGINT else signal.Signals(number).name
            print(f"iapt-report: stopped ({name}); outputs being written were discarded, earlier ones are unchanged",
                  file=sys.stderr)
            # the notebook clients' event loops, stopped mid-run, are collected as the process
            # ends and report "Exception ignored in BaseEventLoop.__del__" with a traceback:
            # what was stopped on purpose is not an error, so the rest of this process stays quiet
            sys.unraisablehook = _ignore_unraisable
            return 128 + int(number)
        except (UserError, DatasetError, PeriodError, BuildError, OutputPathError, PublishedFileError,
                SparkUnavailable) as error:
            print(f"iapt-report: error: {error}", file=sys.stderr)
            return 2
        except OSError as error:  # a folder that cannot be written, a disk that is full
            where = f"{error.filename}: " if error.filename else ""
            print(f"iapt-report: error: {where}{error.strerror or error}; check the path and its permissions",
                  file=sys.stderr)
            return 2


def _ignore_unraisable(_unraisable) -> None:
    """A ``sys.unraisablehook`` that reports nothing (used once a run has been stopped)."""


@contextlib.contextmanager
def _signals_stop_the_run():
    """Ctrl-C and SIGTERM raise :class:`Stopped` (a KeyboardInterrupt) in the main thread.

    From then on the libraries' own logging and warnings are silenced: the kernels and
    threads being stopped would otherwise report, in many lines, what was done on purpose.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(number, _frame):
        logging.disable(logging.CRITICAL)
        warnings.simplefilter("ignore")
        raise Stopped(number)

    wanted = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    previous = {number: signal.signal(number, stop) for number in wanted}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        logging.disable(logging.NOTSET)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iapt-report", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="store_true",
                        help="print the version of iapt-report and of its engines (duckdb, ibis, pandas, quarto)")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")

    synth = commands.add_parser(
        "synthesize",
        help="write a synthetic record-level IAPT dataset",
        description="Write a deterministic synthetic IAPT v2.1 dataset (one Parquet file per table). "
        "Organisations are fictional; volumes and mixes are calibrated to published national figures.",
    )
    synth.add_argument("--start", required=True, type=_date, help="first reporting day, e.g. 2020-04-01")
    synth.add_argument("--end", required=True, type=_date, help="last day of data (the snapshot date), e.g. 2021-03-31")
    synth.add_argument("--scale", type=float, default=1.0,
                       help="volume relative to England (1.0 = national, about 140,000 referrals a month; default 1.0)")
    synth.add_argument("--seed", type=int, default=20200901, help="random seed (same seed, same data)")
    synth.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="file format (default parquet)")
    synth.add_argument("--out", required=True, type=Path,
                       help="folder to write the tables to (replaced if it holds an earlier synthetic dataset; "
                            "any other folder must be new or empty)")
    synth.set_defaults(run=_synthesize)

    measures = commands.add_parser(
        "measures",
        help="compute the official measures for a month or financial year",
        description="Compute NHS Digital's IAPT measures from a record-level dataset folder for one or more "
        "periods: a month (2020-09) or a financial year (2020-21, with the annual breakdowns by gender, age "
        "group, ethnic group, presenting complaint and deprivation decile).",
    )
    measures.add_argument("--period", required=True, action="append",
                          help="a month YYYY-MM or financial year YYYY-YY; repeat for several")
    measures.add_argument("--data", required=True, type=Path, help="folder with one file per IAPT table")
    measures.add_argument("--out", required=True, type=Path,
                          help="output folder (with several periods, one sub-folder per period); it must not be "
                            "or lie inside --data, and an existing one is replaced only if iapt-report wrote it")
    measures.add_argument("--level", action="append", choices=["England", "CommissioningRegion", "ICB", "SubICB", "Provider"],
                          help="geography levels to compute (default: all); repeat for several")
    measures.add_argument("--no-breakdowns", action="store_true", help="skip the annual breakdowns for financial years")
    measures.add_argument("--allow-empty", action="store_true",
                          help="compute a period outside the data's dates instead of refusing it (activity counts are zero; "
                               "waiting-list snapshots count the referrals the data leaves open)")
    measures.add_argument("--backend", choices=["duckdb", "spark"], default="duckdb",
                          help="engine that computes the measures: duckdb (default, in this process) or spark (the "
                               "active Spark session or a local one; docs/spark.md); both give the same figures")
    measures.set_defaults(run=_measures)

    build = commands.add_parser(
        "build",
        help="build monthly or annual reports (a batch of periods and organisations)",
        description="Build reports: measures, the section notebooks (papermill) and the rendered HTML and PDF "
        "(Quarto when on PATH, otherwise pandoc + Typst). Several --period and --org values build a batch; a "
        "failing report does not stop the others, and failures are listed at the end (exit status 1). Settings "
        "come from --config (TOML: kind, periods, orgs, data, output, trend_months, renderer, notebook_workers, cache, "
        "allow_empty, backend); options given "
        "here override it.",
    )
    build.add_argument("--config", type=Path, help="TOML file with the run's settings")
    build.add_argument("--kind", choices=["monthly", "annual"], help="report kind (default monthly)")
    build.add_argument("--period", action="append", help="YYYY-MM for monthly, YYYY-YY for annual; repeat for several")
    build.add_argument("--org", action="append",
                       help="England (default) or an organisation code: region, ICB, sub-ICB or provider (letters, "
                            "digits, '-' and '_', up to 32); repeat")
    build.add_argument("--data", type=Path, help="record-level dataset folder (default _data/synthetic)")
    build.add_argument("--published", type=Path,
                       help="a file NHS Digital published (monthly CSV, or the tidy monthly/annual Parquet): build "
                            "the reports from its figures instead of a record-level dataset")
    build.add_argument("--output", type=Path, help="output folder (default _output)")
    build.add_argument("--renderer", choices=["auto", "quarto", "fallback"], help="renderer (default auto)")
    build.add_argument("--allow-empty", dest="allow_empty", action="store_true", default=None,
                       help="build a report for a period outside the data's dates instead of refusing it (activity counts "
                            "are zero; waiting-list snapshots count the referrals the data leaves open; config: "
                            "allow_empty = true)")
    build.add_argument("--backend", choices=["duckdb", "spark"],
                       help="engine that computes the measures from record-level data: duckdb (default) or spark "
                            "(docs/spark.md; config: backend = \"spark\")")
    build.add_argument("--no-cache", dest="cache", action="store_false", default=None,
                       help="compute the measures again even if OUTPUT/_cache holds them for the same data files "
                            "and package (the cache is on by default)")
    build.add_argument("--section", action="append", metavar="SECTION",
                       help="re-run only this section's notebook (e.g. outcomes; repeat for several) and re-render "
                            "the report, the other sections' outputs reused from the report built before from the "
                            "same measures (docs/editing.md)")
    build.add_argument("--render-only", action="store_true",
                       help="re-render the report (after editing its narrative) without running any notebook, the "
                            "sections' outputs reused from the report built before from the same measures")
    build.set_defaults(run=_build)
    add_publication_commands(commands, date_type=_date)
    return parser


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None


#: The largest --scale: ten times England's volume is already more than any machine here holds.
MAX_SCALE = 10.0


def _synthesize(args) -> int:
    from iapt_report.outputs.paths import check_writable
    from iapt_report.sources.synthetic import generate, write_dataset
    from iapt_report.sources.synthetic.generator import _replace_problem

    if args.end < args.start:
        raise UserError(f"--end {args.end} is before --start {args.start}")
    if not 0 < args.scale <= MAX_SCALE:
        raise UserError(f"--scale must be more than 0 and at most {MAX_SCALE:g} (1.0 = national volume), "
                        f"not {args.scale:g}")
    problem = _replace_problem(args.out)  # before minutes of generating, not after
    if problem:
        raise UserError(f"--out: {problem}")
    check_writable(args.out.parent, "--out", args.out)
    started = time.perf_counter()
    with tqdm(total=2, desc="synthesize", unit="step", disable=None) as progress:
        progress.set_postfix_str("generating")
        try:
            tables = generate(args.start, args.end, scale=args.scale, seed=args.seed)
        except ValueError as error:
            raise UserError(str(error)) from None
        progress.update()
        progress.set_postfix_str("writing")
        write_dataset(tables, args.out, fmt=args.format, marker=_synthetic_marker(args))
        progress.update()
    referrals = len(tables["IDS101Referral"])
    print(f"wrote {referrals:,} synthetic referrals to {args.out} in {time.perf_counter() - started:.1f}s")
    return 0


def _synthetic_marker(args) -> dict:
    """What is written beside the tables as _synthetic.json: reports built from the folder must be labelled synthetic."""
    return {"synthetic": True, "start": args.start.isoformat(), "end": args.end.isoformat(),
            "scale": args.scale, "seed": args.seed}


def _measures(args) -> int:
    from iapt_report.data.periods import Period
    from iapt_report.engine.pipeline import write_measures

    periods = [Period.parse(p) for p in args.period]
    if not args.data.is_dir():
        raise UserError(f"--data {args.data} is not a folder (expected one file per IAPT table)")
    outputs = write_measures(
        args.data,
        periods,
        args.out,
        levels=args.level,
        breakdowns=False if args.no_breakdowns else None,
        command_line=["measures", *sys.argv[2:]],
        allow_empty=args.allow_empty,
        backend=args.backend,
    )
    for period, folder in outputs.items():
        print(f"{period}: wrote {folder}")
    first = next(iter(outputs.values()))
    not_computed = json.loads((first / "manifest.json").read_text(encoding="utf-8")).get("not_computed", {})
    if not_computed:
        names = "; ".join(f"{measure} {item['name']} ({item['reason']})" for measure, item in not_computed.items())
        print(f"not computed ({len(not_computed)} measures; the dataset lacks what they need): {names}")
    return 0


def _build(args) -> int:
    from iapt_report.report.build import BuildConfig, build_reports

    config = BuildConfig.from_file(args.config) if args.config else BuildConfig()
    for option, attribute in (("kind", "kind"), ("period", "periods"), ("org", "orgs"), ("data", "data"),
                              ("output", "output"), ("renderer", "renderer"), ("published", "published"),
                              ("cache", "cache"), ("allow_empty", "allow_empty"), ("backend", "backend")):
        value = getattr(args, option)
        if value is not None:
            setattr(config, attribute, value)
    if args.section and args.render_only:
        raise UserError("--section and --render-only do not go together: --render-only runs no section")
    if args.section or args.render_only:
        config.sections = [] if args.render_only else args.section
    if args.kind and not args.period and not args.config:
        config.periods = ["2020-09"] if args.kind == "monthly" else ["2020-21"]
    if config.published is not None and not Path(config.published).is_file():
        raise UserError(f"published file {config.published} not found")
    if config.published is None and not Path(config.data).is_dir():
        raise UserError(f"data folder {config.data} not found: run `make report` (which writes the synthetic "
                        f"default there) or pass --data")
    results = build_reports(config)
    failures = [r for r in results if r.error]
    for r in results:
        if not r.error:
            cached = ", measures from the cache" if r.measures_from_cache else ""
            if config.sections is not None:  # say what was run, and what was reused
                cached += f", sections run: {', '.join(r.sections_run) or 'none'}"
            print(f"built {r.kind} {r.period} {r.org} -> {r.folder} (rendered with {r.renderer}{cached})")
            if r.reader_checks:
                print(f"  {len(r.reader_checks)} reader check(s) failed (also in its manifest.json):", file=sys.stderr)
                for problem in r.reader_checks[:10]:
                    print(f"    - {problem}", file=sys.stderr)
    print(f"index: {Path(config.output) / 'index.html'}")
    if failures:
        print(f"\n{len(failures)} of {len(results)} reports failed:", file=sys.stderr)
        for r in failures:
            print(f"  - {r.kind} {r.period} {r.org}: {r.error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

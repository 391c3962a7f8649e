"""The release-day commands of the command line: ``iapt-report publish`` (a release folder),
``iapt-report check`` (a dataset validated and described) and ``iapt-report --version``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path


class UserError(Exception):
    """A problem the user can fix; the command line prints it on one line, without a traceback
    (defined here, below cli.py, so that every command can raise it)."""


def add_publication_commands(commands, date_type: Callable[[str], date]) -> None:
    """Add ``publish`` (a release folder) and ``check`` (a dataset validated and described) to the
    command line's subcommands; ``date_type`` parses a date argument as the other commands do."""
    publish = commands.add_parser(
        "publish",
        help="assemble a release folder: report, data, metadata, reference tables, landing page, checksums",
        description="Build the England report (and any --org reports) and assemble one release folder: report.html "
        "and report.pdf, the data in NHS Digital's layout (measures.csv, or measures.zip when longer than a "
        "spreadsheet opens), metadata.csv, reference_tables.xlsx (an accessible spreadsheet), index.html (the landing "
        "page: each file with its size and SHA-256) and SHA256SUMS. The folder is replaced all or nothing. The "
        "release date is given, so that a rebuild gives byte-identical data files.",
    )
    publish.add_argument("--kind", required=True, choices=["monthly", "annual"], help="the publication")
    publish.add_argument("--period", required=True, help="YYYY-MM for monthly, YYYY-YY for annual")
    publish.add_argument("--release-date", required=True, type=date_type,
                         help="the publication date, YYYY-MM-DD, stated on the landing page, the reports and the "
                              "workbook (given, never today's date: a rebuild gives the same files)")
    source = publish.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, help="record-level dataset folder (default _data/synthetic)")
    source.add_argument("--published", type=Path, help="a file NHS Digital published (docs/published-data.md)")
    publish.add_argument("--output", required=True, type=Path,
                         help="the release folder; an existing one is replaced only if iapt-report wrote it")
    publish.add_argument("--org", action="append", default=[],
                         help="also build this organisation's report into organisations/<code>/; repeat")
    publish.add_argument("--renderer", choices=["auto", "quarto", "fallback"], default="auto",
                         help="renderer (default auto)")
    publish.set_defaults(run=_publish)

    check = commands.add_parser(
        "check",
        help="validate a dataset and report its date range, rows per table and problems",
        description="Read and validate a record-level dataset as a build would, without computing measures: print "
        "its event-date range, the rows of each table and every problem found. Exit status 0 when it is clean, 2 "
        "when it has problems.",
    )
    check.add_argument("--data", required=True, type=Path, help="folder with one file per IAPT table")
    check.set_defaults(run=_check)


def _publish(args) -> int:
    from iapt_report.report.publication.release import PublishOptions, publish

    folder = publish(PublishOptions(kind=args.kind, period=args.period, output=args.output,
                                    release_date=args.release_date, data=args.data, published=args.published,
                                    orgs=list(args.org), renderer=args.renderer))
    print(f"release {args.kind} {args.period} -> {folder} (landing page {folder / 'index.html'})")
    return 0


def _check(args) -> int:
    from iapt_report.data.dataset_check import check_dataset

    if not args.data.is_dir():
        raise UserError(f"--data {args.data} is not a folder (expected one file per IAPT table)")
    summary = check_dataset(args.data)
    print("\n".join(summary.lines()), file=sys.stdout if summary.clean else sys.stderr)
    return 0 if summary.clean else 2


def version_lines() -> list[str]:
    """``iapt-report --version``: the package and the engines it computes and renders with."""
    import shutil
    from importlib import metadata

    from iapt_report import __version__

    lines = [f"iapt-report {__version__}"]
    for name in ("duckdb", "ibis-framework", "pandas", "pyarrow", "gptables"):
        try:
            lines.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            lines.append(f"{name} not installed")
    if shutil.which("quarto"):
        from iapt_report.report.render import quarto_version

        lines.append(f"quarto {quarto_version()}")
    else:
        lines.append("quarto not found (reports are rendered by the pandoc + Typst fallback)")
    return lines

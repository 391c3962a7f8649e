"""What a section notebook reads and where it writes when a statistician runs it by hand.

A build passes every parameter of a section notebook. Opened in JupyterLab (``make lab``) or
run with papermill from the repository root, a notebook leaves ``measures_path`` and
``build_dir`` empty, and :func:`section_inputs` fills them in:

* it reads the unrounded measures of the report built for its ``kind``, ``period`` and ``org``
  under ``output`` (``<output>/_unrounded/<kind>/<period>/<org>/measures_unrounded.parquet``,
  kept outside the report folder because it is not for publication);
* it writes its variables, tables and charts to a scratch folder outside the repository
  (``<temporary folder>/iapt-report-scratch-<user>/<kind>/<period>/<org>/``), so the report and the
  repository are left as they were.

The two reports ``make report`` builds (monthly 2020-09 and annual 2020-21, England, from the
synthetic data) are built first when missing, synthesizing the data as ``make report`` does if
that is missing too: a new user can open a notebook and run it. Any other report must have
been built (the message says with which command).
"""

from __future__ import annotations

import getpass
import json
import re
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import NamedTuple

from iapt_report.data.periods import Period
from iapt_report.outputs.paths import OutputPathError, org_folder_name

from ..report_data import ReportData
from ..section_output import SectionOutput
from ..sections import period_name
from .config import REPOSITORY, SECTIONS, BuildError, unrounded_measures_path

#: The reports `make report` builds (kind, period, org), and its synthetic data (see the Makefile).
DEFAULT_REPORTS = {("monthly", "2020-09", "England"), ("annual", "2020-21", "England")}
DEFAULT_DATA = Path("_data") / "synthetic"
SYNTHETIC_START, SYNTHETIC_END, SYNTHETIC_SCALE, SYNTHETIC_SEED = date(2019, 9, 1), date(2021, 3, 31), 0.05, 20200901


def repository_root(start: Path | None = None) -> Path:
    """The iapt-report repository holding ``start`` (default: the working folder, where Jupyter
    starts a notebook's kernel), else the one this package was loaded from."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "notebooks").is_dir() and (folder / "report" / "monthly.qmd").is_file() \
                and (folder / "pyproject.toml").is_file():
            return folder
    return REPOSITORY


def scratch_folder(kind: str, period: str, org: str) -> Path:
    """A folder outside the repository for what a notebook run by hand writes."""
    try:
        user = re.sub(r"[^A-Za-z0-9_-]", "_", getpass.getuser())
    except (KeyError, OSError):  # no user name (some containers)
        user = "user"
    return Path(tempfile.gettempdir()) / f"iapt-report-scratch-{user}" / kind / Period.parse(period).label / \
        org_folder_name(org)


class OpenSection(NamedTuple):
    """What a section notebook works with: the measures it reads, where it writes, the period in words."""

    data: ReportData
    out: SectionOutput
    when: str


def open_section(section: str, kind: str, period: str, org: str, output: str | Path = "_output",
                 measures_path: str | Path = "", build_dir: str | Path = "") -> OpenSection:
    """A section notebook's set-up, from its parameters: ``data, out, when = open_section("outcomes", kind,
    period, org, output, measures_path, build_dir)``. The measures are read from ``measures_path``
    and ``out`` writes to ``build_dir`` (``out.build_dir``), or, when they are empty, from the built
    report and to a scratch folder (:func:`section_inputs`)."""
    measures_path, build_dir = section_inputs(kind, period, org, output, measures_path, build_dir)
    data = ReportData.open(measures_path, period, org)
    return OpenSection(data, SectionOutput(build_dir, section), period_name(data))


def section_inputs(kind: str, period: str, org: str, output: str | Path = "_output", measures_path: str | Path = "",
                   build_dir: str | Path = "") -> tuple[str, str]:
    """``(measures_path, build_dir)`` for a section notebook: as given, or (when empty) the
    built report's unrounded measures and a scratch folder (see the module's docstring).

    Raises :class:`BuildError` with what to change for parameters that do not go together, and
    :class:`FileNotFoundError` naming the command to run for a report that has not been built.
    """
    if kind not in SECTIONS:
        raise BuildError(f"kind must be one of {sorted(SECTIONS)}, not {kind!r}")
    wanted = "month" if kind == "monthly" else "year"
    if Period.parse(period).kind != wanted:
        needed = "month (YYYY-MM)" if wanted == "month" else "financial year (YYYY-YY)"
        raise BuildError(f"a {kind} report needs period = a {needed}, not {period!r}")
    try:
        org_folder_name(org, option="org")
    except OutputPathError as error:
        raise BuildError(str(error)) from None
    if measures_path and build_dir:  # as a build runs it
        return str(measures_path), str(build_dir)
    repository = repository_root()
    if not measures_path:
        output = Path(output) if Path(output).is_absolute() else repository / output
        path = unrounded_measures_path(output, kind, period, org)
        if not path.is_file():
            if (kind, Period.parse(period).label, org) not in DEFAULT_REPORTS:
                raise FileNotFoundError(
                    f"no report has been built for kind={kind!r}, period={period!r}, org={org!r} in {output} "
                    f"({path} is missing). Build it first, from the repository root: iapt-report build --kind {kind} "
                    f"--period {period} --org {org}" + ("" if output == repository / "_output" else f" --output {output}"))
            build_default_report(kind, Period.parse(period).label, org, output, repository)
        measures_path = path
    if not build_dir:
        build_dir = scratch_folder(kind, period, org)
        Path(build_dir).mkdir(parents=True, exist_ok=True)
        print(f"Reading the measures of the {kind} {Period.parse(period).label} {org} report; this section's variables, "
              f"tables and charts are written to the scratch folder {build_dir} (the report is not changed).")
    return str(measures_path), str(build_dir)


def build_default_report(kind: str, period: str, org: str, output: Path, repository: Path) -> None:
    """Build one of the reports ``make report`` builds, as it does: ``iapt-report synthesize``
    first when ``_data/synthetic`` is missing, then ``iapt-report build``, each in its own
    process (the notebook's kernel shows their one-line results, not their progress)."""
    data = repository / DEFAULT_DATA
    if not data.is_dir():
        print(f"Synthesizing the default data into {data} (as `make report` does) ...", flush=True)
        _run_command("synthesize", "--start", SYNTHETIC_START.isoformat(), "--end", SYNTHETIC_END.isoformat(),
                     "--scale", str(SYNTHETIC_SCALE), "--seed", str(SYNTHETIC_SEED), "--out", str(data))
    print(f"Building the {kind} {period} {org} report into {output} (as `make report` does; about a minute) ...",
          flush=True)
    settings = {"kind": kind, "periods": [period], "orgs": [org], "data": str(data), "output": str(output),
                "notebooks": str(repository / "notebooks"), "report_sources": str(repository / "report")}
    with tempfile.TemporaryDirectory(prefix="iapt-report-default-") as folder:
        config = Path(folder) / "run.toml"
        config.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items()),
                          encoding="utf-8")  # JSON strings and lists of strings are TOML too
        _run_command("build", "--config", str(config))


def _run_command(*arguments: str) -> None:
    """Run ``iapt-report ARGUMENTS`` (this package, this Python); print its last line, or raise
    :class:`BuildError` with its message."""
    run = subprocess.run([sys.executable, "-m", "iapt_report", *arguments], capture_output=True, text=True,
                         check=False)
    lines = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    if run.returncode != 0:
        raise BuildError(f"`iapt-report {arguments[0]}` failed: {' '.join(lines[-3:]) or f'exit {run.returncode}'}")
    print(next((line for line in run.stdout.splitlines() if line.startswith(("built ", "wrote "))), "done"),
          flush=True)

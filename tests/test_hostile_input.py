"""Hostile and careless input (issue 10, "Safe by construction"): each section below takes one
kind of attack or mistake and shows what the package does with it, on generated cases where
that makes sense (Hypothesis) and on hand-built files.

Sections, by the issue's items:
  1-2. text from data in HTML, PDF, markdown and shortcodes (added separately)
  3.   path traversal: organisation codes as folder names, paths outside --output
  4.   data loss: folders and index.html that are not ours, --out among the data
  5.   formula injection in CSV outputs
  7.   stopping a build (Ctrl-C, SIGTERM, SIGKILL): complete or nothing
  8.   impossible input accepted: scores, dates, periods without data
  9.   tracebacks instead of messages: periods, config values, output folders, published values
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fixtures_dataset import PHQ9, tiny_dataset, v21_dataset, write_dataset
from iapt_report.cli import main
from iapt_report.data import schema
from iapt_report.data.dataset import load_dataset
from iapt_report.data.periods import EmptyPeriodError, Period, PeriodError
from iapt_report.data.problems import DatasetError
from iapt_report.engine.registry import load_registry
from iapt_report.outputs import exports, paths
from iapt_report.reference import instruments
from iapt_report.report.build import BuildConfig, BuildError, build_reports, write_index
from iapt_report.report.charts import save_chart
from iapt_report.sources.synthetic import generate
from iapt_report.sources.synthetic import write_dataset as write_synthetic

REPOSITORY = Path(__file__).resolve().parents[1]
FUNCTION_FIXTURE = [HealthCheck.function_scoped_fixture]

#: Characters that mean something to paths, shells, markup and spreadsheets, and Unicode controls.
HOSTILE = list("/\\.~:*?\"'<>|&;$`!{}[]()%#@=+-\t\r\n \x00\x7f\u202e\u200b\ufeff") + ["..", "../", "é", "😀"]
hostile_text = st.lists(st.sampled_from(HOSTILE + list("aZ09_")), min_size=0, max_size=40).map("".join)


@pytest.fixture
def tiny_csv(tmp_path):
    """The hand-built dataset as CSV files in tmp_path/data."""
    folder = tmp_path / "data"
    write_dataset(tiny_dataset(), folder, "csv")
    return folder


def run_cli(arguments: list[str], capsys) -> tuple[int, str]:
    """Exit status and stderr of the command line, run in this process."""
    code = main([str(a) for a in arguments])
    return code, capsys.readouterr().err


def assert_one_clear_line(message: str, *named: str) -> None:
    assert "Traceback" not in message, message
    lines = [line for line in message.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("iapt-report: "), message
    for text in named:
        assert text in message, f"{text!r} not named in: {message}"


PUBLISHED_HEADER = ("REPORTING_PERIOD_START,REPORTING_PERIOD_END,GROUP_TYPE,ORG_CODE1,ORG_NAME1,ORG_CODE2,ORG_NAME2,"
                    "MEASURE_ID,MEASURE_NAME,MEASURE_VALUE_SUPPRESSED\n")


def published_csv(folder: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    """A monthly published CSV for September 2025: rows of (group type, org code, measure, name, value)."""
    path = folder / "published.csv"
    lines = ["2025-09-01,2025-09-30,England,all,all SubICBs,all,all Providers,M001,Count_ReferralsReceived,154572\n"]
    for group, code, measure, name, value in rows:
        lines.append(f"2025-09-01,2025-09-30,{group},all,all SubICBs,{code},A TRUST,{measure},{name},{value}\n")
    path.write_text(PUBLISHED_HEADER + "".join(lines), encoding="utf-8")
    return path


# =============================================================================================
# 1-2. Text from data in HTML, PDF, markdown and shortcodes
# =============================================================================================
# (cases for the rendered reports are added with that work)


# =============================================================================================
# 3. Path traversal: an organisation code becomes a folder name only when it is safe
# =============================================================================================

@settings(max_examples=300, deadline=None, suppress_health_check=FUNCTION_FIXTURE)
@given(code=st.one_of(hostile_text, st.text(max_size=400)))
def test_an_org_code_is_a_folder_name_only_if_it_stays_one_folder_inside_the_output(tmp_path, code):
    try:
        name = paths.org_folder_name(code)
    except paths.OutputPathError as error:
        assert "--org" in str(error) and "letters, digits" in str(error)
        assert len(str(error)) < 400  # a long code is cut short in the message
        return
    assert name == code and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}", name)
    final = paths.inside(tmp_path, Path("monthly") / "2020-09" / name)
    assert final.resolve().parent == (tmp_path / "monthly" / "2020-09").resolve()


@pytest.mark.parametrize("code", ["../../../escaped", "..", ".", "a/b", "/etc", "England/..", ".hidden", "-rf",
                                  "A" * 33, "A" * 300, "", "NLS\n", "NLS ", "N\x00LS", "C:\\x"])
def test_unsafe_org_codes_are_refused(code):
    with pytest.raises(paths.OutputPathError, match="is not an organisation code"):
        paths.org_folder_name(code)


@pytest.mark.parametrize("code", ["England", "NLS", "00L", "QE1", "E54000008", "NOT-AN-ORG", "RX4_2", "A" * 32])
def test_real_looking_org_codes_are_accepted(code):
    assert paths.org_folder_name(code) == code


def test_paths_leading_out_of_the_output_folder_are_refused(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (output / "link").symlink_to(tmp_path / "elsewhere")
    for escaping in ["../escaped", "monthly/../../escaped", str(tmp_path / "elsewhere"), "link/report"]:
        with pytest.raises(paths.OutputPathError, match="outside the output folder"):
            paths.inside(output, escaping)
    assert paths.inside(output, "monthly/2020-09/NLS") == output.absolute() / "monthly" / "2020-09" / "NLS"


def test_a_published_code_that_climbs_out_of_the_output_is_refused_and_nothing_is_written(tmp_path, capsys):
    """The issue's case: ORG_CODE2 ../../../escaped in a published file, built with that --org."""
    source = published_csv(tmp_path, [("Provider", "../../../escaped", "M001", "Count_ReferralsReceived", "20")])
    output = tmp_path / "a" / "b" / "out"

    code, message = run_cli(["build", "--period", "2025-09", "--published", source, "--org", "../../../escaped",
                             "--output", output], capsys)

    assert code == 2
    assert_one_clear_line(message, "../../../escaped", "--org")
    assert not any("escaped" in p.name for p in tmp_path.rglob("*"))
    assert not output.exists()  # refused before anything was made


def test_a_300_character_code_is_a_message_not_a_traceback(tmp_path, capsys):
    source = published_csv(tmp_path, [("Provider", "A" * 300, "M001", "Count_ReferralsReceived", "20")])

    code, message = run_cli(["build", "--period", "2025-09", "--published", source, "--org", "A" * 300,
                             "--output", tmp_path / "out"], capsys)

    assert code == 2
    assert_one_clear_line(message, "(300 characters)")


# =============================================================================================
# 4. Data loss: nothing is deleted or replaced that this package did not write
# =============================================================================================

def test_measures_refuses_to_replace_a_folder_holding_a_document(tiny_csv, tmp_path, capsys):
    out = tmp_path / "documents"
    out.mkdir()
    (out / "thesis.docx").write_bytes(b"years of work")

    code, message = run_cli(["measures", "--period", "2020-09", "--data", tiny_csv, "--out", out], capsys)

    assert code == 2
    assert_one_clear_line(message, str(out), "--out")
    assert (out / "thesis.docx").read_bytes() == b"years of work"
    assert sorted(p.name for p in out.iterdir()) == ["thesis.docx"]


@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_measures_out_among_the_input_data_is_refused_and_the_data_are_untouched(tiny_csv, capsys, where):
    before = {p.name: p.read_bytes() for p in tiny_csv.iterdir()}
    out = {"same": tiny_csv, "inside": tiny_csv / "measures", "around": tiny_csv.parent}[where]

    code, message = run_cli(["measures", "--period", "2020-09", "--data", tiny_csv, "--out", out], capsys)

    assert code == 2
    assert_one_clear_line(message, "--out", "--data")
    assert {p.name: p.read_bytes() for p in tiny_csv.iterdir()} == before


def test_measures_replaces_its_own_folder_but_not_one_someone_added_a_file_to(tiny_csv, tmp_path, capsys):
    out = tmp_path / "measures"
    arguments = ["measures", "--period", "2020-09", "--data", tiny_csv, "--out", out]
    assert run_cli(arguments, capsys)[0] == 0
    assert run_cli(arguments, capsys)[0] == 0  # its own earlier output: replaced

    (out / "notes.txt").write_text("mine")
    code, message = run_cli(arguments, capsys)

    assert code == 2
    assert_one_clear_line(message, "notes.txt")
    assert (out / "notes.txt").read_text() == "mine" and (out / "measures.csv").is_file()


def test_build_refuses_a_report_folder_it_did_not_write_before_building_anything(tiny_csv, tmp_path, capsys):
    output = tmp_path / "out"
    foreign = output / "monthly" / "2020-09" / "England"
    foreign.mkdir(parents=True)
    (foreign / "draft.md").write_text("my own notes")

    code, message = run_cli(["build", "--period", "2020-09", "--data", tiny_csv, "--output", output], capsys)

    assert code == 2
    assert_one_clear_line(message, str(foreign), "was not written by iapt-report")
    assert (foreign / "draft.md").read_text() == "my own notes"
    assert not (output / "index.html").exists() and not (output / "_cache").exists()


def test_a_foreign_index_html_is_refused_and_kept(tiny_csv, tmp_path, capsys):
    output = tmp_path / "site"
    output.mkdir()
    (output / "index.html").write_text("<html><body>Our team's home page</body></html>")

    code, message = run_cli(["build", "--period", "2020-09", "--data", tiny_csv, "--output", output], capsys)

    assert code == 2
    assert_one_clear_line(message, "index.html", 'content="iapt-report"')
    assert (output / "index.html").read_text() == "<html><body>Our team's home page</body></html>"
    with pytest.raises(BuildError, match="was not written by iapt-report"):
        write_index(output)


def test_write_index_replaces_its_own_index_earlier_versions_included(tmp_path):
    ours = write_index(tmp_path)
    assert '<meta name="generator" content="iapt-report">' in ours.read_text()
    assert write_index(tmp_path) == ours  # its own: replaced
    earlier = ('<!DOCTYPE html>\n<html lang="en-GB">\n<head><meta charset="utf-8"><title>NHS Talking Therapies '
               'reports</title>\n<style>body{}</style></head><body></body></html>\n')
    ours.write_text(earlier)  # what versions before the generator tag wrote
    write_index(tmp_path)
    assert '<meta name="generator"' in ours.read_text()


def test_synthesize_replaces_only_its_own_synthetic_dataset(tiny_csv, tmp_path, capsys):
    arguments = ["synthesize", "--start", "2020-08-01", "--end", "2020-09-30", "--scale", "0.001"]
    before = {p.name: p.read_bytes() for p in tiny_csv.iterdir()}

    code, message = run_cli([*arguments, "--out", tiny_csv], capsys)  # a real extract: no _synthetic.json

    assert code == 2
    assert_one_clear_line(message, "_synthetic.json")
    assert {p.name: p.read_bytes() for p in tiny_csv.iterdir()} == before
    assert run_cli([*arguments, "--out", tmp_path / "synthetic"], capsys)[0] == 0
    assert run_cli([*arguments, "--out", tmp_path / "synthetic"], capsys)[0] == 0
    assert json.loads((tmp_path / "synthetic" / "_synthetic.json").read_text())["synthetic"] is True


# =============================================================================================
# 5. Formula injection: no CSV cell runs as a spreadsheet formula; numbers stay numbers
# =============================================================================================

NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
formula_cell = st.one_of(
    st.none(),
    st.text(alphabet=st.sampled_from(list("=+-@\t\r\n,\"' abeE0123456789.()|!")), max_size=12),
    st.sampled_from(['=HYPERLINK("http://example.com","click")', "=1+1", "+44 20 7946 0000", "-3.5", "+2",
                     "1e-05", "-", "@SUM(A1)", "\t=1", "\r=1", "-2+3", "=cmd|' /C calc'!A0"]),
)


def cells_of(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def runs_as_formula(cell: str) -> bool:
    return cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not NUMBER.fullmatch(cell)


@settings(max_examples=150, deadline=None, suppress_health_check=FUNCTION_FIXTURE)
@given(rows=st.lists(st.tuples(formula_cell, formula_cell), min_size=1, max_size=15),
       header=st.sampled_from(["ORG_NAME1", "=HYPERLINK(1)", "-x"]))
def test_no_written_cell_runs_as_a_formula_and_both_writers_agree(tmp_path, rows, header):
    frame = pd.DataFrame(rows, columns=[header, "MEASURE_VALUE_SUPPRESSED"], dtype="str")

    exports._write_csv_with_pandas(frame, tmp_path / "pandas.csv")
    exports._write_text_csv(frame, tmp_path / "duckdb.csv")

    assert (tmp_path / "duckdb.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
    safe = exports.spreadsheet_safe(frame)
    assert not runs_as_formula(safe.columns[0])
    for value, cell in zip(frame["MEASURE_VALUE_SUPPRESSED"], safe["MEASURE_VALUE_SUPPRESSED"]):
        if pd.isna(value):
            assert pd.isna(cell)
        elif runs_as_formula(value):
            assert cell == "'" + value  # shown as the text it is
        else:
            assert cell == value  # numbers such as -3.5 and ordinary text unchanged
    if not any("\r" in str(v) for row in rows for v in row):  # (a lone CR is not quoted: ambiguous to read back)
        assert not any(runs_as_formula(cell) for row in cells_of(tmp_path / "pandas.csv") for cell in row)


def test_numeric_columns_are_never_touched():
    frame = pd.DataFrame({"value": [-3.5, 2.0, None], "count": pd.array([-1, 5, None], dtype="Int64")})
    assert exports.spreadsheet_safe(frame) is frame


def test_measures_csv_from_hostile_organisation_names_holds_no_formula(tmp_path, capsys):
    tables = tiny_dataset()
    tables["OrgProvider"]["Provider_Name"] = pd.Series(
        ['=HYPERLINK("http://evil.example","Provider One")', "@SUM(1+1)", "-Provider Three"], dtype="str")
    tables["OrgSubICB"]["ICB_Name"] = pd.Series(["-ICB One", "-ICB One", "ICB Two"], dtype="str")
    tables["OrgSubICB"]["SubICB_Name"] = pd.Series(["+Sub-ICB One", "Sub-ICB Two", "Sub-ICB Three"], dtype="str")
    write_dataset(tables, tmp_path / "data", "csv")

    assert run_cli(["measures", "--period", "2020-09", "--data", tmp_path / "data", "--out", tmp_path / "out"],
                   capsys)[0] == 0

    rows = cells_of(tmp_path / "out" / "measures.csv")
    assert not any(runs_as_formula(cell) for row in rows for cell in row)
    names = {cell for row in rows for cell in row}
    assert "'=HYPERLINK(\"http://evil.example\",\"Provider One\")" in names and "'@SUM(1+1)" in names
    assert "'-ICB One" in names and "'+Sub-ICB One" in names
    values = [row[-1] for row in rows[1:]]
    assert all(v in ("", "*") or NUMBER.fullmatch(v) for v in values)  # the figures are still numbers


def test_chart_data_csv_holds_no_formula_and_keeps_negative_numbers(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2], [1, 2])
    data = pd.DataFrame({"organisation": ["=cmd|' /C calc'!A0", "-3.5", "Provider"],
                         "change": [-3.5, 1.25, 0.0]}).astype({"organisation": "str"})
    chart = save_chart(fig, "hostile", title="Changes differ by provider", alt_text="A line.", data=data,
                       out_dir=tmp_path)
    plt.close(fig)

    rows = cells_of(chart.csv_path)
    assert rows[1:] == [["'=cmd|' /C calc'!A0", "-3.5"], ["-3.5", "1.2"], ["Provider", "0.0"]]


# =============================================================================================
# 7. Stopping a build: the previous report stays whole and nothing stray is left
# =============================================================================================

def dead_pid() -> int:
    """The id of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_leftovers_of_dead_runs_are_removed_and_a_lost_report_is_put_back(tmp_path):
    gone = dead_pid()
    (tmp_path / "England").mkdir()
    (tmp_path / f".England.partial-{gone}-abc123").mkdir()  # killed while building
    (tmp_path / f".England.old-{gone}").mkdir()  # killed after the swap: England is complete
    (tmp_path / "NLS" ).mkdir(exist_ok=True)
    (tmp_path / f".RX4.old-{gone}").mkdir()  # killed between the two renames: RX4 is missing
    (tmp_path / f".RX4.old-{gone}" / "report.html").write_text("the previous report")
    (tmp_path / f".stats.parquet.{gone}.tmp").write_bytes(b"half")
    running = os.getppid()
    (tmp_path / f".NLS.partial-{running}-xyz").mkdir()  # a build still running: left alone

    paths.remove_stale_staging(tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["England", "NLS", "RX4", f".NLS.partial-{running}-xyz"])
    assert (tmp_path / "RX4" / "report.html").read_text() == "the previous report"


def test_a_failed_or_interrupted_block_leaves_the_previous_folder_and_nothing_else(tmp_path):
    final = tmp_path / "report"
    with exports.staged_folder(final) as staging:
        (staging / "report.html").write_text("first")
        exports.write_manifest(staging, inputs={}, parameters={})
    for stop in (RuntimeError("a notebook failed"), KeyboardInterrupt()):
        with pytest.raises(type(stop)):
            with exports.staged_folder(final) as staging:
                (staging / "report.html").write_text("second")
                raise stop
        assert (final / "report.html").read_text() == "first"
        assert [p.name for p in tmp_path.iterdir()] == ["report"]


@pytest.mark.parametrize("exchange", [True, False], ids=["one-step-swap", "two-renames"])
def test_the_swap_replaces_our_folder_whole(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(exports, "exchange_folders", lambda first, second: False)
    final = tmp_path / "report"
    for text in ("first", "second"):
        with exports.staged_folder(final) as staging:
            (staging / "report.html").write_text(text)
            exports.write_manifest(staging, inputs={}, parameters={})
    assert (final / "report.html").read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_exchange_folders_swaps_two_folders_in_one_step(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "from_a").touch()
    (tmp_path / "b").mkdir()
    if not paths.exchange_folders(tmp_path / "a", tmp_path / "b"):
        pytest.skip("this system cannot exchange two folders in one step (staged_folder renames twice)")
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["from_a"] and not any((tmp_path / "a").iterdir())


def test_a_signal_during_the_swap_waits_for_it(tmp_path):
    received = []
    previous = signal.signal(signal.SIGTERM, lambda number, _frame: received.append(number))
    try:
        with paths.signals_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)  # the handler would run here if it were not deferred
            assert received == []
        assert received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_write_index_lists_no_hidden_staging_cache_or_failed_folder(tmp_path):
    for folder in ["monthly/2020-09/England", "monthly/2020-09/.England.old-123", "monthly/2020-09/.NLS.partial-5-x",
                   "_failed/monthly/2020-09", "monthly/.2020-09/England"]:
        (tmp_path / folder).mkdir(parents=True)
        exports.write_manifest(tmp_path / folder, inputs={}, parameters={"org": "England", "period": "2020-09"})

    page = write_index(tmp_path).read_text()

    assert page.count("<tr><td>") == 1 and "<td>2020-09</td><td>England</td>" in page
    assert ".England.old" not in page and ".NLS" not in page and "_failed" not in page


# --- the kill test: a real rebuild stopped at several points ---------------------------------

KILL_POINTS = [
    (signal.SIGTERM, "notebooks"),
    (signal.SIGKILL, "notebooks"),
    (signal.SIGINT, "notebooks"),
    (signal.SIGTERM, "render"),
    (signal.SIGKILL, "render"),
]

#: Runs the build as the command line does, holding it inside the render step (after every
#: notebook ran and before any output is rendered) once a flag file is written, so that a
#: signal lands there for certain.
BUILD_HELD_IN_RENDER = """
import sys, time
from pathlib import Path
from iapt_report.cli import main
from iapt_report.report.build import report_folder

def held(*args, **kwargs):
    Path(sys.argv[1]).write_text("rendering")
    time.sleep(600)

report_folder.render_report = held
sys.exit(main(sys.argv[2:]))
"""


def files_and_hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def kernels_of(pid: int) -> list[int]:
    """Processes started as notebook kernels by ``pid`` (Linux: read from /proc)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"JPY_PARENT_PID={pid}\x00".encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def wait_for(condition, what: str, seconds: float = 300) -> None:
    """Poll until ``condition()`` (a guard against a hung test, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def staging_with(period_folder: Path, pid: int, pattern: str) -> bool:
    """Whether the staging folder of process ``pid`` (not one a killed run left) holds ``pattern``."""
    return any(period_folder.glob(f".England.partial-{pid}-*/{pattern}"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals and /proc as on Linux")
def test_a_rebuild_killed_at_any_point_leaves_the_earlier_report_whole_and_nothing_stray(tmp_path):
    data = tmp_path / "data"
    write_synthetic(generate(date(2020, 7, 1), date(2020, 9, 30), scale=0.01), data)
    output = tmp_path / "out"
    arguments = ["build", "--kind", "monthly", "--period", "2020-09", "--data", str(data), "--output", str(output),
                 "--renderer", "fallback"]
    (tmp_path / "run.toml").write_text("trend_months = 1\n")
    arguments += ["--config", str(tmp_path / "run.toml")]
    first = subprocess.run([sys.executable, "-m", "iapt_report.cli", *arguments], capture_output=True, text=True,
                           cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    report = output / "monthly" / "2020-09" / "England"
    earlier = files_and_hashes(report)
    assert "report.html" in earlier and "manifest.json" in earlier
    period_folder = report.parent

    for number, point in KILL_POINTS:
        flag = tmp_path / f"rendering-{number}"
        if point == "render":
            command = [sys.executable, "-c", BUILD_HELD_IN_RENDER, str(flag), *arguments]
            started = lambda: flag.exists()  # noqa: E731
        else:
            command = [sys.executable, "-m", "iapt_report.cli", *arguments]
            started = lambda: staging_with(period_folder, build.pid, "notebooks/*.ipynb")  # noqa: E731
        with open(tmp_path / "stderr.txt", "w") as stderr:
            build = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, cwd=tmp_path)
            try:
                wait_for(lambda: started() or build.poll() is not None, f"the build to reach {point}")
                assert build.poll() is None, "the build ended before it could be stopped"
                build.send_signal(number)
                build.wait(timeout=300)
            finally:
                if build.poll() is None:
                    build.kill()
                    build.wait()
        message = (tmp_path / "stderr.txt").read_text()
        name = f"{signal.Signals(number).name} during {point}"

        assert files_and_hashes(report) == earlier, f"{name}: the earlier report changed"
        if number == signal.SIGKILL:
            assert build.returncode == -signal.SIGKILL
            wait_for(lambda: not kernels_of(build.pid), "the killed build's kernels to notice and end", 60)
        else:
            assert build.returncode == 128 + number, f"{name}: {message}"
            assert_one_clear_line(message, "stopped")
            assert [p.name for p in period_folder.iterdir()] == ["England"], f"{name}: staging left behind"
            assert not kernels_of(build.pid), f"{name}: a kernel outlived the build"
        assert not (output / "_failed").exists(), f"{name}: a stopped notebook was kept as failed"

    last = subprocess.run([sys.executable, "-m", "iapt_report.cli", *arguments], capture_output=True, text=True,
                          cwd=tmp_path)

    assert last.returncode == 0, last.stderr
    stray = [p for p in output.rglob("*") if p.name.startswith(".")]
    assert stray == [], f"left behind after the next run: {stray}"
    assert [p.name for p in period_folder.iterdir()] == ["England"]
    index = (output / "index.html").read_text()
    assert index.count("<tr><td>") == 1 and ".England" not in index
    assert set(files_and_hashes(report)) == set(earlier)  # rebuilt whole


# =============================================================================================
# 8. Impossible input is refused: scores, dates, periods without data
# =============================================================================================

def problems_both_ways(folder: Path) -> list:
    """The problems a Parquet dataset is refused for; the same tables as CSV must be refused for the same."""
    with pytest.raises(DatasetError) as from_parquet:
        load_dataset(folder)
    as_csv = folder.parent / f"{folder.name}-csv"
    as_csv.mkdir()
    for path in folder.glob("*.parquet"):
        pd.read_parquet(path).to_csv(as_csv / f"{path.stem}.csv", index=False, date_format="%Y-%m-%d")
    with pytest.raises(DatasetError) as from_csv:
        load_dataset(as_csv)
    same = [(Path(p.file).stem, p.column, p.problem.replace(f"{as_csv}", f"{folder}").replace(".csv", ".parquet"),
             p.fix, p.rows, p.examples) for p in from_csv.value.problems]
    assert same == [(Path(p.file).stem, p.column, p.problem, p.fix, p.rows, p.examples)
                    for p in from_parquet.value.problems]
    return from_parquet.value.problems


@settings(max_examples=25, deadline=None, suppress_health_check=FUNCTION_FIXTURE)
@given(score=st.one_of(st.floats(min_value=-1e13, max_value=1e13, allow_nan=False),
                       st.sampled_from([-50.0, 1e12, -0.5, 27.5, 28.0, 0.0, 27.0])))
def test_phq9_scores_outside_0_to_27_are_refused_by_both_loads(tmp_path_factory, score):
    tables = tiny_dataset()
    tables["IDS606CodedScoreAssessmentRefer"].loc[0, "PersScore"] = score  # row 1 is a PHQ-9 score
    folder = tmp_path_factory.mktemp("scores")
    write_dataset(tables, folder)

    if 0 <= score <= 27:
        load_dataset(folder)
        return
    [problem] = problems_both_ways(folder)
    assert problem.file.endswith("IDS606CodedScoreAssessmentRefer.parquet") and problem.column == "PersScore"
    assert problem.rows == 1 and problem.examples[0].startswith("row 1, UniqueID_IDS606 S001: PHQ9 (720433000)")
    assert "0 to 27" in str(problem)


@pytest.mark.parametrize("instrument", list(instruments()))
def test_every_instrument_has_its_own_range(tmp_path, instrument):
    spec = instruments()[instrument]
    tables = tiny_dataset()
    scores = tables["IDS606CodedScoreAssessmentRefer"]
    scores["CodedAssToolType"] = pd.Series([spec["snomed_code"], spec["snomed_code"], PHQ9, PHQ9], dtype="str")
    scores["PersScore"] = [spec["score_min"], spec["score_max"], 6.0, 5.0]
    write_dataset(tables, tmp_path / "ok")
    load_dataset(tmp_path / "ok")  # the ends of the range are scores

    scores["PersScore"] = [spec["score_min"] - 1, spec["score_max"] + 0.5, 6.0, 5.0]
    write_dataset(tables, tmp_path / "bad")
    [problem] = problems_both_ways(tmp_path / "bad")
    assert problem.rows == 2 and f"{instrument} {spec['score_min']:g} to {spec['score_max']:g}" in problem.fix


def test_scores_of_instruments_not_in_the_reference_are_kept_unchecked(tmp_path):
    tables = tiny_dataset()
    tables["IDS606CodedScoreAssessmentRefer"].loc[0, "CodedAssToolType"] = "999999999"
    tables["IDS606CodedScoreAssessmentRefer"].loc[0, "PersScore"] = 1e6
    write_dataset(tables, tmp_path)
    load_dataset(tmp_path)


@pytest.mark.parametrize("table, column", schema.EVENT_DATE_COLUMNS)
@pytest.mark.parametrize("day", ["1900-01-01", "2100-01-01", "2005-12-31"])
def test_event_dates_outside_the_plausible_window_are_refused_by_both_loads(tmp_path, table, column, day):
    tables = v21_dataset()  # with the optional v2.1 tables, whose dates are checked too
    frame = tables[table]
    frame.loc[0, column] = pd.Timestamp(day)
    if table == "IDS205InternetTherLog":  # keep the log's dates in order, so only the window is at fault
        frame.loc[0, ["StartDateIntEnabledTherLog", "EndDateIntEnabledTherLog"]] = pd.Timestamp(day)
    if table == "IDS101Referral":
        frame.loc[0, ["ReferralRequestReceivedDate", "ServDischDate"]] = pd.Timestamp(day)
    write_dataset(tables, tmp_path)

    problems = [p for p in problems_both_ways(tmp_path) if p.column == column]

    assert len(problems) == 1 and problems[0].file.endswith(f"{table}.parquet")
    assert day in str(problems[0]) and "2006-01-01" in str(problems[0])


def test_the_window_runs_to_a_year_after_today(tmp_path):
    earliest, latest = schema.event_date_window(date(2024, 2, 29))
    assert earliest == date(2006, 1, 1) and latest == date(2025, 2, 28)
    tables = tiny_dataset()
    tables["IDS201CareContact"].loc[4, "CareContDate"] = pd.Timestamp(date.today().replace(day=1))  # booked ahead
    write_dataset(tables, tmp_path)
    load_dataset(tmp_path)


def test_a_period_without_data_is_refused_unless_allowed(tiny_csv, tmp_path, capsys):
    arguments = ["measures", "--period", "2030-01", "--data", tiny_csv, "--out", tmp_path / "out"]

    code, message = run_cli(arguments, capsys)

    assert code == 2
    assert_one_clear_line(message, "2030-01", "2020-06-01 to 2020-09-25", "--allow-empty")
    assert not (tmp_path / "out").exists()
    assert run_cli([*arguments, "--allow-empty"], capsys)[0] == 0
    values = pd.read_csv(tmp_path / "out" / "measures.csv", dtype=str)
    england = values[values.GROUP_TYPE == "England"].set_index("MEASURE_ID").MEASURE_VALUE_SUPPRESSED.dropna()
    registry = load_registry()
    snapshots = {m.id for m in registry if m.cohort and m.cohort.snapshot}
    snapshots |= {m.id for m in registry if set(m.numerator) & snapshots}  # and the percentages of them
    assert set(england.drop(snapshots, errors="ignore")) <= {"0"}  # no activity in 2030
    # the snapshots count what the data leaves open: the two referrals with no discharge date
    assert england["M022"] == "2" and set(england[england.index.isin(snapshots)]) <= {"0", "1", "2"}


def test_a_build_for_a_period_without_data_is_refused_before_building(tiny_csv, tmp_path):
    config = BuildConfig(periods=["2020-09", "2031-02"], data=tiny_csv, output=tmp_path / "out")
    with pytest.raises(EmptyPeriodError, match=r"2031-02 .* outside the data.*allow_empty"):
        build_reports(config)
    assert not (tmp_path / "out" / "monthly").exists()


def test_allow_empty_is_a_config_setting(tmp_path):
    (tmp_path / "run.toml").write_text("allow_empty = true\n")
    assert BuildConfig.from_file(tmp_path / "run.toml").allow_empty is True


# =============================================================================================
# 9. Every mistake ends in one clear message, exit status 2, no traceback
# =============================================================================================

@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=20), st.from_regex(r"[0-9]{4}[-/][0-9]{2}", fullmatch=True),
                      st.from_regex(r"FY ?[0-9]{4}-[0-9]{2}", fullmatch=True)))
def test_any_period_text_is_a_period_or_a_period_error(text):
    try:
        period = Period.parse(text)
    except PeriodError as error:
        assert str(error).startswith("period ")
        return
    assert period.start <= period.end and 1900 <= period.start.year <= 2999


@pytest.mark.parametrize("period", ["0000-01", "9999-00", "2020-13", "2020-00", "20-09", "2020-09-01", "x" * 300])
def test_impossible_periods_are_one_line_exit_2(tiny_csv, tmp_path, capsys, period):
    code, message = run_cli(["measures", "--period", period, "--data", tiny_csv, "--out", tmp_path / "out"], capsys)
    assert code == 2
    assert_one_clear_line(message, period[:40])


@pytest.mark.parametrize("setting, named", [
    ('orgs = 5', "orgs"), ('trend_months = "13"', "trend_months"), ("trend_months = 0", "trend_months"),
    ("trend_months = true", "trend_months"), ("notebook_workers = 1.5", "notebook_workers"),
    ('periods = [202009]', "periods"), ("periods = []", "--period"), ('kind = "weekly"', "--kind"),
    ('kind = 3', "kind"), ('renderer = "word"', "--renderer"), ("cache = \"no\"", "cache"),
    ('output = 7', "output"), ("allow_empty = 1", "allow_empty"), ('orgs = ["../up"]', "../up"),
    ('periods = ["2020-09", 7]', "periods"), ("colour = \"blue\"", "colour"), ("trend_months = [", "cannot read"),
])
def test_config_values_of_the_wrong_kind_are_one_line_exit_2(tiny_csv, tmp_path, capsys, setting, named):
    config = tmp_path / "run.toml"
    folders = {"data": tiny_csv, "output": tmp_path / "out"}
    config.write_text("".join(f'{key} = "{folder.as_posix()}"\n' for key, folder in folders.items()
                              if not setting.startswith(key)) + setting + "\n")

    code, message = run_cli(["build", "--config", config], capsys)

    assert code == 2
    assert_one_clear_line(message, named)


def test_a_text_where_a_list_is_expected_is_the_one_item_list(tmp_path):
    (tmp_path / "run.toml").write_text('periods = "2020-09"\norgs = "NLS"\n')
    config = BuildConfig.from_file(tmp_path / "run.toml")
    assert config.periods == ["2020-09"] and config.orgs == ["NLS"]


@settings(max_examples=150, deadline=None, suppress_health_check=FUNCTION_FIXTURE)
@given(key=st.sampled_from(["kind", "periods", "orgs", "trend_months", "renderer", "notebook_workers", "cache",
                            "allow_empty", "output", "backend"]),
       value=st.one_of(st.integers(-5, 30), st.booleans(), st.floats(allow_nan=False, allow_infinity=False),
                       hostile_text, st.lists(st.one_of(hostile_text, st.integers()), max_size=3)))
def test_any_config_value_is_accepted_or_refused_with_a_build_error(tmp_path, key, value):
    config = tmp_path / "run.toml"
    config.write_text(f"{key} = {json.dumps(value, ensure_ascii=False)}\n", encoding="utf-8")
    try:
        BuildConfig.from_file(config).check()
    except (BuildError, PeriodError) as error:
        message = str(error)
        assert key in message or key.rstrip("s") in message or "period" in message or "cannot read config" in message


def test_an_output_folder_that_cannot_be_written_is_one_line_exit_2(tiny_csv, tmp_path, capsys):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    for arguments in (["build", "--period", "2020-09", "--data", tiny_csv, "--output", blocked / "out"],
                      ["build", "--period", "2020-09", "--data", tiny_csv, "--output", blocked],
                      ["measures", "--period", "2020-09", "--data", tiny_csv, "--out", blocked / "out"],
                      ["synthesize", "--start", "2020-08-01", "--end", "2020-09-30", "--scale", "0.001",
                       "--out", blocked / "out"]):
        code, message = run_cli(arguments, capsys)
        assert code == 2, arguments
        assert_one_clear_line(message, str(blocked))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions do not stop the superuser")
def test_a_read_only_output_folder_is_one_line_exit_2(tiny_csv, tmp_path, capsys):
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        code, message = run_cli(["build", "--period", "2020-09", "--data", tiny_csv, "--output", read_only], capsys)
    finally:
        read_only.chmod(0o755)
    assert code == 2
    assert_one_clear_line(message, str(read_only), "cannot write")


@pytest.mark.parametrize("value, why", [("-5", "negative"), ("250", "outside 0 to 100"), ("lots", "not a number"),
                                        ("inf", "not a number"), ("=1+1", "not a number")])
def test_a_published_value_that_cannot_be_right_names_file_measure_org_and_period(tmp_path, capsys, value, why):
    measure, name = ("M053", "Percentage_Recovery") if why == "outside 0 to 100" else ("M002", "Count_SelfReferrals")
    source = published_csv(tmp_path, [("Provider", "RX4", "M001", "Count_ReferralsReceived", "20"),
                                      ("Provider", "RX4", measure, name, value)])

    code, message = run_cli(["build", "--period", "2025-09", "--published", source, "--org", "RX4",
                             "--output", tmp_path / "out"], capsys)

    assert code == 2
    assert_one_clear_line(message, str(source), "MEASURE_VALUE_SUPPRESSED", repr(value), why,
                          f"measure {measure}", "organisation RX4", "period 2025-09")
    assert not (tmp_path / "out" / "monthly").exists()


def test_published_values_as_published_are_read(tmp_path):
    from iapt_report.sources.published import read_published

    source = published_csv(tmp_path, [("Provider", "RX4", "M001", "Count_ReferralsReceived", "*"),
                                      ("Provider", "RX4", "M053", "Percentage_Recovery", "100"),
                                      ("Provider", "RX4", "M002", "Count_SelfReferrals", "\"1,234\""),
                                      ("Provider", "RX4", "M112", "Mean_Change", "-1.5")])
    table = read_published(source)
    assert table.MEASURE_VALUE.tolist()[2:] == [100.0, 1234.0, -1.5] and table.SUPPRESSED.tolist()[1]


@settings(max_examples=40, deadline=None, suppress_health_check=FUNCTION_FIXTURE)
@given(period=st.one_of(hostile_text, st.from_regex(r"[0-9]{4}-[0-9]{2}", fullmatch=True)),
       org=st.one_of(hostile_text, st.text(max_size=50)))
def test_the_command_line_never_ends_in_a_traceback_for_any_period_or_org(tmp_path, capsys, period, org):
    assume(not period.startswith("-") and not org.startswith("-"))  # those read as options (argparse's message)
    assume("\x00" not in period and "\x00" not in org)
    source = published_csv(tmp_path, [("Provider", "RX4", "M001", "Count_ReferralsReceived", "20")])

    try:
        code = main(["build", "--period", period, "--published", str(source), "--org", org,
                     "--output", str(tmp_path / "out")])
    except SystemExit as exit_info:  # argparse's own usage message
        code = exit_info.code
    message = capsys.readouterr().err

    assert "Traceback" not in message
    if code == 2:
        assert message.strip()
    else:  # a valid month the file does not hold is refused too; anything else built a report
        assert code in (0, 1), message

"""Reports end to end on small synthetic data: notebooks under papermill, HTML and PDF, batches.

The figures looked for in the rendered text are read from the measures file the build
published beside the report; no number is typed into these tests.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from iapt_report.cli import main
from iapt_report.outputs.exports import read_publication_files
from iapt_report.report.build import BuildConfig, build_reports
from iapt_report.report.report_data import format_for_text
from iapt_report.sources.synthetic import generate, write_dataset

REPOSITORY = Path(__file__).resolve().parents[1]
PROVIDER = "ZP007"  # the largest fictional provider in the synthetic organisations


@pytest.fixture(scope="module")
def synthetic_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "synthetic"
    write_dataset(generate(date(2019, 9, 1), date(2021, 3, 31), scale=0.01), folder)
    (folder / "_synthetic.json").write_text('{"synthetic": true}\n')
    return folder


@pytest.fixture(scope="module")
def monthly(synthetic_data, tmp_path_factory):
    output = tmp_path_factory.mktemp("output")
    config = BuildConfig(kind="monthly", periods=["2020-09"], orgs=["England", PROVIDER, "NOT-AN-ORG"],
                         data=synthetic_data, output=output, trend_months=3, renderer="fallback")
    return output, {r.org: r for r in build_reports(config)}


@pytest.fixture(scope="module")
def annual(synthetic_data, tmp_path_factory):
    output = tmp_path_factory.mktemp("output")
    config = BuildConfig(kind="annual", periods=["2020-21"], orgs=["England"], data=synthetic_data,
                         output=output, renderer="fallback")
    return output, {r.org: r for r in build_reports(config)}


def published(folder: Path) -> dict[str, str]:
    table = read_publication_files(folder)
    if "VARIABLE_TYPE" in table:
        table = table[table.VARIABLE_TYPE == "Total"]
    if "England" in set(table.GROUP_TYPE):  # an England report publishes every level: take England's
        table = table[table.GROUP_TYPE == "England"]
    assert not table.MEASURE_ID.duplicated().any(), "one organisation's rows expected"
    return dict(zip(table.MEASURE_ID, table.MEASURE_VALUE_SUPPRESSED))


def pdf_text(pdf: Path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(["pdftotext", "-layout", *pages, str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout


def html_text(path: Path) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")))


needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) not installed")


def test_monthly_report_folder_is_complete(monthly):
    output, reports = monthly
    england = reports["England"]
    assert england.error is None, england.error
    assert england.renderer.startswith("fallback")  # named: Quarto is not used here
    folder = output / "monthly" / "2020-09" / "England"
    for name in ("report.html", "report.pdf", "measures.csv", "metadata.csv", "manifest.json"):
        assert (folder / name).stat().st_size > 0, name
    executed = sorted(p.name for p in (folder / "notebooks").glob("*.ipynb"))
    assert executed == ["activity_waiting.ipynb", "key_facts.ipynb", "outcomes.ipynb", "variation.ipynb"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["parameters"]["synthetic"] is True
    assert manifest["parameters"]["renderer"] == england.renderer
    assert set(manifest["timings_seconds"]) >= {"measures", "notebooks", "render"}
    assert manifest["versions"]["papermill"]


@needs_pdftotext
def test_key_facts_in_html_and_pdf_are_the_engine_figures(monthly):
    output, _ = monthly
    folder = output / "monthly" / "2020-09" / "England"
    values = published(folder)
    expected = [
        format_for_text(values["M001"], "count"),  # referrals received
        format_for_text(values["M031"], "count"),  # entered treatment
        format_for_text(values["M076"], "count"),  # finished a course
        format_for_text(values["M053"], "percentage"),  # waited 6 weeks or less
        format_for_text(values["M192"], "percentage"),  # recovery rate
        format_for_text(values["M141"], "mean"),  # mean sessions
    ]
    html = html_text(folder / "report.html")
    pdf = re.sub(r"\s+", " ", pdf_text(folder / "report.pdf"))
    for figure in expected:
        assert figure in html, figure
        assert figure in pdf, figure
    assert "September 2020" in html and "September 2020" in pdf


@needs_pdftotext
def test_every_pdf_page_says_the_data_are_synthetic_and_renders(monthly, tmp_path):
    output, _ = monthly
    pdf = output / "monthly" / "2020-09" / "England" / "report.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages >= 2
    for page in range(1, pages + 1):
        assert "SYNTHETIC" in pdf_text(pdf, page), f"page {page} has no synthetic-data banner"
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(tmp_path / "page")], check=True)
    images = sorted(tmp_path.glob("page*.png"))
    assert len(images) == pages and all(p.stat().st_size > 1000 for p in images)


def test_html_opens_in_chromium_without_errors_and_images_load(monthly, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed")
    output, _ = monthly
    page = tmp_path / "report.html"
    source = (output / "monthly" / "2020-09" / "England" / "report.html").read_text(encoding="utf-8")
    probe = ("<script>window.addEventListener('load', () => { const imgs = Array.from(document.images);"
             " const ok = imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);"
             " document.body.setAttribute('data-images', ok ? 'all-loaded:' + imgs.length : 'broken'); });</script>")
    page.write_text(source.replace("</body>", probe + "</body>"), encoding="utf-8")
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert 'data-images="all-loaded:' in result.stdout, result.stderr[-2000:]
    console_errors = [line for line in result.stderr.splitlines() if "CONSOLE" in line and "rror" in line]
    assert not console_errors, console_errors


def test_provider_report_applies_disclosure_control_everywhere(monthly):
    output, reports = monthly
    assert reports[PROVIDER].error is None, reports[PROVIDER].error
    folder = output / "monthly" / "2020-09" / PROVIDER
    table = pd.read_csv(folder / "measures.csv", dtype=str, keep_default_na=False)
    assert set(table.ORG_CODE2) == {PROVIDER}
    counts = table[table.MEASURE_NAME.str.startswith("Count_")].MEASURE_VALUE_SUPPRESSED
    assert all(v in ("*", "") or int(v) % 5 == 0 for v in counts)
    # the narrative shows the provider's figures as published: rounded to 5, or "fewer than 5"
    values = published(folder)
    html = html_text(folder / "report.html")
    assert format_for_text(values["M001"], "count") in html
    key_facts = (folder / "tables" / "key_facts.md").read_text()
    for cell in re.findall(r"\| ([\d,]+) \|", key_facts):
        if "Mean" not in cell:
            number = int(cell.replace(",", ""))
            assert number % 5 == 0 or number < 5, cell


def test_executed_notebooks_in_a_report_show_only_published_figures(monthly):
    """The executed notebooks are published with the report: they display the tables the report
    shows, never the unrounded counts behind them (issue 10: a region with 1 finished course)."""
    output, _ = monthly
    for org in ("England", PROVIDER):
        for path in (output / "monthly" / "2020-09" / org / "notebooks").glob("*.ipynb"):
            shown = []
            for cell in json.loads(path.read_text())["cells"]:
                for item in cell.get("outputs", []):
                    shown.append("".join(item.get("text", "")))
                    shown.append("".join(item.get("data", {}).get("text/plain", "")))
            text = "\n".join(shown)
            for column in ("recovered", "denominator", "unrounded", "MEASURE_VALUE", "partial"):
                assert column not in text, f"{org} {path.name} shows {column!r}"


def test_executed_notebooks_in_a_report_hold_no_warnings_errors_or_tracebacks(monthly, annual):
    """A reviewer reads the executed notebooks: nothing written to stderr, no warning, no error."""
    folders = [monthly[0] / "monthly" / "2020-09" / org for org in ("England", PROVIDER)]
    folders.append(annual[0] / "annual" / "2020-21" / "England")
    for folder in folders:
        executed = sorted((folder / "notebooks").glob("*.ipynb"))
        assert executed, folder
        for path in executed:
            for cell in json.loads(path.read_text())["cells"]:
                for item in cell.get("outputs", []):
                    where = f"{folder.name} {path.name} cell {cell.get('execution_count')}"
                    assert item["output_type"] != "error", f"{where}: {item.get('ename')}: {item.get('evalue')}"
                    assert not (item["output_type"] == "stream" and item.get("name") == "stderr"), \
                        f"{where} wrote to stderr: {''.join(item.get('text', ''))[:300]}"
                    text = "".join(item.get("text", "")) + "".join(item.get("data", {}).get("text/plain", ""))
                    assert not re.search(r"Traceback|Warning:|\bwarn(ing)?s?\b", text, re.IGNORECASE), \
                        f"{where} shows: {text[:300]}"


def test_executed_notebooks_name_the_folders_the_report_and_its_measures_are_in(monthly):
    """The parameters a reviewer reads first name the report's own folder and its unrounded
    measures where they are once built, not the staging folders the notebooks ran in."""
    output, _ = monthly
    folder = output / "monthly" / "2020-09" / "England"
    for path in sorted((folder / "notebooks").glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        injected = next(c for c in notebook["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
        source = "".join(injected["source"])
        assert ".partial-" not in path.read_text(), path.name
        assert f'build_dir = "{folder.absolute()}"' in source, source
        parameters = notebook["metadata"]["papermill"]["parameters"]
        assert Path(parameters["measures_path"]).exists(), parameters
        assert Path(parameters["build_dir"]) == folder.absolute()


def test_a_failing_report_does_not_stop_the_batch(monthly):
    output, reports = monthly
    assert "NOT-AN-ORG" in reports["NOT-AN-ORG"].error
    assert not (output / "monthly" / "2020-09" / "NOT-AN-ORG").exists()
    index = (output / "index.html").read_text()
    assert "monthly/2020-09/England/report.html" in index and f"monthly/2020-09/{PROVIDER}/report.pdf" in index


def test_annual_report_has_every_section(annual):
    output, reports = annual
    assert reports["England"].error is None, reports["England"].error
    folder = output / "annual" / "2020-21" / "England"
    executed = sorted(p.stem for p in (folder / "notebooks").glob("*.ipynb"))
    assert executed == sorted(["key_facts", "activity_waiting", "demographics", "ethnicity", "outcomes", "variation"])
    html = html_text(folder / "report.html")
    values = published(folder)
    assert format_for_text(values["M001"], "count") in html
    for heading in ("Demographics", "Ethnicity compared with the Census population", "Outcomes", "Variation"):
        assert heading in html
    assert "not stated" in html.lower()  # ethnicity not stated is shown, not hidden
    annual_csv = read_publication_files(folder)
    assert {"Gender", "Ethnic Group", "Age Group"} <= set(annual_csv.VARIABLE_TYPE)
    for chart in (folder / "figures").glob("*.png"):
        assert (folder / "figures" / f"{chart.stem}.csv").exists(), f"{chart.name} has no data file"


def test_failing_notebook_fails_the_build_naming_it(synthetic_data, tmp_path):
    notebooks = tmp_path / "notebooks"
    shutil.copytree(REPOSITORY / "notebooks", notebooks)
    broken = json.loads((notebooks / "outcomes.ipynb").read_text())
    broken["cells"].append({"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                            "source": "raise RuntimeError('deliberately broken cell')"})
    (notebooks / "outcomes.ipynb").write_text(json.dumps(broken))
    config = BuildConfig(kind="monthly", periods=["2020-09"], orgs=["England"], data=synthetic_data,
                         output=tmp_path / "out", trend_months=1, renderer="fallback", notebooks=notebooks)
    [report] = build_reports(config)
    assert "outcomes.ipynb" in report.error and "deliberately broken cell" in report.error
    assert not (tmp_path / "out" / "monthly" / "2020-09" / "England").exists()
    assert (tmp_path / "out" / "_failed" / "monthly" / "2020-09" / "England" / "outcomes.ipynb").exists()


def test_a_build_with_relative_folders_works_from_where_it_is_run(synthetic_data, tmp_path, monkeypatch):
    """As `make report` runs it: data and output given relative to the working folder."""
    shutil.copytree(synthetic_data, tmp_path / "data")
    monkeypatch.chdir(tmp_path)

    [report] = build_reports(BuildConfig(kind="monthly", periods=["2020-09"], orgs=["England"], data=Path("data"),
                                         output=Path("_output"), trend_months=2, renderer="fallback"))

    assert report.error is None
    assert (tmp_path / "_output" / "monthly" / "2020-09" / "England" / "report.html").is_file()


def test_cli_build_exits_non_zero_when_a_report_fails(synthetic_data, tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text(f'kind = "monthly"\nperiods = ["2020-09"]\norgs = ["NOT-AN-ORG"]\ndata = "{synthetic_data}"\n'
                      f'output = "{tmp_path / "out"}"\ntrend_months = 1\nrenderer = "fallback"\n')
    assert main(["build", "--config", str(config)]) == 1
    assert "NOT-AN-ORG" in capsys.readouterr().err


def test_trend_months_are_computed_only_for_england_and_the_reports_levels():
    """A provider's monthly report needs provider trends; the other levels are computed once only."""
    from iapt_report.data.periods import Period
    from iapt_report.engine.measures import MEASURE_COLUMNS
    from iapt_report.report.build.measure_sources import _measures_for

    def rows_of(period):
        row = dict.fromkeys(MEASURE_COLUMNS, "")
        rows = [dict(row, REPORTING_PERIOD_START=period.label, GROUP_TYPE="England", ORG_CODE1="England"),
                dict(row, REPORTING_PERIOD_START=period.label, GROUP_TYPE="ICB", ORG_CODE1="QX1"),
                dict(row, REPORTING_PERIOD_START=period.label, GROUP_TYPE="Provider", ORG_CODE2=PROVIDER)]
        return pd.DataFrame(rows, columns=MEASURE_COLUMNS)

    class RecordingEngine:
        def __init__(self):
            self.calls = []

        def compute(self, period, levels=None, breakdowns=None):
            self.calls.append((period.label, levels))
            return rows_of(period)

        def compute_totals(self, periods, levels=None):
            self.calls.append(([period.label for period in periods], levels))
            return pd.concat([rows_of(period) for period in periods], ignore_index=True)

    engine = RecordingEngine()
    config = BuildConfig(kind="monthly", periods=["2020-09"], orgs=["England", PROVIDER], trend_months=3)
    measures = _measures_for(engine, Period.parse("2020-09"), config)
    # the report month at every level, then the trend months together, at the levels they are drawn for
    assert engine.calls == [("2020-09", None), (["2020-08", "2020-07"], ["England", "Provider"])]
    assert measures.REPORTING_PERIOD_START.tolist() == ["2020-09"] * 3 + ["2020-08"] * 3 + ["2020-07"] * 3


def test_a_second_build_of_the_same_data_reads_cached_measures(synthetic_data, tmp_path):
    """Rebuilding (e.g. after editing the narrative) reuses the measures; the outputs are identical."""
    data = tmp_path / "data"
    shutil.copytree(synthetic_data, data)
    config = BuildConfig(kind="monthly", periods=["2020-09"], orgs=["England"], data=data,
                         output=tmp_path / "out", trend_months=2, renderer="fallback")
    [first] = build_reports(config)
    first_csv = (first.folder / "measures.csv").read_bytes()
    assert first.error is None and not first.measures_from_cache
    assert list((tmp_path / "out" / "_cache").glob("*.parquet"))

    [second] = build_reports(config)
    assert second.error is None and second.measures_from_cache
    assert (second.folder / "measures.csv").read_bytes() == first_csv
    assert json.loads((second.folder / "manifest.json").read_text())["parameters"]["measures_from_cache"] is True

    # a changed data file is a different dataset: computed again, not read from the cache
    contacts = pd.read_parquet(data / "IDS201CareContact.parquet")
    contacts.iloc[:-1].to_parquet(data / "IDS201CareContact.parquet", index=False)
    [third] = build_reports(config)
    assert third.error is None and not third.measures_from_cache

    # and a run that asks for no cache neither reads nor writes one
    uncached = BuildConfig(kind="monthly", periods=["2020-09"], orgs=["England"], data=data,
                           output=tmp_path / "fresh", trend_months=2, renderer="fallback", cache=False)
    [fourth] = build_reports(uncached)
    assert fourth.error is None and not fourth.measures_from_cache
    assert not (tmp_path / "fresh" / "_cache").exists()
    metadata = pd.read_csv(fourth.folder / "metadata.csv", dtype=str, keep_default_na=False)
    assert set(metadata["COMPUTED"]) == {"yes"}  # the synthetic data hold every v2.1 table
    assert json.loads((fourth.folder / "manifest.json").read_text())["not_computed"] == {}


def test_a_report_from_an_older_extract_names_the_measures_it_cannot_give(synthetic_data, tmp_path):
    """Without IDS004EmpStatus (an IAPT v2.0 extract), the measures that need it are left out of the
    report's measures, and its metadata and manifest say which and why; nothing shows them as zero."""
    data = tmp_path / "data"
    shutil.copytree(synthetic_data, data)
    (data / "IDS004EmpStatus.parquet").unlink()
    config = BuildConfig(kind="monthly", periods=["2020-09"], orgs=["England"], data=data,
                         output=tmp_path / "out", trend_months=2, renderer="fallback", cache=False)
    [report] = build_reports(config)
    assert report.error is None, report.error
    metadata = pd.read_csv(report.folder / "metadata.csv", dtype=str, keep_default_na=False).set_index("MEASURE_ID")
    assert metadata.loc["M237", "COMPUTED"] == "no"
    assert "IDS004EmpStatus" in metadata.loc["M237", "NOT_COMPUTED_REASON"]
    assert metadata.loc["M001", "COMPUTED"] == "yes"
    not_computed = json.loads((report.folder / "manifest.json").read_text())["not_computed"]
    assert not_computed["M237"]["name"] == "Count_OffSickPay"
    assert set(not_computed) == set(metadata.index[metadata["COMPUTED"] == "no"])
    measures = pd.read_csv(report.folder / "measures.csv", dtype=str, keep_default_na=False)
    assert not set(measures["MEASURE_ID"]) & set(not_computed)


def test_chart_data_files_hold_numbers_and_the_funnel_its_limits(monthly, annual):
    """Every figures/*.csv holds numbers (no "3,544" or "83%"); below England, counts are
    rounded to 5; the funnel's file has its denominators, limits and flags (docs/charts.md)."""
    folders = [monthly[0] / "monthly" / "2020-09" / org for org in ("England", PROVIDER)]
    folders.append(annual[0] / "annual" / "2020-21" / "England")
    funnels = 0
    for folder in folders:
        for path in sorted((folder / "figures").glob("*.csv")):
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
            for column in table.columns:
                for cell in table[column]:
                    assert not re.fullmatch(r"-?[\d,.]+%|-?\d{1,3}(,\d{3})+(\.\d+)?", cell), (path, column, cell)
                    assert cell not in ("*", "fewer than 5", "suppressed") or column.endswith(" note"), (path, cell)
        path = folder / "figures" / "provider_funnel.csv"
        if not path.exists():
            continue
        funnels += 1
        table = pd.read_csv(path)
        assert list(table.columns) == ["code", "name", "numerator", "denominator", "rate", "national_rate",
                                       "lower_998", "lower_95", "upper_95", "upper_998", "position", "chart_number"]
        assert (table.numerator % 5 == 0).all() and (table.denominator % 5 == 0).all()  # providers: rounded
        assert (table.rate == table.rate.round()).all()  # whole percent
        limits = table[["lower_998", "lower_95", "upper_95", "upper_998"]]
        assert ((limits >= 0) & (limits <= 100)).all().all()
        assert (limits.diff(axis=1).iloc[:, 1:] >= 0).all().all()
        assert set(table.position) <= {"above 99.8% limit", "above 95% limit", "within 95% limits",
                                       "below 95% limit", "below 99.8% limit"}
        numbered = table.chart_number.dropna()
        assert sorted(numbered) == list(range(1, len(numbered) + 1))
        assert set(table.loc[numbered.index, "position"]) <= {"above 99.8% limit", "below 99.8% limit"}
    assert funnels == len(folders)
    # the provider's own report marks it on England's funnel
    own = (monthly[0] / "monthly" / "2020-09" / PROVIDER / "figures" / "provider_funnel.md").read_text()
    assert "this report's provider" in own and "star" in own

"""The release kit (``iapt-report publish``): one folder a statistician uploads on release day.

Built once from a small synthetic dataset (the synthetic default, at a small scale) and once
from NHS Digital's published monthly file when it is present: every file is there, the landing
page states what the release is and lists each file with its size and SHA-256, SHA256SUMS
checks, the reference tables workbook is laid out as the Analysis Function's guidance asks and
holds the published (disclosure-controlled) values of measures.csv, and rebuilding gives
byte-identical data files.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from iapt_report.cli import main
from iapt_report.outputs.exports import read_publication_files
from iapt_report.report.publication.landing_page import (
    OrganisationReport,
    Release,
    human_size,
    write_checksums,
    write_landing_page,
)
from iapt_report.report.publication.reference_tables import MISSING_MARK, SUPPRESSED_MARK, cell_value
from iapt_report.sources.synthetic import generate, write_dataset

openpyxl = pytest.importorskip("openpyxl")

PUBLISHED = Path(__file__).resolve().parents[2] / "shared" / "data" / "published"
MONTHLY = PUBLISHED / "monthly_2021-01_to_2025-12.parquet"
DATA_FILES = ["measures.zip", "metadata.csv", "reference_tables.xlsx"]
PROVIDER = "ZP007"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def synthetic_data(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("data") / "synthetic"
    write_dataset(generate(date(2020, 4, 1), date(2021, 3, 31), scale=0.01), data,
                  marker={"synthetic": True})
    return data


@pytest.fixture(scope="module")
def release(synthetic_data, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """An annual release built twice into the same folder; the hashes of the first build's data files."""
    output = tmp_path_factory.mktemp("release") / "2020-21"
    arguments = ["publish", "--kind", "annual", "--period", "2020-21", "--release-date", "2021-06-10",
                 "--data", str(synthetic_data), "--output", str(output), "--org", PROVIDER, "--renderer", "fallback"]
    assert main(arguments) == 0
    first = {name: sha256(output / name) for name in DATA_FILES}
    first["organisation measures"] = sha256(output / "organisations" / PROVIDER / "measures.csv")
    assert main(arguments) == 0  # the folder is ours: replaced as a whole
    return output, first


def test_release_holds_every_file(release):
    folder, _ = release
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(["SHA256SUMS", "figures", "index.html", "manifest.json", "measures.zip", "metadata.csv",
                            "organisations", "reference_tables.xlsx", "report.html", "report.pdf"])
    assert sorted(p.name for p in (folder / "organisations" / PROVIDER).iterdir()) == [
        "figures", "measures.csv", "metadata.csv", "report.html", "report.pdf"]
    assert not list(folder.parent.glob(".*"))  # no staging folder left beside it
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["tool"] == "iapt-report" and manifest["parameters"]["synthetic"] is True
    assert manifest["parameters"]["release_date"] == "2021-06-10"


def test_rebuilding_gives_byte_identical_data_files(release):
    folder, first = release
    again = {name: sha256(folder / name) for name in DATA_FILES}
    again["organisation measures"] = sha256(folder / "organisations" / PROVIDER / "measures.csv")
    assert again == first


def test_checksum_list_matches_every_file(release):
    folder, _ = release
    listed = dict(reversed(line.split("  ", 1)) for line in (folder / "SHA256SUMS").read_text().splitlines())
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and p.name not in ("SHA256SUMS", "manifest.json"))
    assert sorted(listed) == files
    for name, digest in listed.items():
        assert sha256(folder / name) == digest, name


def test_landing_page_says_what_the_release_is(release):
    folder, _ = release
    page = (folder / "index.html").read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))
    assert "annual statistics, 2020-21" in text
    assert "financial year 2020-21 (1 April 2020 to 31 March 2021)" in text
    assert "Release date 10 June 2021" in text
    assert "Statistics status Not official statistics: synthetic data" in text
    assert "built from synthetic data" in text
    for name in ["report.html", "report.pdf", "measures.zip", "metadata.csv", "reference_tables.xlsx"]:
        path = folder / name
        assert f'href="{name}"' in page
        assert sha256(path) in page
        assert human_size(path.stat().st_size) in text
    assert 'href="SHA256SUMS"' in page
    # the organisation's report, linked by its name
    name = json.loads((folder / "manifest.json").read_text())["parameters"]["orgs"]
    assert PROVIDER in name
    ours = read_publication_files(folder / "organisations" / PROVIDER)
    provider_name = ours.loc[ours.ORG_CODE2 == PROVIDER, "ORG_NAME2"].iloc[0]
    assert f"{html.escape(provider_name)}</strong> ({PROVIDER})" in page
    assert f'href="organisations/{PROVIDER}/report.html"' in page


def test_the_report_in_the_release_links_its_data(release):
    folder, _ = release
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert 'href="measures.zip"' in page
    assert "2021" in page and "10 June" in page  # the release date, not the day it was built
    # every file the reports link (measures, metadata, each chart's data) is in the release
    for report in [folder / "report.html", folder / "organisations" / PROVIDER / "report.html"]:
        links = set(re.findall(r'href="([^"#:]+)"', report.read_text(encoding="utf-8")))
        assert any(link.startswith("figures/") for link in links), report
        for link in links:
            assert (report.parent / link).is_file(), f"{report}: links {link}, which the release does not hold"
    landing = (folder / "index.html").read_text(encoding="utf-8")
    for chart_data in (folder / "figures").glob("*.csv"):
        assert f'href="figures/{chart_data.name}"' in landing


# --- the reference tables ----------------------------------------------------------------------

def sheet_rows(sheet) -> list[tuple]:
    return [row for row in sheet.iter_rows(values_only=True)]


def table_of(sheet) -> pd.DataFrame:
    """The one table of a sheet, by its Excel table definition (header row and data range)."""
    (name, reference), = sheet.tables.items()
    cells = sheet[reference]
    header = [cell.value for cell in cells[0]]
    return pd.DataFrame([[cell.value for cell in row] for row in cells[1:]], columns=header)


def test_workbook_follows_the_spreadsheet_guidance(release):
    folder, _ = release
    book = openpyxl.load_workbook(folder / "reference_tables.xlsx")
    names = book.sheetnames
    assert names[:3] == ["Cover", "Contents", "Notes"]
    tables = names[3:]
    assert tables == [f"Table_{n}" for n in range(1, len(tables) + 1)] and len(tables) == 10
    for sheet in book.worksheets:
        assert not sheet.merged_cells.ranges, f"{sheet.title} has merged cells"
    cover = " ".join(str(v[0]) for v in sheet_rows(book["Cover"]) if v[0])
    assert "reference tables" in cover and "synthetic" in cover and "Released 10 June 2021" in cover
    contents = table_of(book["Contents"])
    assert list(contents.iloc[:, 0]) == tables  # every table is listed
    notes = table_of(book["Notes"])
    assert any(text.startswith(f"{SUPPRESSED_MARK} means the value is suppressed") for text in notes["Note text"])
    assert any(text.startswith(f"{MISSING_MARK} means the value is not available") for text in notes["Note text"])
    for name in tables:
        sheet = book[name]
        assert len(sheet.tables) == 1, f"{name}: one table per sheet"
        ((_, reference),) = sheet.tables.items()
        assert reference.startswith("A"), f"{name}: the table starts in the first column"
        title = sheet["A1"].value
        assert title and "2020-21" in title
    headers = {name: list(table_of(book[name]).columns) for name in tables}
    assert headers["Table_1"] == ["Measure ID", "Measure", "England"]
    assert headers["Table_5"][:2] == ["Organisation code", "Organisation name"]
    assert "Recovery rate (%)" in headers["Table_5"]
    assert headers["Table_8"][:2] == ["Group", "Category"]  # ethnic group and category
    assert book["Table_5"]["A1"].value.startswith("Activity and outcomes by provider")
    assert book["Table_9"]["A1"].value.startswith("Activity and outcomes by presenting complaint")


def test_workbook_values_are_the_published_values_of_measures_csv(release):
    folder, _ = release
    book = openpyxl.load_workbook(folder / "reference_tables.xlsx")
    measures = read_publication_files(folder)
    totals = measures[measures.VARIABLE_TYPE == "Total"]
    england = totals[totals.GROUP_TYPE == "England"].set_index("MEASURE_ID")["MEASURE_VALUE_SUPPRESSED"]
    facts = table_of(book["Table_1"]).set_index("Measure ID")["England"]
    for measure in ("M001", "M076", "M192"):
        assert facts[measure] == cell_value(england[measure])
    assert facts["M001"] == int(england["M001"])

    providers = table_of(book["Table_5"]).set_index("Organisation code")
    published = totals[(totals.GROUP_TYPE == "Provider") & (totals.ORG_CODE1 == "all")]
    counts = published[published.MEASURE_ID == "M001"].set_index("ORG_CODE2")["MEASURE_VALUE_SUPPRESSED"]
    rates = published[published.MEASURE_ID == "M192"].set_index("ORG_CODE2")["MEASURE_VALUE_SUPPRESSED"]
    assert set(providers.index) <= set(counts.index)
    suppressed = 0
    for code in providers.index:
        shown = providers.at[code, "Referrals received"]
        if counts[code] == "*":
            assert shown == SUPPRESSED_MARK
            suppressed += 1
        else:
            assert shown == int(counts[code]) and shown % 5 == 0  # rounded to 5, never the unrounded count
        rate = providers.at[code, "Recovery rate (%)"]
        assert rate == (SUPPRESSED_MARK if rates[code] == "*" else MISSING_MARK if rates[code] == "" else
                        int(rates[code]))
    assert suppressed + (rates == "*").sum() > 0, "the small synthetic dataset has suppressed provider figures"

    by_gender = table_of(book["Table_6"]).set_index("Group")
    breakdown = measures[(measures.GROUP_TYPE == "England") & (measures.VARIABLE_TYPE == "Gender")
                         & (measures.MEASURE_ID == "M001")].set_index("VARIABLE_A")["MEASURE_VALUE_SUPPRESSED"]
    for group, value in breakdown.items():
        assert by_gender.at[group, "Referrals received"] == int(value)


def test_cell_values():
    assert cell_value("*") == SUPPRESSED_MARK
    assert cell_value("") == MISSING_MARK
    assert cell_value("1205") == 1205 and cell_value("48.5") == 48.5
    assert cell_value("=HYPERLINK(1)") == "'=HYPERLINK(1)"


# --- the landing page on its own ---------------------------------------------------------------

def test_landing_page_escapes_names_and_checksums_every_file(tmp_path):
    (tmp_path / "report.html").write_text("<p>report</p>")
    (tmp_path / "measures.csv").write_text("A,B\n1,2\n")
    (tmp_path / "organisations" / "ZP1").mkdir(parents=True)
    (tmp_path / "organisations" / "ZP1" / "report.html").write_text("x")
    hostile = 'Trust <script>alert("x")</script> & "Co"'
    write_landing_page(tmp_path, Release(
        title="Title <b>", period_words="September 2020", release_date_words="1 October 2020",
        status="Official statistics", source="<img src=x onerror=alert(1)>", synthetic=False,
        files=["report.html", "measures.csv"],
        organisations=[OrganisationReport("ZP1", hostile, ["organisations/ZP1/report.html"])]))
    page = (tmp_path / "index.html").read_text()
    assert "<script>" not in page and "<img" not in page and "<b>" not in page
    assert "Trust &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;Co&quot;" in page
    assert "synthetic" not in page.lower()
    assert '<meta name="generator" content="iapt-report">' in page
    write_checksums(tmp_path)
    lines = (tmp_path / "SHA256SUMS").read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == ["index.html", "measures.csv", "organisations/ZP1/report.html",
                                                       "report.html"]
    assert lines[1].split("  ")[0] == sha256(tmp_path / "measures.csv")


def test_human_size():
    assert human_size(999) == "999 bytes"
    assert human_size(29_826) == "29.8 KB"
    assert human_size(6_829_381) == "6.8 MB"


# --- refused before any work ---------------------------------------------------------------------

def test_a_folder_not_written_by_iapt_report_is_refused(synthetic_data, tmp_path, capsys):
    output = tmp_path / "release"
    output.mkdir()
    (output / "notes.txt").write_text("mine")
    code = main(["publish", "--kind", "annual", "--period", "2020-21", "--release-date", "2021-06-10",
                 "--data", str(synthetic_data), "--output", str(output)])
    assert code == 2
    error = capsys.readouterr().err
    assert "was not written by iapt-report" in error and len(error.strip().splitlines()) == 1
    assert sorted(p.name for p in output.iterdir()) == ["notes.txt"]


def test_a_period_of_the_wrong_kind_is_refused(synthetic_data, tmp_path, capsys):
    code = main(["publish", "--kind", "monthly", "--period", "2020-21", "--release-date", "2021-06-10",
                 "--data", str(synthetic_data), "--output", str(tmp_path / "out")])
    assert code == 2
    assert "a monthly release needs a month" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- from a file NHS Digital published -----------------------------------------------------------

@pytest.mark.skipif(not MONTHLY.exists(), reason=f"published data file {MONTHLY} not present")
def test_release_from_a_published_file(tmp_path):
    output = tmp_path / "2021-06"
    assert main(["publish", "--kind", "monthly", "--period", "2021-06", "--release-date", "2021-08-12",
                 "--published", str(MONTHLY), "--output", str(output), "--renderer", "fallback"]) == 0
    assert {"report.html", "report.pdf", "measures.csv", "metadata.csv", "reference_tables.xlsx", "index.html",
            "SHA256SUMS"} <= {p.name for p in output.iterdir()}
    page = (output / "index.html").read_text(encoding="utf-8")
    assert "synthetic" not in page.lower()
    assert "Official statistics, as published by NHS England" in page
    assert "June 2021" in page and "12 August 2021" in page
    assert MONTHLY.name in page
    measures = read_publication_files(output)
    england = measures[(measures.GROUP_TYPE == "England")].set_index("MEASURE_ID")["MEASURE_VALUE_SUPPRESSED"]
    book = openpyxl.load_workbook(output / "reference_tables.xlsx")
    assert book.sheetnames[:3] == ["Cover", "Contents", "Notes"]
    facts = table_of(book["Table_1"]).set_index("Measure ID")["England"]
    assert facts["M001"] == cell_value(england["M001"])
    for sheet in book.worksheets:
        assert not sheet.merged_cells.ranges


def test_landing_page_meets_wcag_aa_at_desktop_and_phone_widths(release):
    from browser import check_pages, page_check_available, problems

    if not page_check_available():
        pytest.skip("Chromium, node or tests/page_check's npm packages not installed")
    folder, _ = release
    found = [problem for result in check_pages([folder / "index.html"]) for problem in problems(result)]
    assert found == []

"""Reports built from the files NHS Digital published state what NHS Digital stated.

The figures looked for are NHS Digital's own published statements (issue 4). Each build is
shared by one test so that parallel runs (pytest -n) build it once. Skipped, with the reason,
when ../shared/data/published is not present.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from iapt_report.report.build import BuildConfig, build_reports
from iapt_report.report.render import BANNER_TEXT
from iapt_report.report.report_content import read_html

PUBLISHED = Path(__file__).resolve().parents[2] / "shared" / "data" / "published"
MONTHLY = PUBLISHED / "monthly_2021-01_to_2025-12.parquet"
ANNUAL = PUBLISHED / "annual_2017-18_to_2024-25.parquet"
LEGACY = PUBLISHED / "annual_legacy_2013-14_to_2016-17.parquet"
PROVIDER = "NLS"  # Trent PTS: internet-enabled therapy sessions suppressed in June 2021
ICB = "QGH"  # Herefordshire and Worcestershire: "Other recorded problems" outcomes suppressed in 2022-23


def needs(path: Path):
    return pytest.mark.skipif(not path.exists(), reason=f"published data file {path} not present")


def build(tmp_path_factory, kind, periods, orgs, source, trend_months=13):
    output = tmp_path_factory.mktemp("published")
    config = BuildConfig(kind=kind, periods=periods, orgs=orgs, published=source, output=output,
                         trend_months=trend_months, renderer="fallback")
    results = build_reports(config)
    for r in results:
        assert r.error is None, f"{r.period} {r.org}: {r.error}"
    return output


def text(folder: Path) -> str:
    page = (folder / "report.html").read_text(encoding="utf-8")
    page = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)).replace("( ", "(").replace(" )", ")")


def assert_real_data_report(folder: Path, source: Path) -> str:
    page = text(folder)
    assert BANNER_TEXT not in page and "synthetic" not in page.lower()
    assert f"Source: NHS Digital/NHS England published statistics, {source.name}" in page
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["parameters"]["synthetic"] is False and manifest["parameters"]["published_file"] is True
    return page


@needs(MONTHLY)
def test_monthly_england_reports_state_nhs_digitals_figures(tmp_path_factory):
    output = build(tmp_path_factory, "monthly", ["2021-04", "2021-05", "2021-06"], ["England"], MONTHLY,
                   trend_months=3)
    april = assert_real_data_report(output / "monthly" / "2021-04" / "England", MONTHLY)
    may = assert_real_data_report(output / "monthly" / "2021-05" / "England", MONTHLY)
    june = assert_real_data_report(output / "monthly" / "2021-06" / "England", MONTHLY)
    # June 2021: 92.5% of the 58,421 referrals that finished a course started treatment within 6 weeks
    assert "92.5% of the 58,421 referrals that finished a course of treatment had waited 6 weeks or less" in june
    # May 2021: recovery 52.5%
    assert "the recovery rate was 52.5%" in may and "Of those that started treatment at caseness, 52.5% moved to " \
        "recovery" in may
    # April 2021: 139,757 referrals received and 49,577 internet-enabled therapy sessions
    assert "139,757 new referrals were received" in april and "49,577 internet-enabled therapy sessions" in april
    # the latest month against the one before, and the trend over the months the build holds
    assert "153,472 referrals were received in June 2021, up 4.1% from 147,394 in May 2021" in june
    assert "Referrals received rose to 153,472 in June 2021 from 147,394 in May 2021" in june
    measures = pd.read_csv(output / "monthly" / "2021-06" / "England" / "measures.csv", dtype=str,
                           keep_default_na=False)
    england = measures[measures.GROUP_TYPE == "England"].set_index("MEASURE_ID").MEASURE_VALUE_SUPPRESSED
    assert england["M052"] == "54021" and england["M053"] == "92.5"


@needs(MONTHLY)
def test_monthly_provider_report_shows_suppressed_cells_as_suppressed(tmp_path_factory):
    output = build(tmp_path_factory, "monthly", ["2021-06"], [PROVIDER], MONTHLY, trend_months=2)
    folder = output / "monthly" / "2021-06" / PROVIDER
    page = assert_real_data_report(folder, MONTHLY)
    assert "TRENT PTS (NLS)" in page  # real organisation name and code
    measures = pd.read_csv(folder / "measures.csv", dtype=str, keep_default_na=False)
    assert set(measures.ORG_CODE2) == {PROVIDER}
    own = measures.set_index("MEASURE_ID").MEASURE_VALUE_SUPPRESSED
    assert own["M343"] == "*" and own["M001"] == "2780"  # as NHS Digital published them
    # a suppressed figure is never inside a sentence: its line is left out, its table cell is *
    assert "internet-enabled therapy sessions took place" not in page and "fewer than 5 internet" not in page
    [key_facts] = [table for table in read_html(folder / "report.html").tables if table.caption.startswith("Key facts")]
    assert ["Internet-enabled therapy sessions", "*"] in key_facts.rows
    assert "2,780 new referrals were received" in page
    assert " 0 internet-enabled" not in page
    # no percentage from two counts each rounded to 5 (M036 and M031 are rounded in the file)
    assert "had waited 6 weeks or less and" not in page
    assert "Of the 2,200 referrals that entered treatment" not in page


@needs(ANNUAL)
def test_annual_england_reports_2017_18_to_2021_22(tmp_path_factory):
    statements = {  # NHS Digital's annual reports: referrals, finished a course, recovery rate
        "2017-18": ("1.44 million", "554,709", "50.8%"),
        "2018-19": ("1.60 million", "582,556", "52.1%"),
        "2019-20": ("1.69 million", "606,192", "51.1%"),
        "2020-21": ("1.46 million", "634,649", "51.4%"),
        "2021-22": ("1.81 million", "664,087", "50.2%"),
    }
    output = build(tmp_path_factory, "annual", list(statements), ["England"], ANNUAL)
    for year, (referrals, finished, recovery) in statements.items():
        page = assert_real_data_report(output / "annual" / year / "England", ANNUAL)
        assert f"({referrals}) new referrals were received" in page, year
        assert f"{finished} referrals finished a course of treatment" in page, year
        assert f"the recovery rate was {recovery}" in page, year
        # parts whose measures the annual file lacks say so in one line instead of failing
        assert "Referrals by source are not in the source for" in page, year
    # the annual tables hold waits as a breakdown of finished courses (NHS Digital: 90.0% in 2020-21)
    assert "90.0% of the 634,649 referrals that finished a course of treatment had waited 6 weeks or less" in \
        text(output / "annual" / "2020-21" / "England")
    # the trend is the whole series: 2020-21 fell from the 2019-20 peak
    assert "Referrals received fell to 1,456,446 in 2020-21 from a peak of 1,694,790 in 2019-20" in \
        text(output / "annual" / "2020-21" / "England")
    last = text(output / "annual" / "2021-22" / "England")
    assert "Referrals received rose to 1,812,596 in 2021-22 from 1,456,446 in 2020-21, the highest of the 5 years " \
           "shown" in last
    # 2020-21 is before ICBs: the areas are STPs; the problem descriptors include every group published
    page = text(output / "annual" / "2020-21" / "England")
    assert "Across the 42 STPs" in page and "UNKNOWN" not in page
    assert "Recovery was highest for Other recorded problems (53.7%) and lowest for Other Mental Health problems " \
           "(48.8%)" in page


@needs(ANNUAL)
def test_annual_icb_report_shows_suppressed_cells_as_suppressed(tmp_path_factory):
    output = build(tmp_path_factory, "annual", ["2022-23"], [ICB], ANNUAL)
    folder = output / "annual" / "2022-23" / ICB
    page = assert_real_data_report(folder, ANNUAL)
    assert f"HEREFORDSHIRE AND WORCESTERSHIRE INTEGRATED CARE BOARD ({ICB})" in page
    rows = [row for table in read_html(folder / "report.html").tables for row in table.rows]
    row = next(row for row in rows if row[0] == "Other recorded problems")
    assert row[1:] == ["*", "*"]  # suppressed as published, never zero
    measures = pd.read_csv(folder / "measures.csv", dtype=str, keep_default_na=False)
    assert set(measures.ORG_CODE1) == {ICB} and "*" in set(measures.MEASURE_VALUE_SUPPRESSED)
    assert "Census populations used for rates are for England as a whole" in page  # no Census rates for an ICB


@needs(LEGACY)
def test_every_legacy_year_builds_with_demographics_and_ethnicity(tmp_path_factory):
    years = ["2013-14", "2014-15", "2015-16", "2016-17"]
    output = build(tmp_path_factory, "annual", years, ["England"], LEGACY)
    for year in years:
        page = assert_real_data_report(output / "annual" / year / "England", LEGACY)
        assert "counted people, not referrals, by gender and age group" in page, year
        assert re.search(r"There were [\d,.]+ people referred per 100,000 women", page), year
        assert "People referred" in page, year
    ethnicity = text(output / "annual" / "2013-14" / "England")
    assert "counted people, not referrals, by ethnic group" in ethnicity
    assert re.search(r"Relative to their share of the population, [A-Za-z ,]+ were over-represented", ethnicity)
    for year in years[1:]:  # later legacy tables break down only outcomes by ethnic group: finished courses
        later = text(output / "annual" / year / "England")
        assert "people who finished a course of treatment per 100,000 people aged 16 and over" in later
        assert re.search(r"Relative to their share of the population, [A-Za-z ,]+ were over-represented", later)
        assert "publish no row for people who finished a course of treatment whose ethnicity was not stated" in later
        # the outcome rows are categories only; the groups' rates come from their summed counts
        assert "Outcomes by ethnic group are not in the source" not in later
        assert re.search(r"Recovery was highest for [A-Za-z ]+ \([\d.]+%\) and lowest for", later)
        assert "areas and providers are not compared" in later  # the legacy file is England only

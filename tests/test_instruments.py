"""instruments.csv: every row names its public source and says what is verified; the report's
notes name exactly the instruments whose code, range or thresholds are not verified."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from iapt_report.data.periods import Period
from iapt_report.engine.measures import MEASURE_COLUMNS
from iapt_report.reference import code_lists, instruments, unverified_instruments
from iapt_report.report import safe_text
from iapt_report.report.report_data import ReportData
from iapt_report.report.sections import about

ROWS = list(instruments().values())


@pytest.mark.parametrize("row", ROWS, ids=[row["instrument"] for row in ROWS])
def test_every_instrument_names_its_source_and_what_is_not_verified(row):
    assert row["code_verified"] in ("yes", "no") and row["values_verified"] in ("yes", "no")
    # a source a reader can find: a web address, or a named document with a section or measure ID
    assert re.search(r"https://|measure definitions|Data Dictionary|M\d{3}", row["source"]), row["source"]
    verified = row["code_verified"] == "yes" and row["values_verified"] == "yes"
    assert (row["not_verified"] == "") == verified  # a reason exactly when something is unverified
    if row["code_verified"] != "yes":
        assert "SNOMED CT code" in row["not_verified"]
    assert row["snomed_code"].strip() and row["description"].strip()
    assert "," not in row["description"]  # the notes list descriptions separated by commas


@pytest.mark.parametrize("row", ROWS, ids=[row["instrument"] for row in ROWS])
def test_every_instrument_has_a_usable_range_and_thresholds(row):
    low, high, threshold, change = row["score_min"], row["score_max"], row["caseness_threshold"], row["reliable_change"]
    assert row["caseness_operator"] in ("ge", "gt")
    assert low < threshold <= high
    assert 0 < change < high - low


def test_snomed_codes_are_unique():
    codes = [row["snomed_code"] for row in ROWS]
    assert len(codes) == len(set(codes))


def test_every_anxiety_measure_named_for_a_problem_descriptor_has_an_instrument():
    # BIQ, IBS, CFQ and MUS (data set v2.1) included: none falls back to the GAD-7 for want of a row
    named = {name for _prefix, name in code_lists()["adsm_for_problem_descriptor"]}
    assert named == {"AgoraAlone", "SocialPhobia", "PanicDisorder", "OCD", "PTSD", "AnxietyInventory",
                     "BIQ", "IBS", "CFQ", "MUS"}
    assert named <= set(instruments())


def test_placeholder_codes_are_not_snomed_codes():
    # an unverified code that is only a placeholder must never match a real record's (digits only)
    for row in ROWS:
        if row["snomed_code"].startswith("UNVERIFIED-"):
            assert row["code_verified"] == "no" and "placeholder" in row["not_verified"]
        else:
            assert row["snomed_code"].isdigit() and verhoeff_valid(row["snomed_code"]), row["snomed_code"]


# Verhoeff's tables: a SNOMED CT identifier's last digit is its Verhoeff check digit
_D = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
      [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
      [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
      [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
      [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
      [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]


def verhoeff_valid(code: str) -> bool:
    check = 0
    for position, digit in enumerate(reversed(code)):
        check = _D[check][_P[position % 8][int(digit)]]
    return check == 0


def test_the_check_digit_test_knows_real_and_mistyped_snomed_codes():
    # PHQ-9 and GAD-7 total scores are real identifiers; the ADSM codes this file held before
    # (747871000000105 ... 747921000000104) fail the check digit, which is why they were replaced
    assert verhoeff_valid("720433000") and verhoeff_valid("445455005")
    assert not any(verhoeff_valid(code) for code in ("747871000000105", "747881000000107", "747891000000109",
                                                     "747901000000108", "747911000000105", "747921000000104"))
    assert not verhoeff_valid("720433001")


def test_unverified_instruments_are_read_from_the_file():
    names = [row["instrument"] for row in unverified_instruments()]
    expected = [row["instrument"] for row in ROWS if "no" in (row["code_verified"], row["values_verified"])]
    assert names == expected
    assert "PHQ9" not in names and "GAD7" not in names and "BIQ" in names


def test_the_note_names_exactly_the_unverified_instruments():
    unverified = unverified_instruments()
    note = about.instruments_note(unverified)
    for row in ROWS:
        assert (row["description"] in note) == (row in unverified), row["instrument"]
    assert about.instruments_note([]) == ""  # nothing to say when all are verified
    one = about.instruments_note([{"description": "Test Scale (TS)"}])
    assert ": Test Scale (TS). " in one


def _england() -> ReportData:
    row = {"REPORTING_PERIOD_START": "2020-09-01", "REPORTING_PERIOD_END": "2020-09-30", "GROUP_TYPE": "England",
           "ORG_CODE1": "all", "ORG_NAME1": "all", "ORG_CODE2": "all", "ORG_NAME2": "all",
           "VARIABLE_TYPE": "Total", "VARIABLE_A": "Total", "VARIABLE_B": "Total", "MEASURE_ID": "M001",
           "MEASURE_NAME": "Count_ReferralsReceived", "STATISTIC": "count", "BASE_MEASURE_ID": "",
           "MEASURE_VALUE": 100.0}
    frame = pd.DataFrame([row])[[c for c in MEASURE_COLUMNS if c in row]]
    return ReportData(frame, Period.parse("2020-09"))


def test_the_report_notes_carry_the_instruments_note(monkeypatch):
    data = _england()
    computed = about.about_statements(data, synthetic=False, published_name=None)
    assert computed["instruments_note"] == about.instruments_note(unverified_instruments())
    assert about.about_statements(data, synthetic=True, published_name=None)["instruments_note"]
    # a published file's figures were not computed with these instruments: no note
    assert about.about_statements(data, synthetic=False, published_name="x.csv")["instruments_note"] == ""
    # all verified: the note is "" and the report drops its line
    monkeypatch.setattr(about, "unverified_instruments", lambda: [])
    assert about.about_statements(data, synthetic=False, published_name=None)["instruments_note"] == ""


def test_docs_table_matches_the_file():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "instruments.md").read_text(encoding="utf-8")
    sign = {"ge": "≥", "gt": ">"}
    for row in ROWS:
        line = (f"| {row['instrument']} | `{row['snomed_code']}` | {row['description']} | "
                f"{row['score_min']:g} to {row['score_max']:g} | {sign[row['caseness_operator']]} "
                f"{row['caseness_threshold']:g} | {row['reliable_change']:g} | {row['code_verified']} | "
                f"{row['values_verified']} |")
        assert line in doc, row["instrument"]
        assert row["source"] in doc and row["not_verified"] in doc


def test_the_note_reaches_the_report_sources(tmp_path):
    import yaml

    from iapt_report.report.build import report_folder

    root = Path(__file__).resolve().parents[1]
    notes = (root / "report" / "sections" / "notes.qmd").read_text(encoding="utf-8")
    assert "\n{{< var about.instruments_note >}}\n" in notes  # a line of its own: dropped when ""
    data = _england()
    report_folder._write_about(tmp_path, False, data, data.period)
    written = yaml.safe_load((tmp_path / "variables" / "about.yml").read_text(encoding="utf-8"))
    # the names, read from a file, are escaped as Markdown text like every other about.* value
    assert written["about"]["instruments_note"] == safe_text.markdown(about.instruments_note(unverified_instruments()))
    assert "Obsessive\\-Compulsive Inventory \\(OCI\\)" in written["about"]["instruments_note"]

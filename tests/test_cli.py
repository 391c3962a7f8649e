"""The command line end to end: the measures job on a small dataset, bad input, reproducibility."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from fixtures_dataset import tiny_dataset, write_dataset
from iapt_report.cli import main
from iapt_report.engine.disclosure import is_publishable_cell


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    write_dataset(tiny_dataset(), folder, "csv")
    return folder


def test_help_names_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "synthesize" in text and "measures" in text


def test_synthesize_can_write_over_its_own_earlier_dataset(tmp_path):
    """`make report` synthesizes into the same folder every time it runs."""
    arguments = ["synthesize", "--start", "2020-08-01", "--end", "2020-09-30", "--scale", "0.001",
                 "--out", str(tmp_path / "synthetic")]
    assert main(arguments) == 0
    first = (tmp_path / "synthetic" / "IDS101Referral.parquet").read_bytes()
    assert (tmp_path / "synthetic" / "_synthetic.json").is_file()

    assert main(arguments) == 0

    assert (tmp_path / "synthetic" / "IDS101Referral.parquet").read_bytes() == first
    assert (tmp_path / "synthetic" / "_synthetic.json").is_file()


def test_measures_writes_a_complete_folder(data_dir, tmp_path):
    out = tmp_path / "out"
    assert main(["measures", "--period", "2020-09", "--data", str(data_dir), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json", "measures.csv", "measures_unrounded.parquet", "metadata.csv"
    ]
    published = pd.read_csv(out / "measures.csv", dtype=str, keep_default_na=False)
    assert list(published.columns) == [
        "REPORTING_PERIOD_START", "REPORTING_PERIOD_END", "GROUP_TYPE", "ORG_CODE1", "ORG_NAME1",
        "ORG_CODE2", "ORG_NAME2", "MEASURE_ID", "MEASURE_NAME", "MEASURE_VALUE_SUPPRESSED",
    ]
    assert set(published.GROUP_TYPE) == {"England", "CommissioningRegion", "ICB", "SubICB", "Provider"}
    metadata = pd.read_csv(out / "metadata.csv")
    # the tiny dataset is an older extract: the measures needing the v2.1 tables are listed, not computed
    assert set(published.MEASURE_ID) == set(metadata.MEASURE_ID[metadata.COMPUTED == "yes"])
    assert set(metadata.MEASURE_ID[metadata.COMPUTED == "no"]) == set(json.loads(
        (out / "manifest.json").read_text())["not_computed"]) == {"M237"}
    # every cell below England obeys disclosure control
    statistics = dict(zip(metadata.MEASURE_ID, metadata.STATISTIC))
    for row in published.itertuples():
        assert is_publishable_cell(row.GROUP_TYPE, statistics[row.MEASURE_ID], row.MEASURE_VALUE_SUPPRESSED), row
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["period"] == "2020-09"
    assert set(manifest["inputs"]) == {p.name for p in data_dir.iterdir()}
    assert manifest["outputs"]["measures.csv"]
    assert manifest["versions"]["ibis-framework"]


def test_same_inputs_give_byte_identical_csvs(data_dir, tmp_path):
    for run in ("a", "b"):
        assert main(["measures", "--period", "2020-21", "--data", str(data_dir), "--out", str(tmp_path / run)]) == 0
    for name in ("measures.csv", "metadata.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    annual = pd.read_csv(tmp_path / "a" / "measures.csv", dtype=str)
    assert {"VARIABLE_TYPE", "VARIABLE_A", "VARIABLE_B"} <= set(annual.columns)  # annual breakdowns


def test_several_periods_write_one_folder_each(data_dir, tmp_path):
    out = tmp_path / "out"
    # (the tiny dataset's events run from June to September 2020: a later month would be refused)
    args = ["measures", "--period", "2020-08", "--period", "2020-09", "--data", str(data_dir), "--out", str(out)]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["2020-08", "2020-09"]


def test_bad_input_exits_non_zero_and_writes_nothing(data_dir, tmp_path, capsys):
    referrals = pd.read_csv(data_dir / "IDS101Referral.csv", dtype=str)
    referrals.loc[0, "ServDischDate"] = "1999-01-01"  # before the referral date
    referrals.to_csv(data_dir / "IDS101Referral.csv", index=False)
    out = tmp_path / "out"
    code = main(["measures", "--period", "2020-09", "--data", str(data_dir), "--out", str(out)])
    assert code != 0
    message = capsys.readouterr().err
    assert "IDS101Referral.csv" in message and "ServDischDate" in message
    assert not out.exists()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no staging folder left


def test_bad_period_is_a_clear_error(data_dir, tmp_path, capsys):
    code = main(["measures", "--period", "2020-13", "--data", str(data_dir), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "2020-13" in capsys.readouterr().err


def test_version_names_the_package_and_its_engines(capsys):
    from importlib import metadata

    from iapt_report import __version__

    assert main(["--version"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"iapt-report {__version__}"
    for name in ("duckdb", "ibis-framework", "pandas"):
        assert f"{name} {metadata.version(name)}" in lines
    assert any(line.startswith("quarto ") for line in lines)  # its version, or that it was not found


def test_check_reports_dates_and_table_sizes_of_a_clean_dataset(data_dir, capsys):
    from iapt_report.data.schema import EVENT_DATE_COLUMNS

    tables = tiny_dataset()
    days = pd.concat([pd.to_datetime(tables[table][column]) for table, column in EVENT_DATE_COLUMNS
                      if table in tables]).dropna()
    assert main(["check", "--data", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert f"event dates: {days.min():%Y-%m-%d} to {days.max():%Y-%m-%d}" in out
    for table, frame in tables.items():
        assert re.search(rf"^  {table} +{len(frame):,}$", out, re.M), table
    # an older extract: the optional v2.1 tables are absent, and said to be
    assert re.search(r"^  IDS004EmpStatus +absent \(optional: its measures are not computable\)$", out, re.M)
    assert out.rstrip().endswith("no problems found")


def test_check_lists_the_problems_and_exits_2(data_dir, tmp_path, capsys):
    referrals = pd.read_csv(data_dir / "IDS101Referral.csv", dtype=str)
    referrals.loc[0, "ServDischDate"] = "1999-01-01"  # before the referral date
    referrals.to_csv(data_dir / "IDS101Referral.csv", index=False)
    (data_dir / "IDS201CareContact.csv").unlink()
    assert main(["check", "--data", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert "IDS101Referral.csv" in err and "ServDischDate" in err
    assert "IDS201CareContact" in err and "table file not found" in err
    assert re.search(rf"^  IDS101Referral +{len(referrals):,}$", err, re.M)  # sizes still given where readable
    assert re.search(r"^  IDS201CareContact +not read$", err, re.M)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())

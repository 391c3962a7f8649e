"""Datasets checked and read by DuckDB where their files lie (iapt_report.data.checks and .dataset).

Typed Parquet files become views over the files; CSV files are read as text and checked by the
same SQL. Each hand-built broken dataset must give, from Parquet and from CSV, the message that
the earlier implementation (pandas and pandera, with a second set of in-place checks) gave:
those messages were recorded from it in tests/validation_messages.json.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.parquet as pq
import pytest

from fixtures_dataset import tiny_dataset, v21_dataset, write_dataset
from iapt_report.data import checks, schema, store
from iapt_report.data.dataset import load_dataset
from iapt_report.data.problems import DatasetError
from iapt_report.sources import synthetic

MESSAGES = json.loads((Path(__file__).parent / "validation_messages.json").read_text(encoding="utf-8"))


def views(loaded: store.Dataset) -> set[str]:
    return {name for (name,) in loaded.backend.con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary").fetchall()}


def assert_same_tables(one: store.Dataset, other: store.Dataset) -> None:
    assert set(one) == set(other)
    for table in one:
        pd.testing.assert_frame_equal(one[table], other[table], obj=table)
        assert one.backend.table(table).schema() == other.backend.table(table).schema(), table


def test_a_clean_parquet_dataset_is_read_in_place_through_views(tmp_path):
    write_dataset(v21_dataset(), tmp_path)

    loaded = load_dataset(tmp_path)

    assert views(loaded) == set(schema.TABLE_NAMES)
    assert loaded.sources["OrgProvider"] == str(tmp_path / "OrgProvider.parquet")
    for table, spec in schema.TABLES.items():
        types = dict(zip(*loaded.backend.con.execute(
            f'SELECT column_name, data_type FROM information_schema.columns WHERE table_name = \'{table}\'').fetchnumpy().values()))
        for column, column_spec in spec["columns"].items():
            assert types[column] == checks.VIEW_TYPES[column_spec["type"]], (table, column)


def test_a_synthetic_dataset_loads_the_same_from_parquet_as_from_csv(tmp_path):
    tables = synthetic.generate(date(2020, 4, 1), date(2020, 9, 30), scale=0.002)
    synthetic.write_dataset(tables, tmp_path / "parquet")
    write_dataset(tables, tmp_path / "csv", "csv")

    from_parquet, from_csv = load_dataset(tmp_path / "parquet"), load_dataset(tmp_path / "csv")

    assert views(from_parquet) == set(tables) and views(from_csv) == set()
    assert_same_tables(from_parquet, from_csv)
    assert len(from_parquet["IDS201CareContact"]) == len(tables["IDS201CareContact"]) > 1000


def test_values_are_tidied_where_they_lie(tmp_path):
    tables = tiny_dataset()
    contacts = tables["IDS201CareContact"]
    contacts["AttendOrDNACode"] = pd.Series([" 5", "05", "5\t", "03", "5"], dtype="str")
    contacts["AppType"] = pd.Series(["1", "2", " 2 ", "01", "003"], dtype="str")
    contacts["ConsMechanism"] = pd.Series(["1", "98", "", None, "0"], dtype="str")
    contacts["PathwayID"] = pd.Series(["\u00a0P0001 ", "P0001\n", "P0001", "\u3000P0002", "P0003"], dtype="str")
    patients = tables["IDS001MPI"]
    patients["Gender"] = pd.Series(["  ", "1", "2", "9\u2003"], dtype="str")
    # dates with a time of day, whole numbers and codes stored as numbers, a score stored as an integer
    referrals = tables["IDS101Referral"]
    referrals["ReferralRequestReceivedDate"] = referrals["ReferralRequestReceivedDate"] + pd.Timedelta(hours=13)
    tables["IDS603PresentingComplaints"]["UniqueID_IDS603"] = np.array([1, 2, 3], dtype="int32")
    tables["IDS202CareActivity"]["CodeProcAndProcStatus"] = np.array([304891004, 304891004, 748051000000105])
    tables["IDS606CodedScoreAssessmentRefer"]["PersScore"] = np.array([15, 12, 6, 5], dtype="int64")
    write_dataset(tables, tmp_path)
    # a date column written as Parquet DATE rather than a timestamp
    path = tmp_path / "IDS205InternetTherLog.parquet"
    logs = pq.read_table(path)
    column = logs.schema.get_field_index("StartDateIntEnabledTherLog")
    pq.write_table(logs.set_column(column, "StartDateIntEnabledTherLog",
                                   logs.column(column).cast(pyarrow.date32())), path)

    in_place = load_dataset(tmp_path)

    assert views(in_place) == set(tables)
    loaded = in_place["IDS201CareContact"]
    assert loaded["AttendOrDNACode"].tolist() == ["5", "5", "5", "3", "5"]
    assert loaded["AppType"].tolist() == ["01", "02", "02", "01", "03"]
    assert loaded["ConsMechanism"].tolist()[:2] == ["01", "98"] and loaded["ConsMechanism"][2:4].isna().all()
    assert loaded["PathwayID"].tolist() == ["P0001", "P0001", "P0001", "P0002", "P0003"]
    assert in_place["IDS001MPI"]["Gender"].isna().tolist() == [True, False, False, False]
    assert in_place["IDS001MPI"]["Gender"][3] == "9"
    assert in_place["IDS101Referral"]["ReferralRequestReceivedDate"][0] == pd.Timestamp("2020-06-01")
    assert in_place["IDS603PresentingComplaints"]["UniqueID_IDS603"].tolist() == [1, 2, 3]
    assert in_place["IDS202CareActivity"]["CodeProcAndProcStatus"].tolist()[2] == "748051000000105"
    assert in_place["IDS606CodedScoreAssessmentRefer"]["PersScore"].tolist() == [15.0, 12.0, 6.0, 5.0]
    assert in_place["IDS205InternetTherLog"]["StartDateIntEnabledTherLog"].dtype == "datetime64[ms]"


def _missing_required(tables):
    tables["IDS101Referral"].loc[1, "OrgIDComm"] = None


def _below_minimum(tables):
    tables["IDS201CareContact"].loc[0, "ClinContDurOfCareCont"] = -5


def _above_maximum(tables):
    tables["IDS001MPI"].loc[0, "IndicesOfDeprivationDecile"] = 11


def _unknown_code(tables):
    tables["IDS201CareContact"].loc[2, "AppType"] = "7"


def _code_that_is_only_spaces_and_required(tables):
    tables["IDS201CareContact"].loc[2, "AppType"] = "  "


def _repeated_key(tables):
    tables["IDS201CareContact"].loc[1, "CareContactId"] = " C001"


def _dates_out_of_order(tables):
    tables["IDS101Referral"].loc[0, "ServDischDate"] = pd.Timestamp("2020-05-01")


def _unknown_reference(tables):
    tables["IDS606CodedScoreAssessmentRefer"].loc[3, "PathwayID"] = "P9999"


def _unknown_organisation(tables):
    tables["IDS101Referral"].loc[3, "OrgID_Provider"] = "PRV99"


def _empty_table(tables):
    tables["OrgProvider"] = tables["OrgProvider"].iloc[0:0]


def _infinite_score(tables):
    tables["IDS606CodedScoreAssessmentRefer"].loc[0, "PersScore"] = np.inf


def _missing_score(tables):
    tables["IDS606CodedScoreAssessmentRefer"].loc[0, "PersScore"] = np.nan


def _missing_column(tables):
    tables["IDS101Referral"] = tables["IDS101Referral"].drop(columns="ServDischDate")


def _date_stored_as_text(tables):
    tables["IDS201CareContact"]["CareContDate"] = tables["IDS201CareContact"]["CareContDate"].dt.strftime("%d/%m/%Y")


def _wrong_types_and_an_impossible_date(tables):
    for row, value in {0: "abc", 1: -3}.items():
        tables["IDS201CareContact"]["ClinContDurOfCareCont"] = tables["IDS201CareContact"]["ClinContDurOfCareCont"].astype(object)
        tables["IDS201CareContact"].loc[row, "ClinContDurOfCareCont"] = value
    tables["IDS603PresentingComplaints"]["UniqueID_IDS603"] = tables["IDS603PresentingComplaints"]["UniqueID_IDS603"].astype(object)
    tables["IDS603PresentingComplaints"].loc[0, "UniqueID_IDS603"] = "x1"
    tables["IDS001MPI"]["PersonBirthDate"] = tables["IDS001MPI"]["PersonBirthDate"].astype(object)
    tables["IDS001MPI"].loc[1, "PersonBirthDate"] = "1900-02-30"


def _scores_references_and_bounds_together(tables):
    tables["IDS606CodedScoreAssessmentRefer"].loc[1, "PersScore"] = 99
    tables["IDS606CodedScoreAssessmentRefer"].loc[2, "PersScore"] = -1
    tables["IDS101Referral"].loc[2, "RecordNumber"] = "R404"
    tables["IDS001MPI"].loc[0, "IndicesOfDeprivationDecile"] = 0


BREAKS = [
    _missing_required, _below_minimum, _above_maximum, _unknown_code, _code_that_is_only_spaces_and_required,
    _repeated_key, _dates_out_of_order, _unknown_reference, _unknown_organisation, _empty_table,
    _infinite_score, _missing_score, _missing_column, _date_stored_as_text,
    _wrong_types_and_an_impossible_date, _scores_references_and_bounds_together,
]


@pytest.mark.parametrize("break_it, fmt", [(break_it, fmt) for break_it in BREAKS for fmt in ("parquet", "csv")
                                            if fmt in MESSAGES[break_it.__name__.lstrip("_")]])
def test_each_hand_built_problem_gives_the_message_it_always_gave(tmp_path, break_it, fmt):
    # (a column of mixed text and numbers cannot be written as Parquet: that case is CSV only)
    tables = tiny_dataset()
    break_it(tables)
    write_dataset(tables, tmp_path, fmt)

    with pytest.raises(DatasetError) as caught:
        load_dataset(tmp_path)

    assert str(caught.value).replace(str(tmp_path), "DIR") == MESSAGES[break_it.__name__.lstrip("_")][fmt]


def test_an_older_extract_is_read_in_place_without_its_absent_optional_tables(tmp_path):
    write_dataset(tiny_dataset(), tmp_path)

    loaded = load_dataset(tmp_path)

    assert views(loaded) == set(schema.TABLE_NAMES) - schema.OPTIONAL_TABLES == set(loaded)
    assert "ExBAFIndicator" not in loaded.backend.table("IDS001MPI").columns


def _v21_problems(tables):
    tables["IDS004EmpStatus"].loc[2, "RecordNumber"] = "R404"
    tables["IDS004EmpStatus"].loc[0, "EmployStatusRecDate"] = None
    tables["IDS007DisabilityType"].loc[1, "UniqueID_IDS007"] = "D001"
    tables["IDS011SocPerCircumstances"].loc[2, "SocPerCircumstance"] = None
    tables["IDS602LongTermCondition"].loc[0, "PathwayID"] = "P0404"
    tables["IDS607CodedScoreAssessmentAct"].loc[0, "PersScore"] = 30.0


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_problems_in_the_v21_tables_give_the_usual_messages(tmp_path, fmt):
    tables = v21_dataset()
    _v21_problems(tables)
    write_dataset(tables, tmp_path, fmt)

    with pytest.raises(DatasetError) as caught:
        load_dataset(tmp_path)

    assert str(caught.value).replace(str(tmp_path), "DIR") == MESSAGES["v21_problems"][fmt]


def test_an_unreadable_parquet_file_is_reported(tmp_path):
    write_dataset(tiny_dataset(), tmp_path)
    (tmp_path / "IDS101Referral.parquet").write_bytes(b"not parquet at all")

    with pytest.raises(DatasetError, match=r"IDS101Referral.parquet: the file could not be read as Parquet"):
        load_dataset(tmp_path)


def test_a_csv_table_is_copied_into_duckdb_and_the_parquet_tables_stay_views(tmp_path):
    tables = tiny_dataset()
    write_dataset(tables, tmp_path)
    (tmp_path / "OrgProvider.parquet").unlink()
    tables["OrgProvider"].to_csv(tmp_path / "OrgProvider.csv", index=False)

    loaded = load_dataset(tmp_path)

    assert views(loaded) == set(tables) - {"OrgProvider"}
    assert len(loaded["OrgProvider"]) == 3


def test_a_schema_rule_the_checks_do_not_know_is_refused(tmp_path, monkeypatch):
    write_dataset(tiny_dataset(), tmp_path)
    columns = {**schema.TABLES["IDS101Referral"]["columns"],
               "EndCode": {**schema.TABLES["IDS101Referral"]["columns"]["EndCode"], "pattern": "[0-9]+"}}
    tables = {**schema.TABLES, "IDS101Referral": {**schema.TABLES["IDS101Referral"], "columns": columns}}
    monkeypatch.setattr("iapt_report.data.checks.TABLES", tables)

    with pytest.raises(ValueError, match="pattern"):
        load_dataset(tmp_path)

"""Typed Parquet datasets checked and read in place by DuckDB (iapt_report.data.parquet_dataset).

The in-place path must load a clean dataset exactly as the pandas path does, and must never
accept a dataset that the pandas path would refuse: any problem sends the load to pandas,
which reports it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.parquet as pq
import pytest

from fixtures_dataset import tiny_dataset, write_dataset
from iapt_report.data import schema, store
from iapt_report.data.dataset import load_dataset
from iapt_report.data.parquet_dataset import open_parquet_dataset
from iapt_report.data.problems import DatasetError
from iapt_report.sources import synthetic


def located(folder: Path) -> dict[str, Path]:
    return {table: folder / f"{table}.parquet" for table in schema.TABLE_NAMES}


def views(loaded: store.Dataset) -> set[str]:
    return {name for (name,) in loaded.backend.con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}


def loaded_both_ways(folder: Path) -> tuple[store.Dataset, store.Dataset]:
    in_place = load_dataset(folder)
    through_pandas = load_dataset(folder, parquet_in_place=False)
    assert views(in_place) == set(schema.TABLE_NAMES)
    assert views(through_pandas) == set()
    return in_place, through_pandas


def assert_same_tables(in_place: store.Dataset, through_pandas: store.Dataset) -> None:
    for table in schema.TABLE_NAMES:
        pd.testing.assert_frame_equal(in_place[table], through_pandas[table], obj=table)
        assert (in_place.backend.table(table).schema() == through_pandas.backend.table(table).schema()), table


def test_a_clean_parquet_dataset_is_read_in_place_through_views(tmp_path):
    write_dataset(tiny_dataset(), tmp_path)

    loaded = load_dataset(tmp_path)

    assert views(loaded) == set(schema.TABLE_NAMES)
    assert loaded.sources["OrgProvider"] == str(tmp_path / "OrgProvider.parquet")


def test_a_synthetic_dataset_loads_the_same_in_place_as_through_pandas(tmp_path):
    tables = synthetic.generate(date(2020, 4, 1), date(2020, 9, 30), scale=0.002)
    synthetic.write_dataset(tables, tmp_path / "data")

    in_place, through_pandas = loaded_both_ways(tmp_path / "data")

    assert_same_tables(in_place, through_pandas)
    assert len(in_place["IDS201CareContact"]) == len(tables["IDS201CareContact"]) > 1000


def test_values_are_tidied_in_place_as_pandas_tidies_them(tmp_path):
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

    in_place, through_pandas = loaded_both_ways(tmp_path)

    assert_same_tables(in_place, through_pandas)
    loaded = in_place["IDS201CareContact"]
    assert loaded["AttendOrDNACode"].tolist() == ["5", "5", "5", "3", "5"]
    assert loaded["AppType"].tolist() == ["01", "02", "02", "01", "03"]
    assert loaded["ConsMechanism"].tolist()[:2] == ["01", "98"] and loaded["ConsMechanism"][2:4].isna().all()
    assert loaded["PathwayID"].tolist() == ["P0001", "P0001", "P0001", "P0002", "P0003"]
    assert in_place["IDS001MPI"]["Gender"].isna().tolist() == [True, False, False, False]
    assert in_place["IDS101Referral"]["ReferralRequestReceivedDate"][0] == pd.Timestamp("2020-06-01")


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


@pytest.mark.parametrize("break_it", [
    _missing_required, _below_minimum, _above_maximum, _unknown_code, _code_that_is_only_spaces_and_required,
    _repeated_key, _dates_out_of_order, _unknown_reference, _unknown_organisation, _empty_table,
    _infinite_score, _missing_score, _missing_column, _date_stored_as_text,
])
def test_any_problem_sends_the_load_to_pandas_which_reports_it(tmp_path, break_it):
    tables = tiny_dataset()
    break_it(tables)
    write_dataset(tables, tmp_path)

    assert open_parquet_dataset(located(tmp_path)) is None
    with pytest.raises(DatasetError) as in_place:
        load_dataset(tmp_path)
    with pytest.raises(DatasetError) as through_pandas:
        load_dataset(tmp_path, parquet_in_place=False)
    assert in_place.value.problems == through_pandas.value.problems


def test_an_unreadable_parquet_file_is_reported_by_the_pandas_path(tmp_path):
    write_dataset(tiny_dataset(), tmp_path)
    (tmp_path / "IDS101Referral.parquet").write_bytes(b"not parquet at all")

    with pytest.raises(DatasetError, match=r"IDS101Referral.parquet: the file could not be read as Parquet"):
        load_dataset(tmp_path)


def test_a_dataset_with_a_csv_table_is_read_through_pandas(tmp_path):
    tables = tiny_dataset()
    write_dataset(tables, tmp_path)
    (tmp_path / "OrgProvider.parquet").unlink()
    tables["OrgProvider"].to_csv(tmp_path / "OrgProvider.csv", index=False)

    loaded = load_dataset(tmp_path)

    assert views(loaded) == set()
    assert len(loaded["OrgProvider"]) == 3


def test_a_schema_rule_not_checked_in_place_sends_every_dataset_to_pandas(tmp_path, monkeypatch):
    write_dataset(tiny_dataset(), tmp_path)
    columns = {**schema.TABLES["IDS101Referral"]["columns"],
               "EndCode": {**schema.TABLES["IDS101Referral"]["columns"]["EndCode"], "pattern": "[0-9]+"}}
    tables = {**schema.TABLES, "IDS101Referral": {**schema.TABLES["IDS101Referral"], "columns": columns}}
    monkeypatch.setattr("iapt_report.data.parquet_dataset.TABLES", tables)

    assert open_parquet_dataset(located(tmp_path)) is None
    assert views(load_dataset(tmp_path)) == set()

"""The measures on Spark (``--backend spark``) equal DuckDB's, and Spark reads a dataset as the pandas path types it.

The measure tests themselves run on both backends (tests/test_measures_handbuilt.py,
tests/test_measure_properties.py); here: a synthetic quarter end to end through the
``measures`` command's job on both, and messy CSV files read by Spark itself.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from builders import DatasetBuilder
from iapt_report.cli import main
from iapt_report.data.backends import check_backend, open_tables
from iapt_report.data.dataset import load_dataset
from iapt_report.data.periods import Period
from iapt_report.data.schema import TABLE_NAMES, TABLES
from iapt_report.data.spark import spark_tables
from iapt_report.engine.pipeline import write_measures
from iapt_report.sources.synthetic import generate, write_dataset

pytestmark = pytest.mark.spark


def test_a_synthetic_quarter_gives_every_value_on_spark_that_duckdb_gives(spark, tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_dataset(generate(date(2020, 7, 1), date(2020, 9, 30), scale=0.01), data)
    monkeypatch.chdir(tmp_path)  # anything Spark would write "here" would show up beside data/
    september = [Period.parse("2020-09")]

    write_measures(data, september, tmp_path / "duckdb")  # DuckDB, the default
    assert main(["measures", "--period", "2020-09", "--data", str(data), "--out", str(tmp_path / "spark"),
                 "--backend", "spark"]) == 0

    # every measure, at every level: the published file byte for byte, and the unrounded values
    assert (tmp_path / "spark" / "measures.csv").read_bytes() == (tmp_path / "duckdb" / "measures.csv").read_bytes()
    on_spark = pd.read_parquet(tmp_path / "spark" / "measures_unrounded.parquet")
    on_duckdb = pd.read_parquet(tmp_path / "duckdb" / "measures_unrounded.parquet")
    assert len(on_duckdb) > 10_000 and on_duckdb.MEASURE_VALUE.notna().sum() > 5_000
    pd.testing.assert_frame_equal(on_spark, on_duckdb)
    manifest = json.loads((tmp_path / "spark" / "manifest.json").read_text())
    assert manifest["parameters"]["backend"] == "spark"
    # no spark-warehouse, metastore or anything else left in the working folder
    assert sorted(os.listdir(tmp_path)) == ["data", "duckdb", "spark"]


def messy_csv_dataset(folder: Path) -> Path:
    """A valid dataset as CSV, written as extracts are: padded codes, spaces, missing markers, times on dates."""
    b = DatasetBuilder()
    b.referral("P1", "2020-08-03", discharged="2020-09-28", end_code="46", imd=3)
    b.referral("P2", "2020-09-01", imd=None, ethnic=None)
    b.contact("P1", "2020-08-10", app_type="2", attend="05", mechanism="1")
    b.contact("P1", "2020-09-02", app_type="02", attend=None, planned="N", mechanism=None)
    b.score("P1", "PHQ9", "2020-08-10", 15).score("P1", "PHQ9", "2020-09-02", 4.5)
    b.complaint("P1", "F411").complaint("P2", "F32", significance=None)
    b.internet_log("P1", "2020-08-11", "2020-08-20")
    folder.mkdir()
    for name, frame in b.tables().items():
        text = frame.astype(object).astype(str).where(frame.notna(), "")
        for column, spec in TABLES[name]["columns"].items():
            if spec["type"] == "date":
                text[column] = text[column].str.replace(r"^(\d{4}-\d{2}-\d{2}).*$", r"\1 00:00:00", regex=True)
            elif spec["type"] == "string":
                text[column] = text[column].where(text[column] == "", " " + text[column] + "\t")
        if name == "IDS001MPI":
            text["GenderIdentity"] = "NA"  # read as missing, never as the text 'NA' or 'NaN'
        if name == "IDS603PresentingComplaints":
            text["UniqueID_IDS603"] = text["UniqueID_IDS603"] + ".0"  # a whole number written with a fraction
        text.to_csv(folder / f"{name}.csv", index=False)
    return folder


def test_spark_reads_csv_files_as_the_dataset_loader_types_them(spark, tmp_path):
    folder = messy_csv_dataset(tmp_path / "csv")
    expected = load_dataset(folder)  # valid: the loader tidies what is messy
    tables = spark_tables(folder)
    for name in TABLE_NAMES:
        columns = list(TABLES[name]["columns"])
        got = tables[name].to_pyarrow().to_pandas()[columns]
        want = expected[name][columns]
        for column, spec in TABLES[name]["columns"].items():
            if spec["type"] == "date":  # Spark gives dates; the loader midnight timestamps
                got[column] = pd.to_datetime(got[column]).astype("datetime64[ms]")
            got[column] = got[column].astype(want[column].dtype)
        order = TABLES[name].get("key") or columns[:1]
        pd.testing.assert_frame_equal(got.sort_values(order).reset_index(drop=True),
                                      want.sort_values(order).reset_index(drop=True), check_dtype=False)
    patients = tables["IDS001MPI"].to_pyarrow().to_pylist()
    assert {row["IndicesOfDeprivationDecile"] for row in patients} == {3, None}
    assert {row["GenderIdentity"] for row in patients} == {None}
    contacts = tables["IDS201CareContact"].to_pyarrow().to_pylist()
    contacts.sort(key=lambda row: row["CareContDate"])
    assert [(row["AppType"], row["AttendOrDNACode"], row["ConsMechanism"]) for row in contacts] == [
        ("02", "5", "01"), ("02", None, None)]


def test_open_tables_refuses_an_invalid_dataset_on_spark_as_on_duckdb(spark, tmp_path):
    b = DatasetBuilder()
    b.referral("P1", "2020-09-01")
    b.score("P1", "PHQ9", "2020-09-02", 99)  # PHQ-9 runs from 0 to 27
    folder = tmp_path / "bad"
    folder.mkdir()
    b.write_parquet(folder)
    from iapt_report.data.problems import DatasetError

    with pytest.raises(DatasetError) as on_duckdb:
        open_tables(folder, "duckdb")
    with pytest.raises(DatasetError) as on_spark:
        open_tables(folder, "spark")
    assert str(on_spark.value) == str(on_duckdb.value)
    assert "PersScore" in str(on_spark.value)
    with pytest.raises(ValueError, match="duckdb or spark"):
        check_backend("polars")

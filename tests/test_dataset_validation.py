"""Loading and validating the record-level input dataset (iapt_report.data.dataset).

Each test breaks the tiny valid dataset in one way and checks that the error names the file,
the column and how many rows are affected.
"""

from __future__ import annotations

import re
from pathlib import Path

import ibis
import pandas as pd
import pytest

from fixtures_dataset import V21_MPI_COLUMNS, tiny_dataset, v21_dataset, v21_tables, write_dataset
from iapt_report.data import reading, schema, store, validation
from iapt_report.data.dataset import load_dataset
from iapt_report.data.problems import DatasetError, Problem
from iapt_report.data.validation import validate

DOCS = Path(__file__).resolve().parents[1] / "docs" / "dataset.md"


# --- helpers --------------------------------------------------------------------------------

def set_values(frame: pd.DataFrame, column: str, values: dict[int, object]) -> None:
    """Put raw values (any type) into rows of ``column``, as a badly formed file would hold them."""
    frame[column] = frame[column].astype(object)
    for row, value in values.items():
        frame.loc[row, column] = value


def written(tables: dict[str, pd.DataFrame], folder: Path, fmt: str = "csv") -> Path:
    write_dataset(tables, folder, fmt)
    return folder


def load_error(folder: Path) -> DatasetError:
    with pytest.raises(DatasetError) as caught:
        load_dataset(folder)
    return caught.value


def only_problem(error: DatasetError, file: str, column: str | None) -> Problem:
    found = [p for p in error.problems if p.file.endswith(file) and p.column == column]
    assert len(found) == 1, f"expected one problem for {file} {column}, got:\n{error}"
    return found[0]


# --- valid input ----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_valid_dataset_loads_typed(tmp_path, fmt):
    expected = v21_dataset()  # every table and column of the schema
    tables = load_dataset(written(expected, tmp_path, fmt))

    assert set(tables) == set(schema.TABLE_NAMES)
    for name, spec in schema.TABLES.items():
        for column, column_spec in spec["columns"].items():
            assert str(tables[name][column].dtype) == schema.PANDAS_DTYPES[column_spec["type"]], (name, column)
        pd.testing.assert_frame_equal(tables[name], expected[name])


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_an_older_extract_without_the_optional_v21_tables_and_fields_loads(tmp_path, fmt):
    expected = tiny_dataset()  # none of the optional tables, no v2.1 MPI field
    assert schema.OPTIONAL_TABLES == set(v21_tables())
    tables = load_dataset(written(expected, tmp_path, fmt))

    assert set(tables) == set(schema.TABLE_NAMES) - schema.OPTIONAL_TABLES == set(expected)
    assert list(tables["IDS001MPI"].columns) == list(expected["IDS001MPI"].columns)
    for name in expected:
        pd.testing.assert_frame_equal(tables[name], expected[name])
    assert set(validation.find_problems(expected)) == set()


def test_a_required_table_is_still_reported_missing_but_an_optional_one_is_not(tmp_path):
    tables = v21_dataset()
    del tables["IDS004EmpStatus"], tables["IDS201CareContact"]
    error = load_error(written(tables, tmp_path))
    assert [(Path(p.file).name, p.problem) for p in error.problems] == [
        ("IDS201CareContact", "table file not found (looked for IDS201CareContact.parquet or IDS201CareContact.csv)")]


def test_an_optional_table_that_is_present_is_checked_in_full(tmp_path):
    tables = v21_dataset()
    tables["IDS007DisabilityType"] = tables["IDS007DisabilityType"].drop(columns="RecordNumber")
    tables["IDS011SocPerCircumstances"] = tables["IDS011SocPerCircumstances"].iloc[0:0]  # accepted: no records
    error = load_error(written(tables, tmp_path))
    assert only_problem(error, "IDS007DisabilityType.csv", "RecordNumber").problem == "this column is missing"
    assert len(error.problems) == 1, str(error)


def test_an_optional_mpi_field_present_in_the_file_is_loaded(tmp_path):
    tables = tiny_dataset()
    tables["IDS001MPI"] = tables["IDS001MPI"].assign(ExBAFIndicator=V21_MPI_COLUMNS["ExBAFIndicator"])
    loaded = load_dataset(written(tables, tmp_path))
    assert loaded["IDS001MPI"]["ExBAFIndicator"].tolist()[:2] == ["03", "02"]
    assert "EduEstabTypeIAPT" not in loaded["IDS001MPI"].columns


@pytest.mark.parametrize("table, column, row, value, problem", [  # a repeated key is on two rows
    ("IDS004EmpStatus", "EmployStatusRecDate", 1, "2020-02-30", "a value that is not a date"),
    ("IDS004EmpStatus", "RecordNumber", 2, "R999", "a RecordNumber not found in column RecordNumber of"),
    ("IDS004EmpStatus", "EmpSupportDischargeDate", 0, "1900-01-01", "a date outside 2006-01-01 to"),
    ("IDS007DisabilityType", "UniqueID_IDS007", 1, "D001", "a UniqueID_IDS007 that is on more than one row"),
    ("IDS011SocPerCircumstances", "SocPerCircumstance", 0, None, "no value"),
    ("IDS602LongTermCondition", "PathwayID", 2, "P9999", "a PathwayID not found in column PathwayID of"),
    ("IDS607CodedScoreAssessmentAct", "PersScore", 0, 28.0, "a score outside the range of its instrument"),
    ("IDS607CodedScoreAssessmentAct", "CareActId", 0, "A999", "a CareActId not found in column CareActId of"),
])
def test_a_broken_value_in_each_v21_table_is_reported(tmp_path, table, column, row, value, problem):
    tables = v21_dataset()
    set_values(tables[table], column, {row: value})
    error = load_error(written(tables, tmp_path))
    found = only_problem(error, f"{table}.csv", column)
    assert found.problem.startswith(problem) and found.rows == (2 if "more than one row" in problem else 1), str(error)
    assert len(error.problems) == 1, str(error)


def test_csv_codes_and_text_are_normalised(tmp_path):
    tables = tiny_dataset()
    contacts = tables["IDS201CareContact"]
    set_values(contacts, "AttendOrDNACode", {0: " 5", 1: "05", 2: "5 ", 3: "03"})
    set_values(contacts, "AppType", {1: "2", 2: " 2 "})
    set_values(contacts, "ConsMechanism", {0: "1", 1: "98"})
    set_values(contacts, "PathwayID", {0: " P0001 "})

    loaded = load_dataset(written(tables, tmp_path, "csv"))["IDS201CareContact"]

    assert loaded["AttendOrDNACode"].tolist() == ["5", "5", "5", "3", "5"]
    assert loaded["AppType"].tolist() == ["01", "02", "02", "01", "03"]
    assert loaded["ConsMechanism"].tolist()[:2] == ["01", "98"]
    assert loaded["PathwayID"][0] == "P0001"
    assert loaded["CareContDate"][0] == pd.Timestamp("2020-06-10")
    assert str(loaded["ClinContDurOfCareCont"].dtype) == "Int64"


def test_header_only_internet_therapy_log_is_accepted(tmp_path):
    tables = tiny_dataset()
    tables["IDS205InternetTherLog"] = tables["IDS205InternetTherLog"].iloc[0:0]
    folder = written(tables, tmp_path, "csv")
    assert (folder / "IDS205InternetTherLog.csv").read_text().count("\n") == 1  # header only

    loaded = load_dataset(folder)["IDS205InternetTherLog"]

    assert len(loaded) == 0
    assert str(loaded["EndDateIntEnabledTherLog"].dtype) == "datetime64[ms]"


def test_extra_columns_are_kept_and_ignored(tmp_path):
    tables = tiny_dataset()
    tables["IDS101Referral"]["IsLatest"] = "not checked"

    loaded = load_dataset(written(tables, tmp_path, "csv"))

    assert loaded["IDS101Referral"]["IsLatest"].eq("not checked").all()


def test_an_absent_optional_column_is_reported_not_read_as_empty(tmp_path):
    # A misspelt optional header must not load silently as an empty column (every referral
    # would look open): every schema column has to be in the file, even when its cells are empty.
    tables = tiny_dataset()
    tables["IDS101Referral"] = tables["IDS101Referral"].rename(columns={"ServDischDate": "ServDischargeDate"})

    error = load_error(written(tables, tmp_path, "csv"))

    only_problem(error, "IDS101Referral.csv", "ServDischDate")
    assert "this column is missing (the file has a column 'ServDischargeDate'" in str(error)


# --- one test per kind of bad input ---------------------------------------------------------

def test_missing_required_column(tmp_path):
    tables = tiny_dataset()
    tables["IDS101Referral"] = tables["IDS101Referral"].drop(columns="OrgIDComm")

    error = load_error(written(tables, tmp_path))

    problem = only_problem(error, "IDS101Referral.csv", "OrgIDComm")
    assert "IDS101Referral.csv, column OrgIDComm: this column is missing" in str(error)
    assert "Add a column named exactly OrgIDComm" in str(problem)
    assert problem.rows is None


def test_missing_column_suggests_a_near_name(tmp_path):
    tables = tiny_dataset()
    tables["OrgSubICB"] = tables["OrgSubICB"].rename(columns={"Region_Name": "RegionName"})

    problem = only_problem(load_error(written(tables, tmp_path)), "OrgSubICB.csv", "Region_Name")

    assert "'RegionName'" in str(problem)


def test_text_in_a_date_column(tmp_path):
    tables = tiny_dataset()
    set_values(tables["IDS201CareContact"], "CareContDate", {1: "not-a-date", 3: "01/09/2020"})

    error = load_error(written(tables, tmp_path))

    problem = only_problem(error, "IDS201CareContact.csv", "CareContDate")
    assert "IDS201CareContact.csv, column CareContDate: 2 rows with a value that is not a date" in str(error)
    assert problem.rows == 2
    assert problem.examples == ("row 2, CareContactId C002: 'not-a-date'", "row 4, CareContactId C004: '01/09/2020'")
    assert "YYYY-MM-DD" in problem.fix


def test_text_in_a_number_column(tmp_path):
    tables = tiny_dataset()
    set_values(tables["IDS606CodedScoreAssessmentRefer"], "PersScore", {2: "twelve"})

    error = load_error(written(tables, tmp_path))

    problem = only_problem(error, "IDS606CodedScoreAssessmentRefer.csv", "PersScore")
    assert "IDS606CodedScoreAssessmentRefer.csv, column PersScore: 1 row with a value that is not a number" in str(error)
    assert problem.examples == ("row 3, UniqueID_IDS606 S003: 'twelve'",)
    assert "leave the cell empty" not in problem.fix  # PersScore is required


def test_fraction_in_an_integer_column_of_parquet(tmp_path):
    tables = tiny_dataset()
    tables["IDS201CareContact"]["ClinContDurOfCareCont"] = [45.0, 60.5, 60.0, None, 30.0]

    error = load_error(written(tables, tmp_path, "parquet"))

    problem = only_problem(error, "IDS201CareContact.parquet", "ClinContDurOfCareCont")
    assert "1 row with a value that is not a whole number" in str(problem)
    assert problem.examples == ("row 2, CareContactId C002: '60.5'",)


def test_unknown_codes(tmp_path):
    tables = tiny_dataset()
    contacts = tables["IDS201CareContact"]
    set_values(contacts, "AppType", {0: "09", 2: "9"})
    set_values(contacts, "AttendOrDNACode", {4: "8"})

    error = load_error(written(tables, tmp_path))

    app_type = only_problem(error, "IDS201CareContact.csv", "AppType")
    attend = only_problem(error, "IDS201CareContact.csv", "AttendOrDNACode")
    assert "IDS201CareContact.csv, column AppType: 2 rows with a code that is not in the app_type code list" in str(error)
    assert "Use one of 01, 02, 03, 04, 05, 06" in app_type.fix
    assert "IDS201CareContact.csv, column AttendOrDNACode: 1 row with a code that is not in the attend_or_dna" in str(error)
    assert attend.examples == ("row 5, CareContactId C005: '8'",)


def test_values_out_of_range(tmp_path):
    tables = tiny_dataset()
    set_values(tables["IDS001MPI"], "IndicesOfDeprivationDecile", {0: 11, 1: 0, 3: 12})

    error = load_error(written(tables, tmp_path))

    assert "IDS001MPI.csv, column IndicesOfDeprivationDecile: 2 rows with a value above the maximum of 10" in str(error)
    assert "IDS001MPI.csv, column IndicesOfDeprivationDecile: 1 row with a value below the minimum of 1" in str(error)


def test_missing_value_in_a_required_column(tmp_path):
    tables = tiny_dataset()
    set_values(tables["IDS101Referral"], "RecordNumber", {2: None, 3: "  "})

    problem = only_problem(load_error(written(tables, tmp_path)), "IDS101Referral.csv", "RecordNumber")

    assert problem.file == str(tmp_path / "IDS101Referral.csv")
    assert "column RecordNumber: 2 rows with no value (row 3, PathwayID P0003; row 4, PathwayID P0004)" in str(problem)


def test_impossible_date_order(tmp_path):
    tables = tiny_dataset()
    set_values(tables["IDS101Referral"], "ServDischDate", {0: "2020-05-31", 1: "2020-07-01"})
    logs = tables["IDS205InternetTherLog"]
    set_values(logs, "EndDateIntEnabledTherLog", {2: "2020-09-06"})

    error = load_error(written(tables, tmp_path))

    discharge = only_problem(error, "IDS101Referral.csv", "ServDischDate")
    assert "IDS101Referral.csv, column ServDischDate: 2 rows with ServDischDate before ReferralRequestReceivedDate" in str(error)
    assert discharge.examples == (
        "row 1, PathwayID P0001: 2020-05-31 < 2020-06-01",
        "row 2, PathwayID P0002: 2020-07-01 < 2020-07-15",
    )
    log = only_problem(error, "IDS205InternetTherLog.csv", "EndDateIntEnabledTherLog")
    assert log.rows == 1
    assert "EndDateIntEnabledTherLog before StartDateIntEnabledTherLog" in str(log)


def test_duplicate_keys(tmp_path):
    tables = tiny_dataset()
    set_values(tables["IDS201CareContact"], "CareContactId", {1: "C001", 4: "C001"})

    problem = only_problem(load_error(written(tables, tmp_path)), "IDS201CareContact.csv", "CareContactId")

    assert "column CareContactId: 3 rows with a CareContactId that is on more than one row" in str(problem)
    assert problem.examples == ("row 1: 'C001'", "row 2: 'C001'", "row 5: 'C001'")


def test_missing_table_file(tmp_path):
    folder = written(tiny_dataset(), tmp_path)
    (folder / "IDS202CareActivity.csv").unlink()

    error = load_error(folder)

    problem = only_problem(error, "IDS202CareActivity", None)
    assert "IDS202CareActivity.parquet or IDS202CareActivity.csv" in str(problem)
    assert len(error.problems) == 1


def test_a_table_in_both_formats(tmp_path):
    folder = written(tiny_dataset(), tmp_path)
    write_dataset({"OrgProvider": tiny_dataset()["OrgProvider"]}, folder, "parquet")

    problem = only_problem(load_error(folder), "OrgProvider.parquet", None)

    assert "both OrgProvider.parquet and OrgProvider.csv are present" in str(problem)


def test_unreadable_file(tmp_path):
    folder = written(tiny_dataset(), tmp_path)
    (folder / "OrgProvider.csv").unlink()
    (folder / "OrgProvider.parquet").write_bytes(b"not parquet at all")

    problem = only_problem(load_error(folder), "OrgProvider.parquet", None)

    assert "could not be read as Parquet" in str(problem)


def test_missing_folder(tmp_path):
    error = load_error(tmp_path / "nowhere")
    assert str(error.problems[0]).startswith(f"{tmp_path / 'nowhere'}: folder not found")


def test_referral_table_with_header_and_no_rows(tmp_path):
    tables = tiny_dataset()
    tables["IDS101Referral"] = tables["IDS101Referral"].iloc[0:0]

    error = load_error(written(tables, tmp_path))

    problem = only_problem(error, "IDS101Referral.csv", None)
    assert "IDS101Referral.csv: the table has no rows" in str(error)
    assert "IDS101Referral needs at least one row" in problem.fix


def test_organisation_table_with_no_rows(tmp_path):
    tables = tiny_dataset()
    tables["OrgProvider"] = tables["OrgProvider"].iloc[0:0]

    error = load_error(written(tables, tmp_path, "parquet"))

    assert "OrgProvider.parquet: the table has no rows" in str(error)


def test_references_to_unknown_organisation_and_pathway(tmp_path):
    tables = tiny_dataset()
    set_values(tables["IDS101Referral"], "OrgIDComm", {1: "SUB99", 3: "SUB99"})
    set_values(tables["IDS606CodedScoreAssessmentRefer"], "PathwayID", {3: "P9999"})

    error = load_error(written(tables, tmp_path))

    organisation = only_problem(error, "IDS101Referral.csv", "OrgIDComm")
    assert re.search(r"IDS101Referral\.csv, column OrgIDComm: 2 rows with an OrgIDComm not found in "
                     r"column OrgIDComm of \S+OrgSubICB\.csv", str(error))
    assert organisation.examples == ("row 2, PathwayID P0002: 'SUB99'", "row 4, PathwayID P0004: 'SUB99'")
    pathway = only_problem(error, "IDS606CodedScoreAssessmentRefer.csv", "PathwayID")
    assert pathway.rows == 1
    assert "IDS101Referral.csv" in pathway.problem


def test_problems_in_several_tables_are_reported_together(tmp_path):
    tables = tiny_dataset()
    set_values(tables["IDS201CareContact"], "AppType", {0: "09"})
    set_values(tables["IDS001MPI"], "PersonBirthDate", {1: "1991-13-45"})
    set_values(tables["IDS606CodedScoreAssessmentRefer"], "PersScore", {0: "high"})
    tables["OrgSubICB"] = tables["OrgSubICB"].drop(columns="ICB_Code")
    folder = written(tables, tmp_path)
    (folder / "IDS603PresentingComplaints.csv").unlink()

    error = load_error(folder)

    found = {(Path(p.file).name, p.column) for p in error.problems}
    assert found == {
        ("IDS603PresentingComplaints", None),
        ("IDS001MPI.csv", "PersonBirthDate"),
        ("IDS201CareContact.csv", "AppType"),
        ("IDS606CodedScoreAssessmentRefer.csv", "PersScore"),
        ("OrgSubICB.csv", "ICB_Code"),
    }
    assert len(str(error).splitlines()) == 1 + 5 + 1  # heading, one line per problem, row-number note


def test_missing_keys_are_reported_as_missing_not_as_repeats(tmp_path):
    tables = tiny_dataset()
    set_values(tables["IDS201CareContact"], "CareContactId", {1: None, 3: "  "})

    error = load_error(written(tables, tmp_path))

    problem = only_problem(error, "IDS201CareContact.csv", "CareContactId")
    assert "2 rows with no value" in str(problem)


def test_repeated_whole_number_keys(tmp_path):
    tables = tiny_dataset()
    set_values(tables["IDS603PresentingComplaints"], "UniqueID_IDS603", {0: 3, 1: 2})

    problem = only_problem(load_error(written(tables, tmp_path, "parquet")),
                           "IDS603PresentingComplaints.parquet", "UniqueID_IDS603")

    assert problem.rows == 2
    assert problem.examples == ("row 1: 3", "row 3: 3")


def test_references_to_an_unreadable_table_are_not_reported(tmp_path):
    folder = written(tiny_dataset(), tmp_path, "parquet")
    (folder / "OrgSubICB.parquet").write_bytes(b"not parquet at all")

    error = load_error(folder)

    assert [Path(p.file).name for p in error.problems] == ["OrgSubICB.parquet"]


def test_loading_reports_what_checking_the_read_tables_reports(tmp_path):
    # load_dataset reads and checks one table at a time, parents first; the report must be the
    # one that checking every table at once gives, in the same order
    tables = tiny_dataset()
    set_values(tables["IDS606CodedScoreAssessmentRefer"], "PathwayID", {3: "P9999"})
    set_values(tables["IDS201CareContact"], "AppType", {0: "09"})
    set_values(tables["IDS101Referral"], "OrgIDComm", {1: "SUB99"})
    set_values(tables["IDS101Referral"], "ServDischDate", {0: "2020-05-31"})
    set_values(tables["IDS001MPI"], "RecordNumber", {2: "R001"})
    folder = written(tables, tmp_path)

    error = load_error(folder)

    assert error.problems == validation.find_problems(reading.read_tables(folder))
    # R003 is repeated as R001, so the referral of R003 also points at no patient
    assert [(Path(p.file).name, p.column) for p in error.problems] == [
        ("IDS001MPI.csv", "RecordNumber"),
        ("IDS101Referral.csv", "ServDischDate"),
        ("IDS101Referral.csv", "RecordNumber"),
        ("IDS101Referral.csv", "OrgIDComm"),
        ("IDS201CareContact.csv", "AppType"),
        ("IDS606CodedScoreAssessmentRefer.csv", "PathwayID"),
    ]


def test_tables_are_loaded_after_the_tables_they_refer_to():
    order = schema.LOAD_ORDER
    assert sorted(order) == sorted(schema.TABLE_NAMES)
    for table, spec in schema.TABLES.items():
        for column in spec["columns"].values():
            if column.get("references"):
                assert order.index(column["references"].split(".")[0]) < order.index(table), table


def test_examples_stop_at_five(tmp_path):
    tables = tiny_dataset()
    tables["OrgProvider"] = pd.DataFrame({
        "OrgID_Provider": [f"PRV{i:02d}" for i in range(1, 10)],
        "Provider_Name": [None] * 7 + ["Eight", "Nine"],
    })

    problem = only_problem(load_error(written(tables, tmp_path)), "OrgProvider.csv", "Provider_Name")

    assert problem.rows == 7
    assert len(problem.examples) == 5
    assert str(problem).count("; and 2 more)") == 1


# --- the error report and the in-memory API -------------------------------------------------

def test_error_report_format():
    tables = tiny_dataset()
    set_values(tables["IDS201CareContact"], "AttendOrDNACode", {2: "8"})

    with pytest.raises(DatasetError) as caught:
        validate(tables, source={"IDS201CareContact": "data/IDS201CareContact.csv"})

    assert str(caught.value) == (
        "The input dataset has 1 problem; correct the files named below and run again:\n"
        "  - data/IDS201CareContact.csv, column AttendOrDNACode: 1 row with a code that is not in the "
        "attend_or_dna code list (row 3, CareContactId C003: '8'). "
        "Use one of 2, 3, 4, 5, 6, 7 (code_lists.yaml: attend_or_dna), or leave it empty.\n"
        "Rows are numbered from 1 at the first row of data (a CSV header is not counted)."
    )


def test_validate_in_memory_names_tables_without_a_source():
    tables = tiny_dataset()
    del tables["OrgProvider"]
    set_values(tables["IDS101Referral"], "ReferralRequestReceivedDate", {0: "2020-02-30"})

    with pytest.raises(DatasetError) as caught:
        validate(tables)

    assert {(p.file, p.column) for p in caught.value.problems} == {
        ("OrgProvider", None),
        ("IDS101Referral", "ReferralRequestReceivedDate"),
    }


def test_valid_tables_pass_validation_in_memory():
    assert validate(tiny_dataset()) is None
    assert validation.find_problems(tiny_dataset()) == []


def test_connect_registers_every_table_with_ibis():
    tables = reading.normalise(tiny_dataset())

    ibis_tables = store.connect(tables)

    assert set(ibis_tables) == set(tables)
    assert ibis_tables["IDS201CareContact"].count().execute() == 5
    assert ibis_tables["IDS101Referral"].schema()["ReferralRequestReceivedDate"].is_timestamp()


def test_a_loaded_dataset_is_handed_to_ibis_without_copying(tmp_path):
    loaded = load_dataset(written(tiny_dataset(), tmp_path, "parquet"))

    ibis_tables = store.connect(loaded)

    assert isinstance(loaded, store.Dataset)
    assert {t.get_backend() for t in ibis_tables.values()} == {loaded.backend}
    assert ibis_tables["IDS201CareContact"].count().execute() == 5
    assert ibis_tables["IDS101Referral"].schema()["ReferralRequestReceivedDate"].is_timestamp()
    assert loaded["OrgProvider"].attrs["source"] == str(tmp_path / "OrgProvider.parquet")


def test_a_loaded_dataset_can_be_copied_to_another_backend(tmp_path):
    loaded = load_dataset(written(tiny_dataset(), tmp_path, "parquet"))
    con = ibis.duckdb.connect()

    ibis_tables = store.connect(loaded, con=con)

    assert ibis_tables["IDS606CodedScoreAssessmentRefer"].count().execute() == 4
    assert "IDS606CodedScoreAssessmentRefer" in con.list_tables()


def test_connect_uses_the_backend_given():
    con = ibis.duckdb.connect()
    store.connect({"OrgProvider": tiny_dataset()["OrgProvider"]}, con=con)
    assert "OrgProvider" in con.list_tables()


# --- documentation --------------------------------------------------------------------------

def test_docs_list_every_table_and_column_as_in_the_schema():
    docs = DOCS.read_text(encoding="utf-8")
    sections = re.split(r"^### ", docs, flags=re.MULTILINE)
    by_table = {section.split("`")[1]: section for section in sections[1:]}
    assert set(by_table) == set(schema.TABLE_NAMES)
    for table, spec in schema.TABLES.items():
        for column, column_spec in spec["columns"].items():
            required = "yes" if column_spec.get("required") else "no"
            row = f"| `{column}` | {column_spec['type']} | {required} |"
            assert row in by_table[table], f"docs/dataset.md: {table} should list {row}"

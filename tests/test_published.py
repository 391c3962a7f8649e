"""Readers of NHS Digital's published files: hand-written files for every layout variant, and
the real files in ../shared/data/published (skipped, with the reason, when absent)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from iapt_report.engine.measures import MEASURE_COLUMNS
from iapt_report.engine.registry import load_registry
from iapt_report.sources.published import (
    PUBLISHED_COLUMNS,
    PublishedFileError,
    annual_measure_map,
    detect_layout,
    map_group_type,
    published_periods,
    read_published,
    statistic_from_name,
)

PUBLISHED = Path(__file__).resolve().parents[2] / "shared" / "data" / "published"
MONTHLY = PUBLISHED / "monthly_2021-01_to_2025-12.parquet"
ANNUAL = PUBLISHED / "annual_2017-18_to_2024-25.parquet"
LEGACY = PUBLISHED / "annual_legacy_2013-14_to_2016-17.parquet"
SAMPLES = PUBLISHED / "raw_csv_samples"


def needs(path: Path):
    return pytest.mark.skipif(not path.exists(), reason=f"published data file {path} not present")


HEADER = ("REPORTING_PERIOD_START,REPORTING_PERIOD_END,GROUP_TYPE,ORG_CODE1,ORG_NAME1,ORG_CODE2,ORG_NAME2,"
          "MEASURE_ID,MEASURE_NAME,{value}\n")


def write(tmp_path: Path, body: str, value: str = "MEASURE_VALUE_SUPPRESSED", name: str = "month.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER.format(value=value) + body, encoding="utf-8")
    return path


def test_monthly_csv_with_iso_dates_and_every_missing_marker(tmp_path):
    body = "".join(
        f"2025-06-01,2025-06-30,Provider,all,all SubICBs,RX4,A TRUST,M00{i},Count_Thing{i},{cell}\n"
        for i, cell in enumerate(["10", "*", "-", "", "N/A", "NA", "NULL"], start=1)
    )
    table = read_published(write(tmp_path, body))
    assert list(table.columns) == PUBLISHED_COLUMNS and set(MEASURE_COLUMNS) <= set(table.columns)
    assert table.REPORTING_PERIOD_START.unique().tolist() == ["2025-06-01"]
    assert table.MEASURE_VALUE.iloc[0] == 10
    assert table.MEASURE_VALUE.iloc[1:].isna().all()  # suppressed and missing are never zero
    assert table.SUPPRESSED.tolist() == [False, True, False, False, False, False, False]
    assert table.PUBLISHED_VALUE.tolist() == ["10", "*", "", "", "", "", ""]


def test_monthly_csv_2021_layout_measure_value_and_day_first_dates(tmp_path):
    body = ("01/03/2021,31/03/2021,England,all,all CCGs,all,all Providers,M031,Count_FirstTreatment,98765\n"
            "01/03/2021,31/03/2021,England,all,all CCGs,all,all Providers,M053,"
            "Percentage_FirstTreatment6WeeksFinishedCourseTreatment,91.2\n")
    table = read_published(write(tmp_path, body, value="MEASURE_VALUE"))
    assert table.REPORTING_PERIOD_START.tolist() == ["2021-03-01"] * 2
    assert table.REPORTING_PERIOD_END.tolist() == ["2021-03-31"] * 2
    # renamed since 2021: keyed on the ID, so the registry's (2026) name and statistic apply
    names = {m.id: m.name for m in load_registry()}
    assert table.MEASURE_NAME.tolist() == [names["M031"], names["M053"]]
    assert table.STATISTIC.tolist() == ["count", "percentage"]
    assert table.BASE_MEASURE_ID.tolist() == ["", "M052"]
    assert published_periods(write(tmp_path, body, value="MEASURE_VALUE", name="b.csv")) == ["2021-03"]


def test_group_types_old_new_and_combined():
    assert map_group_type("CommissioningRegion") == "CommissioningRegion"
    assert map_group_type("Commissioning Region") == "CommissioningRegion"
    assert map_group_type("STP") == "ICB" and map_group_type("ICB") == "ICB"
    assert map_group_type("CCG") == "SubICB" and map_group_type("SubICB") == "SubICB"
    assert map_group_type("SubICB/Provider") == "SubICB/Provider"
    assert map_group_type("CCG/Provider") == "SubICB/Provider"
    assert map_group_type("Sub-ICB") == "SubICB" and map_group_type("Sub ICB Location") == "SubICB"
    assert map_group_type("Sub-ICB/Provider") == "SubICB/Provider"
    assert map_group_type("SubICB - Provider") == "SubICB/Provider"
    assert map_group_type("Something new") == "Something new"  # kept as given


def test_combined_rows_are_kept_and_filters_apply(tmp_path):
    body = ("2023-05-01,2023-05-31,England,all,all SubICBs,all,all Providers,M001,Count_ReferralsReceived,100\n"
            "2023-05-01,2023-05-31,SubICB/Provider,00L,NHS X SUB-ICB,RX4,A TRUST,M001,Count_ReferralsReceived,35\n"
            "2023-05-01,2023-05-31,Provider,all,all SubICBs,RX4,A TRUST,M001,Count_ReferralsReceived,40\n"
            "2023-05-01,2023-05-31,Provider,all,all SubICBs,RX9,B TRUST,M001,Count_ReferralsReceived,45\n")
    path = write(tmp_path, body)
    assert set(read_published(path).GROUP_TYPE) == {"England", "SubICB/Provider", "Provider"}
    only = read_published(path, orgs=["RX4"])
    assert sorted(only.GROUP_TYPE) == ["England", "Provider", "SubICB/Provider"]
    assert read_published(path, periods=["2023-04"]).empty


def test_statistic_from_the_name_prefix():
    assert statistic_from_name("Count_ReferralsReceived") == "count"
    assert statistic_from_name("Percentage_Recovery") == "percentage"
    assert statistic_from_name("Mean_WaitAccessingServices") == "mean"
    assert statistic_from_name("Median_ApptsFinishedCourseTreatment") == "median"
    assert statistic_from_name("Max_Appts") == "max"
    assert statistic_from_name("NoPrefix", "M192") == "percentage"  # the registry's statistic


def test_unknown_layout_names_expected_and_found_columns(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("ORG,VALUE\nX,1\n", encoding="utf-8")
    with pytest.raises(PublishedFileError) as error:
        read_published(path)
    message = str(error.value)
    assert "MEASURE_VALUE_SUPPRESSED" in message and "org_type" in message and "['ORG', 'VALUE']" in message


def test_bad_dates_are_a_clear_error(tmp_path):
    body = "June 2021,30/06/2021,England,all,all,all,all,M001,Count_ReferralsReceived,1\n"
    with pytest.raises(PublishedFileError, match="dd/mm/yyyy"):
        read_published(write(tmp_path, body))


def test_annual_tidy_layout_hand_written(tmp_path):
    rows = [
        # org_type, org_code, org_name, variable_type, a, b, measure, statistic, value
        ("England", "All", "All", "Total", "NULL", "NULL", "referrals_received", "count", "1439957"),
        ("STP", "E54000001", "AN STP", "Total", "NULL", "NULL", "recovery", "percentage", "*"),
        ("CCG", "00L", "NHS X CCG", "Gender", "Female", "NULL", "at_caseness", "count", "120"),
        ("Provider", "RX4", "A TRUST", "Ethnic Group", "White", "All", "improvement", "percentage", "66"),
        ("Commissioning Region", "Y56", "LONDON", "Problem Descriptor", "Depression", "NULL", "deterioration",
         "count", "NULL"),
    ]
    frame = pd.DataFrame(rows, columns=["org_type", "org_code", "org_name", "variable_type", "variable_a",
                                        "variable_b", "measure_name", "measure_statistic", "value"])
    frame.insert(0, "reporting_period", "2017-18")
    frame.insert(1, "start_date", pd.Timestamp("2017-04-01").date())
    frame.insert(2, "end_date", pd.Timestamp("2018-03-31").date())
    path = tmp_path / "annual.parquet"
    frame.to_parquet(path, index=False)
    assert detect_layout(path) == "tidy_annual"
    table = read_published(path)
    assert table.GROUP_TYPE.tolist() == ["England", "ICB", "SubICB", "Provider", "CommissioningRegion"]
    assert table.MEASURE_ID.tolist() == ["M001", "M192", "ANNUAL_AT_CASENESS", "M186", "M189"]
    assert table.SUPPRESSED.tolist() == [False, True, False, False, False]
    assert math.isnan(table.MEASURE_VALUE.iloc[1]) and math.isnan(table.MEASURE_VALUE.iloc[4])
    assert table.ORG_CODE2.iloc[3] == "RX4" and table.ORG_CODE1.iloc[2] == "00L"
    assert table.VARIABLE_TYPE.iloc[4] == "Presenting Complaint"  # the engine's name
    assert (table.VARIABLE_A.iloc[0], table.VARIABLE_B.iloc[0]) == ("", "")
    assert (table.VARIABLE_A.iloc[2], table.VARIABLE_B.iloc[2]) == ("Female", "")
    assert table.COUNTS.unique().tolist() == ["referrals"]


def test_monthly_csv_in_windows_1252_zipped_and_with_times_in_dates(tmp_path):
    """Files a user downloads: an older Windows-1252 export, a zipped CSV, dates with a time."""
    import zipfile

    body = ("1/6/2021 00:00,30/06/2021 00:00,Provider,all,all CCGs,RX4,ST JOHN\u2019S TRUST,M001,"
            "Count_ReferralsReceived,1234\n")
    legacy = tmp_path / "cp1252.csv"
    legacy.write_bytes((HEADER.format(value="MEASURE_VALUE") + body).encode("cp1252"))
    table = read_published(legacy)
    assert table.ORG_NAME2.tolist() == ["ST JOHN\u2019S TRUST"]
    assert (table.REPORTING_PERIOD_START.iloc[0], table.REPORTING_PERIOD_END.iloc[0]) == ("2021-06-01", "2021-06-30")
    assert published_periods(legacy) == ["2021-06"]

    zipped = tmp_path / "month.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("month.csv", HEADER.format(value="MEASURE_VALUE_SUPPRESSED") + body)
    assert detect_layout(zipped) == "monthly_csv"
    assert read_published(zipped).MEASURE_VALUE.tolist() == [1234]


def _annual_frame(rows, period="2017-18", start="2017-04-01", end="2018-03-31") -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["org_type", "org_code", "org_name", "variable_type", "variable_a",
                                        "variable_b", "measure_name", "measure_statistic", "value"])
    frame.insert(0, "reporting_period", period)
    frame.insert(1, "start_date", pd.Timestamp(start).date())
    frame.insert(2, "end_date", pd.Timestamp(end).date())
    return frame


def test_annual_measure_not_met_before_is_left_out_with_a_warning(tmp_path):
    from iapt_report.sources.published import PublishedDataWarning

    rows = [("England", "All", "All", "Total", "NULL", "NULL", "referrals_received", "count", "1000"),
            ("England", "All", "All", "Total", "NULL", "NULL", "a_new_measure", "count", "7"),
            ("England", "All", "All", "Gender", "Female", "NULL", "recovery", "percentage", "51.5")]
    path = tmp_path / "annual.parquet"
    _annual_frame(rows).to_parquet(path, index=False)
    with pytest.warns(PublishedDataWarning, match="a_new_measure"):
        table = read_published(path)
    assert table.MEASURE_ID.tolist() == ["M001", "M192"]
    assert table.MEASURE_VALUE.tolist() == [1000, 51.5]
    assert (table.VARIABLE_TYPE.iloc[1], table.VARIABLE_A.iloc[1]) == ("Gender", "Female")

    only_new = tmp_path / "new.parquet"
    _annual_frame(rows[1:2]).to_parquet(only_new, index=False)
    with pytest.raises(PublishedFileError, match="published_measure_map.csv"):
        read_published(only_new)


def test_tidy_layouts_read_the_same_from_csv_as_from_parquet(tmp_path):
    rows = [("England", "All", "All", "Total", "NULL", "NULL", "referrals_received", "count", "1439957"),
            ("STP", "E54000001", "AN STP", "Total", "NULL", "NULL", "recovery", "percentage", "*"),
            ("Provider", "RX4", "A TRUST", "Ethnic Group", "White", "All", "improvement", "percentage", "66")]
    frame = _annual_frame(rows)
    frame.to_parquet(tmp_path / "annual.parquet", index=False)
    frame.to_csv(tmp_path / "annual.csv", index=False)
    from_parquet = read_published(tmp_path / "annual.parquet", orgs=["RX4"])
    from_csv = read_published(tmp_path / "annual.csv", orgs=["RX4"])
    pd.testing.assert_frame_equal(from_csv, from_parquet)
    assert from_csv.GROUP_TYPE.tolist() == ["England", "Provider"]
    assert published_periods(tmp_path / "annual.csv") == ["2017-18"]

    monthly = pd.DataFrame({
        "reporting_period": ["2021-06"] * 3, "start_date": ["01/06/2021"] * 3, "end_date": ["30/06/2021"] * 3,
        "group_type": ["England", "Provider", "Provider"], "org_code1": ["all"] * 3,
        "org_name1": ["all"] * 3, "org_code2": ["all", "RX4", "RX9"], "org_name2": ["all", "A TRUST", "B TRUST"],
        "measure_id": ["M001"] * 3, "measure_name": ["Count_ReferralsReceived"] * 3,
        "measure_statistic": ["count"] * 3, "value": ["140000", "", "35"]})
    monthly.to_csv(tmp_path / "monthly.csv", index=False)
    assert detect_layout(tmp_path / "monthly.csv") == "tidy_monthly"
    table = read_published(tmp_path / "monthly.csv")
    assert table.REPORTING_PERIOD_START.unique().tolist() == ["2021-06-01"]
    assert table.SUPPRESSED.tolist() == [False, True, False]  # blank below England is suppressed, never 0
    assert table.MEASURE_VALUE.iloc[[0, 2]].tolist() == [140000, 35]


def test_annual_measure_map_uses_registry_ids_where_they_exist():
    registry = {m.id: m for m in load_registry()}
    for (name, statistic), row in annual_measure_map().items():
        mid = row["measure_id"]
        if mid.startswith("M"):
            assert registry[mid].statistic == statistic, (name, statistic, mid)
        else:
            assert mid.startswith("ANNUAL_") and row["note"], (name, statistic)


# --- the real files -----------------------------------------------------------------------------

@needs(SAMPLES)
@pytest.mark.parametrize("name", ["raw_monthly_fixture_2023-05.csv", "raw_monthly_fixture_2025-06.csv",
                                  "raw_monthly_fixture_2025-09.csv"])
def test_real_raw_csv_samples(name):
    table = read_published(SAMPLES / name)
    assert (table.GROUP_TYPE == "England").sum() >= 5  # (2025-09 ends with a made-up row, kept as given)
    assert table.MEASURE_ID.iloc[0] == "M001" and table.MEASURE_VALUE.iloc[0] > 100_000
    assert (table.MEASURE_VALUE.isna() == (table.PUBLISHED_VALUE.isin(["", "*"]))).all()


@needs(MONTHLY)
def test_real_tidy_monthly_june_2021():
    table = read_published(MONTHLY, periods=["2021-06"])
    england = table[table.GROUP_TYPE == "England"].set_index("MEASURE_ID").MEASURE_VALUE
    assert england["M052"] == 54021 and england["M076"] == 58421 and england["M053"] == 92.5
    assert set(table.GROUP_TYPE) == {"England", "Provider"}
    providers = table[table.GROUP_TYPE == "Provider"]
    assert providers.SUPPRESSED.any() and not table[table.GROUP_TYPE == "England"].SUPPRESSED.any()
    assert providers[providers.SUPPRESSED].MEASURE_VALUE.isna().all()
    one = read_published(MONTHLY, periods=["2021-06"], orgs=["NLS"])
    assert set(one.ORG_CODE2) == {"all", "NLS"}


@needs(ANNUAL)
def test_real_tidy_annual_2017_18_england_and_levels():
    table = read_published(ANNUAL, periods=["2017-18"], totals_only=True)
    assert set(table.VARIABLE_TYPE) == {"Total"}
    assert {"England", "CommissioningRegion", "ICB", "SubICB", "Provider"} <= set(table.GROUP_TYPE)
    england = table[table.GROUP_TYPE == "England"].set_index("MEASURE_ID").MEASURE_VALUE
    assert england["M001"] == 1439957 and england["M076"] == 554709 and england["M192"] == 50.8
    assert table.SUPPRESSED.any()


@needs(LEGACY)
def test_real_legacy_annual_counts_people_in_demographic_rows():
    table = read_published(LEGACY)
    assert published_periods(LEGACY) == ["2013-14", "2014-15", "2015-16", "2016-17"]
    demographic = table.VARIABLE_TYPE.isin(["Gender", "Age Group", "Ethnic Group"])
    assert (table[demographic].COUNTS == "people").all() and (table[~demographic].COUNTS == "referrals").all()
    ethnic = table[(table.VARIABLE_TYPE == "Ethnic Group") & (table.MEASURE_ID == "M001")]
    assert (ethnic.VARIABLE_A != "").all()  # category rows get their group from the NHS list
    white = ethnic[ethnic.VARIABLE_A == "White"]
    groups = white[white.VARIABLE_B == "All"].MEASURE_VALUE.sum()
    categories = white[white.VARIABLE_B != "All"].MEASURE_VALUE.sum()
    assert groups == categories

"""The synthetic dataset generator: determinism, the data contract, realism and calibration."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from iapt_report.data.dataset import load_dataset
from iapt_report.data.reading import normalise
from iapt_report.data.schema import PANDAS_DTYPES
from iapt_report.data.validation import validate
from iapt_report.reference import code_lists, dataset_schema, instruments
from iapt_report.sources import synthetic

START, END = date(2020, 9, 1), date(2020, 9, 30)
SMALL = 0.02  # about 2,600 referrals a month

#: NHS Digital, Improving Access to Psychological Therapies (IAPT) monthly statistics,
#: September 2020, England (measure IDs of the monthly CSV).
PUBLISHED_SEPTEMBER_2020 = {
    "referrals_received": 132_237,                # M001 Count_ReferralsReceived
    "entered_treatment": 95_578,                  # M031 Count_FirstTreatment
    "finished_course": 53_722,                    # M076 Count_FinishedCourseTreatment
    "mean_sessions_finished": 7.5,                # M141 Mean_ApptsFinishedCourseTreatment
    "pct_finished_waited_6_weeks": 90.4,          # M053 Percentage_FirstTreatment6WeeksFinishedCourseTreatment
    "recovery_rate": 50.4,                        # M192 Percentage_Recovery
    "internet_therapy_sessions": 5_145,           # M343 Count_InternetEnabledTherapySessions
    "referrals_with_integrated_contact": 19_886,  # integrated care contacts (see calibration_figures)
}
TOLERANCE = 0.05  # each figure within 5% of the published value

TABLES = dataset_schema()["tables"]


@pytest.fixture(scope="module")
def tables():
    return synthetic.generate(START, END, scale=SMALL)


def _dates_of(frame: pd.DataFrame, table: str) -> list[str]:
    return [name for name, spec in TABLES[table]["columns"].items() if spec["type"] == "date"]


# --- determinism ------------------------------------------------------------------------------

def test_the_same_seed_gives_identical_tables(tables):
    again = synthetic.generate(START, END, scale=SMALL)
    assert list(again) == list(tables)
    for name in tables:
        pd.testing.assert_frame_equal(again[name], tables[name], check_exact=True)


def test_another_seed_gives_other_referrals(tables):
    other = synthetic.generate(START, END, scale=SMALL, seed=7)
    assert not other["IDS101Referral"].equals(tables["IDS101Referral"])
    assert not other["IDS606CodedScoreAssessmentRefer"]["PersScore"].equals(
        tables["IDS606CodedScoreAssessmentRefer"]["PersScore"]
    )
    pd.testing.assert_frame_equal(other["OrgSubICB"], tables["OrgSubICB"])  # organisations are fixed


def test_a_month_looks_the_same_with_a_later_snapshot(tables):
    # each month's referrals come from their own random stream, so September 2020 is the same
    # September whether the snapshot is taken at its end or two months later
    later = synthetic.generate(START, date(2020, 11, 30), scale=SMALL)
    assert synthetic.calibration_figures(later, START, END) == synthetic.calibration_figures(tables, START, END)


def test_written_files_are_byte_identical(tables, tmp_path):
    first = synthetic.write_dataset(tables, tmp_path / "first")
    second = synthetic.write_dataset(synthetic.generate(START, END, scale=SMALL), tmp_path / "second")
    for name in TABLES:
        assert (first / f"{name}.parquet").read_bytes() == (second / f"{name}.parquet").read_bytes()


# --- the data contract ------------------------------------------------------------------------

def test_every_table_has_exactly_the_schema_columns_and_types(tables):
    assert set(tables) == set(TABLES)
    for name, spec in TABLES.items():
        frame = tables[name]
        assert list(frame.columns) == list(spec["columns"]), name
        for column, column_spec in spec["columns"].items():
            assert str(frame[column].dtype) == PANDAS_DTYPES[column_spec["type"]], (name, column)
            if column_spec.get("required"):
                assert frame[column].notna().all(), (name, column)
        for column in _dates_of(frame, name):
            values = frame[column].dropna()
            assert (values == values.dt.normalize()).all(), (name, column)


def test_the_dataset_loader_accepts_the_tables(tables):
    validate(normalise(tables))


def test_keys_are_unique(tables):
    for name, spec in TABLES.items():
        assert not tables[name].duplicated(spec["key"]).any(), name


def test_every_reference_points_at_an_existing_record(tables):
    for name, spec in TABLES.items():
        for column, column_spec in spec["columns"].items():
            target = column_spec.get("references")
            if target:
                table, key = target.split(".")
                present = tables[name][column].dropna()
                assert present.isin(tables[table][key]).all(), (name, column)
    activities = tables["IDS202CareActivity"]
    contacts = tables["IDS201CareContact"].set_index("CareContactId")["PathwayID"]
    assert (contacts.reindex(activities["CareContactId"]).to_numpy() == activities["PathwayID"].to_numpy()).all()


def test_discharge_and_log_dates_are_in_order(tables):
    referrals = tables["IDS101Referral"]
    discharged = referrals.dropna(subset=["ServDischDate"])
    assert (discharged["ServDischDate"] >= discharged["ReferralRequestReceivedDate"]).all()
    logs = tables["IDS205InternetTherLog"]
    assert (logs["StartDateIntEnabledTherLog"] <= logs["EndDateIntEnabledTherLog"]).all()


def test_nothing_is_dated_after_the_snapshot(tables):
    end = pd.Timestamp(END)
    for name in TABLES:
        for column in _dates_of(tables[name], name):
            assert (tables[name][column].dropna() <= end).all(), (name, column)


def test_contacts_fall_within_their_referral_except_follow_ups(tables):
    referrals = tables["IDS101Referral"].set_index("PathwayID")
    contacts = tables["IDS201CareContact"]
    received = referrals["ReferralRequestReceivedDate"].reindex(contacts["PathwayID"]).to_numpy()
    discharged = referrals["ServDischDate"].reindex(contacts["PathwayID"]).to_numpy()
    when = contacts["CareContDate"].to_numpy()
    assert (when >= received).all()
    after_discharge = ~np.isnat(discharged) & (when > discharged)
    assert (contacts.loc[after_discharge, "AppType"] == "06").all()


def test_the_snapshot_holds_the_referrals_open_in_the_window(tables):
    referrals = tables["IDS101Referral"]
    received = referrals["ReferralRequestReceivedDate"]
    assert received.min() >= pd.Timestamp(date(2019, 9, 1))  # 12 months of run-in
    assert (received < pd.Timestamp(START)).mean() > 0.5  # a stock of open referrals
    assert (referrals["ServDischDate"].dropna() >= pd.Timestamp(START)).all()
    still_open = referrals["ServDischDate"].isna()
    assert referrals.loc[still_open, "EndCode"].isna().all()


# --- organisations --------------------------------------------------------------------------

def test_organisation_hierarchy_is_england_shaped(tables):
    sub_icbs, providers = tables["OrgSubICB"], tables["OrgProvider"]
    assert sub_icbs["Region_Code"].nunique() == 7
    assert sub_icbs["ICB_Code"].nunique() == 42
    assert len(sub_icbs) == 106
    assert 150 <= len(providers) <= 200
    assert (sub_icbs.groupby("ICB_Code")["Region_Code"].nunique() == 1).all()
    assert providers["Provider_Name"].is_unique and sub_icbs["SubICB_Name"].is_unique


def test_organisations_are_fictional_and_do_not_depend_on_scale(tables):
    providers, sub_icbs = tables["OrgProvider"], tables["OrgSubICB"]
    assert providers["OrgID_Provider"].str.startswith("ZP").all()
    assert sub_icbs["OrgIDComm"].str.startswith("ZS").all()
    assert sub_icbs["ICB_Code"].str.startswith("ZI").all()
    tiny = synthetic.generate(START, END, scale=0.005)
    pd.testing.assert_frame_equal(tiny["OrgProvider"], providers)
    pd.testing.assert_frame_equal(tiny["OrgSubICB"], sub_icbs)


def test_provider_sizes_are_spread_and_mostly_within_the_icb(tables):
    referrals = tables["IDS101Referral"]
    per_provider = referrals["OrgID_Provider"].value_counts()
    assert per_provider.max() > 20 * per_provider.median()  # a few large trusts, many small providers
    icb = tables["OrgSubICB"].set_index("OrgIDComm")["ICB_Code"]
    provider_icb = (referrals.assign(icb=referrals["OrgIDComm"].map(icb))
                    .groupby("OrgID_Provider")["icb"].agg(lambda s: s.mode().iloc[0]))
    same_icb = referrals["OrgIDComm"].map(icb) == referrals["OrgID_Provider"].map(provider_icb)
    assert same_icb.mean() > 0.9


# --- mixes ------------------------------------------------------------------------------------

def test_about_62_percent_of_patients_are_female(tables):
    female = (tables["IDS001MPI"]["Gender"] == "2").mean()
    assert female == pytest.approx(0.62, abs=0.03)


def test_about_30_percent_of_patients_have_no_stated_ethnicity(tables):
    stated = tables["IDS001MPI"]["EthnicCategory"].isin(list("ABCDEFGHJKLMNPRS"))
    assert 1 - stated.mean() == pytest.approx(0.30, abs=0.04)
    white_british = (tables["IDS001MPI"]["EthnicCategory"] == "A").sum() / stated.sum()
    assert white_british == pytest.approx(0.80, abs=0.05)


def test_referral_sources_are_mostly_self_and_gp(tables):
    referrals = tables["IDS101Referral"]
    sources = referrals.loc[referrals["ReferralRequestReceivedDate"] >= pd.Timestamp(START), "SourceOfReferralIAPT"]
    assert (sources == "B1").mean() == pytest.approx(0.60, abs=0.04)
    assert (sources == "A1").mean() == pytest.approx(0.30, abs=0.04)
    assert sources.isna().any() or (~sources.isin(list(code_lists()["source_of_referral"]))).any()


def test_ages_are_mostly_adults_of_working_age(tables):
    age = (pd.Timestamp(END) - tables["IDS001MPI"]["PersonBirthDate"]).dt.days / 365.25
    assert (age < 18).mean() < 0.04
    assert 0.7 < ((age >= 18) & (age < 65)).mean() < 0.95
    assert 0.04 < (age >= 65).mean() < 0.15


def test_appointment_codes_look_as_submitted(tables):
    contacts = tables["IDS201CareContact"]
    codes = contacts["AttendOrDNACode"].str.strip().str.lstrip("0")
    assert (codes == "3").mean() == pytest.approx(0.10, abs=0.02)  # did not attend
    assert contacts["AttendOrDNACode"].isin([" 5", "05"]).any()  # padded, as providers send them
    assert set(contacts["AppType"]) <= {"01", "02", "03", "05", "06"}
    assert (contacts["PlannedCareContIndicator"] == "N").any()
    assert contacts["IAPTLTCServiceInd"].eq("Y").any()
    therapies = set(tables["IDS202CareActivity"]["CodeProcAndProcStatus"])
    assert therapies <= set(code_lists()["therapy_types"])


def test_problem_descriptors_and_scores_are_recorded(tables):
    complaints = tables["IDS603PresentingComplaints"]
    assert set(complaints["PresCompCodSig"].dropna()) == {"P", "S"}
    assert complaints["PresComp"].str.startswith(("F32", "F33")).mean() > 0.25
    scores = tables["IDS606CodedScoreAssessmentRefer"]
    tools = instruments()
    phq9 = scores.loc[scores["CodedAssToolType"] == tools["PHQ9"]["snomed_code"], "PersScore"]
    gad7 = scores.loc[scores["CodedAssToolType"] == tools["GAD7"]["snomed_code"], "PersScore"]
    assert phq9.between(0, 27).all() and gad7.between(0, 21).all()
    adsm_codes = {row["snomed_code"] for name, row in tools.items() if name not in ("PHQ9", "GAD7")}
    assert scores["CodedAssToolType"].isin(adsm_codes).any()


def test_every_instrument_is_scored_within_its_range(tables):
    # the v2.1 measures (BIQ, IBS, CFQ, MUS) included: the synthetic data exercise every instrument
    scores = tables["IDS606CodedScoreAssessmentRefer"]
    for name, row in instruments().items():
        mine = scores.loc[scores["CodedAssToolType"] == row["snomed_code"], "PersScore"]
        assert len(mine) > 0, name
        assert mine.between(row["score_min"], row["score_max"]).all(), name


# --- calibration figures on a hand-built example -------------------------------------------------

def _handbuilt() -> dict[str, pd.DataFrame]:
    empty = synthetic.generate(START, START, scale=0.0001)
    tables = {name: frame.iloc[0:0] for name, frame in empty.items()}

    def frame(name, rows):
        built = pd.DataFrame(rows, columns=list(TABLES[name]["columns"]))
        return normalise({name: built})[name]

    d = pd.Timestamp
    tables["IDS101Referral"] = frame("IDS101Referral", [
        # finished in September: 3 sessions (a padded code, an unplanned contact, an IET log)
        ["P1", "S1", "R1", "ZP001", "ZS001", d("2020-07-01"), "B1", d("2020-09-20"), "46"],
        # entered treatment in September, still open
        ["P2", "S2", "R1", "ZP001", "ZS001", d("2020-08-20"), "A1", None, None],
    ])
    tables["IDS201CareContact"] = frame("IDS201CareContact", [
        ["C1", "P1", d("2020-07-10"), "02", " 5", "Y", "02", "N", 30],
        ["C2", "P1", d("2020-08-01"), "02", None, "N", "02", "Y", 30],  # unplanned = attended
        ["C3", "P1", d("2020-09-10"), "02", "3", "Y", "02", "Y", 0],    # did not attend
        ["C4", "P1", d("2020-10-01"), "06", "5", "Y", "02", "N", 30],   # follow-up, after discharge
        ["C5", "P2", d("2020-09-02"), "03", "6", "Y", "11", "Y", 45],
    ])
    tables["IDS205InternetTherLog"] = frame("IDS205InternetTherLog", [
        ["L1", "P1", d("2020-09-08"), d("2020-09-14"), 40, "SilverCloud"],
    ])
    phq, gad = instruments()["PHQ9"]["snomed_code"], instruments()["GAD7"]["snomed_code"]
    tables["IDS606CodedScoreAssessmentRefer"] = frame("IDS606CodedScoreAssessmentRefer", [
        ["S1", "P1", phq, 15, d("2020-07-10")], ["S2", "P1", gad, 12, d("2020-07-10")],
        ["S3", "P1", phq, 6, d("2020-09-14")], ["S4", "P1", gad, 5, d("2020-09-14")],
    ])
    return tables


def test_calibration_figures_follow_their_documented_definitions():
    figures = synthetic.calibration_figures(_handbuilt(), START, END)
    assert figures["referrals_received"] == 0
    assert figures["entered_treatment"] == 1            # P2; P1 started in July
    assert figures["finished_course"] == 1              # P1: 2 attended contacts + 1 log
    assert figures["mean_sessions_finished"] == 3
    assert figures["pct_finished_waited_6_weeks"] == 100  # 9 days
    assert figures["recovery_rate"] == 100
    assert figures["internet_therapy_sessions"] == 1
    assert figures["referrals_with_integrated_contact"] == 1  # P2 (P1's Y contact was missed)
    assert figures["pct_dna"] == 50


# --- writing ------------------------------------------------------------------------------------

def test_written_parquet_and_csv_load_back(tables, tmp_path):
    for fmt in ("parquet", "csv"):
        folder = synthetic.write_dataset(tables, tmp_path / fmt, fmt=fmt)
        loaded = load_dataset(folder)
        for name in TABLES:
            assert len(loaded[name]) == len(tables[name]), (fmt, name)
        pd.testing.assert_frame_equal(loaded["IDS101Referral"], tables["IDS101Referral"], check_dtype=False)


def test_a_failed_write_leaves_nothing_behind(tables, tmp_path, monkeypatch):
    written = []

    def failing_to_parquet(self, path, **kwargs):
        written.append(path)
        if len(written) == 3:
            raise OSError("disk full")
        path.write_bytes(b"partial")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", failing_to_parquet)
    with pytest.raises(OSError, match="disk full"):
        synthetic.write_dataset(tables, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_replace_a_folder_with_other_files(tables, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not dataset tables"):
        synthetic.write_dataset(tables, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_rejects_impossible_arguments():
    with pytest.raises(ValueError, match="before start"):
        synthetic.generate(END, START)
    with pytest.raises(ValueError, match="scale must be positive"):
        synthetic.generate(START, END, scale=0)
    with pytest.raises(ValueError, match="format"):
        synthetic.write_dataset({}, "unused", fmt="xlsx")


# --- national calibration ----------------------------------------------------------------------

#: The same figures as the measure engine computes them (measure IDs of the registry).
ENGINE_MEASURES = {
    "referrals_received": "M001",
    "entered_treatment": "M031",
    "finished_course": "M076",
    "mean_sessions_finished": "M141",
    "pct_finished_waited_6_weeks": "M053",
    "recovery_rate": "M192",
    "internet_therapy_sessions": "M343",
}


@pytest.mark.slow
def test_national_september_2020_matches_the_published_figures():
    from iapt_report.data.periods import Period
    from iapt_report.data.reading import normalise
    from iapt_report.data.store import connect
    from iapt_report.engine.measures import MeasureEngine

    tables = synthetic.generate(START, END, scale=1.0)
    # as the pipeline reads them: padded codes such as ' 5' are tidied on loading
    national = MeasureEngine(connect(normalise(tables))).compute(Period.parse("2020-09"), levels=["England"])
    values = dict(zip(national.MEASURE_ID, national.MEASURE_VALUE))
    figures = {name: values[mid] for name, mid in ENGINE_MEASURES.items()}
    # no M-code counts referrals with any integrated contact in the month: the generator's
    # own documented definition gives that one
    figures["referrals_with_integrated_contact"] = synthetic.calibration_figures(tables, START, END)[
        "referrals_with_integrated_contact"]
    misses = {
        name: (round(figures[name], 2), published)
        for name, published in PUBLISHED_SEPTEMBER_2020.items()
        if abs(figures[name] - published) > TOLERANCE * published
    }
    assert not misses, f"outside 5% of the published figure (ours, published): {misses}"

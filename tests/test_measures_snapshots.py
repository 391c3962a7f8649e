"""Family "snapshots" (reference/measures_snapshots.yaml) on small hand-built datasets; every
expected value is worked out by hand in the comments.

Period: September 2020 unless said; its end is 2020-09-30. Days before the end:
14 -> 2020-09-16, 15 -> 09-15, 28 -> 09-02, 42 -> 08-19, 60 -> 08-01, 61 -> 07-31,
84 -> 07-08, 90 -> 07-02, 91 -> 07-01, 120 -> 06-02, 121 -> 06-01, 126 -> 05-27, 127 -> 05-26.
Every test runs on DuckDB and on Spark (the ``backend`` fixture, tests/conftest.py).
"""

from __future__ import annotations

import pandas as pd
import pytest

from builders import DatasetBuilder
from iapt_report.data.periods import Period
from iapt_report.engine.measures import MeasureEngine
from iapt_report.engine.registry import Cohort, Measure, RegistryError, _check, measure_metadata

SEPTEMBER = Period.parse("2020-09")

pytestmark = pytest.mark.usefixtures("backend")


def england(builder: DatasetBuilder, period: Period = SEPTEMBER) -> dict[str, float]:
    table = MeasureEngine(builder.ibis_tables()).compute(period, levels=["England"])
    return dict(zip(table.MEASURE_ID, table.MEASURE_VALUE))


# --- waiting for a first treatment ----------------------------------------------------------

def test_waiting_for_treatment_at_the_period_end_and_its_edges():
    b = DatasetBuilder()
    # not open at the end: discharged on the last day; received after it
    b.referral("DISCH_ON_END", "2020-06-01", discharged="2020-09-30", end_code="14")
    b.referral("RECV_AFTER", "2020-10-01")
    # open: discharged the day after the end (not yet discharged at the end), waited 14 days
    b.referral("DISCH_AFTER", "2020-09-16", discharged="2020-10-01", end_code="14")
    # first treatment on the last day: treated by the end, not waiting
    b.referral("TREAT_ON_END", "2020-09-15").sessions("TREAT_ON_END", "2020-09-30")
    # first treatment the day after the end: still waiting at the end, 15 days
    b.referral("TREAT_AFTER", "2020-09-15").sessions("TREAT_AFTER", "2020-10-01")
    # received on the last day: waiting 0 days
    b.referral("RECV_ON_END", "2020-09-30")
    # a treatment appointment not attended is no treatment: waiting 29 days
    b.referral("DNA", "2020-09-01").contact("DNA", "2020-09-10", attend="3")
    # waits at the edges of 90 days and 18 weeks (126 days)
    b.referral("W90", "2020-07-02")
    b.referral("W91", "2020-07-01")
    b.referral("W126", "2020-05-27")
    b.referral("W127", "2020-05-26")
    m = england(b)
    # waiting: DISCH_AFTER 14, TREAT_AFTER 15, RECV_ON_END 0, DNA 29, W90, W91, W126, W127
    assert m["M038"] == 8
    assert m["M039"] == 2  # <= 14 days: DISCH_AFTER, RECV_ON_END
    assert m["M040"] == 3  # <= 28: + TREAT_AFTER
    assert m["M041"] == 4  # <= 42: + DNA
    assert m["M042"] == 4  # <= 84: no more (the next wait is 90)
    assert m["M043"] == 7  # <= 126: + W90, W91, W126
    assert m["M044"] == 1  # > 126: W127
    assert m["M045"] == 3  # > 90: W91, W126, W127 (W90 waited exactly 90)
    # the bands that split the list add up to it
    assert m["M043"] + m["M044"] == m["M038"]
    # September's referrals received are not the waiting list: 5 received in September
    assert m["M001"] == 5


# --- waiting for a first assessment ---------------------------------------------------------

def test_waiting_for_assessment_at_the_period_end():
    b = DatasetBuilder()
    # first assessment the day after the end: waiting at the end, 121 days
    b.referral("ASSESS_AFTER", "2020-06-01").contact("ASSESS_AFTER", "2020-10-01", app_type="01")
    # first assessment on the last day: not waiting
    b.referral("ASSESS_ON_END", "2020-06-01").contact("ASSESS_ON_END", "2020-09-30", app_type="01")
    # an assessment and treatment appointment (03) is an assessment
    b.referral("ASSESS_03", "2020-06-01").contact("ASSESS_03", "2020-08-01", app_type="03")
    b.referral("NEW", "2020-09-20")  # waiting 10 days
    b.referral("R90", "2020-07-02")  # waiting exactly 90 days: not over 90
    b.referral("CLOSED", "2020-06-01", discharged="2020-09-01", end_code="14")  # not open
    m = england(b)
    assert m["M029"] == 3  # ASSESS_AFTER, NEW, R90
    assert m["M030"] == 1  # ASSESS_AFTER (121 days)


# --- open referrals by days since their last treatment session -------------------------------

def test_open_referrals_by_days_since_the_last_session_at_the_period_end():
    b = DatasetBuilder()
    for pathway, sessions in {
        "L60": ["2020-07-15", "2020-08-01"],  # last 60 days before the end -> M019
        "L61": ["2020-07-31"],                # 61 -> M020
        "L90": ["2020-07-02"],                # 90 -> M020
        "L91": ["2020-07-01"],                # 91 -> M021
        "L120": ["2020-06-02"],               # 120 -> M021
        "L121": ["2020-06-01"],               # 121 -> M022
        "LATER": ["2020-06-01", "2020-10-02"],  # the October session has not happened: 121 -> M022
        "NONE": [],                           # no session: in none of them (no last session date)
    }.items():
        b.referral(pathway, "2020-05-01").sessions(pathway, *sessions)
    b.referral("IET", "2020-05-01").internet_log("IET", "2020-09-14", "2020-09-20")  # a session 10 days before -> M019
    b.referral("CLOSED", "2020-05-01", discharged="2020-09-20", end_code="46").sessions("CLOSED", "2020-09-01", "2020-09-10")
    m = england(b)
    assert m["M019"] == 2  # L60, IET
    assert m["M020"] == 2  # L61, L90
    assert m["M021"] == 2  # L91, L120
    assert m["M022"] == 2  # L121, LATER
    # open and treated by the end: every pathway but NONE and CLOSED; the four bands cover them
    assert m["M019"] + m["M020"] + m["M021"] + m["M022"] == 8


# --- several periods, geography and breakdowns ----------------------------------------------

def test_snapshots_of_several_months_each_at_its_own_end():
    b = DatasetBuilder()
    # received 20 August, first session 10 September, discharged 15 October
    b.referral("P", "2020-08-20", discharged="2020-10-15", end_code="46").sessions("P", "2020-09-10", "2020-10-01")
    months = [Period.parse(label) for label in ("2020-08", "2020-09", "2020-10")]
    engine = MeasureEngine(b.ibis_tables())
    together = engine.compute_totals(months, levels=["England", "Provider"])
    one_by_one = pd.concat([engine.compute(month, levels=["England", "Provider"], breakdowns=False)
                            for month in months], ignore_index=True)
    pd.testing.assert_frame_equal(together, one_by_one)
    national = together[together.GROUP_TYPE == "England"].set_index(["REPORTING_PERIOD_END", "MEASURE_ID"]).MEASURE_VALUE
    # end of August: waiting 11 days, no session yet
    assert national["2020-08-31", "M038"] == 1 and national["2020-08-31", "M039"] == 1
    assert national["2020-08-31", "M019"] == 0
    # end of September: treated (not waiting); last session 10 September, 20 days before
    assert national["2020-09-30", "M038"] == 0 and national["2020-09-30", "M019"] == 1
    # end of October: discharged, in no snapshot
    assert national["2020-10-31", "M038"] == 0 and national["2020-10-31", "M019"] == 0


def test_snapshot_by_provider_and_breakdown_add_up_to_england():
    b = DatasetBuilder()
    b.referral("A", "2020-09-01", provider="PRV01", gender="1")
    b.referral("B", "2020-09-02", provider="PRV02", gender="2")
    b.referral("C", "2020-09-03", provider="PRV02", gender="2")
    table = MeasureEngine(b.ibis_tables()).compute(SEPTEMBER, levels=["England", "Provider"], breakdowns=True)
    waiting = table[table.MEASURE_ID == "M038"]
    total = waiting[(waiting.GROUP_TYPE == "England") & (waiting.VARIABLE_TYPE == "Total")].MEASURE_VALUE
    assert list(total) == [3]
    providers = waiting[(waiting.GROUP_TYPE == "Provider") & (waiting.VARIABLE_TYPE == "Total")]
    assert dict(zip(providers.ORG_CODE2, providers.MEASURE_VALUE)) == {"PRV01": 1, "PRV02": 2}
    genders = waiting[(waiting.GROUP_TYPE == "England") & (waiting.VARIABLE_TYPE == "Gender")]
    assert dict(zip(genders.VARIABLE_A, genders.MEASURE_VALUE)) == {"Male": 1, "Female": 2}


# --- the registry language and metadata -----------------------------------------------------

def test_metadata_describes_the_snapshot_cohort():
    construction = measure_metadata().set_index("MEASURE_ID").CONSTRUCTION
    assert construction["M038"].startswith("pathways open at the end of the period (ReferralRequestReceivedDate "
                                           "on or before the period end, ServDischDate empty or after it)")
    assert "TherapySession_FirstDate is null" in construction["M038"]
    assert "(period end - ReferralRequestReceivedDate in days) <= 14" in construction["M039"]
    assert "(period end - TherapySession_LastDate in days) >= 61 and" in construction["M020"]


def test_registry_refuses_days_to_period_end_outside_a_snapshot_and_medians_of_a_snapshot():
    event = Cohort("received", "pathway", "ReferralRequestReceivedDate")
    snapshot = Cohort("open", "pathway", "ReferralRequestReceivedDate", at="period_end", until="ServDischDate")
    with pytest.raises(RegistryError, match="days_to_period_end"):
        _check([Measure("X1", "x", "count", event, where={"ReferralRequestReceivedDate": {"days_to_period_end": {"le": 1}}})])
    with pytest.raises(RegistryError, match="not median"):
        _check([Measure("X2", "x", "median", snapshot, value="CareContact_Count")])
    _check([Measure("X3", "x", "count", snapshot, where={"ReferralRequestReceivedDate": {"days_to_period_end": {"le": 1}}})])


# --- referrals received by source of referral -------------------------------------------------

def test_referrals_by_source_of_referral():
    b = DatasetBuilder()
    codes = ["A2", "A3", "A4", "B2", "C1", "C2", "D1", "E6", "F3", "G4", "H1", "I2", "P1", "M8", "Q1", " m1 "]
    for i, code in enumerate(codes):
        b.referral(f"S{i}", "2020-09-10", source=code)
    b.referral("AUG", "2020-08-31", source="A2")  # received in August: not counted
    b.referral("SELF", "2020-09-10", source="B1").referral("GP", "2020-09-10", source="A1")
    b.referral("NHSTT", "2020-09-10", source="N1")
    m = england(b)
    assert m["M004"] == 1  # A2 health visitor (the August one is outside the period)
    assert m["M005"] == 1  # A3
    assert m["M345"] == 1  # A4 maternity service
    assert m["M006"] == 1  # B2 carer
    assert m["M007"] == 2  # C1, C2 local authority
    assert m["M008"] == 1  # D1 employer
    assert m["M009"] == 1  # E6 justice system
    assert m["M010"] == 1  # F3 child health
    assert m["M011"] == 1  # G4 independent/voluntary
    assert m["M012"] == 1  # H1 acute secondary care
    assert m["M013"] == 1  # I2 other mental health trust
    assert m["M014"] == 1  # P1 internal
    assert m["M017"] == 2  # M8, and " m1 " read as M1
    assert m["M287"] == 1  # Q1 drop-in
    # every September referral has one of the sources, so the sources add up to M001
    sources = ["M002", "M003", "M004", "M005", "M006", "M007", "M008", "M009", "M010", "M011", "M012",
               "M013", "M014", "M017", "M018", "M287", "M345"]
    assert m["M001"] == len(codes) + 3 == sum(m[s] for s in sources)


# --- first to second treatment session, and ended referrals that were treated ---------------

def test_first_to_second_session_bands_and_percentages():
    b = DatasetBuilder()
    # second sessions in September, 28, 29, 90 and 91 days after the first
    for pathway, first in {"G28": "2020-08-13", "G29": "2020-08-12", "G90": "2020-06-12", "G91": "2020-06-11"}.items():
        b.referral(pathway, "2020-06-01").sessions(pathway, first, "2020-09-10")
    m = england(b)
    assert m["M184"] == 4
    assert m["M121"] == 1  # fewer than 29 days: G28
    assert m["M122"] == 2  # 29 to 90: G29, G90
    assert m["M046"] == 3 and m["M047"] == 1
    assert m["M123"] == pytest.approx(100 * 1 / 4)
    assert m["M124"] == pytest.approx(100 * 3 / 4)  # over 28 days (M046 / M184)
    assert m["M125"] == pytest.approx(100 * 2 / 4)
    assert m["M126"] == pytest.approx(100 * 1 / 4)  # over 90 days (M047 / M184)
    assert m["M121"] + m["M122"] + m["M047"] == m["M184"]


def test_finished_course_of_those_ended_with_a_treatment():
    b = DatasetBuilder()
    b.referral("TWO", "2020-06-01", discharged="2020-09-15", end_code="46").sessions("TWO", "2020-07-01", "2020-08-01")
    b.referral("ONE", "2020-06-01", discharged="2020-09-15", end_code="47").sessions("ONE", "2020-07-01")
    b.referral("ASSESSED", "2020-06-01", discharged="2020-09-15", end_code="10").contact("ASSESSED", "2020-07-01", app_type="01")
    b.referral("UNSEEN", "2020-06-01", discharged="2020-09-15", end_code="50")
    m = england(b)
    # ended 4, before a treatment 2 (ASSESSED, UNSEEN), finished a course 1 (TWO): 1 / (4 - 2)
    assert (m["M056"], m["M153"], m["M076"]) == (4, 2, 1)
    assert m["M081"] == pytest.approx(50.0)
    # treated at least once: TWO (finished) and ONE (treated once) of the 4 ended
    assert m["M075"] == 1
    assert m["M080"] == pytest.approx(100 * (1 + 1) / 4)


# --- PHQ-9 and anxiety measure scores of those finishing a course -------------------------------

def _finished(b: DatasetBuilder, pathway: str, complaint: str) -> DatasetBuilder:
    b.referral(pathway, "2020-06-01", discharged="2020-09-15", end_code="46")
    b.sessions(pathway, "2020-07-01", "2020-09-01")
    return b.complaint(pathway, complaint)


def test_phq9_and_anxiety_measure_pairing():
    b = DatasetBuilder()
    # F1: generalised anxiety (no ADSM): GAD-7 and PHQ-9 both paired
    _finished(b, "F1", "F411").scores("F1", "GAD7", 12, 5).scores("F1", "PHQ9", 15, 6)
    # F2: agoraphobia (ADSM Mobility Inventory): one ADSM score, one PHQ-9 score
    _finished(b, "F2", "F400").score("F2", "AgoraAlone", "2020-07-01", 3.1).score("F2", "PHQ9", "2020-07-01", 12)
    # F3: no scores at all
    _finished(b, "F3", "F32")
    # F4: PTSD (ADSM IES-R) paired, PHQ-9 paired, no GAD-7
    _finished(b, "F4", "F431").scores("F4", "PTSD", 40, 20).scores("F4", "PHQ9", 15, 6)
    # F5: GAD-7 paired, no PHQ-9
    _finished(b, "F5", "F411").scores("F5", "GAD7", 12, 5)
    m = england(b)
    assert m["M076"] == 5
    assert m["M196"] == 1  # F2: a first anxiety score only
    assert m["M197"] == 1  # F3: none
    assert m["M198"] == 3  # F1 (GAD-7), F4 (ADSM), F5 (GAD-7)
    assert m["M196"] + m["M197"] + m["M198"] == m["M076"]
    assert m["M199"] == 1  # F2
    assert m["M200"] == 2  # F3, F5
    assert m["M201"] == 2  # F1, F4
    assert m["M199"] + m["M200"] + m["M201"] == m["M076"]
    assert m["M202"] == 2  # F1, F4: both paired


def test_registry_numerator_of_several_terms_needs_a_base():
    count = Cohort("received", "pathway", "ReferralRequestReceivedDate")
    parts = [Measure("A", "a", "count", count), Measure("B", "b", "count", count)]
    with pytest.raises(RegistryError, match="base"):
        _check([*parts, Measure("P", "p", "percentage", numerator=("A", "B"), denominator=("A",))])
    with_base = Measure("P", "p", "percentage", numerator=("A", "B"), denominator=("A",), base="A")
    _check([*parts, with_base])
    assert with_base.base_measure_id == "A"
    construction = measure_metadata().set_index("MEASURE_ID").CONSTRUCTION
    assert construction["M080"] == "100 x (M076 plus M075) / (M056), from unrounded counts"


# --- Work and Social Adjustment Scale items ----------------------------------------------------

def test_wsas_item_scores_of_those_finishing_a_course():
    b = DatasetBuilder()
    # W1: work 6, 4, 2 (first 6, last 2); one home management score only (not paired)
    _finished(b, "W1", "F32").score("W1", "WASAS_Work", "2020-07-01", 6).score("W1", "WASAS_Work", "2020-08-01", 4)
    b.score("W1", "WASAS_Work", "2020-09-01", 2).score("W1", "WASAS_HomeManagement", "2020-07-01", 5)
    # W2: work 8 then 3; home management 4 then 1
    _finished(b, "W2", "F32").scores("W2", "WASAS_Work", 8, 3).scores("W2", "WASAS_HomeManagement", 4, 1)
    # W3: work 2 then 2
    _finished(b, "W3", "F32").scores("W3", "WASAS_Work", 2, 2)
    # W4: one work score: not paired
    _finished(b, "W4", "F32").score("W4", "WASAS_Work", "2020-07-01", 7)
    # W5: its second work score is after its discharge (15 September): not the referral's, not paired
    _finished(b, "W5", "F32").score("W5", "WASAS_Work", "2020-07-01", 4).score("W5", "WASAS_Work", "2020-09-20", 0)
    # W6: paired work scores but treated once: did not finish a course
    b.referral("W6", "2020-06-01", discharged="2020-09-15", end_code="47").sessions("W6", "2020-07-01")
    b.scores("W6", "WASAS_Work", 5, 1)
    m = england(b)
    assert m["M212"] == 3  # W1, W2, W3
    assert m["M213"] == pytest.approx((6 + 8 + 2) / 3)
    assert m["M214"] == 6  # median of 2, 6, 8
    assert m["M215"] == pytest.approx((2 + 3 + 2) / 3)
    assert m["M216"] == 2  # median of 2, 2, 3
    assert m["M217"] == 1  # W2 only: W1 has one home management score
    assert (m["M218"], m["M219"], m["M220"], m["M221"]) == (4, 4, 1, 1)
    # no scores on the other items: counts 0, means and medians missing
    for count, stats in (("M222", "M223 M224 M225 M226"), ("M227", "M228 M229 M230 M231"), ("M232", "M233 M234 M235 M236")):
        assert m[count] == 0
        assert all(pd.isna(m[s]) for s in stats.split())


def test_mean_days_between_treatment_sessions_is_per_gap_not_per_referral():
    b = DatasetBuilder()
    # A: sessions 1 July, 15 July, 12 August: 42 days first to last, 2 gaps
    b.referral("A", "2020-06-01", discharged="2020-09-15", end_code="46").sessions("A", "2020-07-01", "2020-07-15", "2020-08-12")
    # B: sessions 1 and 11 July: 10 days, 1 gap
    b.referral("B", "2020-06-01", discharged="2020-09-15", end_code="46").sessions("B", "2020-07-01", "2020-07-11")
    # C: treated once: not finished, not counted
    b.referral("C", "2020-06-01", discharged="2020-09-15", end_code="47").sessions("C", "2020-07-01")
    m = england(b)
    # (42 + 10) / (2 + 1), not the mean of 21 and 10 per referral
    assert m["M351"] == pytest.approx(52 / 3)
    construction = measure_metadata().set_index("MEASURE_ID").CONSTRUCTION["M351"]
    assert construction.startswith("sum of TherapySession_FirstToLast_Days / sum of TreatmentSessionGaps_Count over pathways")

"""The synthetic generator's optional IAPT v2.1 tables: linked to the right records, the mixes
of assumptions.py ("v21") within sampling error, and valid."""

from __future__ import annotations

from datetime import date

import pytest

from iapt_report.data.validation import find_problems
from iapt_report.sources import synthetic
from iapt_report.sources.synthetic.assumptions import ASSUMPTIONS

V21 = ASSUMPTIONS["v21"]


@pytest.fixture(scope="module")
def tables():
    return synthetic.generate(date(2020, 4, 1), date(2020, 9, 30), scale=0.01)


def test_the_v21_tables_are_valid_and_linked(tables):
    assert find_problems(tables) == []
    mpi, referrals = tables["IDS001MPI"], tables["IDS101Referral"]
    for name in ("IDS004EmpStatus", "IDS007DisabilityType", "IDS011SocPerCircumstances"):
        assert tables[name].RecordNumber.isin(mpi.RecordNumber).all(), name
    assert tables["IDS602LongTermCondition"].PathwayID.isin(referrals.PathwayID).all()
    activities = tables["IDS607CodedScoreAssessmentAct"].merge(tables["IDS202CareActivity"], on="CareActId")
    assert len(activities) == len(tables["IDS607CodedScoreAssessmentAct"])
    assert (activities.PathwayID_x == activities.PathwayID_y).all()


def test_employment_status_is_recorded_at_referral_and_at_discharge(tables):
    status, referrals = tables["IDS004EmpStatus"], tables["IDS101Referral"]
    status = status.assign(item=status.UniqueID_IDS004.str[-1], PathwayID="P" + status.UniqueID_IDS004.str[1:-1])
    joined = status.merge(referrals, on="PathwayID", suffixes=("", "_referral"))
    assert len(joined) == len(status) and (joined.RecordNumber == joined.RecordNumber_referral).all()
    first, last = joined[joined.item == "1"], joined[joined.item == "2"]
    assert (first.EmployStatusRecDate == first.ReferralRequestReceivedDate).all()
    assert (last.EmployStatusRecDate == last.ServDischDate).all()
    n = len(referrals)
    share = len(first) / n
    assert abs(share - V21["status_recorded_at_referral"]) < 4 * (share * (1 - share) / n) ** 0.5
    # sick pay only while employed and off sick
    assert set(joined.SSPInd[joined.EmployStatus != "01"].dropna()) == set()
    assert set(joined.SSPInd[joined.SickAbsenceInd == "N"].dropna()) == {"N"}


def test_disability_and_circumstances_follow_their_mixes(tables):
    patients = len(tables["IDS001MPI"])
    disability = tables["IDS007DisabilityType"]
    first = disability[disability.UniqueID_IDS007.str.endswith("1")]
    share = len(first) / patients
    assert abs(share - V21["disability_recorded"]) < 4 * (share * (1 - share) / patients) ** 0.5
    no_disability = (first.DisabCode == "NN").mean()
    expected = V21["disability"]["NN"] / sum(V21["disability"].values())
    assert abs(no_disability - expected) < 4 * (expected * (1 - expected) / len(first)) ** 0.5
    circumstances = tables["IDS011SocPerCircumstances"]
    religion = circumstances[circumstances.UniqueID_IDS011.str.endswith("1")]
    assert set(religion.SocPerCircumstance) <= set(V21["religion"])
    orientation = circumstances[circumstances.UniqueID_IDS011.str.endswith("2")]
    assert set(orientation.SocPerCircumstance) <= set(V21["sexual_orientation"])


def test_integrated_care_pathways_mostly_have_a_long_term_condition(tables):
    contacts = tables["IDS201CareContact"]
    integrated = set(contacts.PathwayID[contacts.IAPTLTCServiceInd == "Y"])
    with_ltc = set(tables["IDS602LongTermCondition"].PathwayID)
    others = set(tables["IDS101Referral"].PathwayID) - integrated
    assert len(integrated & with_ltc) / len(integrated) == pytest.approx(V21["ltc_recorded_if_integrated"], abs=0.05)
    assert len(others & with_ltc) / len(others) == pytest.approx(V21["ltc_recorded_otherwise"], abs=0.02)


def test_the_same_seed_gives_the_same_v21_tables(tables):
    again = synthetic.generate(date(2020, 4, 1), date(2020, 9, 30), scale=0.01)
    for name in ("IDS004EmpStatus", "IDS007DisabilityType", "IDS011SocPerCircumstances",
                 "IDS602LongTermCondition", "IDS607CodedScoreAssessmentAct", "IDS001MPI"):
        assert again[name].equals(tables[name]), name

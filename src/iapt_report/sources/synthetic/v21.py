"""The optional IAPT v2.1 tables (employment status, disability, social and personal
circumstances, long-term conditions, scores within care activities) and the v2.1 fields of the
patient table, drawn after the other tables are assembled.

Every draw is hashed from a record's own key and the seed (:func:`~.draws._hashed_uniforms`),
never from the months' random streams, so the other tables are exactly what they were before
these were added, and a patient keeps the same disability, religion and so on in every run.
The mixes are in ``ASSUMPTIONS["v21"]`` (assumptions.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from iapt_report.reference import instruments

from .assumptions import ASSUMPTIONS
from .columns import _PATHWAY_DIGITS, _dates, _digits, _frame, _id_strings, _label_strings, _series, _text_array
from .draws import _hashed_uniforms, _mix, _mix_of

# streams of _hashed_uniforms used here (people.py uses 2-9)
_MPI, _DISABILITY, _CIRCUMSTANCES, _EMPLOYMENT, _LTC, _ACTIVITY_SCORES = 20, 30, 40, 50, 60, 70


def _v21_tables(tables: dict[str, pd.DataFrame], referrals: dict, seed: int) -> dict[str, pd.DataFrame]:
    """The v2.1 tables, and IDS001MPI with its v2.1 fields; ``referrals`` are the referral arrays
    (``number``, ``patient``, ``day``, ``discharge_day``) in IDS101Referral's row order."""
    keys, inverse = np.unique(referrals["patient"], return_inverse=True)  # IDS001MPI's row order
    first_day = np.full(keys.size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_day, inverse, referrals["day"])
    record_numbers = tables["IDS001MPI"]["RecordNumber"]
    patient_digits = _digits(keys, _PATHWAY_DIGITS)
    pathway_digits = _digits(referrals["number"], _PATHWAY_DIGITS)
    contacts = tables["IDS201CareContact"]
    integrated_ids = contacts["PathwayID"][contacts["IAPTLTCServiceInd"] == "Y"]
    integrated = tables["IDS101Referral"]["PathwayID"].isin(integrated_ids).to_numpy()
    return {
        "IDS001MPI": _patient_fields(tables["IDS001MPI"], keys, seed),
        "IDS004EmpStatus": _employment_table(referrals, record_numbers.to_numpy()[inverse], pathway_digits, seed),
        "IDS007DisabilityType": _disability_table(keys, record_numbers, patient_digits, seed),
        "IDS011SocPerCircumstances": _circumstance_table(keys, record_numbers, patient_digits, first_day, seed),
        "IDS602LongTermCondition": _condition_table(referrals, tables["IDS101Referral"]["PathwayID"],
                                                    pathway_digits, integrated, seed),
        "IDS607CodedScoreAssessmentAct": _activity_score_table(tables["IDS202CareActivity"], seed),
    }


def _patient_fields(mpi: pd.DataFrame, keys: np.ndarray, seed: int) -> pd.DataFrame:
    """EduEstabTypeIAPT, ExBAFIndicator (any time) and GenderIdentitySameAtBirth (with GenderIdentity)."""
    u = [_hashed_uniforms(keys, seed, _MPI + i) for i in range(3)]
    education, forces = _mix_of("v21", "education"), _mix_of("v21", "ex_armed_forces")
    same, with_identity = _mix_of("v21", "gender_same_at_birth"), mpi["GenderIdentity"].notna().to_numpy()
    return mpi.assign(
        EduEstabTypeIAPT=_label_strings(education.draw(u[0]), education.labels),
        ExBAFIndicator=_label_strings(forces.draw(u[1]), forces.labels),
        GenderIdentitySameAtBirth=_label_strings(np.where(with_identity, same.draw(u[2]), -1), same.labels),
    )


def _rows(owners: np.ndarray, items: np.ndarray, digits: np.ndarray, prefix: str) -> pd.Series:
    """Record identifiers: ``prefix``, the owner's digits and the item number (one digit)."""
    return _series(_text_array(prefix, digits[owners], _digits(items, 1)))


def _disability_table(keys, record_numbers: pd.Series, digits: np.ndarray, seed: int) -> pd.DataFrame:
    """One disability code for most patients; a second one (a disability) for a few."""
    params = ASSUMPTIONS["v21"]
    u = [_hashed_uniforms(keys, seed, _DISABILITY + i) for i in range(4)]
    codes = _mix_of("v21", "disability")
    second_mix = _mix({code: share for code, share in params["disability"].items() if code not in ("NN", "ZZ")})
    first = np.flatnonzero(u[0] < params["disability_recorded"])
    second = np.flatnonzero((u[0] < params["disability_recorded"]) & (u[2] < params["second_disability"]))
    owners = np.concatenate([first, second])
    order = np.lexsort((np.r_[np.zeros(first.size), np.ones(second.size)], owners))
    owners, item = owners[order], np.r_[np.ones(first.size, np.int64), np.full(second.size, 2)][order]
    labels = tuple(codes.labels) + tuple(second_mix.labels)
    code = np.where(item == 1, codes.draw(u[1])[owners], len(codes.labels) + second_mix.draw(u[3])[owners])
    return _frame({
        "UniqueID_IDS007": _rows(owners, item, digits, "D"),
        "RecordNumber": record_numbers.take(owners).reset_index(drop=True),
        "DisabCode": _label_strings(code, labels),
    })


def _circumstance_table(keys, record_numbers: pd.Series, digits: np.ndarray, first_day: np.ndarray,
                        seed: int) -> pd.DataFrame:
    """Religion (item 1) and sexual orientation (item 2), recorded at the patient's first referral."""
    params = ASSUMPTIONS["v21"]
    u = [_hashed_uniforms(keys, seed, _CIRCUMSTANCES + i) for i in range(4)]
    religion, orientation = _mix_of("v21", "religion"), _mix_of("v21", "sexual_orientation")
    has = [u[0] < params["religion_recorded"], u[2] < params["sexual_orientation_recorded"]]
    owners = np.concatenate([np.flatnonzero(has[0]), np.flatnonzero(has[1])])
    item = np.r_[np.ones(int(has[0].sum()), np.int64), np.full(int(has[1].sum()), 2)]
    order = np.lexsort((item, owners))
    owners, item = owners[order], item[order]
    labels = religion.labels + orientation.labels
    code = np.where(item == 1, religion.draw(u[1])[owners], len(religion.labels) + orientation.draw(u[3])[owners])
    return _frame({
        "UniqueID_IDS011": _rows(owners, item, digits, "K"),
        "RecordNumber": record_numbers.take(owners).reset_index(drop=True),
        "SocPerCircumstance": _label_strings(code, labels),
        "SocPerCircumstanceRecDate": _dates(first_day[owners]),
    })


def _employment_table(referrals: dict, record_numbers: np.ndarray, digits: np.ndarray, seed: int) -> pd.DataFrame:
    """Employment status at referral (item 1) and, for a discharged referral, at discharge (item 2)."""
    params = ASSUMPTIONS["v21"]
    numbers = referrals["number"]
    u = [_hashed_uniforms(numbers, seed, _EMPLOYMENT + i) for i in range(12)]
    status_mix = _mix_of("v21", "employment_status")
    employed_code = status_mix.labels.index("01")
    start = status_mix.draw(u[1])
    changed = u[3] < params["status_changes_by_discharge"]
    end = np.where(changed, status_mix.draw(u[4]), start)
    at_start = np.flatnonzero(u[0] < params["status_recorded_at_referral"])
    discharged = referrals["discharge_day"] >= 0
    at_end = np.flatnonzero(discharged & (u[2] < params["status_recorded_at_discharge"]))
    owners = np.concatenate([at_start, at_end])
    item = np.r_[np.ones(at_start.size, np.int64), np.full(at_end.size, 2)]
    order = np.lexsort((item, owners))
    owners, item = owners[order], item[order]
    first = item == 1
    status = np.where(first, start[owners], end[owners])
    employed = status == employed_code
    sick_at_start = u[5] < params["sick_absence_if_employed"]
    back_at_work = u[6] < params["sick_absence_ends_by_discharge"]
    sick = employed & np.where(first, sick_at_start[owners], sick_at_start[owners] & ~back_at_work[owners])
    sick_pay = sick & (u[7] < params["statutory_sick_pay_if_off_sick"])[owners]
    out_of_work = np.isin(status, [status_mix.labels.index("02"), status_mix.labels.index("04")])
    benefit_share = np.where(out_of_work, params["benefits_if_out_of_work"],
                             np.where(employed, params["benefits_if_employed"], params["benefits_otherwise"]))
    benefits = u[8][owners] < benefit_share
    support = (employed | out_of_work) & (u[9] < params["employment_support"])[owners]
    hours = _mix_of("v21", "weekly_hours")
    day = np.where(first, referrals["day"][owners], referrals["discharge_day"][owners])
    support_ended = support & ~first
    yes_no = ("Y", "N")

    def flag(condition: np.ndarray, known: np.ndarray | None = None) -> pd.Series:
        index = np.where(condition, 0, 1)
        return _label_strings(index if known is None else np.where(known, index, -1), yes_no)

    def benefit(name: str, stream: int) -> pd.Series:
        return flag(benefits & (u[stream][owners] < params["benefit_types"][name]))

    return _frame({
        "UniqueID_IDS004": _rows(owners, item, digits, "E"),
        "RecordNumber": pd.Series(record_numbers[owners], dtype="str", copy=False),
        "EmployStatus": _label_strings(status, status_mix.labels),
        "EmployStatusRecDate": _dates(day),
        "WeekHoursWorked": _label_strings(np.where(employed, hours.draw(u[10][owners]), -1), hours.labels),
        "SelfEmployInd": flag(u[11][owners] < params["self_employed_if_employed"], employed),
        "SickAbsenceInd": _label_strings(np.where(employed, np.where(sick, 0, 1), 2), ("Y", "N", "8")),
        "SSPInd": flag(sick_pay, employed),
        "BenefitRecInd": flag(benefits),
        "JSAInd": benefit("JSA", 3),
        "ESAInd": benefit("ESA", 4),
        "UCInd": benefit("UC", 5),
        "PIPInd": benefit("PIP", 6),
        "OtherBenefitInd": benefit("other", 7),
        "EmpSupportInd": flag(support),
        "EmpSupportDischargeDate": _dates(day, missing=~support_ended),
    })


def _condition_table(referrals: dict, pathway_ids: pd.Series, digits: np.ndarray, integrated: np.ndarray,
                     seed: int) -> pd.DataFrame:
    """Long-term conditions: most integrated care (LTC) pathways have one or two; a few others one."""
    params = ASSUMPTIONS["v21"]
    u = [_hashed_uniforms(referrals["number"], seed, _LTC + i) for i in range(4)]
    conditions = _mix_of("v21", "long_term_condition")
    share = np.where(integrated, params["ltc_recorded_if_integrated"], params["ltc_recorded_otherwise"])
    first = np.flatnonzero(u[0] < share)
    second = first[u[2][first] < params["second_ltc"]]
    owners = np.concatenate([first, second])
    item = np.r_[np.ones(first.size, np.int64), np.full(second.size, 2)]
    order = np.lexsort((item, owners))
    owners, item = owners[order], item[order]
    code = np.where(item == 1, conditions.draw(u[1])[owners], conditions.draw(u[3])[owners])
    return _frame({
        "UniqueID_IDS602": _rows(owners, item, digits, "T"),
        "PathwayID": pathway_ids.take(owners).reset_index(drop=True),
        "LongTermCondition": _label_strings(code, conditions.labels),
    })


def _activity_score_table(activities: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A PHQ-9 recorded within a few care activities (most scores are referral-level, IDS606)."""
    params = ASSUMPTIONS["v21"]
    rows = np.arange(len(activities), dtype=np.int64)
    u = [_hashed_uniforms(rows, seed, _ACTIVITY_SCORES + i) for i in range(2)]
    chosen = np.flatnonzero(u[0] < params["activity_scores"])
    return _frame({
        "UniqueID_IDS607": _id_strings("Q", chosen, 12),
        "PathwayID": activities["PathwayID"].take(chosen).reset_index(drop=True),
        "CareActId": activities["CareActId"].take(chosen).reset_index(drop=True),
        "CodedAssToolType": _label_strings(np.zeros(chosen.size), (instruments()["PHQ9"]["snomed_code"],)),
        "PersScore": np.floor(u[1][chosen] * 28).astype(np.float64),  # PHQ-9 0-27
    })

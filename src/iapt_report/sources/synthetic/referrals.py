"""A month's referrals and their pathways: when they arrive, whose they are, what becomes of
them (not seen, assessed, treated once, a course), their attended sessions, discharge and end
code, problem descriptor and how much treatment helps.
"""

from __future__ import annotations

import calendar
from datetime import date
from functools import lru_cache

import numpy as np

from iapt_report.reference import code_lists, instruments

from .assumptions import ASSUMPTIONS
from .draws import NEVER, _day_number, _expand, _expit, _logit, _lognormal_days, _mix, _mix_of, expected_referrals
from .organisations import Organisations, _subicb_of_patients

# Pathway kinds (what becomes of a referral)
NOT_SEEN, ASSESSED, TREATED_ONCE, COURSE = 0, 1, 2, 3
_KIND_NAMES = ("not_seen", "assessed", "treated_once", "course")


def _draw_referrals(rng, year: int, month: int, scale: float, seed: int, orgs: Organisations) -> dict:
    """Referral dates and numbers, patients, commissioner (sub-ICB), provider and source."""
    n = expected_referrals(year, month, scale)
    first = _day_number(date(year, month, 1))
    n_days = calendar.monthrange(year, month)[1]
    weekday = np.array(ASSUMPTIONS["volume"]["weekday"])[(np.arange(first, first + n_days) + 3) % 7]
    day = np.sort(first + rng.choice(n_days, size=n, p=weekday / weekday.sum()))
    number = (year * 100 + month) * 10**7 + np.arange(n, dtype=np.int64)
    patient = _patient_keys(rng, number, year, month, scale)
    # a referral's commissioner is its patient's home sub-ICB
    subicb = _subicb_of_patients(patient, seed, orgs)
    u = rng.random(n)
    provider = (u[:, None] > orgs.flow_cumulative[subicb]).sum(axis=1).astype(np.int16)
    source = _mix_of("source_of_referral").draw(rng.random(n))
    return {"day": day, "number": number, "patient": patient, "subicb": subicb,
            "provider": provider, "source": source}


def _patient_keys(rng, number: np.ndarray, year: int, month: int, scale: float) -> np.ndarray:
    """Each referral's patient key: the referral's own number, or for a repeat referral the
    number of a referral received 1-24 months earlier (whose patient is referred again)."""
    params = ASSUMPTIONS["patients"]
    n = number.size
    repeat = rng.random(n) < params["repeat_referral"]
    months_back = 1 + rng.integers(0, params["repeat_within_months"], n)
    position = rng.random(n)
    month_index = year * 12 + (month - 1) - months_back[repeat]
    earlier_year, earlier_month = month_index // 12, month_index % 12 + 1
    sizes = {key: expected_referrals(*key, scale) for key in set(zip(earlier_year.tolist(), earlier_month.tolist()))}
    size = np.array([sizes[key] for key in zip(earlier_year.tolist(), earlier_month.tolist())], dtype=np.int64)
    serial = np.floor(position[repeat] * np.maximum(size, 1)).astype(np.int64)
    patient = number.copy()
    patient[repeat] = (earlier_year * 100 + earlier_month) * 10**7 + serial
    return patient


def _draw_pathway_kinds(rng, r: dict, orgs: Organisations) -> None:
    """What becomes of each referral, the day of its first appointment, and its flags."""
    params = ASSUMPTIONS["pathway"]
    effects = orgs.provider_effects
    n, provider = r["day"].size, r["provider"]
    u = rng.random((n, 4))
    treated = u[:, 0] < _expit(_logit(params["treated"]) + effects["treatment_logit"][provider])
    course = treated & (u[:, 1] < params["course_if_treated"])
    not_seen = ~treated & (u[:, 2] < params["not_seen_if_untreated"])
    r["kind"] = np.select([course, treated, not_seen], [COURSE, TREATED_ONCE, NOT_SEEN], ASSESSED).astype(np.int8)
    r["assessment_is_treatment"] = treated & (u[:, 3] < params["assessment_is_treatment"])
    mean, dispersion = params["extra_sessions"]
    extra = rng.negative_binomial(dispersion, dispersion / (dispersion + mean), n)
    r["treatment_sessions"] = np.select(
        [course, treated], [np.minimum(2 + extra, params["max_sessions"]), 1], 0
    ).astype(np.int64)
    r["wait_effect"] = effects["wait"][provider]
    wait = _lognormal_days(rng, n, params["wait_to_assessment"]) * r["wait_effect"]
    r["assessment_day"] = r["day"] + np.round(wait).astype(np.int64)
    r["internet_therapy"] = treated & (
        rng.random(n) < params["internet_therapy"] * effects["internet_therapy"][provider]
    )
    r["integrated"] = rng.random(n) < params["integrated"] * effects["integrated"][provider]
    r["missed_rate"] = (ASSUMPTIONS["appointments"]["missed_per_attended"]
                        * rng.gamma(2.0, 0.5, n) * effects["missed"][provider])


def _draw_attended_events(rng, r: dict) -> dict:
    """Attended assessments and treatment sessions of each referral, in order, with days.

    ``session`` numbers treatment sessions from 0 (-1: an assessment that is not also a
    treatment); ``is_log`` marks internet-enabled therapy sessions, recorded as IDS205 logs.
    """
    params = ASSUMPTIONS["pathway"]
    per_referral = np.where(
        r["kind"] == NOT_SEEN, 0, 1 + r["treatment_sessions"] - r["assessment_is_treatment"]
    ).astype(np.int64)
    owner, position = _expand(per_referral)
    session = position - 1 + r["assessment_is_treatment"][owner]
    m = owner.size
    is_log = r["internet_therapy"][owner] & (session >= 1) & (rng.random(m) < params["internet_session_is_log"])
    to_treatment = _lognormal_days(rng, m, params["assessment_to_treatment"]) * r["wait_effect"][owner]
    to_second = _lognormal_days(rng, m, params["first_to_second"])
    shape, scale = params["between_sessions_gamma"]
    later = 1 + rng.gamma(shape, scale, m)
    weekly = 7 + rng.integers(-1, 2, m)
    gap = np.select(
        [position == 0, session == 0, is_log, session == 1], [0, to_treatment, weekly, to_second], later
    )
    gap = np.round(gap).astype(np.int64)
    since_first = np.cumsum(gap)
    since_first -= since_first[np.arange(m) - position]  # the gap at position 0 is 0
    day = r["assessment_day"][owner] + since_first
    day = np.where(is_log, day, _weekday_on_or_after(day))
    return {"owner": owner, "position": position, "session": session, "day": day,
            "is_log": is_log, "count": per_referral[owner]}


def _weekday_on_or_after(day: np.ndarray) -> np.ndarray:
    """Appointments fall on weekdays: Saturday and Sunday move to the Monday."""
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return day + np.select([weekday == 5, weekday == 6], [2, 1], 0)


def _draw_discharges(rng, r: dict, events: dict) -> None:
    """Discharge day (NEVER for the few referrals left open for good) and end code."""
    params = ASSUMPTIONS["pathway"]
    n, kind = r["day"].size, r["kind"]
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, events["owner"], events["day"])
    delay, never, end_code = np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int16)
    u_open, u_code = rng.random(n), rng.random(n)
    labels, offsets, mixes = _end_code_tables()
    for code, name in enumerate(_KIND_NAMES):
        median, sigma, open_share = params[f"discharge_{name}"]
        mine = kind == code
        delay[mine] = rng.lognormal(np.log(median), sigma, mine.sum())
        never[mine] = u_open[mine] < open_share
        end_code[mine] = offsets[name] + mixes[name].draw(u_code[mine])
    after = np.where(kind == NOT_SEEN, r["assessment_day"], last)
    discharge = np.maximum(after + np.round(delay).astype(np.int64), r["day"])
    r["discharge_day"] = np.where(never, NEVER, discharge)
    r["end_code"] = end_code
    r["completed"] = np.isin(end_code, [i for i, label in enumerate(labels) if label == "46"])


@lru_cache(maxsize=1)
def _end_code_tables() -> tuple[tuple, dict, dict]:
    """End codes of every kind of pathway as one label list, with each kind's offset and mix."""
    labels: list = []
    offsets, mixes = {}, {}
    for name in _KIND_NAMES:
        offsets[name] = len(labels)
        mixes[name] = _mix(ASSUMPTIONS["end_codes"][name])
        labels.extend(mixes[name].labels)
    return tuple(labels), offsets, mixes


def _draw_problem_and_outcome(rng, r: dict, orgs: Organisations) -> None:
    """Problem descriptor, first symptom scores and how much of them treatment takes away."""
    problems, scores = ASSUMPTIONS["problems"], ASSUMPTIONS["scores"]
    n = r["day"].size
    r["problem"] = _mix_of("problems", "primary").draw(rng.random(n))
    second = _mix_of("problems", "primary").draw(rng.random(n))
    r["second_problem"] = np.where(second == r["problem"], (second + 1) % len(_problem_labels()), second)
    labels = _problem_labels()
    is_depression = np.array([str(c).startswith(("F32", "F33")) for c in labels])[r["problem"]]
    adsm = _problem_adsm()[r["problem"]]
    r["adsm"] = np.where(rng.random(n) < problems["adsm_recorded"], adsm, -1).astype(np.int8)
    phq_mean, phq_sd = scores["phq9_first"]
    gad_mean, gad_sd = scores["gad7_first"]
    z = rng.standard_normal((n, 2))
    rho = scores["correlation"]
    r["phq9_first"] = phq_mean + phq_sd * z[:, 0] + scores["depression_shift"] * is_depression
    r["gad7_first"] = (gad_mean + gad_sd * (rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1])
                       + scores["anxiety_shift"] * (adsm >= 0))
    completed_a, completed_b = scores["improvement_completed"]
    early_a, early_b = scores["improvement_ended_early"]
    improvement = np.where(
        r["completed"], rng.beta(completed_a, completed_b, n), rng.beta(early_a, early_b, n)
    )
    share, mean, sd = scores["deterioration"]
    worse = rng.random(n) < share
    improvement[worse] = rng.normal(mean, sd, worse.sum())
    r["improvement"] = improvement + orgs.provider_effects["improvement"][r["provider"]]
    r["adsm_jitter"] = rng.lognormal(0, scores["adsm_jitter"], n)
    r["score_completeness"] = np.where(
        rng.random(n) < scores["complete_pathways"], scores["recorded_complete"], scores["recorded_patchy"]
    )


@lru_cache(maxsize=1)
def _problem_labels() -> tuple:
    return _mix_of("problems", "primary").labels


@lru_cache(maxsize=1)
def _problem_adsm() -> np.ndarray:
    """Index (into _adsm_instruments) of each problem descriptor's ADSM; -1 = GAD-7 only."""
    names = _adsm_instruments()
    rules = code_lists()["adsm_for_problem_descriptor"]
    out = []
    for code in _problem_labels():
        match = next((name for prefix, name in rules if str(code).startswith(str(prefix))), None)
        out.append(names.index(match) if match in names else -1)
    return np.array(out, dtype=np.int8)


@lru_cache(maxsize=1)
def _adsm_instruments() -> tuple:
    return tuple(name for name in instruments() if name not in ("PHQ9", "GAD7"))

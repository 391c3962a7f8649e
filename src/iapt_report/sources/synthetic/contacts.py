"""Care contacts (attended, missed, follow-ups, with their type, mechanism and length), care
activities (the therapy delivered) and internet-enabled therapy logs of a month's referrals.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .assumptions import ASSUMPTIONS
from .draws import NEVER, _day_number, _expand, _Mix, _mix, _mix_of
from .referrals import COURSE, NOT_SEEN, _weekday_on_or_after

APP_TYPES = ("01", "02", "03", "05", "06")
_ASSESSMENT, _TREATMENT, _ASSESS_AND_TREAT, _OTHER_TREATMENT, _FOLLOW_UP = range(5)


def _draw_appointments(rng, r: dict, events: dict) -> dict:
    """Care contacts: attended sessions (not IET logs), missed appointments, follow-ups.

    Rows are sorted by referral and day; ``sequence`` numbers a referral's contacts (it makes
    CareContactId) and ``event`` links an attended session to its row of ``events`` (-1 other).
    """
    attended = _attended_contacts(rng, r, events)
    missed = _missed_appointments(rng, r, events, attended)
    follow_ups = _follow_ups(rng, r)
    rows = {key: np.concatenate([attended[key], missed[key], follow_ups[key]]) for key in attended}
    order = np.lexsort((rows["tiebreak"], rows["day"], rows["owner"]))
    rows = {key: values[order] for key, values in rows.items()}
    _, rows["sequence"] = _expand(np.bincount(rows["owner"], minlength=r["day"].size))
    return _with_contact_details(rng, r, rows)


def _attended_contacts(rng, r: dict, events: dict) -> dict:
    contact = np.flatnonzero(~events["is_log"])
    owner, session = events["owner"][contact], events["session"][contact]
    other = rng.random(contact.size) < ASSUMPTIONS["appointments"]["other_treatment_apptype"]
    app_type = np.select(
        [session == -1, events["position"][contact] == 0, other],
        [_ASSESSMENT, _ASSESS_AND_TREAT, _OTHER_TREATMENT], _TREATMENT,
    )
    return {"owner": owner, "day": events["day"][contact], "app_type": app_type.astype(np.int8),
            "attended": np.ones(contact.size, dtype=bool), "event": contact,
            "tiebreak": np.full(contact.size, 2, dtype=np.int8)}


def _missed_appointments(rng, r: dict, events: dict, attended: dict) -> dict:
    """Missed (DNA, cancelled) appointments before attended ones, and those of referrals never seen."""
    owner = attended["owner"]
    count = rng.poisson(r["missed_rate"][owner])
    # the day before each attended contact: the previous attended event, or the referral
    previous = np.where(events["position"][attended["event"]] == 0, r["day"][owner],
                        events["day"][np.maximum(attended["event"] - 1, 0)])
    previous = np.minimum(previous, attended["day"])
    before, _ = _expand(count)
    not_seen = np.flatnonzero(r["kind"] == NOT_SEEN)
    n_not_seen = _mix(ASSUMPTIONS["pathway"]["not_seen_appointments"]).draw(rng.random(not_seen.size))
    ns_owner, ns_position = _expand(n_not_seen.astype(np.int64))
    ns_referral = not_seen[ns_owner]
    # a referral never seen misses its booked appointments, three weeks apart, until discharge
    booked = np.minimum(r["assessment_day"][ns_referral] + 21 * ns_position, r["discharge_day"][ns_referral])
    low = np.concatenate([previous[before], booked])
    high = np.concatenate([attended["day"][before], booked])
    day = _weekday_on_or_after(low + np.floor(rng.random(low.size) * (high - low + 1)).astype(np.int64))
    day = np.minimum(day, high)
    app_type = np.concatenate([attended["app_type"][before], np.full(ns_referral.size, _ASSESSMENT, np.int8)])
    return {"owner": np.concatenate([owner[before], ns_referral]), "day": day, "app_type": app_type,
            "attended": np.zeros(day.size, dtype=bool), "event": np.full(day.size, -1),
            "tiebreak": np.ones(day.size, dtype=np.int8)}


def _follow_ups(rng, r: dict) -> dict:
    """Follow-up appointments (AppType 06) some weeks after a finished course."""
    share, earliest, latest = ASSUMPTIONS["pathway"]["follow_up"]
    chosen = np.flatnonzero((r["kind"] == COURSE) & (r["discharge_day"] < NEVER) & (rng.random(r["day"].size) < share))
    day = _weekday_on_or_after(r["discharge_day"][chosen] + rng.integers(earliest, latest + 1, chosen.size))
    return {"owner": chosen, "day": day, "app_type": np.full(chosen.size, _FOLLOW_UP, np.int8),
            "attended": rng.random(chosen.size) < 0.85, "event": np.full(chosen.size, -1),
            "tiebreak": np.full(chosen.size, 3, dtype=np.int8)}


def _with_contact_details(rng, r: dict, rows: dict) -> dict:
    """Attendance code, planned indicator, consultation mechanism, integrated care flag, minutes."""
    params = ASSUMPTIONS["appointments"]
    m = rows["day"].size
    attended = rows["attended"]
    unplanned = attended & (rng.random(m) < params["unplanned"])
    code = np.where(attended, _mix_of("appointments", "attended_codes").draw(rng.random(m)),
                    _mix_of("appointments", "missed_codes").draw(rng.random(m)))
    code_format = _mix_of("appointments", "code_formats").draw(rng.random(m))
    n_formats = len(ASSUMPTIONS["appointments"]["code_formats"])
    attend_label = np.where(attended, code, len(_attended_labels()) + code) * n_formats + code_format
    missing_code = unplanned & (rng.random(m) < params["unplanned_code_missing"])
    rows["attend_code"] = np.where(missing_code, -1, attend_label).astype(np.int16)
    planned_missing = rng.random(m) < params["planned_missing"]
    rows["planned"] = np.select([unplanned, planned_missing], [1, -1], 0).astype(np.int8)  # Y, N, null
    rows["mechanism"] = _draw_mechanism(rng, rows["day"])
    integrated = r["integrated"][rows["owner"]]
    flag_missing = rng.random(m) < params["integrated_flag_missing"]
    rows["integrated"] = np.select([integrated, flag_missing], [0, -1], 1).astype(np.int8)  # Y, null, N
    minutes = np.select(
        [rows["app_type"] == _ASSESSMENT, rows["app_type"] == _ASSESS_AND_TREAT, rows["app_type"] == _FOLLOW_UP],
        [_normal_minutes(rng, params["minutes_assessment"], m), _normal_minutes(rng, params["minutes_assessment"], m),
         _normal_minutes(rng, (30, 8), m)],
        np.where(rng.random(m) < 0.4, _normal_minutes(rng, params["minutes_high_intensity"], m),
                 _normal_minutes(rng, params["minutes_low_intensity"], m)),
    )
    rows["minutes"] = np.where(attended, minutes, np.where(rng.random(m) < 0.3, 0, -1)).astype(np.int32)
    return rows


def _normal_minutes(rng, spec: tuple, n: int) -> np.ndarray:
    mean, sd = spec
    return np.clip(np.round(rng.normal(mean, sd, n)), 5, None)


@lru_cache(maxsize=1)
def _attended_labels() -> tuple:
    return _mix_of("appointments", "attended_codes").labels


@lru_cache(maxsize=1)
def _attend_code_labels() -> tuple:
    """Every AttendOrDNACode as submitted: attended then missed codes, each in every format."""
    formats = {"plain": "{}", "space": " {}", "zero": "0{}", "trailing": "{} "}
    codes = _attended_labels() + _mix_of("appointments", "missed_codes").labels
    return tuple(formats[f].format(code) for code in codes for f in ASSUMPTIONS["appointments"]["code_formats"])


@lru_cache(maxsize=1)
def _mechanism_tables() -> tuple[tuple, np.ndarray, list[_Mix]]:
    """Consultation mechanism labels over all eras, era start days, and each era's mix."""
    eras = ASSUMPTIONS["appointments"]["mechanism_eras"]
    labels = tuple(dict.fromkeys(label for _, mix in eras for label in mix))
    mixes = [_mix({label: mix.get(label, 0) for label in labels}) for _, mix in eras]
    return labels, np.array([_day_number(start) for start, _ in eras]), mixes


def _draw_mechanism(rng, day: np.ndarray) -> np.ndarray:
    _, starts, mixes = _mechanism_tables()
    era = np.searchsorted(starts, day, side="right") - 1
    u = rng.random(day.size)
    out = np.zeros(day.size, dtype=np.int8)
    for index, mix in enumerate(mixes):
        mine = era == index
        out[mine] = mix.draw(u[mine])
    return out


# --- care activities and internet-enabled therapy -----------------------------------------------

def _draw_care_activities(rng, r: dict, events: dict, appointments: dict) -> dict:
    """IDS202: the therapy delivered at each attended treatment contact (plus employment support)."""
    params = ASSUMPTIONS["therapies"]
    n = r["day"].size
    plan = _mix_of("therapies", "plan").draw(rng.random(n))
    switch = 1 + np.floor(rng.random(n) * np.maximum(r["treatment_sessions"] - 1, 1)).astype(np.int64)
    low = _mix_of("therapies", "LI").draw(rng.random(n))
    high = _mix_of("therapies", "HI").draw(rng.random(n))
    treated = np.flatnonzero(appointments["attended"] & np.isin(
        appointments["app_type"], [_TREATMENT, _ASSESS_AND_TREAT, _OTHER_TREATMENT]))
    treated = treated[rng.random(treated.size) < params["activity_recorded"]]
    owner = appointments["owner"][treated]
    event = appointments["event"][treated]
    session = np.where(event >= 0, events["session"][np.maximum(event, 0)], 0)
    plan_names = _mix_of("therapies", "plan").labels
    is_high = np.select(
        [plan[owner] == plan_names.index("HI"), plan[owner] == plan_names.index("LI_then_HI"),
         plan[owner] == plan_names.index("HI_then_LI")],
        [True, session >= switch[owner], session < switch[owner]], False,
    )
    codes = _therapy_codes()
    therapy = np.where(is_high, len(_mix_of("therapies", "LI").labels) + high[owner], low[owner])
    therapy = np.where(r["internet_therapy"][owner], codes.index(params["internet_therapy_code"]), therapy)
    code, share = params["employment_support"]
    support = treated[rng.random(treated.size) < share]
    return {
        "appointment": np.concatenate([treated, support]),
        "item": np.concatenate([np.ones(treated.size, np.int8), np.full(support.size, 2, np.int8)]),
        "therapy": np.concatenate([therapy, np.full(support.size, codes.index(code))]).astype(np.int8),
    }


@lru_cache(maxsize=1)
def _therapy_codes() -> tuple:
    return (_mix_of("therapies", "LI").labels + _mix_of("therapies", "HI").labels
            + (ASSUMPTIONS["therapies"]["employment_support"][0],))


def _draw_internet_logs(rng, r: dict, events: dict) -> dict:
    """IDS205: one weekly log per internet-enabled therapy session, ending on the session day."""
    params = ASSUMPTIONS["internet_therapy"]
    log = np.flatnonzero(events["is_log"])
    owner = events["owner"][log]
    programme = _mix_of("internet_therapy", "programmes").draw(rng.random(r["day"].size))[owner]
    median, sigma = params["minutes"]
    return {
        "owner": owner,
        "sequence": events["position"][log],
        "end": events["day"][log],
        "start": np.maximum(events["day"][log] - 6, r["day"][owner]),
        "minutes": np.round(rng.lognormal(np.log(median), sigma, log.size)).astype(np.int32),
        "programme": programme,
    }

"""The patient table (IDS001MPI): age, gender, gender identity, ethnicity and deprivation,
hashed from the patient key so that a patient referred twice keeps them.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd

from .assumptions import ASSUMPTIONS
from .columns import _PATHWAY_DIGITS, _dates, _frame, _id_strings, _label_strings, _nullable_integers
from .draws import _day_number, _hashed_uniforms, _mix, _mix_of
from .organisations import Organisations, _subicb_of_patients


def _patient_table(referrals: dict, orgs: Organisations, seed: int) -> pd.DataFrame:
    """IDS001MPI: one row per patient of the kept referrals; characteristics hashed from the key."""
    params = ASSUMPTIONS["patients"]
    keys, inverse = np.unique(referrals["patient"], return_inverse=True)
    latest = np.full(keys.size, -1, dtype=np.int64)
    np.maximum.at(latest, inverse, referrals["day"])
    u = [_hashed_uniforms(keys, seed, stream) for stream in range(2, 10)]
    # age at the first day of the key's month, then a birth date
    bands = np.array(params["age_bands"], dtype=float)
    band = _mix(bands[:, 2].tolist()).draw(u[0])
    age_days = (bands[band, 0] + u[1] * (bands[band, 1] - bands[band, 0] + 1)) * 365.25
    key_month = keys // 10**7
    birth_day = _first_days(key_month) - np.floor(age_days).astype(np.int64)
    gender = _mix_of("patients", "gender").draw(u[2])
    ethnicity = _draw_ethnicity(u[3], u[4], orgs.subicb_region[_subicb_of_patients(keys, seed, orgs)])
    imd = np.where(u[5] < params["imd_missing"], -1, 1 + _mix(params["imd_decile"]).draw(u[6]))
    identity = _gender_identity(gender, u[7], latest >= _day_number(params["gender_identity_from"]))
    gender_labels = _mix_of("patients", "gender").labels
    return _frame({
        "RecordNumber": _id_strings("", keys, _PATHWAY_DIGITS),
        "PersonBirthDate": _dates(birth_day),
        "Gender": _label_strings(gender, gender_labels),
        "GenderIdentity": _label_strings(identity[0], identity[1]),
        "EthnicCategory": _label_strings(ethnicity, _ethnicity_labels()),
        "IndicesOfDeprivationDecile": _nullable_integers(imd),
    })


def _first_days(year_month: np.ndarray) -> np.ndarray:
    unique, inverse = np.unique(year_month, return_inverse=True)
    firsts = np.array([_day_number(date(int(k) // 100, int(k) % 100, 1)) for k in unique], dtype=np.int64)
    return firsts[inverse]


@lru_cache(maxsize=1)
def _ethnicity_labels() -> tuple:
    params = ASSUMPTIONS["patients"]
    return ("A",) + tuple(params["other_ethnic_groups"]) + tuple(params["ethnicity_not_stated_codes"])


def _draw_ethnicity(u_stated: np.ndarray, u_group: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Ethnic category: ~30% not stated; of the stated, White British by region, others in proportion."""
    params = ASSUMPTIONS["patients"]
    n_others = len(params["other_ethnic_groups"])
    not_stated = u_stated < params["ethnicity_not_stated"]
    codes = _mix(params["ethnicity_not_stated_codes"]).draw(u_group) + 1 + n_others
    others = _mix(params["other_ethnic_groups"])
    white_british = np.array(list(params["white_british_of_stated"].values()))[region]
    rescaled = np.clip((u_group - white_british) / (1 - white_british), 0, 1 - 1e-12)
    stated = np.where(u_group < white_british, 0, 1 + others.draw(rescaled))
    return np.where(not_stated, codes, stated).astype(np.int16)


def _gender_identity(gender: np.ndarray, u: np.ndarray, v21: np.ndarray) -> tuple[np.ndarray, tuple]:
    """GenderIdentity (v2.1, from April 2022): mostly as Gender; missing for earlier patients."""
    params = ASSUMPTIONS["patients"]
    other_mix = _mix(params["gender_identity_other"])
    labels = ("1", "2") + other_mix.labels
    gender_labels = _mix_of("patients", "gender").labels
    other_share = sum(params["gender_identity_other"].values()) / 100
    recorded = v21 & (u < params["gender_identity_recorded"])
    v = u / params["gender_identity_recorded"]  # uniform again among the recorded
    as_gender = np.select([gender == gender_labels.index("1"), gender == gender_labels.index("2")], [0, 1], -1)
    other = 2 + other_mix.draw(np.clip(v / other_share, 0, 1 - 1e-12))
    identity = np.where((v < other_share) | (as_gender < 0), other, as_gender)
    return np.where(recorded, identity, -1).astype(np.int16), labels

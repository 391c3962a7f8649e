"""Synthetic record-level IAPT data: the tables of ``reference/dataset_schema.yaml``, made up.

Real record-level IAPT data are confidential, so the pipeline's embedded default is this
deterministic generator. It writes every input table with national volumes, realistic mixes
and outcomes, calibrated to NHS Digital's published national figures for September 2020
(:data:`PUBLISHED_SEPTEMBER_2020`). Nothing in it describes a real person or organisation:
organisation names and codes are fictional (``reference/synthetic_names.yaml``).

* :func:`generate` returns one pandas DataFrame per table, typed as ``dataset.read_tables`` does.
* :func:`write_dataset` writes them as ``<TABLE>.parquet`` (or ``.csv``), all or nothing.
* :func:`calibration_figures` recomputes the calibration targets from the tables in plain
  pandas, so the generator can be checked without the measure engine.

How the synthetic world is made
-------------------------------
Referrals are simulated one calendar month at a time, each month from its own random stream
(seeded by ``seed`` and the month). A referral's whole pathway is drawn when it is received:
the wait to assessment, whether it is treated, its sessions, missed appointments, scores and
discharge. :func:`generate` then takes the *snapshot as at* ``end``: anything dated after
``end`` is unknown (referrals open at ``end`` have no discharge date or end code), and
referrals that ended before ``start`` are left out, as they would be from every monthly
submission of the period. Referrals are simulated from :data:`RUN_IN_MONTHS` months before
``start`` so that the first reported month has a realistic stock of open referrals.

Because each month's referrals depend only on the seed, the month and the scale, a pathway
looks the same whatever window is asked for, and a month's figures do not change when the
snapshot is taken later. Windows with different starts differ only by the few pathways that
began more than :data:`RUN_IN_MONTHS` before the earlier start (September 2020 alone and
within 2020-21 differ by under 0.5% on every calibration figure but the integrated care count,
1.3%). Patients' characteristics come from a hash of their patient key, so a patient referred
twice keeps them.

All the assumptions (volumes, mixes, waits, attendance, outcomes) are in :data:`ASSUMPTIONS`,
with where each target comes from.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from iapt_report.data.dataset import SYNTHETIC_MARKER
from iapt_report.outputs.exports import staged_folder
from iapt_report.reference import code_lists, dataset_schema, instruments

DEFAULT_SEED = 20200901
#: The synthetic organisations are the same for every seed and scale (fixed seed of their own).
ORGANISATION_SEED = 1948
#: Months of referrals simulated before ``start``: pathways rarely stay open longer.
RUN_IN_MONTHS = 12

#: NHS Digital, Improving Access to Psychological Therapies (IAPT) monthly statistics,
#: September 2020 (England): the figures the generator is calibrated to at scale 1.0.
PUBLISHED_SEPTEMBER_2020 = {
    "referrals_received": 132_237,                # M001 Count_ReferralsReceived
    "entered_treatment": 95_578,                  # M031 Count_FirstTreatment
    "finished_course": 53_722,                    # M076 Count_FinishedCourseTreatment
    "mean_sessions_finished": 7.5,                # M141 Mean_ApptsFinishedCourseTreatment
    "pct_finished_waited_6_weeks": 90.4,          # M053 Percentage_FirstTreatment6WeeksFinishedCourseTreatment
    "recovery_rate": 50.4,                        # M192 Percentage_Recovery
    "internet_therapy_sessions": 5_145,           # M343 Count_InternetEnabledTherapySessions
    "referrals_with_integrated_contact": 19_886,  # integrated care (see calibration_figures)
}

# ---------------------------------------------------------------------------------------------
# Assumptions: every distribution and mix the generator draws from, in one place.
# Shares are relative weights (normalised where used). "Published" = NHS Digital IAPT
# monthly/annual statistics (2019-20 to 2021-22); "tuned" = set so that the September 2020
# calibration figures come out right at scale 1.0 (see tests/test_synthetic.py).
# ---------------------------------------------------------------------------------------------
ASSUMPTIONS: dict = {
    "volume": {
        # referrals received nationally: Sept 2020 = 132,237 (published M001)
        "anchor_month": (2020, 9),
        "anchor_referrals": 132_237,
        # calendar-month pattern (December and August low), around 2019-20 published months
        "seasonal": {1: 1.10, 2: 1.02, 3: 1.06, 4: 0.96, 5: 1.00, 6: 0.99,
                     7: 1.02, 8: 0.90, 9: 1.00, 10: 1.06, 11: 1.04, 12: 0.80},
        # COVID-19: referrals fell to under half in April 2020 and had not fully recovered by
        # September 2020 (published 2019-20 vs 2020-21 months); 1.0 elsewhere
        "covid": {"2020-03": 0.85, "2020-04": 0.45, "2020-05": 0.60, "2020-06": 0.76,
                  "2020-07": 0.85, "2020-08": 0.89, "2020-09": 0.92, "2020-10": 0.94,
                  "2020-11": 0.95, "2020-12": 0.96, "2021-01": 0.97},
        "annual_growth": 0.03,
        # Monday .. Sunday: self-referrals arrive every day, GP referrals on weekdays
        "weekday": [1.18, 1.12, 1.10, 1.06, 1.00, 0.30, 0.24],
    },
    "organisations": {
        # (region code) -> (ICBs, sub-ICBs, population in millions): 42 ICBs, 106 sub-ICBs
        "regions": {"Y90": (4, 15, 8.2), "Y91": (3, 14, 7.4), "Y92": (11, 24, 10.8),
                    "Y93": (6, 14, 6.3), "Y94": (5, 5, 9.0), "Y95": (6, 18, 9.2),
                    "Y96": (7, 16, 5.7)},
        "subicb_population_sd": 0.35,      # log-normal spread of sub-ICB sizes
        "second_trust_min_subicbs": 5,     # an ICB with this many sub-ICBs has two NHS trusts
        "small_providers_per_icb": 1.7,    # voluntary/independent providers (Poisson mean, +1)
        "small_provider_size_sd": 1.0,     # log-normal spread of their sizes
        "small_provider_share": 0.22,      # of a sub-ICB's referrals going to small providers
        "national_provider_share": 0.03,   # going to the national digital/independent providers
        # provider-level variation ("random effects") in performance
        "wait_sd": 0.30,                   # log-multiplier on waits
        "treatment_logit_sd": 0.30,        # logit shift on entering treatment
        "improvement_sd": 0.05,            # shift in the fraction of symptoms improved
        "missed_sd": 0.30,                 # log-multiplier on missed appointments
        "internet_therapy_sd": 1.0,        # log-multiplier on use of internet-enabled therapy
        "integrated_share": 0.75,          # providers with an integrated care (LTC) service
        "integrated_sd": 0.50,
    },
    "source_of_referral": {  # published 2020-21: self ~60%, GP ~30%
        "B1": 60.0, "A1": 30.0, "A3": 1.3, "A2": 0.1, "A4": 0.2, "B2": 0.3, "C1": 0.2,
        "C2": 0.05, "C3": 0.05, "D1": 0.1, "D2": 0.2, "E1": 0.03, "E3": 0.03, "E5": 0.04,
        "F1": 0.03, "F3": 0.02, "G3": 0.2, "G4": 0.5, "H1": 0.4, "H2": 0.4, "I2": 0.1,
        "M2": 0.3, "M3": 0.1, "M5": 0.1, "M6": 1.0, "M7": 0.4, "N1": 0.3, "N2": 0.1,
        "N4": 0.1, "P1": 0.8, "X9": 0.2, "99": 0.1, None: 0.4,  # X9, 99: invalid codes
    },
    "patients": {
        "repeat_referral": 0.12,           # referrals of a patient referred before
        "repeat_within_months": 24,
        # age at referral (published 2020-21: ~2% under 18, ~8% 65+): [from, to, share]
        "age_bands": [[14, 15, 0.2], [16, 17, 1.6], [18, 25, 18.0], [26, 35, 25.0],
                      [36, 64, 47.2], [65, 74, 5.3], [75, 89, 2.5], [90, 97, 0.2]],
        "gender": {"2": 62.2, "1": 36.5, "9": 0.2, "X": 0.6, None: 0.5},  # ~62% female
        # v2.1 gender identity, recorded for patients with a referral from April 2022
        "gender_identity_from": date(2022, 4, 1),
        "gender_identity_recorded": 0.85,
        "gender_identity_other": {"3": 0.5, "4": 0.2, "X": 0.8, "Z": 1.5},  # % of recorded
        # ethnicity: ~30% not stated/known; of those stated, ~80% White British nationally
        "ethnicity_not_stated": 0.30,
        "ethnicity_not_stated_codes": {"99": 40, "Z": 45, None: 10, "-1": 5},
        "white_british_of_stated": {"Y90": 0.89, "Y91": 0.86, "Y92": 0.80, "Y93": 0.85,
                                    "Y94": 0.45, "Y95": 0.86, "Y96": 0.92},
        "other_ethnic_groups": {"B": 0.9, "C": 5.5, "D": 0.7, "E": 0.3, "F": 0.6, "G": 0.7,
                                "H": 1.8, "J": 1.8, "K": 0.7, "L": 1.2, "M": 0.9, "N": 1.5,
                                "P": 0.5, "R": 0.3, "S": 1.4},
        # IMD 2019 decile 1 (most deprived) .. 10: referrals skew to deprived areas
        "imd_decile": [13.5, 12.3, 11.3, 10.4, 9.8, 9.2, 8.8, 8.3, 7.9, 7.1],
        "imd_missing": 0.015,
    },
    "pathway": {
        # what becomes of a referral (tuned: entered treatment, finished course)
        "treated": 0.785,                  # has at least one treatment session
        "course_if_treated": 0.645,        # of the treated: two or more sessions
        "not_seen_if_untreated": 0.55,     # of the untreated: never attended an assessment
        "assessment_is_treatment": 0.45,   # first appointment is "assessment and treatment" (03)
        # waits in days, log-normal (median, sigma) with a long tail (share, median, sigma)
        "wait_to_assessment": (5.5, 0.85, 0.05, 45.0, 0.6),
        "assessment_to_treatment": (7.0, 0.9, 0.06, 55.0, 0.6),
        "first_to_second": (9.0, 0.45, 0.30, 38.0, 0.6),
        "between_sessions_gamma": (4.0, 2.2),  # shape, scale: about weekly to fortnightly
        # sessions in a course: 2 + negative binomial (mean, dispersion) (published M141 7.5)
        "extra_sessions": (5.6, 1.8),
        "max_sessions": 40,
        # discharge after the last event: (median days, sigma); open for good: share
        "discharge_not_seen": (21.0, 0.7, 0.03),
        "discharge_assessed": (7.0, 1.0, 0.04),
        "discharge_treated_once": (28.0, 0.8, 0.03),
        "discharge_course": (4.0, 1.0, 0.015),
        "follow_up": (0.06, 30, 120),      # share of courses with a follow-up (06), day range
        "not_seen_appointments": [35, 40, 20, 5],  # 0, 1, 2, 3 missed appointments
        "internet_therapy": 0.0176,        # treated pathways using IET (tuned: M343)
        "internet_session_is_log": 0.85,   # IET pathway sessions that are weekly logs
        "integrated": 0.095,               # pathways in an integrated care service (tuned)
    },
    "end_codes": {  # published end-reason mix (M057-M072), by what happened
        "not_seen": {"50": 85, "14": 3, None: 8, "99": 2, "43": 2},
        "assessed": {"10": 15, "11": 20, "12": 25, "13": 15, "14": 12, "16": 8, "17": 0.2,
                     "95": 3, None: 1.8},
        "treated_once": {"46": 30, "47": 50, "48": 8, "96": 4, "12": 4, None: 4},
        "course": {"46": 70, "47": 20, "48": 4, "49": 0.2, "96": 3, None: 2, "43": 0.8},
    },
    "appointments": {
        # missed appointments before each attended one: Poisson mean x gamma(2, 1/2)
        # frailty; codes of missed ones. Published 2020-21: DNA ~10% of appointments.
        "missed_per_attended": 0.25,
        "missed_codes": {"3": 45, "2": 30, "4": 22, "7": 3},
        "attended_codes": {"5": 96, "6": 4},
        # padded variants as providers submit them (the loader normalises them)
        "code_formats": {"plain": 93, "space": 4, "zero": 2, "trailing": 1},
        "unplanned": 0.03,                 # attended unplanned contacts (indicator N)
        "unplanned_code_missing": 0.4,
        "planned_missing": 0.02,
        "other_treatment_apptype": 0.03,   # treatment sessions recorded as 05
        # consultation mechanism by date (v2.1 codes; published M1001-M1020)
        "mechanism_eras": [
            (date(1900, 1, 1), {"01": 55, "02": 36, "11": 4, "05": 1, "98": 2, "00": 1, None: 1}),
            (date(2020, 3, 16), {"01": 6, "02": 62, "11": 27, "05": 0.5, "09": 0.3, "10": 0.2,
                                 "98": 2, "00": 1, None: 1}),
            (date(2021, 7, 1), {"01": 22, "02": 48, "11": 25, "05": 0.5, "09": 0.5, "10": 0.5,
                                "12": 0.2, "13": 0.1, "98": 2, "00": 0.7, None: 0.5}),
        ],
        "integrated_flag_missing": 0.10,   # IAPTLTCServiceInd null on non-integrated contacts
        # clinical minutes: (mean, sd) by kind of appointment
        "minutes_assessment": (50, 12),
        "minutes_low_intensity": (35, 10),
        "minutes_high_intensity": (55, 8),
    },
    "therapies": {
        # published 2020-21 therapy types: low intensity (LI), high intensity (HI)
        "plan": {"LI": 52, "HI": 30, "LI_then_HI": 15, "HI_then_LI": 3},
        "LI": {"748051000000105": 25, "748041000000107": 20, "702545008": 15,
               "1026111000000108": 22, "748101000000105": 3, "748091000000102": 2,
               "748061000000108": 3, "975131000000104": 2},
        "HI": {"304891004": 55, "286711000000107": 20, "1026131000000100": 8,
               "449030000": 4, "443730003": 4, "314034001": 2, "1129471000000105": 2,
               "933221000000107": 2, "1127281000000100": 2, "842901000000108": 1},
        "internet_therapy_code": "748041000000107",  # guided self-help (computer)
        "employment_support": ("1098051000000103", 0.02),
        "activity_recorded": 0.96,
    },
    "internet_therapy": {
        # IntEnabledTherProg free text as submitted (published M343 programme groups)
        "programmes": {"SilverCloud": 55, "SILVERCLOUD": 8, "Silver Cloud": 4, "SLVRCLD": 2,
                       "Minddistrict": 7, "Beating the Blues": 4, "Daylight": 3,
                       "Sleepio": 4, "Deprexis": 1, "OCD-NET": 1, "Regul8": 1,
                       "Other online CBT": 6, None: 4},
        "minutes": (40.0, 0.6),            # log-normal median, sigma
    },
    "problems": {
        # problem descriptor (ICD-10 without the dot, SNOMED CT rarely); published 2020-21
        # finished-course shares: depression ~35%, mixed ~20%, GAD ~17%
        "primary": {"F320": 6, "F321": 9, "F322": 3, "F329": 8, "F330": 2, "F331": 4,
                    "F332": 1, "F339": 2, "F411": 17, "F412": 20, "F410": 2.5, "F400": 0.7,
                    "F401": 1.8, "F402": 0.8, "F420": 0.8, "F421": 0.3, "F422": 1.2,
                    "F429": 0.4, "F431": 3.5, "F452": 1.3, "F432": 2.5, "F438": 1.0,
                    "F419": 1.0, "F418": 0.5, "F500": 0.1, "F509": 0.2, "F102": 0.2,
                    "F99": 0.3, "35489007": 0.2, "83482000": 0.1, "723916001": 0.1,
                    "K580": 0.05, "G933": 0.05, "-3": 4.0},
        "recorded_if_assessed": 0.94,
        "recorded_if_not_seen": 0.05,
        "secondary": 0.12,                 # an extra 'S' row
        "significance_missing": 0.01,
        "adsm_recorded": 0.55,             # ADSM descriptors with the ADSM recorded
    },
    "scores": {
        # first PHQ-9 ~ N(16.5, 5.2), first GAD-7 ~ N(14.2, 4.4), correlation 0.65: ~7% of
        # finishers below caseness on both (published M179/M076)
        "phq9_first": (15.0, 5.2), "gad7_first": (12.8, 4.4), "correlation": 0.65,
        "depression_shift": 1.2, "anxiety_shift": 0.8,
        "noise": (1.2, 1.1),               # session-to-session noise, PHQ-9 and GAD-7
        # fraction of symptoms gone by the last session: Beta(a, b) by end (tuned: recovery)
        "improvement_completed": (3.0, 2.1),
        "improvement_ended_early": (1.8, 3.0),
        "deterioration": (0.095, -0.40, 0.20),  # share, mean, sd of (negative) improvement
        "progress_power": 0.8,
        "adsm_jitter": 0.15,
        # completeness: most pathways have scores at nearly every session
        "complete_pathways": 0.95, "recorded_complete": 0.96, "recorded_patchy": 0.30,
        "one_missing": 0.02,
    },
}

# Pathway kinds (what becomes of a referral)
NOT_SEEN, ASSESSED, TREATED_ONCE, COURSE = 0, 1, 2, 3
_KIND_NAMES = ("not_seen", "assessed", "treated_once", "course")
NEVER = 10**6  # a discharge day that never comes (open for good)
_EPOCH = date(1970, 1, 1)
_MS_PER_DAY = 86_400_000


# =============================================================================================
# Public API
# =============================================================================================

def generate(start: date, end: date, scale: float = 1.0, seed: int = DEFAULT_SEED) -> dict[str, pd.DataFrame]:
    """Every table of the dataset schema, as known at ``end``, for reporting from ``start``.

    ``scale`` 1.0 is national volume (about 130-160 thousand referrals a month); 0.01 is a
    hundredth of it. The same arguments always give identical tables. Columns and types are
    exactly those of ``reference/dataset_schema.yaml`` (text ``str``, dates ``datetime64[ms]``
    at midnight, integers ``Int64``, scores ``float64``).
    """
    start, end = _as_date(start), _as_date(end)
    if end < start:
        raise ValueError(f"end {end} is before start {start}: give a start on or before the end")
    if not scale > 0:
        raise ValueError(f"scale must be positive (1.0 = national volume), not {scale}")
    orgs = organisations()
    window = (_day_number(start), _day_number(end))
    parts = [
        _snapshot(_simulate_month(year, month, scale, seed, orgs), *window)
        for year, month in _months(_add_months(start.replace(day=1), -RUN_IN_MONTHS), end)
    ]
    return _assemble(parts, orgs, seed)


def write_dataset(tables: dict[str, pd.DataFrame], out_dir: str | Path, fmt: str = "parquet",
                  marker: dict | None = None) -> Path:
    """Write ``<TABLE>.<fmt>`` for every table into ``out_dir``, all or nothing.

    The files are written to a temporary folder beside ``out_dir`` that replaces it only once
    every file is complete (:func:`exports.staged_folder`), so a failed or killed run never
    leaves half a dataset behind. ``marker`` is written beside the tables as
    ``_synthetic.json`` (reports built from the folder then say the data are synthetic). An
    existing ``out_dir`` is replaced only if it is empty or was written here: it holds
    ``_synthetic.json`` and nothing but dataset files.
    """
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"format {fmt!r} is not supported: use 'parquet' or 'csv'")
    out_dir = Path(out_dir)
    with staged_folder(out_dir, option="--out", replace_problem=_replace_problem) as staging:
        for name, frame in tables.items():
            path = staging / f"{name}.{fmt}"
            if fmt == "parquet":
                frame.to_parquet(path, index=False)
            else:
                frame.to_csv(path, index=False, date_format="%Y-%m-%d", lineterminator="\n")
        if marker is not None:
            (staging / SYNTHETIC_MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
    return out_dir


def _replace_problem(out_dir: Path) -> str | None:
    """Why ``out_dir`` must not be replaced by a synthetic dataset (say, a home folder or a real extract)."""
    if not out_dir.exists():
        return None
    if not out_dir.is_dir():
        return f"{out_dir} is a file, not a folder: choose a folder for the dataset"
    known = {f"{table}.{fmt}" for table in dataset_schema()["tables"] for fmt in ("parquet", "csv")}
    known.add(SYNTHETIC_MARKER)  # what `iapt-report synthesize` leaves beside the tables
    entries = [path.name for path in out_dir.iterdir()]
    others = sorted(name for name in entries if name not in known)
    if others:
        return (f"{out_dir} holds files that are not dataset tables ({', '.join(others[:3])}"
                f"{' ...' if len(others) > 3 else ''}): choose a new or empty folder for the dataset")
    if entries and SYNTHETIC_MARKER not in entries:
        return (f"{out_dir} holds a dataset that iapt-report synthesize did not write (it has no "
                f"{SYNTHETIC_MARKER}): choose a new or empty folder for the synthetic dataset")
    return None


# =============================================================================================
# Organisations
# =============================================================================================

@dataclass(frozen=True)
class Organisations:
    """The fictional organisation hierarchy and how referrals flow through it.

    ``sub_icbs`` and ``providers`` are the OrgSubICB and OrgProvider tables; the arrays are
    aligned with their rows.
    """

    sub_icbs: pd.DataFrame
    providers: pd.DataFrame
    subicb_weight: np.ndarray      # share of national referrals, by sub-ICB
    subicb_region: np.ndarray      # region index of each sub-ICB
    flow_cumulative: np.ndarray    # [sub-ICB, provider]: cumulative share of its referrals
    provider_effects: dict         # effect name -> array over providers


@lru_cache(maxsize=1)
def _names() -> dict:
    text = resources.files("iapt_report").joinpath("reference", "synthetic_names.yaml").read_text("utf-8")
    return yaml.safe_load(text)


@lru_cache(maxsize=1)
def organisations() -> Organisations:
    """The synthetic organisations: 7 regions, 42 ICBs, 106 sub-ICBs, 168 providers.

    Fixed: the same for every seed and scale. Shared (cached): copy before changing it.
    """
    rng = np.random.default_rng(ORGANISATION_SEED)
    params = ASSUMPTIONS["organisations"]
    names = _names()
    places = iter(names["places"])
    region_names = dict(names["regions"])

    sub_rows, weights, regions, icbs = [], [], [], []
    for region_index, (region, (n_icb, n_sub, population)) in enumerate(params["regions"].items()):
        sizes = rng.lognormal(0, params["subicb_population_sd"], n_sub)
        weights.extend(population * sizes / sizes.sum())
        per_icb = 1 + rng.multinomial(n_sub - n_icb, np.full(n_icb, 1 / n_icb))
        for count in per_icb:
            icb_places = [next(places) for _ in range(count)]
            icb_code = f"ZI{len(icbs) + 1:02d}"
            icb_name = " and ".join(icb_places[:2])
            icb_name = f"NHS {icb_name} ICB"
            icbs.append((list(range(len(sub_rows), len(sub_rows) + count)), icb_places))
            for place in icb_places:
                sub_rows.append({
                    "OrgIDComm": f"ZS{len(sub_rows) + 1:03d}",
                    "SubICB_Name": f"{icb_name} - {place}",
                    "ICB_Code": icb_code,
                    "ICB_Name": icb_name,
                    "Region_Code": region,
                    "Region_Name": region_names[region],
                })
                regions.append(region_index)

    providers, flow = _providers_and_flows(rng, icbs, len(sub_rows), names, params)
    n_providers = len(providers)
    integrated = params["integrated_share"]
    effects = {
        "wait": rng.lognormal(0, params["wait_sd"], n_providers),
        "treatment_logit": rng.normal(0, params["treatment_logit_sd"], n_providers),
        "improvement": rng.normal(0, params["improvement_sd"], n_providers),
        "missed": rng.lognormal(0, params["missed_sd"], n_providers),
        "internet_therapy": _mean_one_lognormal(rng, params["internet_therapy_sd"], n_providers),
        "integrated": (rng.random(n_providers) < integrated) / integrated
        * _mean_one_lognormal(rng, params["integrated_sd"], n_providers),
    }
    cumulative = np.cumsum(flow / flow.sum(axis=1, keepdims=True), axis=1)
    cumulative[:, -1] = 1.0
    return Organisations(
        sub_icbs=pd.DataFrame(sub_rows).astype("str"),
        providers=pd.DataFrame(providers).astype("str"),
        subicb_weight=np.array(weights) / np.sum(weights),
        subicb_region=np.array(regions),
        flow_cumulative=cumulative,
        provider_effects=effects,
    )


def _providers_and_flows(rng, icbs, n_sub, names, params) -> tuple[list[dict], np.ndarray]:
    """Providers and the share of each sub-ICB's referrals each one takes.

    Each ICB has one NHS trust (two when it has many sub-ICBs) taking most referrals of its
    sub-ICBs, and a few small voluntary or independent providers serving one or two of its
    sub-ICBs; a few national providers take a little of everywhere. Returns the provider rows
    and the flow matrix [sub-ICB, provider] (rows not yet normalised).
    """
    providers: list[dict] = []
    trust_columns, small_columns = [], []
    used: set[str] = set()

    def add(options: list[str]) -> None:
        name = next((option for option in options if option not in used), f"{options[0]} {len(providers) + 1}")
        used.add(name)
        providers.append({"OrgID_Provider": f"ZP{len(providers) + 1:03d}", "Provider_Name": name})

    trust_share = 1 - params["small_provider_share"] - params["national_provider_share"]
    for subs, places in icbs:
        n_trusts = 2 if len(subs) >= params["second_trust_min_subicbs"] else 1
        for group in np.array_split(np.arange(len(subs)), n_trusts):
            column = np.zeros(n_sub)
            column[[subs[i] for i in group]] = trust_share
            add(_name_options(rng, names["trust_patterns"], places[group[0]]))
            trust_columns.append((len(providers) - 1, column))
        n_small = 1 + rng.poisson(params["small_providers_per_icb"])
        for size in rng.lognormal(0, params["small_provider_size_sd"], n_small):
            served = rng.choice(len(subs), size=min(len(subs), 1 + rng.poisson(0.8)), replace=False)
            column = np.zeros(n_sub)
            column[[subs[i] for i in served]] = size
            add(_name_options(rng, names["small_provider_patterns"], places[served[0]]))
            small_columns.append((len(providers) - 1, column))
    flow = np.zeros((n_sub, len(providers) + len(names["national_providers"])))
    for index, column in trust_columns:
        flow[:, index] = column
    small = np.column_stack([column for _, column in small_columns])
    small_total = small.sum(axis=1, keepdims=True)
    small = params["small_provider_share"] * small / np.where(small_total > 0, small_total, 1)
    for (index, _), column in zip(small_columns, small.T):
        flow[:, index] = column
    national = np.array([0.4, 0.3, 0.2, 0.1])
    for name, share in zip(names["national_providers"], national / national.sum()):
        flow[:, len(providers)] = params["national_provider_share"] * share
        add([name])
    return providers, flow


def _name_options(rng, patterns: list[str], place: str) -> list[str]:
    return [patterns[i].format(place=place) for i in rng.permutation(len(patterns))]


def _mean_one_lognormal(rng, sd: float, n: int) -> np.ndarray:
    return rng.lognormal(-0.5 * sd**2, sd, n)


# =============================================================================================
# Volumes, dates and randomness
# =============================================================================================

def expected_referrals(year: int, month: int, scale: float = 1.0) -> int:
    """Referrals received in a calendar month at ``scale`` (1.0 = national)."""
    volume = ASSUMPTIONS["volume"]
    anchor_year, anchor_month = volume["anchor_month"]
    covid = volume["covid"]
    factor = (
        volume["seasonal"][month] / volume["seasonal"][anchor_month]
        * covid.get(f"{year:04d}-{month:02d}", 1.0) / covid.get(f"{anchor_year:04d}-{anchor_month:02d}", 1.0)
        * (1 + volume["annual_growth"]) ** ((year - anchor_year) + (month - anchor_month) / 12)
    )
    return int(round(volume["anchor_referrals"] * factor * scale))


def _as_date(value) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value)
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value


def _day_number(day: date) -> int:
    return (day - _EPOCH).days


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _months(first: date, last: date) -> list[tuple[int, int]]:
    out, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        out.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


@dataclass(frozen=True)
class _Mix:
    """A categorical distribution: draws indices into ``labels`` (None = a missing value)."""

    labels: tuple
    cumulative: np.ndarray

    def draw(self, uniforms: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.cumulative, uniforms, side="right").astype(np.int16)


def _mix(weights: dict | list) -> _Mix:
    if isinstance(weights, dict):
        labels, values = tuple(weights), np.array(list(weights.values()), dtype=float)
    else:
        labels, values = tuple(range(len(weights))), np.array(weights, dtype=float)
    cumulative = np.cumsum(values / values.sum())
    cumulative[-1] = 1.0
    return _Mix(labels, cumulative)


@lru_cache(maxsize=None)
def _mix_of(*path: str) -> _Mix:
    """The mix at ASSUMPTIONS[path[0]][path[1]]..., built once."""
    node = ASSUMPTIONS
    for key in path:
        node = node[key]
    return _mix(node)


def _hashed_uniforms(keys: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """Uniform [0, 1) numbers that depend only on (key, seed, stream), via SplitMix64.

    Patients' characteristics are drawn this way, so a patient referred twice keeps them.
    """
    salt = _splitmix64(np.array([seed * 1_000_003 + stream], dtype=np.uint64))
    mixed = _splitmix64(keys.astype(np.uint64) ^ salt)
    return (mixed >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _lognormal_days(rng, n: int, spec: tuple) -> np.ndarray:
    """Days from a log-normal (median, sigma) with a long tail (share, median, sigma)."""
    median, sigma, tail_share, tail_median, tail_sigma = spec
    main = rng.lognormal(np.log(median), sigma, n)
    tail = rng.lognormal(np.log(tail_median), tail_sigma, n)
    return np.where(rng.random(n) < tail_share, tail, main)


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows repeated ``counts`` times: each new row's owner and its position (from 0)."""
    owner = np.repeat(np.arange(counts.size), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(owner.size) - starts[owner]


def _expit(x):
    return 1 / (1 + np.exp(-x))


def _logit(p):
    return np.log(p / (1 - p))


# =============================================================================================
# One month of referrals with their whole pathways
# =============================================================================================

def _simulate_month(year: int, month: int, scale: float, seed: int, orgs: Organisations) -> dict:
    """Every referral received in the month with its whole pathway, from the month's own stream.

    Returns numeric arrays by record type (codes as indices into their mixes); the snapshot
    then keeps what is known at ``end``.
    """
    rng = np.random.default_rng([seed, year, month])
    referrals = _draw_referrals(rng, year, month, scale, seed, orgs)
    _draw_pathway_kinds(rng, referrals, orgs)
    events = _draw_attended_events(rng, referrals)
    _draw_discharges(rng, referrals, events)
    _draw_problem_and_outcome(rng, referrals, orgs)
    appointments = _draw_appointments(rng, referrals, events)
    return {
        "referrals": referrals,
        "appointments": appointments,
        "activities": _draw_care_activities(rng, referrals, events, appointments),
        "logs": _draw_internet_logs(rng, referrals, events),
        "complaints": _draw_presenting_complaints(rng, referrals),
        "scores": _draw_scores(rng, referrals, events),
    }


def _draw_referrals(rng, year: int, month: int, scale: float, seed: int, orgs: Organisations) -> dict:
    """Referral dates and numbers, patients, commissioner (sub-ICB), provider and source."""
    n = expected_referrals(year, month, scale)
    first = _day_number(date(year, month, 1))
    n_days = calendar.monthrange(year, month)[1]
    weekday = np.array(ASSUMPTIONS["volume"]["weekday"])[(np.arange(first, first + n_days) + 3) % 7]
    day = np.sort(first + rng.choice(n_days, size=n, p=weekday / weekday.sum()))
    number = (year * 100 + month) * 10**7 + np.arange(n, dtype=np.int64)
    patient = _patient_keys(rng, number, year, month, scale)
    # a referral's commissioner is its patient's home sub-ICB (hashed: a patient stays put)
    subicb = _mix(orgs.subicb_weight.tolist()).draw(_hashed_uniforms(patient, seed, 1))
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


# --- care contacts -------------------------------------------------------------------------

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


# --- care activities, internet-enabled therapy, problems, scores ------------------------------

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


def _draw_presenting_complaints(rng, r: dict) -> dict:
    """IDS603: the problem descriptor recorded at assessment (primary), sometimes a secondary."""
    params = ASSUMPTIONS["problems"]
    n = r["day"].size
    seen = r["kind"] != NOT_SEEN
    recorded = rng.random(n) < np.where(seen, params["recorded_if_assessed"], params["recorded_if_not_seen"])
    primary = np.flatnonzero(recorded)
    secondary = primary[rng.random(primary.size) < params["secondary"]]
    owner = np.concatenate([primary, secondary])
    significance = np.concatenate([np.zeros(primary.size, np.int8), np.ones(secondary.size, np.int8)])
    significance[rng.random(owner.size) < params["significance_missing"]] = -1
    day = np.where(seen, r["assessment_day"], r["day"])[owner]
    return {
        "owner": owner,
        "item": np.concatenate([np.ones(primary.size, np.int8), np.full(secondary.size, 2, np.int8)]),
        "problem": np.concatenate([r["problem"][primary], r["second_problem"][secondary]]),
        "significance": significance,
        "day": day,
    }


def _draw_scores(rng, r: dict, events: dict) -> dict:
    """IDS606: PHQ-9, GAD-7 and (for ADSM problem descriptors, often) the ADSM at each session.

    Scores fall from the first towards ``first * (1 - improvement)`` as the course goes on,
    with session-to-session noise.
    """
    params = ASSUMPTIONS["scores"]
    owner = events["owner"]
    m = owner.size
    recorded = rng.random(m) < r["score_completeness"][owner]
    steps = np.maximum(events["count"] - 1, 1)
    progress = np.where(events["count"] > 1, (events["position"] / steps) ** params["progress_power"], 0.0)
    remaining = 1 - r["improvement"][owner] * progress
    phq_noise, gad_noise = params["noise"]
    anxiety = r["gad7_first"][owner] * remaining + rng.normal(0, gad_noise, m)
    phq9 = np.clip(np.round(r["phq9_first"][owner] * remaining + rng.normal(0, phq_noise, m)), 0, 27)
    gad7 = np.clip(np.round(anxiety), 0, 21)
    adsm_index = r["adsm"][owner]
    adsm = _adsm_scores(adsm_index, np.clip(anxiety, 0, 21) * r["adsm_jitter"][owner])
    has_phq = recorded & (rng.random(m) >= params["one_missing"])
    has_gad = recorded & (rng.random(m) >= params["one_missing"])
    has_adsm = recorded & (adsm_index >= 0)
    tool = np.concatenate([np.zeros(has_phq.sum(), np.int8), np.ones(has_gad.sum(), np.int8),
                           (2 + adsm_index[has_adsm]).astype(np.int8)])
    event = np.concatenate([np.flatnonzero(has_phq), np.flatnonzero(has_gad), np.flatnonzero(has_adsm)])
    return {
        "owner": owner[event],
        "sequence": events["position"][event] * 16 + tool,
        "tool": tool,
        "score": np.concatenate([phq9[has_phq], gad7[has_gad], adsm[has_adsm]]),
        "day": events["day"][event],
    }


def _adsm_scores(adsm_index: np.ndarray, anxiety: np.ndarray) -> np.ndarray:
    """An ADSM score from the anxiety level, scaled so that GAD-7 caseness (8) maps to the ADSM's.

    The Mobility Inventory is an item mean (1-5, two decimals); the others whole numbers.
    """
    out = np.full(anxiety.size, np.nan)
    known = instruments()
    for index, name in enumerate(_adsm_instruments()):
        mine = adsm_index == index
        if not mine.any():
            continue
        low, high = known[name]["score_min"], known[name]["score_max"]
        threshold = known[name]["caseness_threshold"]
        if name == "AgoraAlone":
            out[mine] = np.clip(np.round(low + (threshold - low) * anxiety[mine] / 7.5, 2), low, high)
        else:
            out[mine] = np.clip(np.round(threshold * anxiety[mine] / 8), low, high)
    return out


# =============================================================================================
# The snapshot as at ``end``
# =============================================================================================

# columns kept from each record type, with compact types (days fit int32 until 5 879 610 AD)
_SNAPSHOT_COLUMNS = {
    "appointments": {"sequence": np.int16, "day": np.int32, "app_type": np.int8, "attend_code": np.int16,
                     "planned": np.int8, "mechanism": np.int8, "integrated": np.int8, "minutes": np.int16},
    "logs": {"sequence": np.int16, "start": np.int32, "end": np.int32, "minutes": np.int32, "programme": np.int16},
    "complaints": {"item": np.int8, "problem": np.int16, "significance": np.int8, "day": np.int32},
    "scores": {"sequence": np.int16, "tool": np.int8, "score": np.float64, "day": np.int32},
}


def _snapshot(month: dict, start: int, end: int) -> dict:
    """What is known at ``end`` of the referrals that matter from ``start``.

    Keeps referrals received by ``end`` that had not ended before ``start``, and only their
    records dated on or before ``end``; a discharge after ``end`` is not known yet. ``owner``
    is the row of the kept referral a record belongs to.
    """
    r = month["referrals"]
    keep = (r["day"] <= end) & (r["discharge_day"] >= start)
    position = np.cumsum(keep) - 1
    discharged = r["discharge_day"] <= end
    out = {"referrals": {
        "number": r["number"][keep], "patient": r["patient"][keep], "day": r["day"][keep].astype(np.int32),
        "subicb": r["subicb"][keep], "provider": r["provider"][keep], "source": r["source"][keep],
        "discharge_day": np.where(discharged, r["discharge_day"], -1)[keep].astype(np.int32),
        "end_code": np.where(discharged, r["end_code"], -1)[keep].astype(np.int16),
    }}
    for name, day_key in (("appointments", "day"), ("logs", "end"), ("complaints", "day"), ("scores", "day")):
        table = month[name]
        rows = keep[table["owner"]] & (table[day_key] <= end)
        out[name] = {key: table[key][rows].astype(kind) for key, kind in _SNAPSHOT_COLUMNS[name].items()}
        out[name]["owner"] = position[table["owner"][rows]].astype(np.int32)
    appointments = month["appointments"]
    contact = month["activities"]["appointment"]
    rows = keep[appointments["owner"][contact]] & (appointments["day"][contact] <= end)
    contact = contact[rows]
    out["activities"] = {
        "owner": position[appointments["owner"][contact]].astype(np.int32),
        "sequence": appointments["sequence"][contact].astype(np.int16),
        "item": month["activities"]["item"][rows],
        "therapy": month["activities"]["therapy"][rows],
        "minutes": appointments["minutes"][contact].astype(np.int16),
    }
    return out


# =============================================================================================
# Tables
# =============================================================================================

_TABLE_BUILDERS: dict = {}  # record type -> (table name, builder); filled below


def _assemble(parts: list[dict], orgs: Organisations, seed: int) -> dict[str, pd.DataFrame]:
    """The schema's tables (columns, order and types) from the months' snapshots.

    Each record type's arrays are dropped from ``parts`` once its table is built, so the peak
    memory is little more than the finished tables.
    """
    sizes = [part["referrals"]["number"].size for part in parts]
    offsets = np.cumsum([0] + sizes[:-1])  # first row of each month's referrals
    referrals = _concatenate(parts, "referrals", offsets)
    numbers = referrals["number"]
    pathway_digits = _digits(numbers, _PATHWAY_DIGITS)
    pathway_ids = _text_array("P", pathway_digits)
    tables = {
        "IDS001MPI": _patient_table(referrals, orgs, seed),
        "IDS101Referral": _referral_table(referrals, pathway_digits, pathway_ids, orgs),
    }
    del referrals
    for record, (name, build) in _TABLE_BUILDERS.items():
        columns = _concatenate(parts, record, offsets)
        owner = columns.pop("owner")
        columns["number"] = numbers[owner]
        columns["digits"] = pathway_digits[owner]
        columns["pathway_id"] = _series(pathway_ids.take(pa.array(owner)))
        del owner
        tables[name] = build(columns)
        del columns
    tables["OrgProvider"] = orgs.providers.copy()
    tables["OrgSubICB"] = orgs.sub_icbs.copy()
    return {name: _in_schema_order(name, tables[name]) for name in dataset_schema()["tables"]}


def _concatenate(parts: list[dict], record: str, offsets: np.ndarray) -> dict[str, np.ndarray]:
    """One record type's arrays over all months, removed from ``parts``; ``owner`` (a row of
    the month's referrals) becomes a row of all the referrals."""
    pieces = [part.pop(record) for part in parts]
    out = {}
    for key in pieces[0]:
        if key == "owner":
            out[key] = np.concatenate([piece[key].astype(np.int64) + offset for piece, offset in zip(pieces, offsets)])
        else:
            out[key] = np.concatenate([piece[key] for piece in pieces])
    return out


def _in_schema_order(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    columns = list(dataset_schema()["tables"][name]["columns"])
    return frame[columns]


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


def _subicb_of_patients(keys: np.ndarray, seed: int, orgs: Organisations) -> np.ndarray:
    return _mix(orgs.subicb_weight.tolist()).draw(_hashed_uniforms(keys, seed, 1))


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


def _referral_table(r: dict, pathway_digits: np.ndarray, pathway_ids: pa.Array, orgs: Organisations) -> pd.DataFrame:
    return _frame({
        "PathwayID": _series(pathway_ids),
        "ServiceRequestId": _series(_text_array("SR", pathway_digits)),
        "RecordNumber": _id_strings("", r["patient"], _PATHWAY_DIGITS),
        "OrgID_Provider": _label_strings(r["provider"], tuple(orgs.providers["OrgID_Provider"])),
        "OrgIDComm": _label_strings(r["subicb"], tuple(orgs.sub_icbs["OrgIDComm"])),
        "ReferralRequestReceivedDate": _dates(r["day"]),
        "SourceOfReferralIAPT": _label_strings(r["source"], _mix_of("source_of_referral").labels),
        "ServDischDate": _dates(r["discharge_day"], missing=r["discharge_day"] < 0),
        "EndCode": _label_strings(r["end_code"], _end_code_tables()[0]),
    })


def _contact_table(c: dict) -> pd.DataFrame:
    return _frame({
        "CareContactId": _series(_text_array("C", c["digits"], _digits(c["sequence"], 3))),
        "PathwayID": c["pathway_id"],
        "CareContDate": _dates(c["day"]),
        "AppType": _label_strings(c["app_type"], APP_TYPES),
        "AttendOrDNACode": _label_strings(c["attend_code"], _attend_code_labels()),
        "PlannedCareContIndicator": _label_strings(c["planned"], ("Y", "N")),
        "ConsMechanism": _label_strings(c["mechanism"], _mechanism_tables()[0]),
        "IAPTLTCServiceInd": _label_strings(c["integrated"], ("Y", "N")),
        "ClinContDurOfCareCont": _nullable_integers(c["minutes"]),
    })


def _activity_table(a: dict) -> pd.DataFrame:
    sequence = _digits(a["sequence"], 3)
    return _frame({
        "CareActId": _series(_text_array("A", a["digits"], sequence, _digits(a["item"], 1))),
        "CareContactId": _series(_text_array("C", a["digits"], sequence)),
        "PathwayID": a["pathway_id"],
        "CodeProcAndProcStatus": _label_strings(a["therapy"], _therapy_codes()),
        "ClinContactDurOfCareAct": _nullable_integers(a["minutes"]),
    })


def _log_table(g: dict) -> pd.DataFrame:
    return _frame({
        "UniqueID_IDS205": _series(_text_array("L", g["digits"], _digits(g["sequence"], 3))),
        "PathwayID": g["pathway_id"],
        "StartDateIntEnabledTherLog": _dates(g["start"]),
        "EndDateIntEnabledTherLog": _dates(g["end"]),
        "DurationIntEnabledTher": _nullable_integers(g["minutes"]),
        "IntEnabledTherProg": _label_strings(g["programme"], _mix_of("internet_therapy", "programmes").labels),
    })


def _complaint_table(p: dict) -> pd.DataFrame:
    return _frame({
        "UniqueID_IDS603": _nullable_integers(p["number"] * 10 + p["item"]),
        "PathwayID": p["pathway_id"],
        "PresComp": _label_strings(p["problem"], _problem_labels()),
        "PresCompCodSig": _label_strings(p["significance"], ("P", "S")),
        "PresCompDate": _dates(p["day"]),
    })


def _score_table(s: dict) -> pd.DataFrame:
    tools = ("PHQ9", "GAD7") + _adsm_instruments()
    snomed = tuple(instruments()[name]["snomed_code"] for name in tools)
    return _frame({
        "UniqueID_IDS606": _series(_text_array("S", s["digits"], _digits(s["sequence"], 4))),
        "PathwayID": s["pathway_id"],
        "CodedAssToolType": _label_strings(s["tool"], snomed),
        "PersScore": s["score"].astype(np.float64),
        "AssToolCompDate": _dates(s["day"]),
    })


_TABLE_BUILDERS.update({
    "appointments": ("IDS201CareContact", _contact_table),
    "activities": ("IDS202CareActivity", _activity_table),
    "logs": ("IDS205InternetTherLog", _log_table),
    "complaints": ("IDS603PresentingComplaints", _complaint_table),
    "scores": ("IDS606CodedScoreAssessmentRefer", _score_table),
})


# --- column builders ---------------------------------------------------------------------------

_PATHWAY_DIGITS = 13  # yyyymm and a 7-digit serial: PathwayID P2020090000123


def _frame(columns: dict) -> pd.DataFrame:
    return pd.DataFrame(columns, copy=False)


def _series(text: pa.Array) -> pd.Series:
    return pd.Series(text.to_pandas(), copy=False)


def _id_strings(prefix: str, numbers: np.ndarray, digits: int) -> pd.Series:
    """``prefix`` and the number zero-padded to ``digits``, as pandas text."""
    return _series(_text_array(prefix, _digits(numbers, digits)))


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    """ASCII digits of each number, zero-padded to ``width``: an (n, width) uint8 array."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if numbers.size and (numbers.min() < 0 or numbers.max() >= 10**width):
        raise ValueError(f"identifiers do not fit {width} digits: is the scale too large?")
    out = np.empty((width, numbers.size), dtype=np.uint8)
    rest = numbers.copy()
    for column in range(width - 1, -1, -1):
        out[column] = 48 + rest % 10
        rest //= 10
    return out.T


def _text_array(prefix: str, *digit_blocks: np.ndarray) -> pa.Array:
    """Fixed-width text: ``prefix`` then each block of ASCII digits, as an Arrow string array.

    Identifiers are built from digit blocks (a child record's id is its pathway's digits and
    its own sequence), which is several times faster than formatting millions of numbers.
    """
    n = digit_blocks[0].shape[0]
    head = len(prefix)
    width = head + sum(block.shape[1] for block in digit_blocks)
    chars = np.empty((n, width), dtype=np.uint8)
    chars[:, :head] = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    column = head
    for block in digit_blocks:
        chars[:, column:column + block.shape[1]] = block
        column += block.shape[1]
    # large_string: what pandas' Arrow-backed str dtype holds, so no conversion follows
    offsets = np.arange(n + 1, dtype=np.int64) * width
    return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(chars)])


def _label_strings(index: np.ndarray, labels: tuple) -> pd.Series:
    """Codes from their indices into ``labels``; index -1 or a None label is missing."""
    index = np.asarray(index, dtype=np.int32)
    missing_label = np.array([label is None for label in labels] + [True])
    missing = missing_label[np.where(index < 0, len(labels), index)]
    dictionary = pa.array(["" if label is None else str(label) for label in labels], type=pa.string())
    indices = pa.array(np.where(missing, 0, index), mask=missing)
    return _series(pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.large_string()))


def _dates(days: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
    """Dates at midnight from day numbers since 1970-01-01, NaT where ``missing``."""
    values = (np.asarray(days, dtype=np.int64) * _MS_PER_DAY).view("datetime64[ms]")
    if missing is not None:
        values[missing] = np.datetime64("NaT")
    return pd.Series(values, dtype="datetime64[ms]", copy=False)


def _nullable_integers(values: np.ndarray) -> pd.Series:
    """Int64 with negative values as missing (every integer in the dataset is >= 0)."""
    values = np.asarray(values, dtype=np.int64)
    return pd.Series(pd.arrays.IntegerArray(values, values < 0), copy=False)


# =============================================================================================
# Calibration
# =============================================================================================

def calibration_figures(tables: dict[str, pd.DataFrame], start: date, end: date) -> dict[str, float]:
    """The calibration figures for the period ``start``..``end`` (inclusive), in plain pandas.

    Definitions (NHS Digital's, as in the domain reference section 2, simplified where noted):

    * attended contact: AttendOrDNACode 5 or 6 after removing spaces and leading zeros, or
      PlannedCareContIndicator 'N' (unplanned);
    * treatment session: an attended contact with AppType 02, 03 or 05, or an IDS205 log dated
      by EndDateIntEnabledTherLog; only sessions from the referral date to the discharge date
      (inclusive; open referrals: no upper bound) belong to the pathway;
    * ``referrals_received``: ReferralRequestReceivedDate in the period (M001);
    * ``entered_treatment``: first treatment session in the period (M031);
    * ``finished_course``: ServDischDate in the period and at least two treatment sessions (M076);
    * ``mean_sessions_finished``: mean treatment sessions of those finishing (M141);
    * ``pct_finished_waited_6_weeks``: % of those finishing whose first treatment was at most
      42 days after referral (M053);
    * ``recovery_rate``: recovered / (finished - not at caseness) x 100 (M192), where the
      scores are those dated within the pathway; an instrument is paired when recorded at
      least twice (first and last by date, then by UniqueID_IDS606); the anxiety measure is
      the ADSM of the chosen problem descriptor when it is paired, else GAD-7; a finisher is
      *not at caseness* when PHQ-9 and anxiety are both paired and neither first score is at
      caseness, and *recovered* when both are paired, a first score is at caseness and neither
      last score is; unpaired finishers stay in the denominator;
    * ``internet_therapy_sessions``: IDS205 logs with EndDateIntEnabledTherLog in the period (M343);
    * ``referrals_with_integrated_contact``: distinct referrals with at least one attended
      contact with IAPTLTCServiceInd 'Y' dated in the period (any AppType). This is our
      reading of the published figure: counting only referrals whose *first* integrated
      contact falls in the period (M271) gives under half of it;
    * also, not calibrated but reported: ``pct_reliable_improvement`` and
      ``pct_reliable_deterioration`` (of finished, M186/M1010), ``pct_not_at_caseness`` (of
      finished, M180), ``pct_dna`` (appointments in the period with code 3, M084/M082) and
      ``pct_first_to_second_over_28_days`` (second sessions in the period, M046/M184).
    """
    start, end = pd.Timestamp(_as_date(start)), pd.Timestamp(_as_date(end))

    def in_period(dates: pd.Series) -> pd.Series:
        return (dates >= start) & (dates <= end)

    referrals = tables["IDS101Referral"]
    ids = pd.Index(referrals["PathwayID"])
    received = referrals["ReferralRequestReceivedDate"].to_numpy()
    discharged = referrals["ServDischDate"].to_numpy()

    def within_pathway(pathway: pd.Series, dates: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Each row's referral position, and whether its date falls within that referral."""
        index = ids.get_indexer(pathway)
        safe = np.maximum(index, 0)
        when = dates.to_numpy()
        limit = discharged[safe]
        ok = (index >= 0) & (when >= received[safe]) & (np.isnat(limit) | (when <= limit))
        return index, ok

    contacts = tables["IDS201CareContact"]
    code = contacts["AttendOrDNACode"].str.strip().str.lstrip("0")
    attended = (code.isin(["5", "6"]) | (contacts["PlannedCareContIndicator"] == "N")).fillna(False).to_numpy(bool)
    treatment = contacts["AppType"].isin(["02", "03", "05"]).to_numpy(bool)
    session_contacts = contacts[attended & treatment]
    logs = tables["IDS205InternetTherLog"]
    c_index, c_ok = within_pathway(session_contacts["PathwayID"], session_contacts["CareContDate"])
    l_index, l_ok = within_pathway(logs["PathwayID"], logs["EndDateIntEnabledTherLog"])
    sessions = pd.DataFrame({
        "index": np.concatenate([c_index[c_ok], l_index[l_ok]]),
        "when": np.concatenate([session_contacts["CareContDate"].to_numpy()[c_ok],
                                logs["EndDateIntEnabledTherLog"].to_numpy()[l_ok]]),
    }).sort_values(["index", "when"])
    per_pathway = sessions.groupby("index")["when"]
    n_sessions = np.zeros(len(referrals), dtype=np.int64)
    counts = per_pathway.size()
    n_sessions[counts.index.to_numpy()] = counts.to_numpy()
    first_session = pd.Series(pd.NaT, index=range(len(referrals)), dtype="datetime64[ms]")
    first_session.iloc[counts.index.to_numpy()] = per_pathway.min().to_numpy()
    second = sessions.groupby("index").nth(1)
    second_session = pd.Series(pd.NaT, index=range(len(referrals)), dtype="datetime64[ms]")
    second_session.iloc[second["index"].to_numpy()] = second["when"].to_numpy()

    finished = (in_period(referrals["ServDischDate"]) & (n_sessions >= 2)).to_numpy(bool)
    wait = (first_session.to_numpy() - received) / np.timedelta64(1, "D")
    outcomes = _outcomes(tables, ids, within_pathway)
    n_finished = finished.sum()
    not_caseness = (outcomes["not_at_caseness"] & finished).sum()
    entered_second = in_period(second_session).to_numpy(bool)
    first_to_second = (second_session - first_session).dt.days.to_numpy()

    appointments = contacts[in_period(contacts["CareContDate"]).to_numpy(bool)]
    integrated = (attended & (contacts["IAPTLTCServiceInd"] == "Y").fillna(False).to_numpy(bool)
                  & in_period(contacts["CareContDate"]).to_numpy(bool))

    def pct(numerator, denominator) -> float:
        return float(100 * numerator / denominator) if denominator else float("nan")

    return {
        "referrals_received": float(in_period(referrals["ReferralRequestReceivedDate"]).sum()),
        "entered_treatment": float(in_period(first_session).sum()),
        "finished_course": float(n_finished),
        "mean_sessions_finished": float(n_sessions[finished].mean()) if n_finished else float("nan"),
        "pct_finished_waited_6_weeks": pct((wait[finished] <= 42).sum(), n_finished),
        "recovery_rate": pct((outcomes["recovered"] & finished).sum(), n_finished - not_caseness),
        "internet_therapy_sessions": float(in_period(logs["EndDateIntEnabledTherLog"]).sum()),
        "referrals_with_integrated_contact": float(contacts.loc[integrated, "PathwayID"].nunique()),
        "pct_reliable_improvement": pct((outcomes["improved"] & finished).sum(), n_finished),
        "pct_reliable_deterioration": pct((outcomes["deteriorated"] & finished).sum(), n_finished),
        "pct_not_at_caseness": pct(not_caseness, n_finished),
        "pct_dna": pct((appointments["AttendOrDNACode"].str.strip().str.lstrip("0") == "3").sum(), len(appointments)),
        "pct_first_to_second_over_28_days": pct((first_to_second[entered_second] > 28).sum(), entered_second.sum()),
    }


def _outcomes(tables: dict, ids: pd.Index, within_pathway) -> dict[str, np.ndarray]:
    """Per referral: not at caseness, recovered, reliably improved, reliably deteriorated."""
    known = instruments()
    by_code = {row["snomed_code"]: name for name, row in known.items()}
    scores = tables["IDS606CodedScoreAssessmentRefer"]
    instrument = scores["CodedAssToolType"].str.strip().map(by_code)
    scores = scores[instrument.notna().to_numpy(bool)].assign(instrument=instrument.dropna())
    index, ok = within_pathway(scores["PathwayID"], scores["AssToolCompDate"])
    kept = scores[ok]
    frame = pd.DataFrame({"index": index[ok], "when": kept["AssToolCompDate"].to_numpy(),
                          "id": kept["UniqueID_IDS606"].to_numpy(),
                          "instrument": kept["instrument"].to_numpy(), "score": kept["PersScore"].to_numpy()})
    frame = frame.sort_values(["index", "instrument", "when", "id"])
    grouped = frame.groupby(["index", "instrument"], sort=False)["score"]
    summary = pd.DataFrame({"first": grouped.first(), "last": grouped.last(), "n": grouped.size()})
    summary.loc[summary["n"] < 2, "last"] = np.nan
    first = summary["first"].unstack()
    last = summary["last"].unstack()
    n = len(ids)

    def column(table: pd.DataFrame, name: str) -> np.ndarray:
        out = np.full(n, np.nan)
        if name in table.columns:
            out[table.index.to_numpy()] = table[name].to_numpy()
        return out

    adsm = _chosen_adsm(tables["IDS603PresentingComplaints"], ids)
    phq_first, phq_last = column(first, "PHQ9"), column(last, "PHQ9")
    anx_first, anx_last = column(first, "GAD7"), column(last, "GAD7")
    threshold = np.full(n, known["GAD7"]["caseness_threshold"])
    strict = np.zeros(n, dtype=bool)
    change = np.full(n, known["GAD7"]["reliable_change"])
    for name in _adsm_instruments():
        a_first, a_last = column(first, name), column(last, name)
        use = (adsm == name) & ~np.isnan(a_first) & ~np.isnan(a_last)
        anx_first[use], anx_last[use] = a_first[use], a_last[use]
        threshold[use] = known[name]["caseness_threshold"]
        strict[use] = known[name]["caseness_operator"] == "gt"
        change[use] = known[name]["reliable_change"]

    def anxious(score):
        return np.where(strict, score > threshold, score >= threshold)

    phq = known["PHQ9"]
    paired = ~np.isnan(phq_first) & ~np.isnan(phq_last) & ~np.isnan(anx_first) & ~np.isnan(anx_last)
    first_case = (phq_first >= phq["caseness_threshold"]) | anxious(anx_first)
    last_case = (phq_last >= phq["caseness_threshold"]) | anxious(anx_last)
    improved = ((phq_first - phq_last) >= phq["reliable_change"]) | ((anx_first - anx_last) >= change)
    worsened = ((phq_last - phq_first) >= phq["reliable_change"]) | ((anx_last - anx_first) >= change)
    return {
        "not_at_caseness": paired & ~first_case,
        "recovered": paired & first_case & ~last_case,
        "improved": paired & improved & ~worsened,
        "deteriorated": paired & worsened,
    }


def _chosen_adsm(complaints: pd.DataFrame, ids: pd.Index) -> np.ndarray:
    """The ADSM named by each referral's chosen problem descriptor (NHS Digital's M203 order:
    a valid code first, primary before secondary, latest date, highest UniqueID_IDS603)."""
    code = complaints["PresComp"].str.strip()
    valid = (code.notna() & (code != "") & (code != "-3")).to_numpy(bool)
    frame = pd.DataFrame({
        "index": ids.get_indexer(complaints["PathwayID"]),
        "invalid": ~valid,
        "significance": complaints["PresCompCodSig"].fillna("Z").to_numpy(),
        "date": complaints["PresCompDate"].to_numpy(),
        "id": complaints["UniqueID_IDS603"].to_numpy(),
        "code": code.fillna("").to_numpy(),
    })
    frame = frame[frame["index"] >= 0].sort_values(
        ["index", "invalid", "significance", "date", "id"], ascending=[True, True, True, False, False])
    chosen = frame.drop_duplicates("index")
    out = np.full(len(ids), None, dtype=object)
    rules = code_lists()["adsm_for_problem_descriptor"]
    names = np.full(len(chosen), None, dtype=object)
    codes = chosen["code"].to_numpy(dtype=object)
    for prefix, name in reversed(rules):
        names[np.char.startswith(codes.astype(str), str(prefix))] = name
    names[chosen["invalid"].to_numpy(bool)] = None
    out[chosen["index"].to_numpy()] = names
    return out

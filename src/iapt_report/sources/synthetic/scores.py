"""Presenting complaints and outcome scores (PHQ-9, GAD-7 and the anxiety disorder-specific
measures) of a month's referrals.
"""

from __future__ import annotations

import numpy as np

from iapt_report.reference import instruments

from .assumptions import ASSUMPTIONS
from .referrals import NOT_SEEN, _adsm_instruments


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

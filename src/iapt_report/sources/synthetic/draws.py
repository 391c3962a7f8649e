"""Volumes, dates and randomness: referrals expected in a month, day numbers, categorical mixes,
hashed uniform numbers (a patient keeps their characteristics) and the other draws the
simulation shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd

from .assumptions import ASSUMPTIONS

NEVER = 10**6  # a discharge day that never comes (open for good)
_EPOCH = date(1970, 1, 1)
_MS_PER_DAY = 86_400_000


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

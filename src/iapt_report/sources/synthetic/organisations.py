"""The fictional organisation hierarchy (regions, ICBs, sub-ICBs, providers) and how referrals
flow through it; names from ``reference/synthetic_names.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
import yaml

from .assumptions import ASSUMPTIONS, ORGANISATION_SEED
from .draws import _hashed_uniforms, _mix


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


def _subicb_of_patients(keys: np.ndarray, seed: int, orgs: Organisations) -> np.ndarray:
    """Each patient's home sub-ICB, hashed from the patient key: a patient referred twice stays put."""
    return _mix(orgs.subicb_weight.tolist()).draw(_hashed_uniforms(keys, seed, 1))

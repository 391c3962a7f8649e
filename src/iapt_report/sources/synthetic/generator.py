"""Generating the dataset: each month of referrals simulated from its own random stream, the
snapshot as at ``end``, and the tables written all or nothing (see the package docstring)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from iapt_report.data.schema import SYNTHETIC_MARKER
from iapt_report.outputs.exports import staged_folder
from iapt_report.reference import dataset_schema

from .assumptions import DEFAULT_SEED, RUN_IN_MONTHS
from .contacts import _draw_appointments, _draw_care_activities, _draw_internet_logs
from .draws import _add_months, _as_date, _day_number, _months
from .organisations import Organisations, organisations
from .referrals import (
    _draw_attended_events,
    _draw_discharges,
    _draw_pathway_kinds,
    _draw_problem_and_outcome,
    _draw_referrals,
)
from .scores import _draw_presenting_complaints, _draw_scores
from .tables import _assemble


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

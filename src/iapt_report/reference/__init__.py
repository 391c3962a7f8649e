"""Reference data shipped with the package: code lists, instruments, dataset schema, registry."""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources

import yaml


def _read_text(name: str) -> str:
    return resources.files("iapt_report").joinpath("reference", name).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def code_lists() -> dict:
    """Code lists and groupings (reference/code_lists.yaml)."""
    return yaml.safe_load(_read_text("code_lists.yaml"))


@lru_cache(maxsize=None)
def dataset_schema() -> dict:
    """Input tables and their columns (reference/dataset_schema.yaml)."""
    return yaml.safe_load(_read_text("dataset_schema.yaml"))


@lru_cache(maxsize=None)
def instruments() -> dict[str, dict]:
    """Outcome instruments by name (PHQ9, GAD7, AgoraAlone ...) with SNOMED code, the range a score
    can take (``score_min`` to ``score_max``, inclusive) and thresholds; ``code_verified`` and
    ``values_verified`` ("yes"/"no") say whether the code and the range and thresholds were checked
    against the public ``source`` named, ``not_verified`` what was not (docs/instruments.md)."""
    rows = csv.DictReader(io.StringIO(_read_text("instruments.csv")))
    out = {}
    for row in rows:
        for number in ("score_min", "score_max", "caseness_threshold"):
            row[number] = float(row[number])
        row["reliable_change"] = float(row["reliable_change"])
        out[row["instrument"]] = row
    return out


def unverified_instruments() -> list[dict]:
    """The instruments whose SNOMED CT code, range or thresholds could not be checked against a
    public source (``code_verified`` or ``values_verified`` not "yes"), in the order of
    instruments.csv. The report's notes name them."""
    return [row for row in instruments().values()
            if row["code_verified"] != "yes" or row["values_verified"] != "yes"]


@lru_cache(maxsize=None)
def wsas_items() -> dict[str, dict]:
    """The five Work and Social Adjustment Scale items by score-field stem (WASAS_Work ...), with
    SNOMED CT code and range, as ``instruments()`` gives them (reference/wsas_items.csv). Kept apart
    from instruments.csv: every instrument there is an outcome measure (PHQ-9, GAD-7 or an ADSM,
    with caseness and reliable change), and the WSAS items are not."""
    out = {}
    for row in csv.DictReader(io.StringIO(_read_text("wsas_items.csv"))):
        row["score_min"], row["score_max"] = float(row["score_min"]), float(row["score_max"])
        out[row["instrument"]] = row
    return out

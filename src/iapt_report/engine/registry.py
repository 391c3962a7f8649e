"""The measure registry (reference/measures.yaml and its family files) as typed definitions, and its metadata file.

The registry is ``reference/measures.yaml`` followed by the family files listed in its
``families:`` key (``reference/measures_<family>.yaml``), each with optional ``cohorts`` and
``measures``; a cohort name is shared by every file, and measures keep file order.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import pandas as pd
import yaml

from iapt_report.data.schema import OPTIONAL_COLUMNS, OPTIONAL_TABLES, TABLES
from iapt_report.reference import _read_text

STATISTICS = ("count", "sum", "mean", "median", "max", "min", "percentage")
UNITS = ("pathway", "appointment", "internet_log")
#: What puts a unit in a cohort: an event dated in the period (the default), or being open at its end.
AT = ("event", "period_end")


class RegistryError(ValueError):
    """The measure registry contradicts itself (a programming error in measures.yaml)."""


@dataclass(frozen=True)
class Cohort:
    """Who a measure counts. ``at: event`` (the default): the units whose ``event`` date falls in
    the period. ``at: period_end`` (a snapshot): the pathways open at the end of the period, whose
    ``event`` is on or before the end and whose ``until`` date is empty or after it, read as they
    stood at the end (engine/snapshots.py)."""

    name: str
    unit: str
    event: str
    where: dict = field(default_factory=dict)
    at: str = "event"
    until: str | None = None

    @property
    def snapshot(self) -> bool:
        return self.at == "period_end"


@dataclass(frozen=True)
class Measure:
    id: str
    name: str
    statistic: str
    cohort: Cohort | None = None
    where: dict = field(default_factory=dict)
    value: str | None = None
    per: str | None = None
    numerator: tuple[str, ...] = ()
    denominator: tuple[str, ...] = ()
    base: str | None = None
    breakdowns: bool = True
    description: str = ""
    #: optional tables ("IDS004EmpStatus") or fields ("IDS001MPI.ExBAFIndicator") the measure
    #: needs beyond those every extract has; without them it is not computable (see not_computable)
    requires: tuple[str, ...] = ()

    def __post_init__(self):
        # a numerator written as one ID is a numerator of one term
        if isinstance(self.numerator, str):
            object.__setattr__(self, "numerator", (self.numerator,))
        elif self.numerator is None:
            object.__setattr__(self, "numerator", ())

    @property
    def unit(self) -> str:
        return self.cohort.unit if self.cohort else "derived"

    @property
    def base_measure_id(self) -> str | None:
        """The count a published value rests on (for disclosure control)."""
        if self.statistic == "percentage" and not self.base:
            return self.numerator[0] if len(self.numerator) == 1 else None
        return self.base


@lru_cache(maxsize=None)
def load_registry() -> tuple[Measure, ...]:
    """Every measure in the registry, in registry order, checked for consistency."""
    spec = _registry_spec()
    descriptions = {
        row["measure_id"]: row["description"]
        for row in csv.DictReader(io.StringIO(_read_text("measure_descriptions.csv")))
    }
    cohorts = {
        name: Cohort(name=name, unit=c["unit"], event=c["event"], where=c.get("where", {}),
                     at=c.get("at", "event"), until=c.get("until"))
        for name, c in spec["cohorts"].items()
    }
    measures = []
    for m in spec["measures"]:
        measures.append(
            Measure(
                id=m["id"],
                name=m["name"],
                statistic=m["statistic"],
                cohort=cohorts[m["cohort"]] if "cohort" in m else None,
                where=m.get("where", {}),
                value=m.get("value"),
                per=m.get("per"),
                numerator=_terms(m.get("numerator")),
                denominator=tuple(m.get("denominator", ())),
                base=m.get("base"),
                breakdowns=m.get("breakdowns", True),
                description=descriptions.get(m["id"], ""),
                requires=tuple(m.get("requires", ())),
            )
        )
    _check(measures)
    return tuple(measures)


def _registry_spec() -> dict:
    """measures.yaml with its family files' cohorts and measures appended, in the order it lists them."""
    spec = yaml.safe_load(_read_text("measures.yaml"))
    cohorts, measures = dict(spec["cohorts"]), list(spec["measures"])
    for family in spec.get("families", []):
        part = yaml.safe_load(_read_text(f"measures_{family}.yaml")) or {}
        for name, cohort in (part.get("cohorts") or {}).items():
            if name in cohorts:
                raise RegistryError(f"measures_{family}.yaml: cohort {name!r} is defined twice")
            cohorts[name] = cohort
        measures += part.get("measures") or []
    return {"cohorts": cohorts, "measures": measures}


def _check(measures: list[Measure]) -> None:
    ids = [m.id for m in measures]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise RegistryError(f"measure IDs used twice: {sorted(duplicates)}")
    known = set(ids)
    for m in measures:
        if m.statistic not in STATISTICS:
            raise RegistryError(f"{m.id}: unknown statistic {m.statistic!r}")
        if m.statistic == "percentage":
            terms = [t.lstrip("-") for t in (*m.numerator, *m.denominator)]
            missing = [t for t in terms if t not in known]
            if missing or not m.denominator or not m.numerator:
                raise RegistryError(f"{m.id}: percentage needs known numerator/denominator, missing {missing}")
            if len(m.numerator) > 1 and not m.base:
                raise RegistryError(f"{m.id}: a numerator of several terms needs a `base` count for disclosure control")
        elif m.cohort is None:
            raise RegistryError(f"{m.id}: {m.statistic} needs a cohort")
        elif m.cohort.unit not in UNITS:
            raise RegistryError(f"{m.id}: unknown unit {m.cohort.unit!r}")
        elif m.statistic != "count" and not m.value:
            raise RegistryError(f"{m.id}: {m.statistic} needs a value column")
        elif m.per and m.statistic != "mean":
            raise RegistryError(f"{m.id}: `per` is for a mean (sum of value / sum of per)")
        elif m.cohort.at not in AT:
            raise RegistryError(f"{m.id}: unknown cohort kind at: {m.cohort.at!r}")
        elif m.cohort.snapshot and (m.cohort.unit != "pathway" or not m.cohort.until or m.statistic == "median"):
            raise RegistryError(f"{m.id}: a cohort at the period end needs unit pathway and `until`, and "
                                "a statistic that adds up (not median)")
        elif not m.cohort.snapshot and _uses_days_to_period_end({**m.cohort.where, **m.where}):
            raise RegistryError(f"{m.id}: days_to_period_end is for cohorts at the period end")
        for needed in m.requires:
            table, _dot, column = needed.partition(".")
            optional = (table, column) in OPTIONAL_COLUMNS if column else table in OPTIONAL_TABLES
            if table not in TABLES or (column and column not in TABLES[table]["columns"]) or not optional:
                raise RegistryError(f"{m.id}: requires {needed!r}, which is not an optional table or field of "
                                    "dataset_schema.yaml (every extract has the others)")


def _uses_days_to_period_end(where: dict) -> bool:
    for column, rule in where.items():
        if column == "any_of":
            if any(_uses_days_to_period_end(alt) for alt in rule):
                return True
        elif isinstance(rule, dict) and "days_to_period_end" in rule:
            return True
    return False


def not_computable(measures: Iterable[Measure], available: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Measure ID -> why it cannot be computed from a dataset holding ``available`` (table -> its
    columns), for each measure whose ``requires`` are not all there; a percentage whose
    numerator or denominator is not computable is not computable either. Registry order."""
    measures = list(measures)
    present = {table: set(columns) for table, columns in available.items()}

    def there(needed: str) -> bool:
        table, _dot, column = needed.partition(".")
        return table in present and (not column or column in present[table])

    found: dict[str, str] = {}
    for m in measures:
        missing = [needed for needed in m.requires if not there(needed)]
        if missing:
            found[m.id] = f"the dataset has no {' or '.join(missing)}"
    changed = True
    while changed:  # a percentage of a measure that is not computable (of one that is not, ...)
        changed = False
        for m in measures:
            if m.statistic == "percentage" and m.id not in found:
                lacking = [t.lstrip("-") for t in (*m.numerator, *m.denominator) if t.lstrip("-") in found]
                if lacking:
                    found[m.id], changed = f"{', '.join(lacking)} not computable", True
    return {m.id: found[m.id] for m in measures if m.id in found}


def measure_metadata(not_computed: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The metadata file published beside the measures: one row per measure.

    ``not_computed`` (measure ID -> reason, from :func:`not_computable`) fills COMPUTED (yes/no)
    and NOT_COMPUTED_REASON; without it (not known, as for a report built from published
    figures) both are empty. REQUIRES names the optional tables or fields a measure needs.
    """
    rows = []
    for m in load_registry():
        if m.statistic == "percentage":
            numerator, denominator = _describe_terms(m.numerator), _describe_terms(m.denominator)
            if len(m.numerator) > 1:
                numerator = f"({numerator})"
            construction = f"100 x {numerator} / ({denominator}), from unrounded counts"
        else:
            construction = _describe_cohort(m)
        rows.append(
            {
                "MEASURE_ID": m.id,
                "MEASURE_NAME": m.name,
                "STATISTIC": m.statistic,
                "UNIT": m.unit,
                "DESCRIPTION": m.description,
                "CONSTRUCTION": construction,
                "BASE_MEASURE_ID": m.base_measure_id or "",
                "ANNUAL_BREAKDOWNS": "yes" if m.breakdowns else "no",
                "REQUIRES": " ".join(m.requires),
                "COMPUTED": "" if not_computed is None else "no" if m.id in not_computed else "yes",
                "NOT_COMPUTED_REASON": (not_computed or {}).get(m.id, ""),
            }
        )
    return pd.DataFrame(rows)


def _terms(value) -> tuple[str, ...]:
    """A numerator as written: one measure ID, or a list of terms like a denominator's."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _describe_terms(terms: tuple[str, ...]) -> str:
    return " ".join(
        (f"minus {t[1:]}" if t.startswith("-") else t) if i == 0 or t.startswith("-") else f"plus {t}"
        for i, t in enumerate(terms)
    )


def _describe_cohort(m: Measure) -> str:
    conditions = {**m.cohort.where, **m.where}
    if m.cohort.snapshot:
        text = (f"{m.cohort.unit}s open at the end of the period ({m.cohort.event} on or before the period end, "
                f"{m.cohort.until} empty or after it), as they stood at the period end (contacts, sessions "
                "and internet therapy logs after it not counted)")
    else:
        text = f"{m.cohort.unit}s with {m.cohort.event} in the period"
    if conditions:
        text += " and " + " and ".join(_describe_condition(k, v) for k, v in conditions.items())
    if m.per:
        text = f"sum of {m.value} / sum of {m.per} over {text}"
    elif m.statistic != "count":
        text = f"{m.statistic} of {m.value} over {text}"
    return text


def _describe_condition(column: str, rule) -> str:
    if column == "any_of":
        return "(" + " or ".join(" and ".join(_describe_condition(k, v) for k, v in alt.items()) for alt in rule) + ")"
    if not isinstance(rule, dict):
        return f"{column} = {rule}"
    words = {"le": "<=", "lt": "<", "ge": ">=", "gt": ">"}
    parts = []
    for op, value in rule.items():
        if op == "days_to_period_end":
            parts.append(_describe_condition(f"(period end - {column} in days)", value))
        elif op == "in":
            parts.append(f"{column} in {value}")
        elif op == "not_in":
            parts.append(f"{column} not in {value}")
        elif op == "is_null":
            parts.append(f"{column} is {'null' if value else 'not null'}")
        else:
            parts.append(f"{column} {words[op]} {value}")
    return " and ".join(parts)

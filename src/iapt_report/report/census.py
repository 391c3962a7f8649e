"""The 2011 Census population of England, and referral rates per 100,000 people.

The reports compare who uses NHS Talking Therapies with who lives in England. The package
ships the few Census figures this needs (``reference/census2011_*.csv``, each row naming its
ONS table); :func:`.census_files.build_reference_files` re-derives them from the ONS downloads.

* :func:`census_population` - the population by ethnic group, ethnic category, sex or age
  group, for people aged 16 and over (``base="16+"``, the default: NHS Talking Therapies
  serves adults), 18 and over, or (age group and sex only) all ages.
* :func:`ethnicity_mapping` - NHS ethnic category (A-S) to Census 2011 ethnic group(s); see
  ``docs/ethnicity-and-census.md`` for every decision.
* :func:`rates_per_100k`, :func:`rate_summary`, :func:`representation` - rates per 100,000,
  relative rates and an over/under-represented label for each group.

All Census figures are for England. Rates against them only make sense for England counts:
the Census file holds no populations for regions, ICBs or providers.
"""

from __future__ import annotations

import io
import re
from functools import lru_cache
from importlib import resources

import pandas as pd

from iapt_report.reference import code_lists

CENSUS_SOURCE = (
    "ONS 2011 Census table DC2101EW (Ethnic group by sex by age), England (E92000001); "
    "Open Government Licence v3.0"
)
ETHNICITY_FILE = "census2011_england_16plus.csv"
AGE_FILE = "census2011_england_age_groups.csv"
MAPPING_FILE = "ethnicity_census_mapping.csv"

BASES = ("16+", "18+", "all")
BREAKDOWNS = ("ethnic_group", "ethnic_category", "census_group", "sex", "age_group")

PER = 100_000
OVER_REPRESENTED = 1.1
"""A group whose relative rate is above this is labelled "over-represented"."""
UNDER_REPRESENTED = 0.9
"""A group whose relative rate is below this is labelled "under-represented"."""

NOT_STATED = "Not stated/Not known/Invalid"
# labels (compared case- and space-insensitively) of rows that have no Census equivalent:
# they keep their own line, with no population, and are left out of the overall rate
NOT_STATED_LABELS = {
    "not stated/not known/invalid", "not stated/not known", "not stated", "not known", "invalid",
    "unknown", "unknown ethnic groups",  # the 2013-14 annual report's label
    "indeterminate", "indeterminate (unable to be classified as male or female)",
    "99", "z", "-1", "-3",  # NHS ethnic category codes for not stated / not known
}
NO_CENSUS_EQUIVALENT = "no Census equivalent"

_SEX_LABELS = {"All persons": "Persons", "Males": "Male", "Females": "Female"}


class CensusError(ValueError):
    """Counts that cannot be matched to the Census populations."""


# --- shipped reference files -------------------------------------------------------------------

def _reference_csv(name: str) -> pd.DataFrame:
    text = resources.files("iapt_report").joinpath("reference", name).read_text(encoding="utf-8")
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


@lru_cache(maxsize=None)
def _ethnicity_table() -> pd.DataFrame:
    table = _reference_csv(ETHNICITY_FILE)
    for column in ("aged_16_plus", "aged_18_plus"):
        table[column] = table[column].astype("int64")
    return table


@lru_cache(maxsize=None)
def _age_table() -> pd.DataFrame:
    table = _reference_csv(AGE_FILE)
    table["population"] = table["population"].astype("int64")
    table["approximate"] = table["approximate"] == "True"
    return table


@lru_cache(maxsize=None)
def _mapping_table() -> pd.DataFrame:
    return _reference_csv(MAPPING_FILE)


def ethnicity_mapping() -> pd.DataFrame:
    """NHS ethnic category -> Census 2011 ethnic group, one row per pair (C and S have two
    Census groups each), plus one row for "Not stated/Not known/Invalid" with no Census group.

    Columns: nhs_code, nhs_group, nhs_category, label_2013_14 (the category's label in the
    2013-14 annual report), census_ethnic_group (ONS label), comparison_group (the NHS group
    the Census population is counted in for the five high-level groups), note.
    """
    return _mapping_table().copy()


# --- populations -------------------------------------------------------------------------------

def _base_column(base: str) -> str:
    if base not in BASES:
        raise CensusError(f"base {base!r} is not one of {', '.join(BASES)}")
    if base == "all":
        raise CensusError(
            "the package ships Census populations by ethnic group for ages 16+ and 18+ only; "
            "use base='16+' (NHS Talking Therapies serves adults) or base='18+'"
        )
    return {"16+": "aged_16_plus", "18+": "aged_18_plus"}[base]


def _nhs_order() -> list[tuple[str, str, str]]:
    """(code, group, category) in the NHS list's order, from the package's code lists."""
    return [(code, group, category) for code, (group, category) in code_lists()["ethnic_category"].items()]


def census_population(by: str, base: str = "16+") -> pd.DataFrame:
    """The population of England at the 2011 Census, one row per group of ``by``.

    ``by`` is one of:

    * ``"ethnic_group"`` - the five NHS high-level groups (White, Mixed, Asian or Asian
      British, Black or Black British, Other Ethnic Groups). The Census counts Chinese people
      under Asian; here they are counted in Other Ethnic Groups, as the NHS list does.
    * ``"ethnic_category"`` - the 16 NHS categories A-S (columns code, ethnic_group,
      ethnic_category); C includes the Census's Gypsy or Irish Traveller, S includes Arab.
    * ``"census_group"`` - the 18 Census 2011 ethnic groups as ONS labels them.
    * ``"sex"`` - Male, Female.
    * ``"age_group"`` - the annual report's age groups that fall inside ``base`` (Under 16,
      16 to 17, 18 to 35, 36 to 64, 65 and over). 18 to 35 and 36 to 64 split the Census
      band 35 to 39 pro rata (column ``approximate``); see ``docs/ethnicity-and-census.md``.

    ``base`` is ``"16+"`` (default), ``"18+"``, or ``"all"`` (all ages: age group and sex
    only). Every frame has a ``population`` column (int) and ``census_definition``, saying
    which Census groups or age bands make up each row. "Not stated" has no Census
    equivalent and so no row here; :func:`rates_per_100k` keeps it as its own line.
    """
    if by not in BREAKDOWNS:
        raise CensusError(f"census_population(by={by!r}): by must be one of {', '.join(BREAKDOWNS)}")
    if base not in BASES:
        raise CensusError(f"base {base!r} is not one of {', '.join(BASES)}")
    if by == "age_group":
        return _age_groups(base)
    if by == "sex":
        return _sexes(base)

    column = _base_column(base)
    table = _ethnicity_table()
    persons = table[(table["sex"] == "Persons") & (table["level"] == "group")]
    population = dict(zip(persons["census_ethnic_group"], persons[column]))
    if by == "census_group":
        return pd.DataFrame({
            "census_group": persons["census_ethnic_group"].to_list(),
            "population": persons[column].to_list(),
            "census_definition": persons["census_ethnic_group"].to_list(),
        }).astype({"population": "int64"})

    mapping = _mapping_table()
    mapping = mapping[mapping["census_ethnic_group"] != ""]
    if by == "ethnic_category":
        rows = []
        for code, group, category in _nhs_order():
            census = mapping.loc[mapping["nhs_code"] == code, "census_ethnic_group"].to_list()
            rows.append({"code": code, "ethnic_group": group, "ethnic_category": category,
                         "population": sum(population[c] for c in census),
                         "census_definition": "; ".join(census)})
        return pd.DataFrame(rows).astype({"population": "int64"})

    groups = list(dict.fromkeys(group for _, group, _ in _nhs_order()))
    rows = []
    for group in groups:
        census = mapping.loc[mapping["comparison_group"] == group, "census_ethnic_group"].to_list()
        rows.append({"ethnic_group": group, "population": sum(population[c] for c in census),
                     "census_definition": "; ".join(census)})
    return pd.DataFrame(rows).astype({"population": "int64"})


def _age_bands_in(base: str) -> list[str]:
    lowest = {"16+": 16, "18+": 18, "all": 0}[base]
    return [label for label, low, _high in code_lists()["age_groups"] if low >= lowest]


def _age_groups(base: str) -> pd.DataFrame:
    table = _age_table()
    persons = table[table["sex"] == "Persons"].set_index("age_group")
    bands = _age_bands_in(base)
    return pd.DataFrame({
        "age_group": bands,
        "population": [int(persons.at[b, "population"]) for b in bands],
        "census_definition": [persons.at[b, "census_age_bands"] for b in bands],
        "approximate": [bool(persons.at[b, "approximate"]) for b in bands],
    })


def _sexes(base: str) -> pd.DataFrame:
    rows = []
    for sex in ("Male", "Female"):
        if base == "all":
            ages = _age_table()
            population = int(ages.loc[ages["sex"] == sex, "population"].sum())
        else:
            table = _ethnicity_table()
            row = table[(table["sex"] == sex) & (table["level"] == "all")]
            population = int(row[_base_column(base)].iloc[0])
        rows.append({"sex": sex, "population": population,
                     "census_definition": f"{sex}s, aged {base}" if base != "all" else f"{sex}s, all ages"})
    return pd.DataFrame(rows).astype({"population": "int64"})


def total_population(base: str = "16+") -> int:
    """England's population at the 2011 Census for ``base`` (16+: 42,989,620)."""
    return int(_age_groups(base)["population"].sum())


# --- rates --------------------------------------------------------------------------------------

def _normal(label: object) -> str:
    return re.sub(r"\s+", " ", str(label)).strip().casefold()


def _lookup(by: str, base: str) -> tuple[dict[str, int], dict[str, str]]:
    """Normalised label -> population, and labels that exist but fall outside the base."""
    populations = census_population(by, base)
    lookup = {_normal(label): int(p) for label, p in zip(populations[by], populations["population"])}
    if by == "ethnic_category":  # codes A-S as well as labels
        lookup.update({_normal(c): int(p) for c, p in zip(populations["code"], populations["population"])})
        mapping = _mapping_table()
        legacy = mapping[mapping["census_ethnic_group"] != ""].drop_duplicates("nhs_code")
        by_code = dict(zip(populations["code"], populations["population"]))
        lookup.update({_normal(l): int(by_code[c]) for c, l in zip(legacy["nhs_code"], legacy["label_2013_14"])})
    outside = {}
    if by == "age_group":
        for label in _age_bands_in("all"):
            if _normal(label) not in lookup:
                outside[_normal(label)] = f"outside the population base ({base})"
    return lookup, outside


def _given_lookup(population: pd.DataFrame, by: str) -> dict[str, int]:
    if by not in population.columns or "population" not in population.columns:
        raise CensusError(f"population= must have columns {by!r} and 'population'")
    values = pd.to_numeric(population["population"], errors="coerce")
    if values.isna().any() or (values <= 0).any():
        raise CensusError("population= must give a positive population for every group")
    return {_normal(label): float(p) for label, p in zip(population[by], values)}


def _matched(counts: pd.DataFrame, by: str, base: str, value_col: str,
             population: pd.DataFrame | None = None) -> pd.DataFrame:
    if population is None and by not in BREAKDOWNS:
        raise CensusError(f"by={by!r} must be one of {', '.join(BREAKDOWNS)}")
    for column in (by, value_col):
        if column not in counts.columns:
            raise CensusError(
                f"the counts have no column {column!r} (columns: {', '.join(map(str, counts.columns))}); "
                f"pass by= and value_col= naming the group and count columns"
            )
    labels = counts[by].map(_normal)
    duplicated = labels[labels.duplicated()]
    if len(duplicated):
        raise CensusError(f"the counts have more than one row for {by} {sorted(set(duplicated))}; "
                          "pass one row per group")
    values = pd.to_numeric(counts[value_col], errors="coerce")
    if values.isna().any() or (values < 0).any():
        bad = counts.loc[values.isna() | (values < 0), by].to_list()
        raise CensusError(
            f"{value_col} is missing, suppressed or negative for {bad}; rates per 100,000 need "
            "complete England counts (before disclosure control)"
        )
    if population is None:
        lookup, outside = _lookup(by, base)
        known = census_population(by, base)[by].to_list()
    else:
        lookup, outside, known = _given_lookup(population, by), {}, population[by].to_list()
    populations, notes = [], []
    for label, original in zip(labels, counts[by]):
        if label in lookup:
            populations.append(float(lookup[label]))
            notes.append("")
        elif label in NOT_STATED_LABELS:
            populations.append(float("nan"))
            notes.append(NO_CENSUS_EQUIVALENT)
        elif label in outside:
            populations.append(float("nan"))
            notes.append(outside[label])
        else:
            raise CensusError(
                f"{by} {original!r} is not a Census group for base {base}; expected one of "
                f"{known} or a not-stated label such as {NOT_STATED!r}. A total row must be "
                "left out: the overall rate is computed from the groups."
            )
    out = counts.copy()
    out["population"] = populations
    out["census_note"] = notes
    out["_value"] = values.astype(float).to_numpy()
    return out


def rate_summary(counts: pd.DataFrame, by: str, base: str = "16+", value_col: str = "count", *,
                 population: pd.DataFrame | None = None) -> dict:
    """The overall rate and the not-stated share behind :func:`rates_per_100k`.

    The overall rate is the count of people whose group is *stated* (matches a Census
    group) per 100,000 of the whole population at ``base``. Counting the not-stated in the
    numerator but in no group's population would make every group look under-represented;
    leaving them out of both sides would assume they are spread like the stated. This choice
    assumes neither and keeps group rates and the overall rate on the same footing.

    Returns a dict: stated_count, not_stated_count (rows with no Census equivalent or outside
    the base), total_count, not_stated_share (percent of total_count), population (England,
    ``base``), overall_rate_per_100k. ``population`` (columns ``by`` and ``population``)
    replaces the Census populations, e.g. for a worked example or another population.
    """
    matched = _matched(counts, by, base, value_col, population)
    stated = float(matched.loc[matched["population"].notna(), "_value"].sum())
    total = float(matched["_value"].sum())
    if population is not None:
        population_total = float(pd.to_numeric(population["population"]).sum())
    else:
        population_total = float(census_population(by, base)["population"].sum())
    return {
        "stated_count": stated,
        "not_stated_count": total - stated,
        "total_count": total,
        "not_stated_share": 100.0 * (total - stated) / total if total else float("nan"),
        "population": population_total,
        "overall_rate_per_100k": PER * stated / population_total,
    }


def rates_per_100k(counts: pd.DataFrame, by: str, base: str = "16+", value_col: str = "count", *,
                   population: pd.DataFrame | None = None) -> pd.DataFrame:
    """``counts`` (one row per group of ``by``, England) with the Census comparison added.

    ``counts[by]`` holds the groups' labels as the annual report prints them (matched
    ignoring case and spacing; for ethnic categories the codes A-S and 2013-14 labels work
    too). Rows such as "Not stated/Not known/Invalid" have no Census equivalent: they stay,
    as their own line, with an empty population and rate. Any other label that is not a
    Census group (a total row, a typo) is an error.

    Added columns: population, rate_per_100k (count / population x 100,000), relative_rate
    (the group's rate / the overall rate, see :func:`rate_summary`), share_of_count (percent
    of all counts, not-stated included, so the not-stated share is visible on its own line),
    overall_rate_per_100k (the same on every row, for a chart's reference line), census_note.
    Values are unrounded; round for publication (nationally to one decimal place).
    ``population`` replaces the Census populations (see :func:`rate_summary`).
    """
    summary = rate_summary(counts, by, base, value_col, population=population)
    out = _matched(counts, by, base, value_col, population)
    out["rate_per_100k"] = PER * out["_value"] / out["population"]
    out["relative_rate"] = out["rate_per_100k"] / summary["overall_rate_per_100k"]
    total = summary["total_count"]
    out["share_of_count"] = 100.0 * out["_value"] / total if total else float("nan")
    out["overall_rate_per_100k"] = summary["overall_rate_per_100k"]
    columns = [c for c in out.columns if c not in ("_value", "census_note")] + ["census_note"]
    return out[columns]


def representation(
    rates: pd.DataFrame,
    *,
    over_threshold: float = OVER_REPRESENTED,
    under_threshold: float = UNDER_REPRESENTED,
) -> pd.DataFrame:
    """``rates`` (from :func:`rates_per_100k`) with a ``representation`` column:
    "over-represented" when relative_rate > ``over_threshold`` (default 1.1, a rate more
    than 10% above the overall rate), "under-represented" when below ``under_threshold``
    (0.9), else "similar"; rows with no Census equivalent get "no Census comparison".

    The thresholds describe size, not statistical significance: with national counts in the
    thousands, chance alone rarely moves a relative rate by 10%.
    """
    if "relative_rate" not in rates.columns:
        raise CensusError("representation() needs the output of rates_per_100k() (a relative_rate column)")
    if not under_threshold <= 1 <= over_threshold:
        raise CensusError(f"thresholds must satisfy under ({under_threshold}) <= 1 <= over ({over_threshold})")
    out = rates.copy()
    relative = out["relative_rate"]
    labels = pd.Series("similar", index=out.index, dtype=object)
    labels[relative > over_threshold] = "over-represented"
    labels[relative < under_threshold] = "under-represented"
    labels[relative.isna()] = "no Census comparison"
    out["representation"] = labels.astype(str)
    return out

"""Statistical disclosure control: NHS Digital's rule for NHS Talking Therapies statistics.

The rule ([BG-DQS] "Low numbers and suppression"; checked against the published files):

* England (national) figures are never suppressed. Counts are shown unrounded; percentages,
  means and medians to one decimal place; maxima and minima as whole numbers.
* Below England (commissioning region, ICB, sub-ICB, provider, and every breakdown of them):
  counts under 5 are shown as ``*`` and every other count is rounded to the nearest 5. A sum
  (a count of things other than referrals, such as appointments) is a count too, and is
  also ``*`` when the referrals it sums over (its base count) number fewer than 5.
  Percentages are computed upstream from *unrounded* counts and shown to a whole percent;
  means and medians to one decimal place (as NHS Digital publishes provider means and
  medians); maxima and minima as whole numbers. Any of these is shown as ``*`` when its base
  count -- for a percentage its numerator, for a mean/median/max/min the count of the cohort
  it is computed over -- is under 5. A percentage is still published when some *other*
  count is suppressed (NHS Digital publishes a provider's recovery rate when only its
  NotCaseness count is suppressed).
* A value that could not be computed is published as an empty cell, never as ``0``.

Rounding is half-up (away from zero), as SQL Server's ``ROUND``, not Python's banker's
``round``. For an integer count ``n``, ``n / 5`` never ends in .5, so nearest-5 rounding has
no ties at all.
"""

from __future__ import annotations

import math
import re
import warnings
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal
from numbers import Integral, Real

import numpy as np
import pandas as pd

SUPPRESSION_THRESHOLD = 5
"""Counts below this (and figures whose base count is below it) are shown as ``*``."""

ROUNDING_BASE = 5
"""Sub-national counts are rounded to the nearest multiple of this."""

SUPPRESSED = "*"
MISSING = ""

NATIONAL_GROUP_TYPE = "England"
STATISTICS = ("count", "sum", "percentage", "mean", "median", "max", "min")
_COUNT_LIKE = ("count", "sum")

# columns that identify one cell apart from the measure: a percentage's base count must sit
# in the same period, geography, organisation and breakdown
_KEY_COLUMNS = (
    "REPORTING_PERIOD_START",
    "REPORTING_PERIOD_END",
    "GROUP_TYPE",
    "ORG_CODE1",
    "ORG_CODE2",
    "VARIABLE_TYPE",
    "VARIABLE_A",
    "VARIABLE_B",
)
_REQUIRED_COLUMNS = (
    "REPORTING_PERIOD_START",
    "REPORTING_PERIOD_END",
    "GROUP_TYPE",
    "ORG_CODE1",
    "ORG_CODE2",
    "MEASURE_ID",
    "MEASURE_VALUE",
    "STATISTIC",
)

# Floats carry representation noise: 100 * 29 / 200 is 14.499999999999998, not 14.5. Snapping
# a float to 10 decimal places before rounding half-up makes such values round as the exact
# ratio of counts would (float noise on values below 100,000 is well under 5e-11). A ratio that
# is genuinely not a tie stays clear of it: a percentage 100 * a / d shown to one decimal place
# is at least 1 / (20 d) from a tie, more than 5e-11 for any d below a billion.
_FLOAT_NOISE_PLACES = 10
# room for the digits of any count or rate at 10 decimal places
_CONTEXT = Context(prec=60)

# places shown for each statistic, nationally and below national level
_PLACES = {
    "national": {"count": 0, "sum": 0, "percentage": 1, "mean": 1, "median": 1, "max": 0, "min": 0},
    "subnational": {"count": 0, "sum": 0, "percentage": 0, "mean": 1, "median": 1, "max": 0,
                    "min": 0},
}

_INTEGER = re.compile(r"-?\d+")
_ONE_PLACE = re.compile(r"-?\d+\.\d")


class DisclosureError(ValueError):
    """A measures table that the disclosure rule cannot be applied to safely."""


def round_half_up(value: Real | Decimal | str, places: int = 0) -> Decimal:
    """Round ``value`` to ``places`` decimal places, halves away from zero (SQL ``ROUND``).

    Floats are read as the decimal they print as, after snapping representation noise below
    1e-10, so ``round_half_up(50.45, 1) == Decimal("50.5")`` and
    ``round_half_up(100 * 29 / 200) == Decimal("15")``. Raises ``ValueError`` for NaN or
    infinity: a missing value has no rounded form.
    """
    if isinstance(value, bool):
        raise TypeError("round_half_up needs a number, not a bool")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot round {value!r}")
        exact = Decimal(repr(float(value))).quantize(  # float(): numpy 2 reprs as np.float64(...)
            Decimal(1).scaleb(-_FLOAT_NOISE_PLACES), rounding=ROUND_HALF_EVEN, context=_CONTEXT
        )
    elif isinstance(value, Integral):
        exact = Decimal(int(value))
    else:
        exact = Decimal(value) if not isinstance(value, Decimal) else value
        if not exact.is_finite():
            raise ValueError(f"cannot round {value!r}")
    rounded = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=_CONTEXT)
    # -0.0 would print as "-0.0"; a rounded zero is just zero
    return rounded.copy_abs() if rounded.is_zero() else rounded


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _whole_count(n: Real) -> int:
    """``n`` as an int, refusing fractional or negative counts."""
    if isinstance(n, bool) or not isinstance(n, Real):
        raise ValueError(f"a count must be a number, got {n!r}")
    if isinstance(n, float) and not n.is_integer():
        raise ValueError(f"a count must be a whole number, got {n!r}")
    whole = int(n)
    if whole < 0:
        raise ValueError(f"a count cannot be negative, got {n!r}")
    return whole


def nearest_five(n: int) -> int:
    """The multiple of 5 nearest to the whole number ``n`` (never a tie for integers)."""
    n = _whole_count(n)
    half = ROUNDING_BASE // 2
    return ROUNDING_BASE * ((n + half) // ROUNDING_BASE)


def suppress_count(n: Real | None) -> str:
    """A sub-national count as published: ``""`` if missing, ``"*"`` if under 5, else
    rounded to the nearest 5 (``7 -> "5"``, ``8 -> "10"``)."""
    if _is_missing(n):
        return MISSING
    whole = _whole_count(n)
    if whole < SUPPRESSION_THRESHOLD:
        return SUPPRESSED
    return str(nearest_five(whole))


def publish_cell(
    value: Real | None,
    statistic: str,
    *,
    national: bool,
    base_count: Real | None = None,
) -> str:
    """The published string for one cell.

    ``national`` is True for England rows (including England breakdowns). Below national
    level, any statistic other than a count is shown as ``"*"`` unless ``base_count`` is a
    known count of at least 5 -- a missing base is treated as small, never as safe.
    """
    statistic = _normalise_statistic(statistic)
    if _is_missing(value):
        return MISSING
    if national:
        if statistic in _COUNT_LIKE:
            return str(_whole_count(value))
        return str(round_half_up(value, _PLACES["national"][statistic]))
    if statistic != "count":
        if _is_missing(base_count) or _whole_count(base_count) < SUPPRESSION_THRESHOLD:
            return SUPPRESSED
    if statistic in _COUNT_LIKE:
        return suppress_count(value)
    return str(round_half_up(value, _PLACES["subnational"][statistic]))


def is_national(group_type: str) -> bool:
    """Whether a GROUP_TYPE is the national level (England), where nothing is suppressed."""
    return str(group_type).strip().lower() == NATIONAL_GROUP_TYPE.lower()


def is_publishable_cell(group_type: str, statistic: str, published: str) -> bool:
    """Whether ``published`` is a value the rule can produce for this level and statistic.

    Checks form only (it cannot see the base count): below England a count must be ``*`` or
    a multiple of 5 of at least 5, a percentage ``*`` or a whole number, a mean or median
    ``*`` or one decimal place; nationally nothing is ``*``. ``""`` (missing) is always
    publishable.
    """
    statistic = _normalise_statistic(statistic)
    published = str(published)
    if published == MISSING:
        return True
    national = is_national(group_type)
    if published == SUPPRESSED:
        return not national
    places = _PLACES["national" if national else "subnational"][statistic]
    pattern = _INTEGER if places == 0 else _ONE_PLACE
    if not pattern.fullmatch(published):
        return False
    if statistic in _COUNT_LIKE:
        n = int(published)
        if n < 0:
            return False
        if not national:
            return n >= SUPPRESSION_THRESHOLD and n % ROUNDING_BASE == 0
    return True


def disclosure_rule_text() -> str:
    """The rule in one plain-English paragraph, for report footnotes and metadata."""
    return (
        "Statistical disclosure control follows NHS Digital's rule for NHS Talking Therapies "
        "statistics. England figures are shown in full: counts unrounded, and percentages, "
        "means and medians to one decimal place. Below England level (commissioning region, "
        "integrated care board, sub-ICB location and provider, including their breakdowns), "
        "counts under 5 are suppressed and shown as *, and all other counts are rounded to "
        "the nearest 5. Percentages are calculated from unrounded counts and shown to the "
        "nearest whole percent, and means and medians to one decimal place; any figure "
        "based on fewer than 5 referrals is suppressed. Because counts are rounded "
        "independently, rounded figures may not sum to totals, and percentages may differ "
        "from those calculated from rounded counts. "
        "Halves are rounded up. An empty cell means the figure could not be calculated."
    )


def _normalise_statistic(statistic: str) -> str:
    text = str(statistic).strip().lower()
    if text not in STATISTICS:
        raise DisclosureError(
            f"statistic {statistic!r} is not one of {', '.join(STATISTICS)}; "
            "set STATISTIC in the measure registry to one of these"
        )
    return text


def _blank_if_missing(series: pd.Series) -> pd.Series:
    """Strings for matching, with every kind of missing value as ``""``."""
    if isinstance(series.dtype, pd.StringDtype):  # already text: no trip through Python objects
        return series.fillna("").astype(str).str.strip()
    return series.astype(object).where(series.notna(), "").astype(str).str.strip()


def _publish_cells(work: pd.DataFrame, base_value: np.ndarray, group_type: pd.Series) -> np.ndarray:
    """:func:`publish_cell` for every row, worked out once per distinct cell.

    A cell's published string depends only on its value, statistic, level and -- below England,
    for a statistic other than a count -- its base count (which matters only as present and at
    least 5, or not). A national table has a few hundred thousand cells but far fewer distinct
    ones, so each distinct cell is published once and the result spread back to its rows.
    """
    uses_base = ~work["_national"].to_numpy() & (work["_statistic"] != "count").to_numpy()
    cells = pd.DataFrame({
        "value": work["_value"].to_numpy(),
        "statistic": work["_statistic"].to_numpy(),
        "national": work["_national"].to_numpy(),
        # the base only where it is read; NaN (missing) stays NaN, so it is kept distinct
        "base": np.where(uses_base, base_value.astype(float), 0.0),
    })
    codes = cells.groupby(list(cells.columns), dropna=False, sort=False).ngroup().to_numpy()
    # codes number the distinct cells in order of first appearance
    first_row = np.unique(codes, return_index=True)[1]
    distinct = cells.iloc[first_row]
    results = np.empty(len(distinct), dtype=object)
    for code, (value, statistic, national, base) in enumerate(distinct.itertuples(index=False)):
        try:
            results[code] = publish_cell(value, statistic, national=bool(national), base_count=base)
        except ValueError as error:
            i = int(first_row[code])
            raise DisclosureError(
                f"row {i} (measure {work['_measure_id'].iat[i]}, "
                f"{group_type.iat[i]} {work['ORG_CODE2'].iat[i]}): {error}"
            ) from error
    return results[codes]


def apply_disclosure(measures: pd.DataFrame) -> pd.DataFrame:
    """The publication table: ``measures`` with MEASURE_VALUE replaced by the string column
    MEASURE_VALUE_SUPPRESSED (in the same position), and STATISTIC and BASE_MEASURE_ID
    dropped. Rows, their order and the index are kept.

    A sub-national non-count cell is looked up against the count row named by its
    BASE_MEASURE_ID with the same period, GROUP_TYPE, ORG_CODE1/2 and (when present)
    VARIABLE_TYPE/A/B. An empty BASE_MEASURE_ID there means the cell cannot be shown to be
    safe, so it is published as ``*`` (with a warning naming the measures); a base ID that
    has no matching count row is an error.
    """
    missing = [c for c in _REQUIRED_COLUMNS if c not in measures.columns]
    if missing:
        raise DisclosureError(
            f"the measures table lacks column(s) {', '.join(missing)}; "
            f"apply_disclosure needs {', '.join(_REQUIRED_COLUMNS)} (and optionally "
            "BASE_MEASURE_ID, VARIABLE_TYPE, VARIABLE_A, VARIABLE_B)"
        )

    keys = [c for c in _KEY_COLUMNS if c in measures.columns]
    work = pd.DataFrame({c: _blank_if_missing(measures[c]) for c in keys})
    work["_measure_id"] = _blank_if_missing(measures["MEASURE_ID"])
    # each distinct statistic and GROUP_TYPE is checked once, not once per row
    work["_statistic"] = measures["STATISTIC"].map(
        {s: _normalise_statistic(s) for s in pd.unique(measures["STATISTIC"])}).to_numpy()
    work["_value"] = pd.to_numeric(measures["MEASURE_VALUE"], errors="raise").astype(float)
    if "BASE_MEASURE_ID" in measures.columns:
        work["_base_id"] = _blank_if_missing(measures["BASE_MEASURE_ID"])
    else:
        work["_base_id"] = ""
    work["_national"] = measures["GROUP_TYPE"].map(
        {g: is_national(g) for g in pd.unique(measures["GROUP_TYPE"])}).to_numpy(dtype=bool)
    work = work.reset_index(drop=True)

    # sub-national cells whose publication depends on a base count
    needs_base = (~work["_national"]) & (work["_statistic"] != "count") & work["_value"].notna()

    no_base = needs_base & (work["_base_id"] == "")
    if no_base.any():
        ids = sorted(work.loc[no_base, "_measure_id"].unique())
        warnings.warn(
            f"{len(ids)} measure(s) have no BASE_MEASURE_ID, so their values below England "
            f"level are suppressed: {', '.join(ids[:20])}{' ...' if len(ids) > 20 else ''}. "
            "Give each a base count measure in the measure registry.",
            stacklevel=2,
        )

    counts = work.loc[
        (work["_statistic"] == "count")
        & work["_measure_id"].isin(work.loc[needs_base, "_base_id"].unique()),
        keys + ["_measure_id", "_value"],
    ].rename(columns={"_measure_id": "_base_id", "_value": "_base_value"})
    try:
        joined = work[keys + ["_base_id"]].merge(
            counts, how="left", on=keys + ["_base_id"], validate="many_to_one", indicator=True
        )
    except pd.errors.MergeError as error:
        dupes = counts[counts.duplicated(keys + ["_base_id"], keep=False)]
        raise DisclosureError(
            "the measures table has more than one row for the same count measure, period, "
            "organisation and breakdown, so base counts are ambiguous; first duplicates:\n"
            f"{dupes.head().to_string()}"
        ) from error
    base_value = joined["_base_value"].to_numpy()

    unresolved = needs_base & (work["_base_id"] != "") & (joined["_merge"] == "left_only")
    if unresolved.any():
        first = work.loc[unresolved].iloc[0]
        raise DisclosureError(
            f"{int(unresolved.sum())} cell(s) name a base count that is not in the table; "
            f"e.g. measure {first['_measure_id']} for {first['GROUP_TYPE']} "
            f"{first['ORG_CODE1']}/{first['ORG_CODE2']} names base {first['_base_id']}, "
            "which has no count row for the same period, organisation and breakdown. "
            "Include the base count measures in the table, or fix BASE_MEASURE_ID."
        )

    published = _publish_cells(work, base_value, measures["GROUP_TYPE"])
    out = measures.drop(columns=[c for c in ("STATISTIC", "BASE_MEASURE_ID") if c in measures])
    position = out.columns.get_loc("MEASURE_VALUE")
    out = out.drop(columns="MEASURE_VALUE")
    out.insert(
        position, "MEASURE_VALUE_SUPPRESSED", pd.Series(published, index=out.index, dtype=str)
    )
    return out

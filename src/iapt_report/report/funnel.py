"""Funnel plots: comparing each unit's rate (e.g. a provider's recovery rate) with the national rate.

The method follows Spiegelhalter, D. J. (2005) "Funnel plots for comparing institutional
performance", *Statistics in Medicine* 24: 1185-1202 (docs/funnel-plots.md has the formulas
and a worked example):

* Limits use the normal approximation to the binomial on the proportion scale: a unit with
  denominator n is compared with target p (the national rate) using the standard error
  s = sqrt(p (1 - p) / n), and limits p +/- z s with z = 1.959964 (95%) and 3.090232 (99.8%),
  clipped to 0..100%.
* Overdispersion is handled by the **additive random-effects** approach: z-scores
  z_i = (y_i - p) / s_i are winsorised at their 10th and 90th percentiles, the overdispersion
  factor is phi = sum(z_i^2) / I, and, when phi > 1, the between-unit variance is estimated
  by DerSimonian-Laird,
  tau^2 = (I phi - (I - 1)) / (sum(w_i) - sum(w_i^2) / sum(w_i)), with w_i = 1 / s_i^2,
  and the limits become p +/- z sqrt(s^2 + tau^2). When phi <= 1 there is no adjustment.

Why additive, not multiplicative: providers' recovery rates differ for reasons beyond
chance (case mix, service models, recording), and with denominators in the thousands the
binomial limits become so narrow that most large providers fall outside them (88 of 154
in one published year). Inflating the variance by phi (the multiplicative approach) still
lets the limits close to nothing as n grows, so large providers keep being flagged for
differences of a point or two; the additive approach keeps a floor of z * tau under the
limits, so a large provider is flagged only when it is unusual among providers. It is what
NHS England and Public Health England publications most use for large units (for example
the Summary Hospital-level Mortality Indicator), with the same 10% winsorisation.

Outliers are judged on unrounded counts (as NHS Digital computes rates from unrounded
counts); what is drawn and published follows the disclosure rule (see
:func:`published_table`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from iapt_report.engine.disclosure import SUPPRESSED, publish_cell

Z_95 = 1.959964
Z_998 = 3.090232
#: units with a denominator under this get no limits and no flag
MIN_DENOMINATOR = 5
#: share of z-scores pulled in at each end before estimating overdispersion (Spiegelhalter 2005)
WINSOR_FRACTION = 0.10
#: most units numbered on a chart; the table lists every flagged unit
MAX_LABELS = 10

ABOVE_998, ABOVE_95, WITHIN, BELOW_95, BELOW_998 = (
    "above 99.8% limit", "above 95% limit", "within 95% limits", "below 95% limit", "below 99.8% limit")


class FunnelError(ValueError):
    """A funnel comparison cannot be made from what was passed; the message says what to change."""


# --- limits and overdispersion ----------------------------------------------------------------

@dataclass(frozen=True)
class Dispersion:
    """How much more the units' rates vary than chance alone would make them.

    ``phi`` is the winsorised overdispersion factor (about 1 when the units vary only by
    chance); ``tau2`` the between-unit variance on the proportion scale (0 when ``phi <= 1``),
    estimated from ``units`` units.
    """

    units: int
    phi: float
    tau2: float

    @property
    def adjusted(self) -> bool:
        return self.tau2 > 0

    @property
    def tau_points(self) -> float:
        """tau in percentage points (the spread of true rates between units)."""
        return 100.0 * float(np.sqrt(self.tau2))


NO_DISPERSION = Dispersion(units=0, phi=float("nan"), tau2=0.0)


def _proportion(p: float) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise FunnelError(f"p={p} must be a proportion from 0 to 1 (divide a percentage by 100)")
    return p


def winsorise(values, fraction: float = WINSOR_FRACTION) -> np.ndarray:
    """``values`` with those below the ``fraction`` quantile set to it, and those above the
    ``1 - fraction`` quantile set to that (quantiles by linear interpolation between order
    statistics, numpy's default and R's type 7)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values
    low, high = np.percentile(values, [100 * fraction, 100 * (1 - fraction)])
    return np.clip(values, low, high)


def estimate_dispersion(p: float, numerators, denominators, *, fraction: float = WINSOR_FRACTION) -> Dispersion:
    """Spiegelhalter's (2005) winsorised overdispersion factor phi and, when phi > 1, the
    DerSimonian-Laird between-unit variance tau^2, for units with these counts compared with
    target proportion ``p``.

    z_i = (y_i - p) / s_i with y_i = numerator / denominator and s_i = sqrt(p (1 - p) / n_i);
    the z_i are winsorised (:func:`winsorise`); phi = sum(z_i^2) / I; tau^2 =
    (I phi - (I - 1)) / (sum w_i - sum w_i^2 / sum w_i) with w_i = 1 / s_i^2, and 0 when
    phi <= 1. With fewer than 2 units, or p of 0 or 1, there is nothing to estimate: tau^2 = 0.
    """
    p = _proportion(p)
    num = np.asarray(numerators, dtype=float)
    den = np.asarray(denominators, dtype=float)
    if num.shape != den.shape:
        raise FunnelError(f"{num.size} numerators for {den.size} denominators")
    if (den <= 0).any() or np.isnan(den).any() or np.isnan(num).any():
        raise FunnelError("every unit needs a numerator and a positive denominator")
    units = int(den.size)
    if units < 2 or p in (0.0, 1.0):
        return Dispersion(units=units, phi=float("nan"), tau2=0.0)
    variance = p * (1.0 - p) / den
    z = (num / den - p) / np.sqrt(variance)
    phi = float(np.sum(winsorise(z, fraction) ** 2) / units)
    if phi <= 1.0:
        return Dispersion(units=units, phi=phi, tau2=0.0)
    weights = 1.0 / variance
    spread = weights.sum() - (weights ** 2).sum() / weights.sum()
    tau2 = max(0.0, (units * phi - (units - 1)) / spread)
    return Dispersion(units=units, phi=phi, tau2=float(tau2))


def funnel_limits(p: float, n, tau2: float = 0.0) -> dict:
    """Control limits for target proportion ``p`` (0 to 1, e.g. the national recovery rate
    0.504) at denominator(s) ``n``: p +/- z * sqrt(p (1 - p) / n + tau2), the normal
    approximation to the binomial widened by the between-unit variance ``tau2`` (0: no
    overdispersion), with z = 1.959964 (95%) and 3.090232 (99.8%), clipped to 0..100.

    Returns percentages: ``{"centre", "lower_95", "upper_95", "lower_998", "upper_998"}``,
    floats for a single ``n`` and arrays for an array of them. ``funnel_limits(0.5, 100)``
    gives 95% limits 40.2 to 59.8 and 99.8% limits 34.5 to 65.5.
    """
    p = _proportion(p)
    tau2 = float(tau2)
    if not tau2 >= 0.0:
        raise FunnelError(f"tau2={tau2} must be a variance (0 or more)")
    n_array = np.asarray(n, dtype=float)
    if (n_array <= 0).any() or np.isnan(n_array).any():
        raise FunnelError("funnel_limits: denominators must be positive")
    spread = np.sqrt(p * (1.0 - p) / n_array + tau2)
    out = {"centre": 100.0 * p}
    for name, z in (("95", Z_95), ("998", Z_998)):
        out[f"lower_{name}"] = np.clip(100.0 * (p - z * spread), 0.0, 100.0)
        out[f"upper_{name}"] = np.clip(100.0 * (p + z * spread), 0.0, 100.0)
    if n_array.ndim == 0:
        out = {key: float(value) for key, value in out.items()}
    return out


def _national_proportion(national_rate: float) -> float:
    rate = float(national_rate)
    if np.isnan(rate) or not 0.0 <= rate <= 100.0:
        raise FunnelError(f"national_rate={national_rate} must be a percentage from 0 to 100")
    return rate / 100.0


def _need(df: pd.DataFrame, *columns: str | None) -> None:
    missing = [c for c in columns if c is not None and c not in df.columns]
    if missing:
        raise FunnelError(f"the funnel data have no column(s) {missing}; columns are {list(df.columns)}")


def outside_limits(
    df: pd.DataFrame,
    *,
    numerator: str,
    denominator: str,
    national_rate: float,
    label: str | None = None,
    min_denominator: int = MIN_DENOMINATOR,
    adjust: bool = True,
) -> pd.DataFrame:
    """Each row's rate (100 x numerator / denominator, from unrounded counts) against the
    funnel limits around ``national_rate`` (a percentage) at its denominator, widened for
    overdispersion estimated from the compared rows (:func:`estimate_dispersion`) unless
    ``adjust=False``.

    Returns a frame with ``df``'s index and columns [label], numerator, denominator, rate,
    z (the rate's distance from the national rate in standard errors, overdispersion
    included), lower_998, lower_95, upper_95, upper_998, above_95, below_95, above_998,
    below_998 (True when the rate is strictly beyond that limit) and ``compared`` (False for
    rows whose denominator is under ``min_denominator`` or missing: they get no limits and
    no flags). ``frame.attrs["dispersion"]`` holds the :class:`Dispersion` used. Not for
    publication as it stands: it holds unrounded counts and rates.
    """
    _need(df, numerator, denominator, label)
    p = _national_proportion(national_rate)
    num = pd.to_numeric(df[numerator], errors="coerce").astype(float)
    den = pd.to_numeric(df[denominator], errors="coerce").astype(float)
    compared = den.notna() & num.notna() & (den >= min_denominator) & (den > 0)
    dispersion = (estimate_dispersion(p, num[compared], den[compared]) if adjust and compared.any()
                  else NO_DISPERSION)
    safe_den = den.where(compared, 1.0)
    out = pd.DataFrame(index=df.index)
    if label:
        out[label] = df[label]
    out["numerator"] = num
    out["denominator"] = den
    out["rate"] = np.where(compared, 100.0 * num / safe_den, np.nan)
    spread = np.sqrt(p * (1.0 - p) / safe_den + dispersion.tau2)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["z"] = np.where(compared & (spread > 0), (out["rate"] / 100.0 - p) / spread, np.nan)
    limits = funnel_limits(p, safe_den.to_numpy(), dispersion.tau2)
    for key in ("lower_998", "lower_95", "upper_95", "upper_998"):
        out[key] = np.where(compared, limits[key], np.nan)
    for level in ("95", "998"):
        out[f"above_{level}"] = compared & (out["rate"] > out[f"upper_{level}"])
        out[f"below_{level}"] = compared & (out["rate"] < out[f"lower_{level}"])
    out["compared"] = compared
    out.attrs["dispersion"] = dispersion
    return out


def position(row) -> str:
    """Where a compared unit's rate sits against the limits, in words (``ABOVE_998`` ...)."""
    if row["above_998"]:
        return ABOVE_998
    if row["below_998"]:
        return BELOW_998
    if row["above_95"]:
        return ABOVE_95
    if row["below_95"]:
        return BELOW_95
    return WITHIN


# --- a comparison: the units, their flags, and what may be published --------------------------

@dataclass(frozen=True)
class FunnelComparison:
    """Units compared with the national rate: what :func:`compare` returns and what
    :func:`iapt_report.report.charts.funnel_plot` and :func:`published_table` draw and publish.

    ``units`` is :func:`outside_limits`'s frame (unrounded: not for publication) plus
    ``label``, ``code``, ``published_rate`` and ``shown`` (compared, with a published rate:
    the units a chart shows and a table lists); ``numbers`` holds the number each unit is
    labelled with on the chart (flagged units shown, at most ``max_labels``).
    """

    units: pd.DataFrame
    national_rate: float
    dispersion: Dispersion
    numbers: pd.Series
    min_denominator: int

    @property
    def above(self) -> pd.DataFrame:
        """Units shown above the 99.8% limit, highest rate first."""
        rows = self.units[self.units["shown"] & self.units["above_998"]]
        return rows.sort_values("rate", ascending=False, kind="mergesort")

    @property
    def below(self) -> pd.DataFrame:
        """Units shown below the 99.8% limit, highest rate first."""
        rows = self.units[self.units["shown"] & self.units["below_998"]]
        return rows.sort_values("rate", ascending=False, kind="mergesort")

    @property
    def flagged(self) -> pd.DataFrame:
        """Units shown outside the 99.8% limits, highest rate first (those above come first)."""
        return pd.concat([self.above, self.below])

    def limits(self, n) -> dict:
        """The limits of this comparison (overdispersion included) at denominator(s) ``n``."""
        return funnel_limits(self.national_rate / 100.0, n, self.dispersion.tau2)


def compare(
    df: pd.DataFrame,
    *,
    numerator: str,
    denominator: str,
    national_rate: float,
    label: str,
    code: str | None = None,
    published_rate: str | None = None,
    min_denominator: int = MIN_DENOMINATOR,
    adjust: bool = True,
    max_labels: int = MAX_LABELS,
) -> FunnelComparison:
    """Compare each row of ``df`` (a unit, such as a provider) with ``national_rate``.

    ``numerator`` and ``denominator`` name columns of *unrounded* counts (flags are judged on
    them); ``label`` a column of names and ``code`` of organisation codes (to find the
    report's own unit); ``published_rate`` a column of the rate as published (whole percent
    below England, NaN where suppressed), which charts and tables show instead of a rate
    computed from the counts. Rows whose denominator is under ``min_denominator`` are not
    compared. The flagged units furthest outside the limits (by ``|z|``), at most
    ``max_labels``, get the numbers 1, 2, ... in the order of :attr:`FunnelComparison.flagged`.
    """
    _need(df, label, code, published_rate)
    units = outside_limits(df, numerator=numerator, denominator=denominator, national_rate=national_rate,
                           min_denominator=min_denominator, adjust=adjust)
    dispersion = units.attrs["dispersion"]
    units.insert(0, "label", df[label].map(lambda v: "" if pd.isna(v) else str(v)))
    units.insert(1, "code", df[code].map(lambda v: "" if pd.isna(v) else str(v)) if code else "")
    units["published_rate"] = (pd.to_numeric(df[published_rate], errors="coerce").astype(float)
                               if published_rate else _published_rates(units))
    units["shown"] = units["compared"] & units["published_rate"].notna()
    outside = units[units["shown"] & (units["above_998"] | units["below_998"])]
    chosen = outside["z"].abs().sort_values(ascending=False, kind="mergesort").index[:max(0, int(max_labels))]
    order = pd.concat([outside[outside["above_998"]], outside[outside["below_998"]]])
    order = order.sort_values("rate", ascending=False, kind="mergesort")
    labelled = [i for i in order.index if i in set(chosen)]
    numbers = pd.Series(range(1, len(labelled) + 1), index=labelled, dtype=int, name="number")
    return FunnelComparison(units=units, national_rate=float(national_rate), dispersion=dispersion,
                            numbers=numbers, min_denominator=int(min_denominator))


def _published_rates(units: pd.DataFrame) -> pd.Series:
    """The rate as a sub-national table publishes it: a whole percent from unrounded counts,
    NaN when the numerator is under 5 or the unit is not compared."""
    out = []
    for rate, numerator, compared in zip(units["rate"], units["numerator"], units["compared"]):
        text = publish_cell(rate, "percentage", national=False, base_count=numerator) if compared else ""
        out.append(float("nan") if text in (SUPPRESSED, "") else float(text))
    return pd.Series(out, index=units.index, dtype=float)


def _published_count(value: float) -> float:
    text = publish_cell(None if pd.isna(value) else value, "count", national=False)
    return float("nan") if text in (SUPPRESSED, "") else float(text)


def published_table(comparison: FunnelComparison, *, label_name: str = "name") -> pd.DataFrame:
    """The funnel plot's data as a reader may download them: one row per unit shown (compared,
    with a published rate), in the chart's order of rate, highest first.

    Columns: code, ``label_name``, numerator and denominator (rounded to the nearest 5, as
    sub-national counts are published; empty under 5), rate (as published), national_rate,
    lower_998, lower_95, upper_95, upper_998 (the limits, overdispersion included, at the
    *published* denominator, to one decimal place, so they reveal nothing the rounded
    denominator does not), position (where the rate sits against the limits, judged on
    unrounded counts, as the chart marks it: ``"above 99.8% limit"`` ... ``"within 95%
    limits"``) and chart_number (the number on the chart, empty when not numbered).

    Units whose rate is suppressed (numerator under 5) are left out, as on the chart, so no
    flag is published for a suppressed rate.
    """
    units = comparison.units
    shown = units[units["shown"]]
    shown = shown.sort_values(["published_rate", "rate"], ascending=False, kind="mergesort")
    published_den = shown["denominator"].map(_published_count)
    national = publish_cell(comparison.national_rate, "percentage", national=True)
    table = pd.DataFrame({
        "code": shown["code"],
        label_name: shown["label"],
        "numerator": shown["numerator"].map(_published_count).astype("Int64"),
        "denominator": published_den.astype("Int64"),
        "rate": shown["published_rate"],
        "national_rate": float(national) if national not in (SUPPRESSED, "") else float("nan"),
    }, index=shown.index)
    # a compared denominator is 5 or more, so its published (nearest 5) value is too
    limits = funnel_limits(comparison.national_rate / 100.0, published_den.to_numpy(dtype=float),
                           comparison.dispersion.tau2) if len(shown) else {}
    for key in ("lower_998", "lower_95", "upper_95", "upper_998"):
        table[key] = np.round(limits[key], 1) if len(shown) else pd.Series(dtype=float)
    table["position"] = [position(row) for _, row in shown.iterrows()]
    table["chart_number"] = comparison.numbers.reindex(shown.index).astype("Int64")
    return table.reset_index(drop=True)

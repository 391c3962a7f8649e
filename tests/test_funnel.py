"""Funnel-plot statistics: limits and overdispersion worked by hand, properties, flags, what is published."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iapt_report.report import funnel
from iapt_report.report.funnel import (
    FunnelError,
    compare,
    estimate_dispersion,
    funnel_limits,
    outside_limits,
    winsorise,
)

PUBLISHED = Path(__file__).resolve().parents[2] / "shared" / "data" / "published"


# --- limits by hand -----------------------------------------------------------------------------

def test_funnel_limits_by_hand():
    # p = 0.5, n = 100: standard error sqrt(0.25 / 100) = 0.05
    limits = funnel_limits(0.5, 100)
    assert limits["centre"] == pytest.approx(50.0)
    assert limits["lower_95"] == pytest.approx(100 * (0.5 - 1.959964 * 0.05))   # 40.2
    assert limits["upper_95"] == pytest.approx(100 * (0.5 + 1.959964 * 0.05))   # 59.8
    assert limits["lower_998"] == pytest.approx(100 * (0.5 - 3.090232 * 0.05))  # 34.5
    assert limits["upper_998"] == pytest.approx(100 * (0.5 + 3.090232 * 0.05))  # 65.5


def test_funnel_limits_with_tau2_by_hand():
    # p = 0.5, n = 100, tau^2 = 0.0075: sqrt(0.0025 + 0.0075) = sqrt(0.01) = 0.1
    limits = funnel_limits(0.5, 100, tau2=0.0075)
    assert limits["upper_95"] == pytest.approx(100 * (0.5 + 1.959964 * 0.1))    # 69.6
    assert limits["lower_998"] == pytest.approx(100 * (0.5 - 3.090232 * 0.1))   # 19.1
    # with tau^2 the limits no longer close to the centre as n grows: the floor is z * tau
    huge = funnel_limits(0.5, 1e12, tau2=0.0075)
    assert huge["upper_998"] == pytest.approx(100 * (0.5 + 3.090232 * np.sqrt(0.0075)), abs=1e-6)


def test_funnel_limits_narrow_with_n_and_are_clipped_to_0_100():
    limits = funnel_limits(0.5, np.array([25, 100, 400]))
    widths = limits["upper_95"] - limits["lower_95"]
    assert list(widths) == sorted(widths, reverse=True)
    assert widths[0] == pytest.approx(2 * widths[1])  # a quarter of the n, twice the width
    small = funnel_limits(0.95, 5)
    assert small["upper_998"] == 100.0 and small["lower_998"] < 95
    assert funnel_limits(0.02, 5)["lower_95"] == 0.0


@pytest.mark.parametrize("call, message", [
    (lambda: funnel_limits(50.4, 100), "proportion"),
    (lambda: funnel_limits(0.5, 0), "positive"),
    (lambda: funnel_limits(0.5, 100, tau2=-0.1), "variance"),
])
def test_funnel_limits_refuse_what_is_not_a_proportion_count_or_variance(call, message):
    with pytest.raises(FunnelError, match=message):
        call()


# --- overdispersion by hand ---------------------------------------------------------------------

def test_winsorise_at_10_and_90_percent_by_hand():
    # sorted -2, -1, 0, 2, 4; the 10% point is 0.4 of the way from -2 to -1 (-1.6),
    # the 90% point 0.6 of the way from 2 to 4 (3.2)
    assert winsorise([0, 2, -2, 4, -1]).tolist() == pytest.approx([0, 2, -1.6, 3.2, -1])


def test_dispersion_with_equal_denominators_by_hand():
    """Five providers of 100 referrals around p = 0.5, so every s = sqrt(0.25 / 100) = 0.05.

    rates 0.50, 0.60, 0.40, 0.70, 0.45 -> z = 0, 2, -2, 4, -1
    winsorised (10% and 90% points -1.6 and 3.2): 0, 2, -1.6, 3.2, -1
    phi = (0 + 4 + 2.56 + 10.24 + 1) / 5 = 17.8 / 5 = 3.56
    w = 1 / 0.05^2 = 400 each: sum w = 2000, sum w^2 = 800,000, sum w^2 / sum w = 400
    tau^2 = (5 x 3.56 - 4) / (2000 - 400) = 13.8 / 1600 = 0.008625
    99.8% limits at n = 100: 0.5 +/- 3.090232 x sqrt(0.0025 + 0.008625) = 0.5 +/- 0.32594 -> 17.4% to 82.6%
    """
    spread = estimate_dispersion(0.5, [50, 60, 40, 70, 45], [100] * 5)
    assert spread.units == 5
    assert spread.phi == pytest.approx(3.56)
    assert spread.tau2 == pytest.approx(0.008625)
    assert spread.adjusted and spread.tau_points == pytest.approx(100 * np.sqrt(0.008625))
    limits = funnel_limits(0.5, 100, spread.tau2)
    assert limits["lower_998"] == pytest.approx(17.406, abs=1e-3)
    assert limits["upper_998"] == pytest.approx(82.594, abs=1e-3)


def test_dispersion_with_unequal_denominators_by_hand():
    """Two providers of 100 (s = 0.05) and three of 400 (s = 0.025) around p = 0.5.

    counts 60/100, 45/100, 220/400, 192/400, 160/400
    z = (0.60 - 0.5) / 0.05 = 2, (0.45 - 0.5) / 0.05 = -1, (0.55 - 0.5) / 0.025 = 2,
        (0.48 - 0.5) / 0.025 = -0.8, (0.40 - 0.5) / 0.025 = -4
    sorted -4, -1, -0.8, 2, 2: 10% point -4 + 0.4 x 3 = -2.8; 90% point 2
    winsorised 2, -1, 2, -0.8, -2.8: squares 4, 1, 4, 0.64, 7.84, sum 17.48, phi = 3.496
    w = 400, 400, 1600, 1600, 1600: sum w = 5600, sum w^2 = 8,000,000, sum w^2 / sum w = 1428.571
    tau^2 = (17.48 - 4) / (5600 - 1428.571) = 13.48 / 4171.429 = 0.0032315
    99.8% limits at n = 400: 0.5 +/- 3.090232 x sqrt(0.000625 + 0.0032315) = 0.5 +/- 0.19191
    """
    spread = estimate_dispersion(0.5, [60, 45, 220, 192, 160], [100, 100, 400, 400, 400])
    assert spread.phi == pytest.approx(17.48 / 5)
    assert spread.tau2 == pytest.approx(13.48 / (5600 - 8_000_000 / 5600))
    assert spread.tau2 == pytest.approx(0.0032315, abs=1e-7)
    limits = funnel_limits(0.5, 400, spread.tau2)
    assert limits["lower_998"] == pytest.approx(30.809, abs=1e-3)
    assert limits["upper_998"] == pytest.approx(69.191, abs=1e-3)


def test_no_adjustment_when_providers_vary_no_more_than_chance():
    """counts 50, 52, 48, 51, 49 of 100: z = 0, 0.4, -0.4, 0.2, -0.2, winsorised to
    0, 0.32, -0.32, 0.2, -0.2: phi = (0.1024 x 2 + 0.04 x 2) / 5 = 0.05696 <= 1, so tau^2 = 0."""
    spread = estimate_dispersion(0.5, [50, 52, 48, 51, 49], [100] * 5)
    assert spread.phi == pytest.approx(0.05696)
    assert spread.tau2 == 0.0 and not spread.adjusted
    frame = pd.DataFrame({"recovered": [50, 52, 48, 51, 49], "referrals": [100] * 5})
    flagged = outside_limits(frame, numerator="recovered", denominator="referrals", national_rate=50)
    assert flagged["upper_998"].iloc[0] == pytest.approx(funnel_limits(0.5, 100)["upper_998"])


def test_nothing_to_estimate_from_one_unit_or_a_certain_rate():
    assert estimate_dispersion(0.5, [90], [100]).tau2 == 0.0
    assert estimate_dispersion(1.0, [100, 50], [100, 100]).tau2 == 0.0
    with pytest.raises(FunnelError, match="positive denominator"):
        estimate_dispersion(0.5, [1, 2], [0, 10])


# --- properties ---------------------------------------------------------------------------------

proportions = st.floats(min_value=0.0, max_value=1.0)
denominators = st.floats(min_value=1.0, max_value=1e6)
variances = st.floats(min_value=0.0, max_value=0.5)


@settings(max_examples=200, deadline=None)
@given(p=proportions, n=denominators, tau2=variances)
def test_limits_lie_within_0_and_100_and_are_ordered(p, n, tau2):
    limits = funnel_limits(p, n, tau2)
    values = [limits[k] for k in ("lower_998", "lower_95", "centre", "upper_95", "upper_998")]
    assert all(0.0 <= v <= 100.0 for v in values)
    assert values == sorted(values)


@settings(max_examples=200, deadline=None)
@given(p=proportions, n=denominators, tau2=variances, extra=st.floats(min_value=0.0, max_value=0.5))
def test_limits_widen_with_overdispersion(p, n, tau2, extra):
    narrow, wide = funnel_limits(p, n, tau2), funnel_limits(p, n, tau2 + extra)
    for level in ("95", "998"):
        assert wide[f"upper_{level}"] >= narrow[f"upper_{level}"]
        assert wide[f"lower_{level}"] <= narrow[f"lower_{level}"]


units = st.lists(st.tuples(st.integers(min_value=5, max_value=5000), st.floats(min_value=0.0, max_value=1.0)),
                 min_size=2, max_size=40)


@settings(max_examples=200, deadline=None)
@given(p=st.floats(min_value=0.05, max_value=0.95), rows=units)
def test_tau2_is_positive_exactly_when_phi_exceeds_1(p, rows):
    den = np.array([n for n, _ in rows], dtype=float)
    num = np.round(den * np.array([share for _, share in rows]))
    spread = estimate_dispersion(p, num, den)
    assert spread.tau2 >= 0.0
    assert (spread.tau2 > 0.0) == (spread.phi > 1.0)


@settings(max_examples=100, deadline=None)
@given(p=st.floats(min_value=0.2, max_value=0.8), rows=units, factor=st.floats(min_value=1.0, max_value=3.0))
def test_spreading_the_rates_further_raises_phi_and_tau2(p, rows, factor):
    den = np.array([n for n, _ in rows], dtype=float)
    rates = p + 0.1 * (np.array([share for _, share in rows]) - 0.5)  # within 0.15 of p
    before = estimate_dispersion(p, rates * den, den)
    after = estimate_dispersion(p, (p + factor * (rates - p)) * den, den)
    assert after.phi == pytest.approx(factor ** 2 * before.phi, rel=1e-9, abs=1e-12)  # z scales with the spread
    assert after.tau2 >= before.tau2


# --- flags --------------------------------------------------------------------------------------

def _providers() -> pd.DataFrame:
    """Ten providers near the national 50%, one high, one low, and one too small to compare."""
    rows = [{"name": f"Provider {i}", "code": f"P{i:02d}", "recovered": 495.0 + i, "denominator": 1000.0}
            for i in range(10)]
    rows.append({"name": "High provider", "code": "HIGH", "recovered": 650.0, "denominator": 1000.0})
    rows.append({"name": "Low provider", "code": "LOW", "recovered": 430.0, "denominator": 1000.0})
    rows.append({"name": "Tiny provider", "code": "TINY", "recovered": 3.0, "denominator": 3.0})
    return pd.DataFrame(rows, index=[f"R{i:02d}" for i in range(13)])


def test_outside_limits_flags_hand_made_outliers_without_adjustment():
    flagged = outside_limits(_providers(), numerator="recovered", denominator="denominator",
                             label="name", national_rate=50.0, adjust=False)
    assert list(flagged.index) == list(_providers().index)
    high, low, tiny = flagged.loc["R10"], flagged.loc["R11"], flagged.loc["R12"]
    # n = 1000: 95% limits 50 +/- 3.10, 99.8% limits 50 +/- 4.89
    assert high["rate"] == pytest.approx(65.0)
    assert high["upper_998"] == pytest.approx(50 + 100 * 3.090232 * np.sqrt(0.25 / 1000))
    assert high["above_95"] and high["above_998"] and not high["below_998"]
    assert low["below_95"] and low["below_998"] and not low["above_95"]
    assert not tiny["compared"] and not tiny["above_998"] and np.isnan(tiny["rate"])
    assert not flagged.iloc[:10][["above_95", "below_95", "above_998", "below_998"]].any().any()
    assert flagged["compared"].sum() == 12


def test_overdispersion_from_the_compared_rows_only_widens_the_limits():
    frame = pd.concat([_spread_providers(), pd.DataFrame({"recovered": [3.0], "denominator": [3.0]}, index=["tiny"])])
    plain = outside_limits(frame, numerator="recovered", denominator="denominator", national_rate=50.0, adjust=False)
    adjusted = outside_limits(frame, numerator="recovered", denominator="denominator", national_rate=50.0)
    spread = adjusted.attrs["dispersion"]
    compared = frame.iloc[:-1]
    assert spread == estimate_dispersion(0.5, compared["recovered"], compared["denominator"])  # tiny left out
    assert spread.adjusted
    assert (adjusted["upper_998"].iloc[:-1] > plain["upper_998"].iloc[:-1]).all()
    outside = lambda f: set(f.index[f["above_998"] | f["below_998"]])  # noqa: E731
    assert outside(adjusted) < outside(plain)


def test_outside_limits_flags_only_the_95_limit_when_between_them():
    frame = pd.DataFrame({"recovered": [535.0], "denominator": [1000.0]})  # 53.5%: above 53.1, below 54.9
    flagged = outside_limits(frame, numerator="recovered", denominator="denominator", national_rate=50.0)
    assert flagged["above_95"].iloc[0] and not flagged["above_998"].iloc[0]


def test_national_rate_is_a_percentage():
    with pytest.raises(FunnelError, match="percentage"):
        outside_limits(_providers(), numerator="recovered", denominator="denominator", national_rate=150)


def _spread_providers(n_units: int = 30) -> pd.DataFrame:
    """Providers whose rates spread evenly from 20% to 80% (strongly overdispersed), 200 referrals each."""
    rates = np.linspace(0.2, 0.8, n_units)
    return pd.DataFrame({"name": [f"Provider {i}" for i in range(n_units)], "code": [f"C{i}" for i in range(n_units)],
                         "recovered": np.round(rates * 200), "denominator": 200.0, "published": np.round(rates * 100)})


def test_compare_numbers_the_furthest_flagged_units_in_table_order():
    frame = _spread_providers()
    unadjusted = compare(frame, numerator="recovered", denominator="denominator", national_rate=50.0, label="name",
                         code="code", adjust=False, max_labels=4)
    flagged = unadjusted.flagged
    assert len(flagged) > 4
    assert list(flagged["rate"]) == sorted(flagged["rate"], reverse=True)  # above first, highest rate first
    numbered = unadjusted.numbers
    assert list(numbered) == [1, 2, 3, 4]
    assert list(numbered.index) == [i for i in flagged.index if i in set(numbered.index)]  # numbers follow the table
    furthest = flagged["z"].abs().sort_values(ascending=False).index[:4]
    assert set(numbered.index) == set(furthest)


def test_published_table_holds_rounded_counts_and_limits_at_the_published_denominator():
    frame = _providers().iloc[:12].copy()
    frame.loc["R10", ["recovered", "denominator"]] = [652.0, 1003.0]  # unrounded counts
    comparison = compare(frame, numerator="recovered", denominator="denominator", national_rate=50.0,
                         label="name", code="code")
    table = funnel.published_table(comparison)
    assert list(table.columns) == ["code", "name", "numerator", "denominator", "rate", "national_rate", "lower_998",
                                   "lower_95", "upper_95", "upper_998", "position", "chart_number"]
    high = table.set_index("code").loc["HIGH"]
    assert (high["numerator"], high["denominator"], high["rate"]) == (650, 1005, 65.0)  # nearest 5; whole percent
    at_1005 = comparison.limits(1005)
    assert high["upper_998"] == pytest.approx(round(at_1005["upper_998"], 1))
    assert high["position"] == funnel.ABOVE_998 and high["chart_number"] == 1
    assert table["code"].iloc[0] == "HIGH" and table["code"].iloc[-1] == "LOW"  # highest rate first
    assert set(table["position"]) <= {funnel.ABOVE_998, funnel.ABOVE_95, funnel.WITHIN, funnel.BELOW_95,
                                      funnel.BELOW_998}


def test_a_suppressed_rate_is_neither_shown_nor_flagged_nor_published():
    frame = _providers().iloc[:12].copy()
    frame.loc["R09", ["recovered", "denominator"]] = [4.0, 400.0]  # 1%: far below, but numerator under 5
    comparison = compare(frame, numerator="recovered", denominator="denominator", national_rate=50.0,
                         label="name", code="code")
    assert comparison.units.loc["R09", "below_998"]  # judged on unrounded counts ...
    assert "R09" not in comparison.flagged.index  # ... but not shown, counted or numbered
    assert "R09" not in comparison.numbers.index
    assert "P09" not in set(funnel.published_table(comparison)["code"])


# --- published data (skipped when the files are not here) --------------------------------------

@pytest.mark.parametrize("file, period, before, after", [
    ("monthly_2021-01_to_2025-12.parquet", "2021-06", 17, 10),
    ("annual_2017-18_to_2024-25.parquet", "2020-21", 90, 10),
])
def test_published_providers_flagged_before_and_after_allowing_for_overdispersion(file, period, before, after):
    """The issue's complaint (88 of 154 providers outside the limits in 2020-21; 90 of the 158
    providers with a published rate) and its fix; the counts are recorded in docs/funnel-plots.md."""
    path = PUBLISHED / file
    if not path.exists():
        pytest.skip(f"published data file {path} not present")
    from iapt_report.data.periods import Period
    from iapt_report.report import sections
    from iapt_report.report.report_data import ReportData
    from iapt_report.sources.published import read_published

    data = ReportData(read_published(path, periods=[period], totals_only=True), Period.parse(period), "England")
    providers = sections.recovery_by_organisation(data, "Provider")
    shown = providers[(providers.denominator >= 5) & providers.recovery_rate.notna()]
    kwargs = {"numerator": "recovered", "denominator": "denominator", "national_rate": data.value("M192"),
              "label": "name", "code": "code", "published_rate": "recovery_rate"}
    plain, adjusted = compare(shown, adjust=False, **kwargs), compare(shown, **kwargs)
    assert (len(plain.flagged), len(adjusted.flagged)) == (before, after)
    assert set(adjusted.flagged.index) <= set(plain.flagged.index)
    assert adjusted.dispersion.phi > 1 and adjusted.dispersion.adjusted

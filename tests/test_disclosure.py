"""Disclosure control: hand-worked examples, properties, and NHS Digital's published files."""

from __future__ import annotations

import math
import warnings
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iapt_report.engine.disclosure import (
    DisclosureError,
    apply_disclosure,
    disclosure_rule_text,
    is_publishable_cell,
    nearest_five,
    publish_cell,
    round_half_up,
    suppress_count,
)

PUBLISHED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "published"
MONTHLY = PUBLISHED / "monthly_2021-01_to_2025-12.parquet"
ANNUAL = PUBLISHED / "annual_2017-18_to_2024-25.parquet"

ENGLAND = ("England", "all", "all")
PROVIDER = ("Provider", "all", "RXX01")


def row(measure_id, statistic, value, where=PROVIDER, base="", **extra):
    group_type, org1, org2 = where
    return {
        "REPORTING_PERIOD_START": "2020-09-01",
        "REPORTING_PERIOD_END": "2020-09-30",
        "GROUP_TYPE": group_type,
        "ORG_CODE1": org1,
        "ORG_NAME1": "all" if org1 == "all" else f"name {org1}",
        "ORG_CODE2": org2,
        "ORG_NAME2": "all" if org2 == "all" else f"name {org2}",
        "MEASURE_ID": measure_id,
        "MEASURE_NAME": f"name {measure_id}",
        "MEASURE_VALUE": float(value),
        "STATISTIC": statistic,
        "BASE_MEASURE_ID": base,
        **extra,
    }


def published(rows) -> list[str]:
    return apply_disclosure(pd.DataFrame(rows))["MEASURE_VALUE_SUPPRESSED"].tolist()


def one(measure_id, statistic, value, where=PROVIDER, base_value=None) -> str:
    """The published string of a single cell, with its base count row if one is given."""
    rows = [row(measure_id, statistic, value, where, base="B" if base_value is not None else "")]
    if base_value is not None:
        rows.append(row("B", "count", base_value, where))
    return published(rows)[0]


# --- hand-worked examples ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "shown"),
    [(0, "*"), (1, "*"), (3, "*"), (4, "*"), (5, "5"), (7, "5"), (8, "10"), (12, "10"),
     (13, "15"), (375, "375"), (742, "740"), (132237, "132235")],
)
def test_provider_counts_are_suppressed_under_5_and_rounded_to_nearest_5(count, shown):
    assert suppress_count(count) == shown
    assert one("M001", "count", count) == shown


def test_england_counts_are_shown_unrounded():
    assert one("M001", "count", 132237, ENGLAND) == "132237"
    assert one("M001", "count", 3, ENGLAND) == "3"


def test_provider_recovery_rate_is_computed_from_unrounded_counts():
    # ALR01-style example: recovery 375 of (finished 740 - not at caseness 15) = 51.72%
    rows = [
        row("M076", "count", 740),
        row("M179", "count", 15),
        row("M191", "count", 375),
        row("M192", "percentage", 100 * 375 / (740 - 15), base="M191"),
    ]
    assert published(rows) == ["740", "15", "375", "52"]


def test_provider_rate_published_when_only_another_count_is_suppressed():
    rows = [
        row("M076", "count", 742),
        row("M179", "count", 3),  # NotCaseness suppressed
        row("M191", "count", 376),
        row("M192", "percentage", 100 * 376 / (742 - 3), base="M191"),
    ]
    assert published(rows) == ["740", "*", "375", "51"]


def test_percentage_with_base_count_under_5_is_suppressed():
    assert one("M192", "percentage", 60.0, base_value=3) == "*"
    assert one("M192", "percentage", 60.0, base_value=4) == "*"
    assert one("M192", "percentage", 60.0, base_value=5) == "60"


def test_england_percentages_round_half_up_to_one_place():
    assert one("M192", "percentage", 50.45, ENGLAND) == "50.5"
    assert one("M192", "percentage", 50.44999, ENGLAND) == "50.4"
    assert one("M192", "percentage", 50.0, ENGLAND) == "50.0"
    # national figures are not suppressed, whatever their base
    assert one("M192", "percentage", 75.0, ENGLAND, base_value=3) == "75.0"


def test_provider_percentages_round_half_up_to_whole_percent():
    assert one("M192", "percentage", 52.5, base_value=21) == "53"  # round() would give 52
    assert one("M192", "percentage", 51.5, base_value=21) == "52"
    assert one("M192", "percentage", 100 * 29 / 200, base_value=29) == "15"  # 14.499999...


def test_means_medians_max_min():
    assert one("M141", "mean", 7.45, ENGLAND) == "7.5"
    assert one("M142", "median", 4.0, ENGLAND) == "4.0"
    assert one("M143", "max", 21.0, ENGLAND) == "21"
    assert one("M141", "mean", 7.45, base_value=490) == "7.5"
    assert one("M142", "median", 6.5, base_value=490) == "6.5"
    assert one("M143", "max", 21.0, base_value=490) == "21"
    assert one("M144", "min", 2.0, base_value=490) == "2"
    for statistic in ("mean", "median", "max", "min"):
        assert one("M141", statistic, 7.0, base_value=4) == "*"
    assert one("M050", "mean", -1.75, base_value=50) == "-1.8"  # half away from zero, as SQL


def test_sums_are_counts_that_also_need_5_referrals():
    # appointments of those finishing a course: a count of appointments over referrals
    assert one("M089", "sum", 3472, ENGLAND) == "3472"
    assert one("M089", "sum", 3472, base_value=490) == "3470"
    assert one("M089", "sum", 3, base_value=490) == "*"
    assert one("M089", "sum", 22, base_value=4) == "*"
    assert is_publishable_cell("Provider", "sum", "3470")
    assert not is_publishable_cell("Provider", "sum", "3472")


def test_missing_values_are_empty_never_zero():
    for where in (ENGLAND, PROVIDER):
        assert one("M001", "count", math.nan, where) == ""
        assert one("M192", "percentage", math.nan, where, base_value=100) == ""
        assert one("M141", "mean", math.nan, where, base_value=2) == ""
    assert suppress_count(math.nan) == ""
    assert suppress_count(None) == ""


def test_missing_base_count_value_suppresses_the_rate():
    assert one("M192", "percentage", 50.0, base_value=math.nan) == "*"


def test_every_level_below_england_is_subnational():
    for group_type in ("CommissioningRegion", "ICB", "SubICB", "Provider", "SubICB/Provider"):
        assert one("M001", "count", 12, (group_type, "X1", "X2")) == "10"


def test_breakdowns_use_the_base_count_of_their_own_breakdown():
    rows = [
        row("B", "count", 3, VARIABLE_TYPE="Ethnic Group", VARIABLE_A="White", VARIABLE_B=None),
        row("B", "count", 40, VARIABLE_TYPE="Ethnic Group", VARIABLE_A="Mixed", VARIABLE_B=None),
        row("P", "percentage", 100.0, base="B",
            VARIABLE_TYPE="Ethnic Group", VARIABLE_A="White", VARIABLE_B=None),
        row("P", "percentage", 42.5, base="B",
            VARIABLE_TYPE="Ethnic Group", VARIABLE_A="Mixed", VARIABLE_B=None),
    ]
    assert published(rows) == ["*", "40", "*", "43"]


def test_england_breakdowns_are_national():
    rows = [
        row("B", "count", 3, ENGLAND, VARIABLE_TYPE="Age Group", VARIABLE_A="90+"),
        row("P", "percentage", 33.35, ENGLAND, base="B", VARIABLE_TYPE="Age Group",
            VARIABLE_A="90+"),
    ]
    assert published(rows) == ["3", "33.4"]


def test_output_layout():
    rows = [row("M001", "count", 12), row("M001", "count", 132237, ENGLAND)]
    frame = pd.DataFrame(rows, index=[10, 20])
    out = apply_disclosure(frame)
    expected = [c if c != "MEASURE_VALUE" else "MEASURE_VALUE_SUPPRESSED"
                for c in frame.columns if c not in ("STATISTIC", "BASE_MEASURE_ID")]
    assert list(out.columns) == expected
    assert list(out.index) == [10, 20]
    assert out["MEASURE_VALUE_SUPPRESSED"].tolist() == ["10", "132237"]
    assert "MEASURE_VALUE" in frame  # input untouched


def test_empty_table():
    frame = pd.DataFrame([row("M001", "count", 1)]).iloc[:0]
    assert apply_disclosure(frame).empty


def test_base_measure_id_column_is_optional_for_counts():
    frame = pd.DataFrame([row("M001", "count", 8)]).drop(columns="BASE_MEASURE_ID")
    assert apply_disclosure(frame)["MEASURE_VALUE_SUPPRESSED"].tolist() == ["10"]


# --- failures a user can cause ---------------------------------------------------------------


def test_subnational_rate_without_base_is_suppressed_with_a_warning():
    with pytest.warns(UserWarning, match="M192"):
        assert one("M192", "percentage", 50.0) == "*"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert one("M192", "percentage", 50.04, ENGLAND) == "50.0"  # no base needed nationally


def test_base_named_but_absent_is_an_error():
    rows = [row("M192", "percentage", 50.0, base="M191")]
    with pytest.raises(DisclosureError, match="M191"):
        apply_disclosure(pd.DataFrame(rows))


def test_duplicate_base_counts_are_an_error():
    rows = [row("B", "count", 10), row("B", "count", 12), row("P", "percentage", 50.0, base="B")]
    with pytest.raises(DisclosureError, match="more than one row"):
        apply_disclosure(pd.DataFrame(rows))


def test_bad_inputs_are_errors():
    with pytest.raises(DisclosureError, match="statistic"):
        apply_disclosure(pd.DataFrame([row("M001", "rate", 1.0)]))
    with pytest.raises(DisclosureError, match="STATISTIC"):
        apply_disclosure(pd.DataFrame([row("M001", "count", 1.0)]).drop(columns="STATISTIC"))
    with pytest.raises(DisclosureError, match="whole number"):
        apply_disclosure(pd.DataFrame([row("M001", "count", 7.5)]))
    with pytest.raises(ValueError):
        suppress_count(-1)
    with pytest.raises(ValueError):
        round_half_up(math.nan)


# --- helpers -------------------------------------------------------------------------------------


def test_round_half_up_is_not_bankers_rounding():
    assert round(2.5) == 2  # what we must not do
    assert round_half_up(2.5) == Decimal("3")
    assert round_half_up(0.5) == Decimal("1")
    assert round_half_up(Decimal("0.125"), 2) == Decimal("0.13")
    assert round_half_up(2.675, 2) == Decimal("2.68")  # the float is 2.67499999...
    assert str(round_half_up(-0.04, 1)) == "0.0"


def test_publish_cell_matches_apply_disclosure():
    assert publish_cell(12.0, "count", national=False) == "10"
    assert publish_cell(12.0, "count", national=True) == "12"
    assert publish_cell(51.72, "percentage", national=False, base_count=375) == "52"
    assert publish_cell(51.72, "percentage", national=False) == "*"


@pytest.mark.parametrize(
    ("group_type", "statistic", "text", "ok"),
    [
        ("Provider", "count", "10", True), ("Provider", "count", "12", False),
        ("Provider", "count", "0", False), ("Provider", "count", "*", True),
        ("Provider", "count", "", True), ("England", "count", "132237", True),
        ("England", "count", "*", False), ("Provider", "percentage", "52", True),
        ("Provider", "percentage", "51.7", False), ("England", "percentage", "50.4", True),
        ("England", "percentage", "50", False), ("Provider", "mean", "7.5", True),
        ("ICB", "median", "7", False), ("England", "max", "21", True),
        ("Provider", "min", "2.0", False), ("Provider", "mean", "-1.8", True),
    ],
)
def test_is_publishable_cell(group_type, statistic, text, ok):
    assert is_publishable_cell(group_type, statistic, text) is ok


def test_rule_text_states_the_rule():
    text = disclosure_rule_text()
    assert "\n" not in text
    for phrase in ("under 5", "*", "nearest 5", "unrounded", "whole percent", "one decimal"):
        assert phrase in text


# --- properties ----------------------------------------------------------------------------------

counts = st.integers(min_value=0, max_value=10_000_000)


@given(counts)
def test_rounded_count_is_a_multiple_of_5_within_2_of_the_truth(n):
    shown = suppress_count(n)
    if n < 5:
        assert shown == "*"
    else:
        assert int(shown) % 5 == 0 and int(shown) >= 5 and abs(int(shown) - n) <= 2
        assert int(shown) == nearest_five(n) == 5 * round(n / 5)  # no ties for integers


@given(
    st.integers(min_value=-10**8, max_value=10**8),
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=0, max_value=2),
)
def test_floats_round_as_the_decimal_they_print_as(units, scale, places):
    exact = Decimal(units).scaleb(-scale)
    assert round_half_up(float(exact), places) == round_half_up(exact, places)


def _exact_half_up(exact: Fraction, places: int) -> Fraction:
    scaled = exact * 10**places
    return Fraction(math.floor(scaled + Fraction(1, 2)), 10**places)


@given(st.integers(min_value=1, max_value=10**7).flatmap(
    lambda d: st.tuples(st.integers(min_value=0, max_value=d), st.just(d))))
def test_percentages_of_counts_round_half_up_exactly(fraction):
    numerator, denominator = fraction
    for places in (0, 1):
        got = round_half_up(100 * numerator / denominator, places)
        assert Fraction(got) == _exact_half_up(Fraction(100 * numerator, denominator), places)


@given(st.integers(min_value=1, max_value=10**6).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=1000 * n), st.just(n))))
def test_means_of_whole_values_round_half_up_exactly(total_and_n):
    # e.g. a mean wait in days: the total of n whole numbers, divided by n
    total, n = total_and_n
    assert Fraction(round_half_up(total / n, 1)) == _exact_half_up(Fraction(total, n), 1)


group_types = st.sampled_from(["England", "CommissioningRegion", "ICB", "SubICB", "Provider"])
cells = st.tuples(
    group_types,
    st.one_of(counts, st.just(math.nan)),  # base count
    st.one_of(st.floats(min_value=0, max_value=100), st.just(math.nan)),  # its percentage
)


@settings(max_examples=60, deadline=None)
@given(st.lists(cells, min_size=1, max_size=30))
def test_no_published_cell_below_england_discloses_a_small_count(table):
    rows = []
    for i, (group_type, count, percentage) in enumerate(table):
        where = (group_type, "all", f"ORG{i}")
        rows.append(row("C", "count", count, where))
        rows.append(row("P", "percentage", percentage, where, base="C"))
    out = published(rows)
    for i, (group_type, count, percentage) in enumerate(table):
        shown_count, shown_pct = out[2 * i], out[2 * i + 1]
        assert is_publishable_cell(group_type, "count", shown_count)
        assert is_publishable_cell(group_type, "percentage", shown_pct)
        if math.isnan(count):
            assert shown_count == ""
        elif group_type == "England":
            assert shown_count == str(count)
        elif count < 5:
            assert shown_count == "*" and shown_pct in ("*", "")
        else:
            assert int(shown_count) % 5 == 0 and abs(int(shown_count) - count) <= 2
        if math.isnan(percentage):
            assert shown_pct == ""


# --- NHS Digital's published figures ---------------------------------------------------------


def _read_or_skip(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.exists():
        pytest.skip(f"published data not available at {path} (shared data folder absent)")
    return pd.read_parquet(path, columns=columns)


def test_published_monthly_provider_figures_follow_the_rule():
    data = _read_or_skip(MONTHLY, ["group_type", "measure_statistic", "value"])
    provider = data[data["group_type"] == "Provider"].dropna(subset=["value"])
    counts_ = provider.loc[provider["measure_statistic"] == "count", "value"]
    assert len(counts_) > 100_000
    assert (counts_ % 5 == 0).all(), "every published provider count is a multiple of 5"
    assert (counts_ >= 5).all(), "no published provider count is under 5"
    rates = provider.loc[provider["measure_statistic"] == "percentage", "value"]
    assert (rates == rates.round()).all(), "provider percentages are whole numbers"
    for statistic in ("mean", "median"):
        values = provider.loc[provider["measure_statistic"] == statistic, "value"]
        assert (values == values.round(1)).all(), f"provider {statistic}s carry one decimal"
    england = data[data["group_type"] == "England"].dropna(subset=["value"])
    rates = england.loc[england["measure_statistic"] == "percentage", "value"]
    assert (rates == rates.round(1)).all() and (rates != rates.round()).any()


def test_published_monthly_rates_are_suppressed_with_their_numerator():
    data = _read_or_skip(MONTHLY, ["reporting_period", "group_type", "org_code2", "measure_id",
                                   "value"])
    provider = data[data["group_type"] == "Provider"]
    wide = provider.pivot_table(index=["reporting_period", "org_code2"], columns="measure_id",
                                values="value", aggfunc="first", dropna=False)
    # (numerator count, percentage): recovery, reliable recovery, 6- and 18-week waits
    for count_id, rate_id in [("M191", "M192"), ("M193", "M195"), ("M052", "M053"),
                              ("M054", "M055")]:
        pair = wide[[count_id, rate_id]].dropna(how="all")
        assert len(pair) > 1000
        assert (pair[count_id].isna() == pair[rate_id].isna()).all()


@pytest.mark.slow
def test_published_annual_rates_are_suppressed_exactly_when_their_count_is():
    data = _read_or_skip(ANNUAL, ["reporting_period", "org_type", "org_code", "variable_type",
                                  "variable_a", "variable_b", "measure_name",
                                  "measure_statistic", "value"])
    below = data[data["org_type"] != "England"]
    key = ["reporting_period", "org_type", "org_code", "variable_type", "variable_a",
           "variable_b", "measure_name"]
    count = below[below["measure_statistic"] == "count"].drop_duplicates(key)
    rate = below[below["measure_statistic"] == "percentage"].drop_duplicates(key)
    both = count.merge(rate, on=key, suffixes=("_count", "_rate"))
    assert len(both) > 100_000
    assert ((both["value_count"] == "*") == (both["value_rate"] == "*")).all()
    shown = pd.to_numeric(count["value"], errors="coerce").dropna()
    assert (shown % 5 == 0).all() and (shown >= 5).all()


def test_numpy_floats_round_like_python_floats():
    import numpy as np

    assert str(round_half_up(np.float64(52.5))) == "53"
    assert publish_cell(np.float64(51.72), "percentage", national=False, base_count=np.float64(375)) == "52"

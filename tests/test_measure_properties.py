"""Property tests (Hypothesis): relations every measures table must satisfy, on random datasets, and
the same table from Spark as from DuckDB."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import DatasetBuilder
from iapt_report.data.periods import Period
from iapt_report.engine.measures import MeasureEngine

SEPTEMBER = Period.parse("2020-09")
BASE_DAY = date(2020, 6, 1)

days = st.integers(min_value=0, max_value=150)  # 2020-06-01 .. 2020-10-29


def _day(offset: int) -> str:
    return (BASE_DAY + timedelta(days=offset)).isoformat()


contact = st.fixed_dictionaries(
    {
        "offset": days,
        "app_type": st.sampled_from(["01", "02", "03", "05", "06"]),
        "attend": st.sampled_from(["2", "3", "4", "5", "6", "7", None]),
        "planned": st.sampled_from(["Y", "Y", "N"]),
    }
)
referral = st.fixed_dictionaries(
    {
        "received": days,
        "length": st.one_of(st.none(), st.integers(min_value=0, max_value=120)),
        "provider": st.sampled_from(["PRV01", "PRV02"]),
        "sub_icb": st.sampled_from(["SUB01", "SUB02"]),
        "contacts": st.lists(contact, max_size=6),
        "phq": st.lists(st.integers(0, 27), max_size=3),
        "gad": st.lists(st.integers(0, 21), max_size=3),
        "complaint": st.sampled_from(["F32", "F411", "F401", "F431", "-3"]),
    }
)


def build(referrals: list[dict]) -> DatasetBuilder:
    b = DatasetBuilder()
    for i, r in enumerate(referrals):
        pathway = f"P{i:03d}"
        discharged = None if r["length"] is None else _day(r["received"] + r["length"])
        b.referral(pathway, _day(r["received"]), discharged=discharged, end_code="46" if discharged else None,
                   provider=r["provider"], sub_icb=r["sub_icb"])
        for c in r["contacts"]:
            b.contact(pathway, _day(c["offset"]), app_type=c["app_type"], attend=c["attend"], planned=c["planned"])
        for k, score in enumerate(r["phq"]):
            b.score(pathway, "PHQ9", _day(r["received"] + k), score)
        for k, score in enumerate(r["gad"]):
            b.score(pathway, "GAD7", _day(r["received"] + k), score)
        b.complaint(pathway, r["complaint"])
    return b


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(referral, min_size=1, max_size=12))
def test_measure_relations_hold(referrals):
    table = MeasureEngine(build(referrals).ibis_tables()).compute(SEPTEMBER, levels=["England", "Provider"])
    check_relations(table)


def check_relations(table: pd.DataFrame) -> None:
    national = table[table.GROUP_TYPE == "England"].set_index("MEASURE_ID").MEASURE_VALUE

    # finished a course never exceeds ended referrals
    assert national["M076"] <= national["M056"]
    # recovery never exceeds the recovery denominator (finished minus not at caseness)
    assert national["M191"] <= national["M076"] - national["M179"]
    assert national["M193"] <= national["M191"]
    # reliable change categories partition the paired finishers
    assert national["M185"] + national["M187"] + national["M189"] <= national["M076"]
    # ended referrals split exactly into end reasons
    assert national["M073"] + national["M074"] + national["M075"] + national["M076"] == national["M056"]
    # the snapshot at the period end: the waiting list splits into waits of up to and over 18 weeks;
    # inactivity bands never exceed the open referrals treated; nested waits grow
    assert national["M043"] + national["M044"] == national["M038"]
    assert national["M039"] <= national["M040"] <= national["M041"] <= national["M042"] <= national["M043"]
    assert national["M030"] <= national["M029"] and national["M045"] <= national["M038"]
    # those finishing split into none / first only / paired scores, on the PHQ-9 and on the anxiety measure
    assert national["M196"] + national["M197"] + national["M198"] == national["M076"]
    assert national["M199"] + national["M200"] + national["M201"] == national["M076"]
    assert national["M202"] <= min(national["M198"], national["M201"])
    # second sessions split into first-to-second gaps; percentages are their counts over M184
    assert national["M121"] + national["M122"] + national["M047"] == national["M184"]
    for percentage, count in (("M123", "M121"), ("M124", "M046"), ("M125", "M122"), ("M126", "M047")):
        if national["M184"] > 0:
            assert national[percentage] == pytest.approx(100 * national[count] / national["M184"])
    if national["M056"] > 0:
        assert national["M080"] == pytest.approx(100 * (national["M076"] + national["M075"]) / national["M056"])

    # provider figures add up to England before rounding (every count measure)
    counts = table[table.STATISTIC.isin(["count", "sum"])]
    by_provider = counts[counts.GROUP_TYPE == "Provider"].groupby("MEASURE_ID").MEASURE_VALUE.sum()
    england = counts[counts.GROUP_TYPE == "England"].set_index("MEASURE_ID").MEASURE_VALUE
    pd.testing.assert_series_equal(
        by_provider.reindex(england.index).fillna(0), england, check_names=False
    )


# Spark is slow on tiny data (seconds a query, whatever the size): a few random datasets, each
# computed on both backends, every level, and every value compared
@pytest.mark.spark
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(referral, min_size=1, max_size=12))
def test_spark_gives_every_value_duckdb_gives_on_random_datasets(spark, referrals):
    builder = build(referrals)
    on_spark = MeasureEngine(builder.ibis_tables("spark")).compute(SEPTEMBER)
    on_duckdb = MeasureEngine(builder.ibis_tables("duckdb")).compute(SEPTEMBER)
    pd.testing.assert_frame_equal(on_spark, on_duckdb)
    check_relations(on_spark)


# months with and without activity (the data run from June to October 2020), not in date order,
# one before the data start and a gap between two of them
TREND_MONTHS = [Period.parse(label) for label in ("2020-09", "2020-08", "2020-06", "2020-05", "2020-11")]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(referral, min_size=1, max_size=12))
def test_totals_of_several_months_at_once_equal_each_month_on_its_own(referrals):
    engine = MeasureEngine(build(referrals).ibis_tables())
    levels = ["England", "ICB", "Provider"]

    together = engine.compute_totals(TREND_MONTHS, levels=levels)

    one_by_one = pd.concat([engine.compute(month, levels=levels, breakdowns=False) for month in TREND_MONTHS],
                           ignore_index=True)
    pd.testing.assert_frame_equal(together, one_by_one)


@pytest.mark.spark
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(referral, min_size=1, max_size=12))
def test_spark_gives_the_totals_of_several_months_duckdb_gives(spark, referrals):
    builder = build(referrals)
    levels = ["England", "ICB", "Provider"]
    on_spark = MeasureEngine(builder.ibis_tables("spark")).compute_totals(TREND_MONTHS, levels=levels)
    on_duckdb = MeasureEngine(builder.ibis_tables("duckdb")).compute_totals(TREND_MONTHS, levels=levels)
    pd.testing.assert_frame_equal(on_spark, on_duckdb)


def test_totals_of_overlapping_periods_are_refused():
    builder = DatasetBuilder()
    builder.referral("P001", "2020-09-01")
    engine = MeasureEngine(builder.ibis_tables())

    with pytest.raises(ValueError, match="overlap"):
        engine.compute_totals([Period.parse("2020-21"), Period.parse("2020-09")])

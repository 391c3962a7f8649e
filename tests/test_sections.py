"""Section helpers on small hand-built measures tables (values worked out by hand below)."""

from __future__ import annotations

import math

import pandas as pd

from iapt_report import sections
from iapt_report.measures import MEASURE_COLUMNS
from iapt_report.periods import Period
from iapt_report.report_data import ReportData

YEAR = Period.parse("2015-16")


def table(rows) -> pd.DataFrame:
    """Rows of (VARIABLE_A, VARIABLE_B, MEASURE_ID, value) for England's Ethnic Group breakdown."""
    out = [{"REPORTING_PERIOD_START": "2015-04-01", "REPORTING_PERIOD_END": "2016-03-31", "GROUP_TYPE": "England",
            "ORG_CODE1": "all", "ORG_NAME1": "all", "ORG_CODE2": "all", "ORG_NAME2": "all",
            "VARIABLE_TYPE": "Ethnic Group", "VARIABLE_A": a, "VARIABLE_B": b, "MEASURE_ID": mid,
            "MEASURE_NAME": mid, "STATISTIC": "count", "BASE_MEASURE_ID": "", "MEASURE_VALUE": value}
           for a, b, mid, value in rows]
    return pd.DataFrame(out)[[c for c in MEASURE_COLUMNS if c in out[0]]]


def test_groups_are_summed_from_categories_when_only_categories_are_published():
    data = ReportData(table([
        ("Mixed", "White and Asian", "M076", 1378.0),
        ("Mixed", "Any Other Mixed Background", "M076", 3341.0),
        ("White", "British", "M076", 356769.0),
        ("White", "Irish", "M076", float("nan")),  # missing: White has no total
    ]), YEAR)
    groups = sections.breakdown_counts(data, "Ethnic Group", "M076").set_index("label")
    assert groups.loc["Mixed", "count"] == 1378 + 3341 == 4719
    assert groups.loc["Mixed", "published"] == "4,719"
    assert math.isnan(groups.loc["White", "count"]) and groups.loc["White", "published"] == "not available"


def test_group_rows_are_used_as_published_when_present():
    data = ReportData(table([
        ("Mixed", "All", "M001", 5000.0),
        ("Mixed", "White and Asian", "M001", 1378.0),
    ]), YEAR)
    groups = sections.breakdown_counts(data, "Ethnic Group")
    assert groups[["label", "count"]].values.tolist() == [["Mixed", 5000.0]]


def test_ethnicity_compares_referrals_and_otherwise_finished_courses():
    with_referrals = ReportData(table([("Mixed", "All", "M001", 50.0), ("Mixed", "All", "M076", 20.0)]), YEAR)
    activity = sections.breakdown_activity(with_referrals, "Ethnic Group")
    assert (activity.measure_id, activity.counted) == ("M001", "referrals received")

    outcomes_only = ReportData(table([("Mixed", "White and Asian", "M076", 20.0)]), YEAR)
    activity = sections.breakdown_activity(outcomes_only, "Ethnic Group")
    assert (activity.measure_id, activity.people) == ("M076", "people who finished a course of treatment")
    assert activity.groups["count"].tolist() == [20.0]

    neither = ReportData(table([("Mixed", "All", "M192", 50.0)]), YEAR)
    activity = sections.breakdown_activity(neither, "Ethnic Group")
    assert activity.measure_id == "M001" and activity.groups.empty

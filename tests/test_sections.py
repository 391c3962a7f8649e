"""Section helpers on small hand-built measures tables (values worked out by hand below)."""

from __future__ import annotations

import math

import pandas as pd

from iapt_report.data.periods import Period
from iapt_report.engine.measures import MEASURE_COLUMNS
from iapt_report.report import narrative, sections
from iapt_report.report.report_data import ReportData

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
    # no partial sum: the cell is empty (the table's legend says what an empty cell means)
    assert math.isnan(groups.loc["White", "count"]) and groups.loc["White", "published"] == ""


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


# --- hand-built measures for whole sections ----------------------------------------------------------

STATISTICS = {"M141": "mean", "M048": "mean", "M049": "median"}
BASES = {"M192": "M191", "M186": "M185", "M195": "M193", "M1010": "M189", "M053": "M052", "M055": "M054",
         "M141": "M076"}


def statistic_of(mid: str) -> str:
    if mid in STATISTICS:
        return STATISTICS[mid]
    return "percentage" if mid in BASES else "count"


def measures(rows, *, published: bool = False) -> pd.DataFrame:
    """Rows of dicts with MEASURE_ID and MEASURE_VALUE and any column to change; England Total,
    September 2020 by default. ``published`` adds the columns of a published file (``*`` for NaN)."""
    out = []
    for row in rows:
        mid = row["MEASURE_ID"]
        full = {"REPORTING_PERIOD_START": "2020-09-01", "REPORTING_PERIOD_END": "2020-09-30", "GROUP_TYPE": "England",
                "ORG_CODE1": "all", "ORG_NAME1": "all", "ORG_CODE2": "all", "ORG_NAME2": "all",
                "VARIABLE_TYPE": "Total", "VARIABLE_A": "", "VARIABLE_B": "", "MEASURE_NAME": mid,
                "STATISTIC": statistic_of(mid), "BASE_MEASURE_ID": BASES.get(mid, ""), **row}
        if published:
            value = full["MEASURE_VALUE"]
            full["SUPPRESSED"] = value != value
            full["PUBLISHED_VALUE"] = "*" if value != value else f"{value:g}"
            full["COUNTS"] = "referrals"
        out.append(full)
    return pd.DataFrame(out)


SEPTEMBER = Period.parse("2020-09")


def provider_rows(code, name, values: dict, **columns):
    return [{"GROUP_TYPE": "Provider", "ORG_CODE2": code, "ORG_NAME2": name, "MEASURE_ID": mid, "MEASURE_VALUE": v,
             **columns} for mid, v in values.items()]


def test_key_facts_leave_a_suppressed_figure_out_of_every_sentence():
    # a provider from record-level data: 3 finished courses, so its mean and rates rest on fewer than 5
    rows = provider_rows("P1", "Provider One", {"M001": 40.0, "M031": 12.0, "M076": 3.0, "M141": 6.0,
                                                "M191": 1.0, "M192": 50.0, "M179": 1.0})
    data = ReportData(measures(rows), SEPTEMBER, "P1")
    facts = sections.key_facts(data)
    assert facts["referrals_received"] == "40" and facts["entered_treatment"] == "10"  # 12 rounds to 10
    assert facts["finished_course"] == "" and facts["mean_sessions"] == "" and facts["recovery_rate"] == ""
    assert facts["lead_in"] == "In September 2020:" and facts["none_published"] == ""
    for value in facts.values():
        assert "fewer than 5" not in value and "suppressed" not in value and "*" not in value
    assert sections.outcomes_sentence(data, "September 2020") is None
    table = sections.key_facts_table(data).set_index("Measure").iloc[:, 0]
    assert table["Mean number of treatment sessions (finished a course)"] == "*"
    assert table["Referrals that finished a course of treatment"] == "*"


def test_key_facts_say_so_in_one_line_when_nothing_can_be_published():
    data = ReportData(measures(provider_rows("P1", "Provider One", {"M001": 3.0, "M031": 1.0})), SEPTEMBER, "P1")
    facts = sections.key_facts(data)
    assert facts["lead_in"] == ""
    assert facts["none_published"].startswith("No headline figure for Provider One in September 2020")


def test_outcomes_sentence_never_holds_a_suppressed_rate():
    rows = [{"MEASURE_ID": "M076", "MEASURE_VALUE": 30.0}, {"MEASURE_ID": "M192", "MEASURE_VALUE": float("nan")},
            {"MEASURE_ID": "M186", "MEASURE_VALUE": 60.0}]
    data = ReportData(measures([dict(r, GROUP_TYPE="Provider", ORG_CODE2="P1", ORG_NAME2="P") for r in rows],
                               published=True), SEPTEMBER, "P1")
    sentence = sections.outcomes_sentence(data, "September 2020")
    assert sentence == ("30 referrals finished a course of treatment in September 2020. Of all referrals that "
                        "finished a course, 60% showed reliable improvement.")


def test_percentages_are_never_worked_out_from_rounded_counts():
    # NHS Digital's file for a provider: M036 1,205 of M031 1,210 (each rounded to 5) is not "100%"
    rows = provider_rows("M1", "Provider", {"M031": 1210.0, "M036": 1205.0})
    published = ReportData(measures(rows, published=True), SEPTEMBER, "M1")
    assert not published.values_unrounded
    assert sections.derived_percentage(published, published.value("M036"), published.value("M031")) is None
    # from record-level data the same provider's unrounded counts give the published percentage
    record_level = ReportData(measures(provider_rows("M1", "Provider", {"M031": 1208.0, "M036": 1203.0})),
                              SEPTEMBER, "M1")
    assert sections.derived_percentage(record_level, 1203.0, 1208.0) == "100%"  # 99.6% to a whole percent
    assert sections.derived_percentage(record_level, 3.0, 1208.0) is None  # numerator under 5
    assert sections.derived_percentage_cell(record_level, 3.0, 1208.0) == "*"


def test_region_table_has_one_row_per_region_and_leaves_unknown_out():
    rows = []
    for code, name, finished, recovered in (("Y56", "London", 100.0, 50.0), ("Y58", "South West", 200.0, 120.0),
                                            ("UNKNOWN", "UNKNOWN", 40.0, 20.0)):
        rows += [{"GROUP_TYPE": "CommissioningRegion", "ORG_CODE1": code, "ORG_NAME1": name, "MEASURE_ID": mid,
                  "MEASURE_VALUE": value}
                 for mid, value in (("M076", finished), ("M179", 0.0), ("M191", recovered),
                                    ("M192", 100 * recovered / finished))]
    rows += [{"MEASURE_ID": "M192", "MEASURE_VALUE": 55.0}]
    data = ReportData(measures(rows), SEPTEMBER)
    regions = sections.recovery_by_organisation(data, "CommissioningRegion")
    assert regions["name"].tolist() == ["South West", "London"]  # highest rate first; no UNKNOWN, no duplicates
    assert regions["Recovery rate"].tolist() == ["60%", "50%"]
    assert sections.unassigned_finished(data, "CommissioningRegion") == "40"
    assert sections.spread_sentence(regions, "commissioning regions") == (
        "Across the 2 commissioning regions, recovery rates ranged from 50% (London) to 60% (South West).")


def test_outcomes_by_problem_keeps_every_group_and_category_shown():
    """NHS Digital 2020-21 (England): "Other Mental Health problems" is published as one row with
    VARIABLE_B "Other", "All ADSM | Total" is a count, not a descriptor."""
    cells = [("Depression", "", 188559.0, 50.0), ("Anxiety and stress related disorders", "All", 259688.0, 52.9),
             ("Anxiety and stress related disorders", "Post-traumatic stress disorder", 23931.0, 39.8),
             ("Anxiety and stress related disorders", "Social phobias", 13045.0, 36.4),
             ("Other Mental Health problems", "Other", 7755.0, 48.8), ("All ADSM", "Total", 70202.0, float("nan"))]
    rows = []
    for a, b, finished, rate in cells:
        rows += [{"REPORTING_PERIOD_START": "2020-04-01", "REPORTING_PERIOD_END": "2021-03-31",
                  "VARIABLE_TYPE": "Presenting Complaint", "VARIABLE_A": a, "VARIABLE_B": b, "MEASURE_ID": mid,
                  "MEASURE_VALUE": value} for mid, value in (("M076", finished), ("M192", rate))]
    data = ReportData(measures(rows, published=True), Period.parse("2020-21"))
    by = sections.outcomes_by(data, "Presenting Complaint")
    groups = by[by.level == "group"]
    assert groups["label"].tolist() == ["Depression", "Anxiety and stress related disorders",
                                        "Other Mental Health problems"]
    assert by[by.level == "category"]["label"].tolist() == ["Post-traumatic stress disorder", "Social phobias"]
    sentence = narrative.extremes_sentence(sections.outcome_categories(groups), what="Recovery",
                                           thing="problem descriptor", base_noun="referrals")
    assert sentence == ("Recovery was highest for Anxiety and stress related disorders (52.9%) and lowest for Other "
                        "Mental Health problems (48.8%).")


def test_groups_published_only_as_categories_get_rates_from_summed_counts():
    """The 2015-16 ethnic table: categories only, with recovery counts (values from the file)."""
    cells = [("Mixed", "White and Asian", 1698.0, 126.0, 661.0), ("Mixed", "White and Black African", 984.0, 63.0, 391.0)]
    rows = []
    for a, b, finished, not_caseness, recovered in cells:
        rows += [{"REPORTING_PERIOD_START": "2015-04-01", "REPORTING_PERIOD_END": "2016-03-31",
                  "VARIABLE_TYPE": "Ethnic Group", "VARIABLE_A": a, "VARIABLE_B": b, "MEASURE_ID": mid,
                  "MEASURE_VALUE": value}
                 for mid, value in (("M076", finished), ("M179", not_caseness), ("M191", recovered),
                                    ("M192", 100 * recovered / (finished - not_caseness)))]
    data = ReportData(measures(rows, published=True), Period.parse("2015-16"))
    group = sections.outcomes_by(data, "Ethnic Group").set_index("label").loc["Mixed"]
    # (661 + 391) / (1698 + 984 - 126 - 63) = 1052 / 2493 = 42.198...%
    assert group["Finished a course"] == "2,682" and group["Recovery rate"] == "42.2%"


def test_empty_selections_give_empty_tables_not_errors():
    data = ReportData(measures([{"MEASURE_ID": "M001", "MEASURE_VALUE": 10.0}]), SEPTEMBER)
    assert sections.outcomes_by(data, "Ethnic Group").empty
    assert sections.breakdown_counts(data, "Ethnic Group").empty
    assert sections.deprivation_table(data).empty
    assert sections.waits_from_breakdown(data) is None
    assert sections.recovery_by_organisation(data, "Provider").empty
    assert sections.unassigned_finished(data, "CommissioningRegion") is None


def test_annual_waits_come_from_the_waiting_time_breakdown():
    cells = [("First treatment", "<=28 days", 513499.0), ("First treatment", "<6 weeks", 571035.0),
             ("First treatment", "<18 weeks", 622012.0), ("First to Second treatment", ">90 days", 112087.0)]
    rows = [{"REPORTING_PERIOD_START": "2020-04-01", "REPORTING_PERIOD_END": "2021-03-31", "VARIABLE_TYPE": "Waiting Time",
             "VARIABLE_A": a, "VARIABLE_B": b, "MEASURE_ID": "M076", "MEASURE_VALUE": v} for a, b, v in cells]
    rows.append({"REPORTING_PERIOD_START": "2020-04-01", "REPORTING_PERIOD_END": "2021-03-31", "MEASURE_ID": "M076",
                 "MEASURE_VALUE": 634649.0})
    data = ReportData(measures(rows, published=True), Period.parse("2020-21"))
    waits = sections.waits_from_breakdown(data)
    # NHS Digital's 2020-21 key fact: 90.0% started treatment within six weeks (571,035 / 634,649)
    assert waits["within_6_weeks"] == "90.0%" and waits["within_18_weeks"] == "98.0%"
    assert sections.key_facts(data)["waited_6_weeks_rate"] == "90.0%"


def test_comparisons_use_the_previous_month_and_the_same_month_a_year_earlier():
    rows = []
    for start, end, value in (("2019-09-01", "2019-09-30", 100.0), ("2020-07-01", "2020-07-31", 90.0),
                              ("2020-08-01", "2020-08-31", 110.0), ("2020-09-01", "2020-09-30", 121.0)):
        rows.append({"REPORTING_PERIOD_START": start, "REPORTING_PERIOD_END": end, "MEASURE_ID": "M001",
                     "MEASURE_VALUE": value})
    data = ReportData(measures(rows), SEPTEMBER)
    assert sections.comparison(data, "M001", "{figure} referrals were received in {period}") == (
        "121 referrals were received in September 2020, up 10.0% from 110 in August 2020 and up 21.0% from 100 in "
        "September 2019.")
    without_august = ReportData(measures([r for r in rows if r["REPORTING_PERIOD_START"] != "2020-08-01"]), SEPTEMBER)
    assert sections.comparison(without_august, "M001", "{figure} referrals were received in {period}") == (
        "121 referrals were received in September 2020, up 21.0% from 100 in September 2019.")


def test_tables_mark_suppressed_cells_with_a_legend():
    frame = pd.DataFrame({"Group": ["A", "B"], "Referrals": ["*", "10"]})
    assert sections.caption("Referrals by group", frame).endswith(sections.SUPPRESSED_LEGEND)
    assert sections.caption("Referrals by group", frame.replace("*", "5")) == "Referrals by group"


def test_age_groups_are_shown_youngest_first():
    labels = ["Not stated/Not known/Invalid", "16 to 17", "18 to 35", "65 and over", "Under 16", "36 to 64"]
    frame = pd.DataFrame({"label": labels, "group": labels, "count": [1.0] * 6, "published": ["1"] * 6})
    assert sections.in_age_order(frame)["label"].tolist() == ["Under 16", "16 to 17", "18 to 35", "36 to 64",
                                                             "65 and over", "Not stated/Not known/Invalid"]
    newer = frame.assign(label=["Under 18", "18 to 25", "26 to 64", "65 to 74", "90 and over", "75 to 89"])
    assert sections.in_age_order(newer)["label"].tolist() == newer["label"].tolist()

"""The sentence logic (narrative.py) on small hand-written series and tables.

Every expected sentence is worked out by hand from the figures written in the test.
"""

from __future__ import annotations

import math
import re
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from iapt_report.data.periods import Period
from iapt_report.report import narrative
from iapt_report.report.narrative import Category, Point

NAN = float("nan")
FORBIDDEN = re.compile(r"\*|suppressed|not available|fewer than 5", re.IGNORECASE)


def year(label: str, value: float) -> Point:
    return Point(label, value, f"{value:,.0f}" if value == value else "", Period.parse(label).start)


def month(label: str, value: float, text: str | None = None) -> Point:
    period = Period.parse(label)
    return Point(narrative.period_name(period), value,
                 text if text is not None else (f"{value:,.0f}" if value == value else ""), period.start)


# --- trends ---------------------------------------------------------------------------------------

def test_annual_trend_describes_the_fall_from_the_peak_not_the_first_year():
    # NHS Digital's annual tables: referrals received 2017-18 to 2020-21
    points = [year("2017-18", 1439957), year("2018-19", 1604000), year("2019-20", 1694790), year("2020-21", 1456446)]
    text = narrative.describe_trend(points, "Referrals received", statistic="count", exact=True, plural=True,
                                    unit="years")
    assert text.title == "Referrals received fell to 1,456,446 in 2020-21 from a peak of 1,694,790 in 2019-20"
    # 100 * (1456446 - 1694790) / 1694790 = -14.06...
    assert text.sentence.startswith("Referrals received were 1,456,446 in 2020-21, down 14.1% from 1,694,790 "
                                    "in 2019-20.")
    assert "rose" not in text.title
    assert text.standing == ("Over the 4 years shown, referrals received were highest in 2019-20 (1,694,790) and "
                             "lowest in 2017-18 (1,439,957).")


def test_monthly_trend_compares_with_the_month_before_and_the_same_month_a_year_earlier():
    values = [100, 90, 95, 97, 99, 120, 101, 103, 105, 107, 109, 111, 130]
    labels = ["2020-06", "2020-07", "2020-08", "2020-09", "2020-10", "2020-11", "2020-12", "2021-01", "2021-02",
              "2021-03", "2021-04", "2021-05", "2021-06"]
    points = [month(label, value) for label, value in zip(labels, values)]
    text = narrative.describe_trend(points, "Referrals received", statistic="count", exact=True, plural=True,
                                    unit="months", compare_year_earlier=True)
    assert text.title == "Referrals received rose to 130 in June 2021 from 111 in May 2021, the highest of the 13 " \
                         "months shown"
    # (130 - 111) / 111 = 17.1%; (130 - 100) / 100 = 30.0%
    assert text.sentence == ("Referrals received were 130 in June 2021, up 17.1% from 111 in May 2021 and up 30.0% "
                             "from 100 in June 2020. This was the highest of the 13 months shown.")


def test_a_rate_trend_is_described_in_percentage_points_and_names_the_lowest():
    points = [month("2021-04", 53.4, "53.4%"), month("2021-05", 52.5, "52.5%"), month("2021-06", 48.4, "48.4%")]
    text = narrative.describe_trend(points, "The recovery rate", statistic="percentage", exact=True, plural=False,
                                    unit="months")
    assert text.title == "The recovery rate fell to 48.4% in June 2021 from 52.5% in May 2021, the lowest of the 3 " \
                         "months shown"
    assert "down 4.1 percentage points from 52.5% in May 2021" in text.sentence


def test_an_unchanged_latest_value_says_so():
    points = [month("2021-04", 55, "55%"), month("2021-05", 53, "53%"), month("2021-06", 53, "53%")]
    text = narrative.describe_trend(points, "The recovery rate", statistic="percentage", exact=False, plural=False,
                                    unit="months")
    assert text.title.startswith("The recovery rate was unchanged at 53% in June 2021 from May 2021")
    assert "the same as in May 2021" in text.sentence


def test_rounded_figures_are_compared_by_value_without_a_percentage_change():
    points = [month("2021-05", 2920), month("2021-06", 2780)]
    text = narrative.describe_trend(points, "Referrals received", statistic="count", exact=False, plural=True,
                                    unit="months")
    assert text.sentence == "Referrals received were 2,780 in June 2021, down from 2,920 in May 2021."


def test_a_suppressed_point_is_skipped_and_never_written():
    points = [month("2021-04", 20), month("2021-05", NAN), month("2021-06", 25)]
    text = narrative.describe_trend(points, "Referrals received", statistic="count", exact=False, plural=True,
                                    unit="months")
    # compared with the last published month, April
    assert text.title == "Referrals received rose to 25 in June 2021 from 20 in April 2021"
    assert not FORBIDDEN.search(text.title + text.sentence)


def test_a_suppressed_latest_point_gives_a_neutral_title():
    points = [month("2021-04", 20), month("2021-05", 30), month("2021-06", NAN)]
    text = narrative.describe_trend(points, "Referrals received", statistic="count", exact=False, plural=True,
                                    unit="months")
    assert text.title == "Referrals received by month, April 2021 to June 2021"
    assert not re.search(r"\b(rose|fell)\b", text.title)
    assert not FORBIDDEN.search(text.title + text.sentence)


def test_no_trend_without_two_published_points():
    points = [month(label, NAN) for label in ("2021-01", "2021-02", "2021-03", "2021-04", "2021-05")]
    points.append(month("2021-06", 10))
    assert narrative.describe_trend(points, "Referrals received", statistic="count", exact=False, plural=True,
                                    unit="months") is None


@given(st.lists(st.one_of(st.integers(0, 50), st.just(None)), min_size=2, max_size=13))
def test_the_direction_word_always_agrees_with_the_charted_values(values):
    labels = [f"{2020 + (i // 12)}-{(i % 12) + 1:02d}" for i in range(len(values))]
    points = [month(label, NAN if v is None else float(v)) for label, v in zip(labels, values)]
    text = narrative.describe_trend(points, "Referrals received", statistic="count", exact=False, plural=True,
                                    unit="months")
    published = [p for p in points if p.published]
    if len(published) < 2:
        assert text is None
        return
    if not points[-1].published:
        assert not re.search(r"\b(rose|fell)\b", text.title)
        return
    latest, previous = published[-1].value, published[-2].value
    expected = "rose" if latest > previous else "fell" if latest < previous else "unchanged"
    assert expected in text.title
    assert not FORBIDDEN.search(text.title + text.sentence)


def test_comparison_sentence_leaves_out_comparisons_with_unpublished_figures():
    current = month("2021-06", 2780)
    sentence = narrative.comparison_sentence(current, "{figure} referrals were received in {period}",
                                             statistic="count", exact=False, previous=month("2021-05", NAN),
                                             year_earlier=month("2020-06", 2500))
    assert sentence == "2,780 referrals were received in June 2021, up from 2,500 in June 2020."
    assert narrative.comparison_sentence(month("2021-06", NAN), "{figure} in {period}", statistic="count",
                                         exact=False) is None
    assert narrative.comparison_sentence(current, "{figure} in {period}", statistic="count", exact=False,
                                         only_if_compared=True) is None


# --- highest and lowest ----------------------------------------------------------------------------

def test_highest_and_lowest_are_chosen_among_every_category_shown():
    # NHS Digital 2020-21: the group rows of the problem descriptor table
    rows = [Category("Depression", 50.0, "50.0%", 188559, "188,559"),
            Category("Anxiety and stress related disorders", 52.9, "52.9%", 259688, "259,688"),
            Category("Other Mental Health problems", 48.8, "48.8%", 7755, "7,755"),
            Category("Other recorded problems", 53.7, "53.7%", 6291, "6,291"),
            Category("Not stated/Not known/Invalid", 50.7, "50.7%", 172356, "172,356")]
    sentence = narrative.extremes_sentence(rows, what="Recovery", thing="problem descriptor",
                                           base_noun="referrals that finished a course")
    assert sentence == ("Recovery was highest for Other recorded problems (53.7%) and lowest for Other Mental Health "
                        "problems (48.8%).")


def test_a_not_stated_extreme_is_named_as_not_stated_and_a_small_base_is_flagged():
    rows = [Category("Agoraphobia", 36.0, "36.0%", 2610, "2,610"),
            Category("Body Dysmorphic Disorder", 65.5, "65.5%", 64, "64"),
            Category("Not stated/Not known/Invalid", 30.0, "30.0%", 500, "500")]
    sentence = narrative.extremes_sentence(rows, what="Recovery", thing="problem descriptor",
                                           base_noun="referrals that finished a course")
    assert sentence == ("Recovery was highest for Body Dysmorphic Disorder (65.5%, based on only 64 referrals that "
                        "finished a course) and lowest for referrals whose problem descriptor was not stated, not "
                        "known or invalid (30.0%).")


def test_withheld_categories_are_counted_never_written():
    rows = [Category("A", 40.0, "40%"), Category("B", 60.0, "60%"), Category("C", NAN, ""), Category("D", 50.0, "50%")]
    sentence = narrative.extremes_sentence(rows, what="Recovery", thing="ethnic group", base_noun="referrals",
                                           name=narrative.ethnic_group_people)
    assert sentence.endswith("One ethnic group with too few referrals to publish is not compared.")
    assert not FORBIDDEN.search(sentence)
    many = rows + [Category("E", NAN, "")]
    assert "2 ethnic groups with too few referrals" in narrative.extremes_sentence(
        many, what="Recovery", thing="ethnic group", base_noun="referrals")
    categories = narrative.extremes_sentence(many, what="Recovery", thing="problem descriptor category",
                                             base_noun="referrals")
    assert "2 problem descriptor categories with" in categories


def test_no_finding_when_most_categories_are_withheld_or_all_equal():
    rows = [Category("A", 40.0, "40%"), Category("B", 60.0, "60%")] + [Category(c, NAN, "") for c in "CDE"]
    assert narrative.extremes_sentence(rows, what="Recovery", thing="decile", base_noun="referrals") is None
    equal = [Category("A", 40.0, "40%"), Category("B", 40.0, "40%")]
    assert narrative.extremes_sentence(equal, what="Recovery", thing="decile", base_noun="referrals") is None


def test_withheld_counts_are_the_smallest_so_only_the_highest_is_named():
    rows = [Category("16 to 17", NAN, ""), Category("18 to 35", 90, "90"), Category("65 and over", 20, "20")]
    sentence = narrative.extremes_sentence(rows, what="The number of referrals", thing="age group", base_noun="",
                                           counts=True, small_base=0)
    assert sentence == "The number of referrals was highest for 18 to 35 (90)."


def test_ties_are_all_named():
    rows = [Category("London", 47, "47%"), Category("East of England", 47, "47%"), Category("North", 54, "54%")]
    sentence = narrative.extremes_sentence(rows, what="Recovery", thing="region", base_noun="referrals")
    assert sentence == "Recovery was highest for North (54%) and lowest for London and East of England (47% each)."


# --- names -------------------------------------------------------------------------------------------

def test_organisation_levels_are_named_as_they_were_in_the_period():
    assert narrative.level_name("ICB", Period.parse("2020-21"), plural=True) == "STPs"
    assert narrative.level_name("SubICB", Period.parse("2020-21")) == "CCG"
    assert narrative.level_name("ICB", Period.parse("2022-06")) == "STP"
    assert narrative.level_name("ICB", Period.parse("2022-07")) == "ICB"
    assert narrative.level_name("SubICB", Period.parse("2022-23")) == "sub-ICB location"


def test_ethnic_groups_are_written_as_people():
    assert narrative.ethnic_group_people("Mixed") == "people of Mixed ethnicity"
    assert narrative.ethnic_group_people("Black or Black British") == "Black or Black British people"
    assert narrative.ethnic_group_people("Other Ethnic Groups") == "people of Other ethnic groups"


def test_dates_are_written_for_readers():
    assert narrative.period_name(Period.parse("2019-09")) == "September 2019"
    assert narrative.short_period_name(Period.parse("2019-09")) == "Sep 2019"
    assert narrative.period_name(Period.parse("2020-21")) == "2020-21"
    assert narrative.next_period(Period.parse("2020-12")).label == "2021-01"
    assert narrative.next_period(Period.parse("2020-21")).label == "2021-22"
    assert narrative.month_name(date(2020, 9, 1)) == "September 2020"
    assert math.isnan(NAN) and not narrative.shown(NAN) and narrative.shown(0.0)

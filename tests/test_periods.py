from datetime import date

import pytest

from iapt_report.data.periods import Period, PeriodError


def test_month():
    p = Period.parse("2020-09")
    assert (p.kind, p.start, p.end) == ("month", date(2020, 9, 1), date(2020, 9, 30))
    assert Period.parse("2020-02").end == date(2020, 2, 29)  # leap year


def test_financial_year():
    p = Period.parse("2020-21")
    assert (p.kind, p.start, p.end) == ("year", date(2020, 4, 1), date(2021, 3, 31))
    assert [m.label for m in p.months][:2] == ["2020-04", "2020-05"] and len(p.months) == 12
    assert Period.parse("1999-00").end == date(2000, 3, 31)


def test_ambiguous_year_is_a_month_unless_marked():
    assert Period.parse("2011-12").kind == "month"
    assert Period.parse("FY2011-12") == Period.parse("2011/12")
    assert Period.parse("FY2011-12").start == date(2011, 4, 1)
    assert Period.parse("FY2011-12").label == "2011-12"


@pytest.mark.parametrize("text", ["2020-13", "2020-22", "2020", "Sept 2020", "2020-9", "FY2020-22"])
def test_bad_periods_name_the_form(text):
    with pytest.raises(PeriodError, match="YYYY-MM"):
        Period.parse(text)

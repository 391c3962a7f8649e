"""Reporting periods: a calendar month ("2020-09") or a financial year ("2020-21")."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date


class PeriodError(ValueError):
    """A period string that is neither YYYY-MM nor a financial year YYYY-YY."""


class EmptyPeriodError(PeriodError):
    """A period the data hold nothing for: its report would be all zeros."""


#: The years a period may start in (beyond them a period is a typing error, and some have no dates).
FIRST_YEAR, LAST_YEAR = 1900, 2999


@dataclass(frozen=True)
class Period:
    """An inclusive date range that measures are computed over."""

    label: str
    kind: str  # "month" or "year"
    start: date
    end: date

    @classmethod
    def parse(cls, text: str) -> "Period":
        if not isinstance(text, str):
            raise PeriodError(f"period {text!r} must be text such as \"2020-09\" or \"2020-21\"")
        text = text.strip()
        # "FY2011-12" or "2011/12" is always a financial year ("2011-12" alone is December 2011)
        explicit_year = re.fullmatch(r"(?:FY\s?(\d{4})[-/]|(\d{4})/)(\d{2})", text, flags=re.IGNORECASE)
        if explicit_year:
            year = _year(int(explicit_year.group(1) or explicit_year.group(2)), text)
            if (year + 1) % 100 == int(explicit_year.group(3)):
                label = f"{year}-{explicit_year.group(3)}"
                return cls(label, "year", date(year, 4, 1), date(year + 1, 3, 31))
        month = re.fullmatch(r"(\d{4})-(\d{2})", text)
        if month:
            year, mon = _year(int(month.group(1)), text), int(month.group(2))
            if 1 <= mon <= 12:
                last_day = calendar.monthrange(year, mon)[1]
                return cls(text, "month", date(year, mon, 1), date(year, mon, last_day))
            # a two-digit second part above 12 may be a financial year such as 2020-21
            if (year + 1) % 100 == mon:
                return cls(text, "year", date(year, 4, 1), date(year + 1, 3, 31))
        raise PeriodError(
            f"period {text[:40]!r} is not a month (YYYY-MM, e.g. 2020-09) or a financial year "
            f"(YYYY-YY, e.g. 2020-21; write FY2011-12 where a year could be read as a month)"
        )

    @property
    def months(self) -> list["Period"]:
        """The calendar months the period covers, in order."""
        out, y, m = [], self.start.year, self.start.month
        while date(y, m, 1) <= self.end:
            out.append(Period.parse(f"{y:04d}-{m:02d}"))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out

    def __str__(self) -> str:
        return self.label


def check_periods_have_data(periods: list[Period], date_range: tuple[date, date], allow_option: str) -> None:
    """Raise :class:`EmptyPeriodError` for any period wholly outside the data's event dates.

    ``date_range`` is the first and last event date of the dataset (:func:`iapt_report.data.dataset.event_date_range`);
    a period that does not overlap it would give a report of zeros. ``allow_option`` names the
    option that builds it anyway.
    """
    first, last = date_range
    empty = [period for period in periods if period.end < first or period.start > last]
    if empty:
        listed = ", ".join(f"{p.label} ({p.start.isoformat()} to {p.end.isoformat()})" for p in empty)
        raise EmptyPeriodError(
            f"period{'s' if len(empty) > 1 else ''} {listed} {'are' if len(empty) > 1 else 'is'} outside the data, "
            f"whose events run from {first.isoformat()} to {last.isoformat()}: choose a period in that range, "
            f"or pass {allow_option} to build it anyway (every count will be zero)")


def _year(year: int, text: str) -> int:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise PeriodError(f"period {text!r}: the year must be between {FIRST_YEAR} and {LAST_YEAR}")
    return year

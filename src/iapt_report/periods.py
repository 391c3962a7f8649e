"""Reporting periods: a calendar month ("2020-09") or a financial year ("2020-21")."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date


class PeriodError(ValueError):
    """A period string that is neither YYYY-MM nor a financial year YYYY-YY."""


@dataclass(frozen=True)
class Period:
    """An inclusive date range that measures are computed over."""

    label: str
    kind: str  # "month" or "year"
    start: date
    end: date

    @classmethod
    def parse(cls, text: str) -> "Period":
        text = str(text).strip()
        # "FY2011-12" or "2011/12" is always a financial year ("2011-12" alone is December 2011)
        explicit_year = re.fullmatch(r"(?:FY\s?(\d{4})[-/]|(\d{4})/)(\d{2})", text, flags=re.IGNORECASE)
        if explicit_year:
            year = int(explicit_year.group(1) or explicit_year.group(2))
            if (year + 1) % 100 == int(explicit_year.group(3)):
                label = f"{year}-{explicit_year.group(3)}"
                return cls(label, "year", date(year, 4, 1), date(year + 1, 3, 31))
        month = re.fullmatch(r"(\d{4})-(\d{2})", text)
        if month:
            year, mon = int(month.group(1)), int(month.group(2))
            if 1 <= mon <= 12:
                last_day = calendar.monthrange(year, mon)[1]
                return cls(text, "month", date(year, mon, 1), date(year, mon, last_day))
            # a two-digit second part above 12 may be a financial year such as 2020-21
            if (year + 1) % 100 == mon:
                return cls(text, "year", date(year, 4, 1), date(year + 1, 3, 31))
        raise PeriodError(
            f"period {text!r} is not a month (YYYY-MM, e.g. 2020-09) or a financial year "
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

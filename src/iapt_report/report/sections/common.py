"""What every section shares: period names, captions, percentages and counts derived from
unrounded figures, published text back to numbers, series over periods and comparisons.
"""

from __future__ import annotations

import pandas as pd

from iapt_report.data.periods import Period
from iapt_report.engine.disclosure import SUPPRESSED, publish_cell, round_half_up
from iapt_report.report import narrative
from iapt_report.report.narrative import Point
from iapt_report.report.report_data import ReportData, format_cell

#: the legend under any table that holds a suppressed cell
SUPPRESSED_LEGEND = "* Not published to protect confidentiality: a count under 5, or a figure based on under 5 referrals."

#: organisation codes that stand for "no organisation recorded", never an organisation
UNKNOWN_ORG_CODES = {"UNKNOWN", "UNK", "X", "-1", "-3", ""}


def period_name(data: ReportData, period: Period | None = None) -> str:
    """"September 2020" for a month, "2020-21" for a financial year."""
    return narrative.period_name(period or data.period)


def caption(text: str, frame: pd.DataFrame | None = None) -> str:
    """A table caption, with the suppression legend when any cell of ``frame`` is ``*``."""
    if frame is not None and (frame.astype(str) == SUPPRESSED).any().any():
        return f"{text}. {SUPPRESSED_LEGEND}"
    return text


def derived_percentage(data: ReportData, numerator: float, denominator: float) -> str | None:
    """A percentage computed here, for a sentence: "52.1%" (England), "52%" below; None when it
    cannot be stated (no denominator, a numerator under 5 below England, or counts that were
    rounded before they reached us)."""
    cell = derived_percentage_cell(data, numerator, denominator)
    return cell if cell not in (SUPPRESSED, "") else None


def derived_percentage_cell(data: ReportData, numerator: float, denominator: float) -> str:
    """The same as a table cell: ``*`` below England when the numerator is under 5, "" when the
    percentage cannot be computed from unrounded counts."""
    if not data.values_unrounded or not denominator or denominator <= 0 or numerator != numerator:
        return ""
    value = 100.0 * numerator / denominator
    return format_cell(publish_cell(value, "percentage", national=data.national, base_count=numerator), "percentage")


def derived_count_cell(data: ReportData, value: float) -> str:
    """A count computed here (e.g. a sum) as a table cell; "" when it cannot be computed exactly."""
    if value != value or not data.values_unrounded:
        return ""
    return format_cell(publish_cell(value, "count", national=data.national), "count")


def derived_count(data: ReportData, value: float) -> str | None:
    """A count computed here, for a sentence; None when suppressed or not computable."""
    cell = derived_count_cell(data, value)
    return cell if cell not in (SUPPRESSED, "") else None


def number_from_text(published: str) -> float:
    """A published figure ("52%", "1,234", "52") as a number for a chart; NaN when suppressed or missing.

    Charts of sub-national data plot what is published, never more precise values.
    """
    cleaned = str(published).replace(",", "").rstrip("%").strip()
    try:
        return float(cleaned)
    except ValueError:
        return float("nan")


def rate_as_text(value: float, national: bool) -> str:
    """A rate such as 'per 100,000' to one decimal place (nationally) or whole (below); "" when NaN."""
    if value != value:  # NaN
        return ""
    return f"{round_half_up(value, 1 if national else 0):,}"


# --- series over periods ---------------------------------------------------------------------------


def series(data: ReportData, measure_id: str, last: int | None = None) -> list[Point]:
    """One measure over the build's periods (oldest first) as :class:`narrative.Point`s: the
    value a chart plots and the figure as written, NaN/"" where it is not published."""
    periods = data.periods()
    if last:
        periods = periods[-last:]
    out = []
    for period in periods:
        try:
            data.statistic(measure_id, period)
        except LookupError:
            continue
        out.append(Point(narrative.period_name(period), data.number(measure_id, period),
                         data.figure(measure_id, period) or "", period.start))
    return out


def trend(data: ReportData, measure_ids: dict[str, str], last: int = 13) -> pd.DataFrame:
    """Values over the build's periods (oldest first), for charts; long form.

    ``period`` is the period as a chart axis shows it ("Sep 2020", "2020-21"); ``value`` is what
    a chart may plot (unrounded for England, the published number below, NaN where not
    published); ``published`` is the figure as a table shows it.
    """
    rows = []
    for period in data.periods()[-last:]:
        for label, mid in measure_ids.items():
            try:
                cell = data.cell(mid, period)
            except LookupError:
                continue
            rows.append({"period": narrative.short_period_name(period), "period_start": period.start,
                         "measure": label, "value": data.number(mid, period), "published": cell})
    return pd.DataFrame(rows, columns=["period", "period_start", "measure", "value", "published"])


def describe_series(data: ReportData, measure_id: str, what: str, *, plural: bool, last: int = 13):
    """:func:`narrative.describe_trend` of one measure over the build's periods (None if no trend)."""
    points = series(data, measure_id, last)
    if not points:
        return None
    return narrative.describe_trend(
        points, what, statistic=data.statistic(measure_id), exact=data.national, plural=plural,
        unit="months" if data.period.kind == "month" else "years",
        compare_year_earlier=data.period.kind == "month")


def comparison(data: ReportData, measure_id: str, template: str, *, only_if_compared: bool = False) -> str | None:
    """"153,472 referrals were received in June 2021, up 3.6% from 148,118 in May 2021 and ..."

    Compares the report's period with the one just before and (months) the same month a year
    earlier, where the build holds them and they are published. ``template`` holds
    ``{figure}`` and ``{period}``. None when the report's figure is not published.
    """
    if not data.shown(measure_id):
        return None
    points = {p.start: p for p in series(data, measure_id)}
    current = points.get(data.period.start)
    if current is None:
        return None
    kind = data.period.kind
    previous = next((p for start, p in points.items()
                     if narrative.next_period(narrative.period_starting(start, kind)).start == data.period.start), None)
    year_earlier = None
    if kind == "month":
        start = data.period.start
        year_earlier = points.get(start.replace(year=start.year - 1))
    return narrative.comparison_sentence(current, template, statistic=data.statistic(measure_id),
                                         exact=data.national, previous=previous, year_earlier=year_earlier,
                                         only_if_compared=only_if_compared)

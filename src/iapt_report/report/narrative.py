"""How the reports put numbers into words: sentences that are true of the data they describe.

Every function here is pure: it takes figures already published (disclosure control applied)
and returns a sentence, or ``None`` when there is nothing true and useful to say. Three rules
hold throughout:

* A figure that is not published (suppressed, ``*``, or missing) never appears inside a
  sentence: the clause that needs it is left out, or the whole sentence is.
* A trend is described over the whole series: the latest value against the previous period
  (and, for months, the same month a year earlier), and where it stands against the highest
  value shown. A direction word (rose, fell) always agrees with the values charted.
* "Highest" and "lowest" are chosen among every category a table shows, "not stated"
  included (and named as such); a rate resting on a small base says so.

Dates are written for readers: "September 2020", a financial year as "2020-21".

Kept as one module: the rules of wording (how a period, a change, a comparison or an extreme is
said) are read and changed together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from iapt_report.data.periods import Period

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]

#: a rate whose base (for example referrals that finished a course) is below this is described
#: as resting on a small number; chance moves such rates by several percentage points
SMALL_BASE = 100

#: ICBs replaced STPs, and sub-ICB locations replaced CCGs, on 1 July 2022
ICBS_FROM = date(2022, 7, 1)

# labels (compared case- and space-insensitively) that mean the category was not recorded
NOT_STATED_LABELS = {
    "not stated/not known/invalid", "not stated/not known", "not stated", "not known", "invalid", "unknown",
    "unknown ethnic groups", "not stated/not known/invalid/unknown", "unknown imd",
}


# --- periods and names ----------------------------------------------------------------------------

def month_name(day: date) -> str:
    """"September 2020"."""
    return f"{MONTHS[day.month - 1]} {day.year}"


def period_name(period: Period) -> str:
    """"September 2020" for a month, "2020-21" for a financial year."""
    if period.kind == "month":
        return month_name(period.start)
    return f"{period.start.year}-{str(period.end.year)[2:]}"


def short_period_name(period: Period) -> str:
    """"Sep 2020" for a month (chart axes), "2020-21" for a financial year."""
    if period.kind == "month":
        return f"{MONTHS[period.start.month - 1][:3]} {period.start.year}"
    return period_name(period)


def next_period(period: Period) -> Period:
    """The month or financial year after ``period``."""
    if period.kind == "month":
        year, month = (period.start.year + 1, 1) if period.start.month == 12 else (period.start.year,
                                                                                  period.start.month + 1)
        return Period.parse(f"{year:04d}-{month:02d}")
    return Period.parse(f"{period.end.year}-{str(period.end.year + 1)[2:]}")


def icb_era(period: Period) -> bool:
    """Whether ICBs and sub-ICB locations existed for the period (annual: from 2022-23)."""
    if period.kind == "year":
        return period.start.year >= 2022
    return period.start >= ICBS_FROM


def level_name(group_type: str, period: Period, *, plural: bool = False) -> str:
    """The name of an organisation level as it was called in ``period``.

    ICBs began on 1 July 2022; before then the same areas were sustainability and
    transformation partnerships (STPs) and sub-ICB locations were clinical commissioning
    groups (CCGs). A financial year from 2022-23 is described with the new names.
    """
    new = icb_era(period)
    names = {
        "CommissioningRegion": ("commissioning region", "commissioning regions"),
        "ICB": ("ICB", "ICBs") if new else ("STP", "STPs"),
        "SubICB": ("sub-ICB location", "sub-ICB locations") if new else ("CCG", "CCGs"),
        "Provider": ("provider", "providers"),
        "England": ("England", "England"),
    }
    singular, many = names.get(group_type, (group_type, group_type))
    return many if plural else singular


def is_not_stated(label: object) -> bool:
    """Whether a category label means "not stated, not known or invalid"."""
    return " ".join(str(label).split()).casefold() in NOT_STATED_LABELS


ETHNIC_GROUP_PEOPLE = {
    "white": "White people",
    "mixed": "people of Mixed ethnicity",
    "asian or asian british": "Asian or Asian British people",
    "black or black british": "Black or Black British people",
    "other ethnic groups": "people of Other ethnic groups",
    "other ethnic group": "people of Other ethnic groups",
}


def ethnic_group_people(label: str) -> str:
    """An ethnic group as a statistician writes it of people: "people of Mixed ethnicity"."""
    key = " ".join(str(label).split()).casefold()
    if key in ETHNIC_GROUP_PEOPLE:
        return ETHNIC_GROUP_PEOPLE[key]
    if is_not_stated(label):
        return "people whose ethnic group was not stated"
    return f"people in the {label} group"


def age_group_people(label: str) -> str:
    """An age group as people: "people aged 18 to 35", "people aged under 16"."""
    text = str(label)
    return f"people aged {text[:1].lower() + text[1:]}" if text[:1].isalpha() else f"people aged {text}"


def deprivation_decile(label: str) -> str:
    """A deprivation decile as written in a sentence: "decile 01 Least deprived"."""
    return str(label) if is_not_stated(label) else f"decile {label}"


def and_list(items: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    items = [str(i) for i in items]
    if not items:
        return ""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def plural(noun: str) -> str:
    """"problem descriptor" -> "problem descriptors", "category" -> "categories"."""
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def capitalise(text: str) -> str:
    """The first letter upper case, the rest unchanged ("people of ..." -> "People of ...")."""
    return text[:1].upper() + text[1:]


def shown(value: float | None) -> bool:
    """Whether a number was published (not suppressed, not missing)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


# --- changes and trends ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    """One period of a series as the report shows it.

    ``value`` is the number charted (NaN when the figure is not published); ``text`` is the
    figure as written in prose ("153,472", "51.5%"); ``label`` the period for readers.
    """

    label: str
    value: float
    text: str
    start: date | None = None

    @property
    def published(self) -> bool:
        return shown(self.value) and bool(self.text)


def _percent_change(now: float, before: float) -> str | None:
    if before <= 0:
        return None
    change = 100.0 * (now - before) / before
    return f"{abs(change):.1f}%"


def change_phrase(current: Point, earlier: Point | None, *, statistic: str, exact: bool) -> str | None:
    """How ``current`` compares with ``earlier``: "up 3.6% from 148,118 in May 2021",
    "down 1.0 percentage point from 52.5% in May 2021", "the same as in May 2021".

    ``exact`` is True for unrounded figures (England): counts then carry a percentage change
    and percentages a difference in percentage points. Rounded figures (below England) are
    compared by value only: a change worked out from two rounded counts would claim more
    precision than they hold. None when either figure is not published.
    """
    if earlier is None or not current.published or not earlier.published:
        return None
    if current.value == earlier.value:
        return f"the same as in {earlier.label}"
    direction = "up" if current.value > earlier.value else "down"
    size = ""
    if exact and statistic in ("count", "sum"):
        percent = _percent_change(current.value, earlier.value)
        size = f" {percent}" if percent else ""
    elif exact and statistic == "percentage":
        points = abs(_number(current.text) - _number(earlier.text))
        if points == points:  # not NaN
            size = f" {points:.1f} percentage point{'' if round(points, 1) == 1.0 else 's'}"
    return f"{direction}{size} from {earlier.text} in {earlier.label}"


def _number(text: str) -> float:
    try:
        return float(str(text).replace(",", "").rstrip("%"))
    except ValueError:
        return float("nan")


def _year_earlier(points: list[Point], latest: Point) -> Point | None:
    if latest.start is None:
        return None
    target = date(latest.start.year - 1, latest.start.month, latest.start.day)
    return next((p for p in points if p.start == target), None)


@dataclass(frozen=True)
class TrendText:
    """A chart title stating the finding, and a fuller sentence for the narrative."""

    title: str
    sentence: str
    standing: str = ""  # the whole-series part of ``sentence`` alone (highest and lowest), or ""


def describe_trend(points: list[Point], what: str, *, statistic: str, exact: bool, plural: bool,
                   unit: str, compare_year_earlier: bool = False) -> TrendText | None:
    """Describe a whole series, oldest point first.

    The title says how the latest published value moved from the one before (the direction
    agrees with the values charted) and where it stands against the series' highest and lowest
    values; the sentence adds the change on the same period a year earlier when
    ``compare_year_earlier`` (monthly series). ``what`` names the series ("Referrals
    received", "The recovery rate"); ``unit`` the periods ("months", "years").

    None when fewer than two points are published: there is no trend to describe.
    """
    published = [p for p in points if p.published]
    if len(published) < 2:
        return None
    latest = points[-1]
    count = len(points)
    if not latest.published:
        first = points[0]
        title = f"{what} by {unit[:-1] if unit.endswith('s') else unit}, {first.label} to {latest.label}"
        sentence = (f"{what} for {latest.label} {'are' if plural else 'is'} not published, so no latest change "
                    "is described.")
        return TrendText(title, sentence)
    previous = published[-2]
    peak = max(published, key=lambda p: p.value)
    low = min(published, key=lambda p: p.value)
    verb = ("rose" if latest.value > previous.value else "fell" if latest.value < previous.value
            else ("were" if plural else "was") + " unchanged")
    if verb.endswith("unchanged"):
        title = f"{what} {verb} at {latest.text} in {latest.label} from {previous.label}"
    else:
        source = ("a peak of " if previous is peak and latest.value < previous.value and peak.value > latest.value
                  else "")
        title = f"{what} {verb} to {latest.text} in {latest.label} from {source}{previous.text} in {previous.label}"
    all_equal = peak.value == low.value
    standing = ""
    if not all_equal and len(published) > 2:
        if latest.value == peak.value:
            standing = f", the highest of the {count} {unit} shown"
        elif latest.value == low.value:
            standing = f", the lowest of the {count} {unit} shown"
        elif previous is not peak:
            standing = f", below the peak of {peak.text} in {peak.label}"
    title += standing

    be = "were" if plural else "was"
    clauses = [change_phrase(latest, previous, statistic=statistic, exact=exact)]
    if compare_year_earlier:
        year_earlier = _year_earlier(points, latest)
        if year_earlier is not None and year_earlier is not previous:
            clauses.append(change_phrase(latest, year_earlier, statistic=statistic, exact=exact))
    clauses = [c for c in clauses if c]
    sentence = f"{what} {be} {latest.text} in {latest.label}"
    if clauses:
        sentence += ", " + and_list(clauses)
    sentence += "."
    whole = ""
    if not all_equal and len(published) > 2:
        if latest.value == peak.value:
            sentence += f" This was the highest of the {count} {unit} shown."
        elif latest.value == low.value:
            sentence += f" This was the lowest of the {count} {unit} shown."
        whole = (f"Over the {count} {unit} shown, {what[:1].lower() + what[1:]} {be} highest in {peak.label} "
                 f"({peak.text}) and lowest in {low.label} ({low.text}).")
        if latest.value not in (peak.value, low.value):
            sentence += " " + whole
    return TrendText(title, sentence, whole)


def comparison_sentence(current: Point, template: str, *, statistic: str, exact: bool,
                        previous: Point | None = None, year_earlier: Point | None = None,
                        only_if_compared: bool = False) -> str | None:
    """"153,472 referrals were received in June 2021, up 3.6% from 148,118 in May 2021 and ..."

    ``template`` holds ``{figure}`` and ``{period}`` ("{figure} referrals were received in
    {period}", "The recovery rate was {figure} in {period}"). None when the current figure is
    not published, or (``only_if_compared``) when there is no published earlier figure to compare
    with; comparisons with figures that are not published are left out.
    """
    if not current.published:
        return None
    clauses = [change_phrase(current, p, statistic=statistic, exact=exact) for p in (previous, year_earlier)]
    clauses = [c for c in clauses if c]
    if only_if_compared and not clauses:
        return None
    sentence = template.format(figure=current.text, period=current.label)
    return sentence + (", " + and_list(clauses) if clauses else "") + "."


def period_starting(start: date, kind: str) -> Period:
    """The month or financial year that starts on ``start``."""
    if kind == "month":
        return Period.parse(f"{start.year:04d}-{start.month:02d}")
    return Period.parse(f"{start.year}-{str(start.year + 1)[2:]}")


# --- highest and lowest ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Category:
    """One row of a table a finding is drawn from.

    ``value`` is the published rate as a number (NaN when not published); ``text`` as written
    ("52.9%"); ``base`` the published count the rate rests on (NaN when not published) and
    ``base_text`` that count as written.
    """

    label: str
    value: float
    text: str
    base: float = float("nan")
    base_text: str = ""

    @property
    def published(self) -> bool:
        return shown(self.value) and bool(self.text)


def _named(category: Category, name) -> str:
    return name(category.label) if name else category.label


def _with_base(category: Category, base_noun: str, small_base: int) -> str:
    if shown(category.base) and category.base < small_base and category.base_text:
        return f"{category.text}, based on only {category.base_text} {base_noun}"
    return category.text


def extremes_sentence(categories: list[Category], *, what: str, thing: str, base_noun: str,
                      name=None, small_base: int = SMALL_BASE, counts: bool = False,
                      min_share: float = 0.5) -> str | None:
    """"Recovery was highest for X (65.5%, based on only 64 referrals that finished a course) and
    lowest for Y (36.4%)." chosen among every published category, "not stated" included.

    ``what`` is the measure ("Recovery"), ``thing`` what the categories are ("problem
    descriptor"), ``base_noun`` what the base counts ("referrals that finished a course");
    ``name`` turns a label into words (e.g. :func:`ethnic_group_people`). Categories whose
    rate is not published are counted in a second sentence. None when fewer than two values,
    or fewer than ``min_share`` of the categories, are published (a "highest" among a few
    survivors says little), or they are all equal.

    ``counts``: the values are counts, so one that is not published is small (under 5) and
    would be the lowest: then only the highest is named.
    """
    published = [c for c in categories if c.published]
    if len(published) < 2 or len(published) < min_share * len(categories):
        return None
    top = max(c.value for c in published)
    bottom = min(c.value for c in published)
    if top == bottom:
        return None

    def describe(value: float) -> str:
        tied = [c for c in published if c.value == value]
        if len(tied) == 1:
            c = tied[0]
            return f"{_phrase(c, thing, name)} ({_with_base(c, base_noun, small_base)})"
        return f"{and_list([_phrase(c, thing, name) for c in tied])} ({tied[0].text} each)"

    withheld = [c for c in categories if not c.published]
    if counts and withheld:
        return f"{what} was highest for {describe(top)}."
    sentence = f"{what} was highest for {describe(top)} and lowest for {describe(bottom)}."
    if withheld:
        sentence += (f" One {thing} with too few referrals to publish is not compared." if len(withheld) == 1 else
                     f" {len(withheld)} {plural(thing)} with too few referrals to publish are not compared.")
    return sentence


def _phrase(category: Category, thing: str, name) -> str:
    if is_not_stated(category.label):
        return f"referrals whose {thing} was not stated, not known or invalid"
    return _named(category, name)

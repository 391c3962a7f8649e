"""The measure engine: the registry evaluated over pathways, appointments and IET logs.

``MeasureEngine(tables).compute(period)`` returns the unrounded long measures table, one row
per (geography, breakdown, measure), in NHS Digital's monthly CSV layout plus
``STATISTIC``/``BASE_MEASURE_ID`` (what disclosure control needs) and ``MEASURE_VALUE``.
Every step is an Ibis expression; only the aggregated result comes back as pandas.

Kept as one module: building the expressions, aggregating and reshaping them into the long table
are one query, read top to bottom.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd

from iapt_report.data.periods import Period
from iapt_report.outputs.exports import publication_columns
from iapt_report.reference import code_lists

from .pathways import PATHWAY_KEY, derive_pathways, is_attended
from .registry import Measure, load_registry, not_computable
from .snapshots import PERIOD_END, snapshot_rows

#: The unrounded measures table: the publication layout with its breakdown columns, and in place
#: of the published value what disclosure control needs (the statistic, the base measure) and the
#: value itself.
MEASURE_COLUMNS = [*publication_columns(breakdowns=True)[:-1], "STATISTIC", "BASE_MEASURE_ID", "MEASURE_VALUE"]


@dataclass(frozen=True)
class GeographyLevel:
    """A GROUP_TYPE and the pathway columns that give its ORG_CODE1/ORG_NAME1/ORG_CODE2/ORG_NAME2."""

    group_type: str
    code1: str | None = None
    name1: str | None = None
    code2: str | None = None
    name2: str | None = None

    @property
    def keys(self) -> list[str]:
        return [c for c in (self.code1, self.name1, self.code2, self.name2) if c]


LEVELS = {
    "England": GeographyLevel("England"),
    "CommissioningRegion": GeographyLevel("CommissioningRegion", "Region_Code", "Region_Name"),
    "ICB": GeographyLevel("ICB", "ICB_Code", "ICB_Name"),
    "SubICB": GeographyLevel("SubICB", "OrgIDComm", "SubICB_Name"),
    "Provider": GeographyLevel("Provider", code2="OrgID_Provider", name2="Provider_Name"),
}
GEOGRAPHY_COLUMNS = ["Region_Code", "Region_Name", "ICB_Code", "ICB_Name", "OrgIDComm", "SubICB_Name",
                     "OrgID_Provider", "Provider_Name"]

# Annual breakdowns: VARIABLE_TYPE -> the (VARIABLE_A, VARIABLE_B) columns computed per pathway.
# Each entry is a list of groupings; ("...", None) gives VARIABLE_B = "All" for the group.
BREAKDOWNS = {
    "Gender": [("GenderLabel", None)],
    "Age Group": [("AgeGroup", None)],
    "Ethnic Group": [("EthnicGroup", "EthnicCategoryLabel"), ("EthnicGroup", None)],
    "Presenting Complaint": [("ProblemDescriptor", "ProblemDescriptorDetail"), ("ProblemDescriptor", None)],
    "Indices of Deprivation Decile": [("IMDDecileLabel", None)],
}
ALL = "All"


class MeasureEngine:
    """Measures for any period from one dataset; pathways are derived once and reused."""

    def __init__(self, tables: dict[str, ibis.Table]):
        self.tables = tables
        #: measures the dataset cannot give (an optional table or field they require is absent):
        #: ID -> reason. They are left out of every result, never reported as zero.
        self.not_computed = not_computable(load_registry(), {name: t.columns for name, t in tables.items()})
        self.registry = tuple(m for m in load_registry() if m.id not in self.not_computed)
        # only the columns the measures read are kept (cached in the backend), not every derived field
        pathways = derive_pathways(tables)
        wanted = _pathway_columns(self.registry)
        self.pathways = pathways.select(*[c for c in pathways.columns if c in wanted]).cache()
        geography = self.pathways.select(PATHWAY_KEY, *GEOGRAPHY_COLUMNS)
        contacts = tables["IDS201CareContact"]
        self.appointments = (
            contacts.mutate(Attended=is_attended(contacts))
            .join(geography, PATHWAY_KEY)
            .select("CareContactId", "CareContDate", "AttendOrDNACode", "ConsMechanism", "Attended",
                    *GEOGRAPHY_COLUMNS)
        )
        self.internet_logs = tables["IDS205InternetTherLog"].join(geography, PATHWAY_KEY).select(
            "UniqueID_IDS205", "EndDateIntEnabledTherLog", *GEOGRAPHY_COLUMNS
        )

    def compute(
        self,
        period: Period,
        levels: list[str] | None = None,
        breakdowns: bool | None = None,
        breakdown_levels: list[str] | None = None,
    ) -> pd.DataFrame:
        """The unrounded long table for ``period``.

        ``levels`` defaults to every geography; ``breakdowns`` defaults to on for a financial
        year (the annual report's breakdowns) and off for a month; ``breakdown_levels`` limits
        the geographies the breakdowns are computed for (default: the same as ``levels``).
        """
        levels = _checked_levels(levels)
        if breakdowns is None:
            breakdowns = period.kind == "year"
        frames = self._compute_breakdown([period], levels, None, None)
        if breakdowns:
            # the breakdown labels are worked out once, for the pathways in the period, and kept
            # while every breakdown is aggregated from them
            with self._labelled_pathways(period).cache() as labelled:
                for variable_type, groupings in BREAKDOWNS.items():
                    for var_a, var_b in groupings:
                        frames += self._compute_breakdown(
                            [period], breakdown_levels or levels, variable_type, (var_a, var_b), labelled
                        )
        return _finished(pd.concat(frames, ignore_index=True), period, levels)

    def compute_totals(self, periods: list[Period], levels: list[str] | None = None) -> pd.DataFrame:
        """The totals (no breakdowns) of several periods that do not overlap, such as a report's trend months.

        The same table as ``compute(p, levels, breakdowns=False)`` for each period in turn,
        concatenated; but each unit's rows are aggregated for all the periods at once, one
        query per event date, each row counted in the period its date falls in (see
        :func:`_aggregate_by_period`), instead of once per period.
        """
        levels = _checked_levels(levels)
        periods = list(periods)
        frames = self._compute_breakdown(periods, levels, None, None)
        return pd.concat([_finished(frame, period, levels) for frame, period in zip(frames, periods)],
                         ignore_index=True)

    # --- one breakdown (or the totals) at every level --------------------------------------
    def _compute_breakdown(self, periods, levels, variable_type, grouping, labelled=None) -> list[pd.DataFrame]:
        """Every level from one aggregation per unit at the finest grain (sub-ICB x provider).

        Counts, sums, maxima and minima roll up exactly; a mean rolls up as sum / count. A
        median does not, so medians get their own (small) query per level. ``labelled``: the
        pathways with their breakdown labels (:meth:`_labelled_pathways`), for a breakdown of
        one period. Returns one long frame per period of ``periods``, in their order.
        """
        measures = [m for m in self.registry if variable_type is None or m.breakdowns]
        direct = [m for m in measures if m.statistic != "percentage"]
        if variable_type and labelled is None:
            labelled = self._labelled_pathways(periods[0])
        units = {
            "pathway": labelled if variable_type else self.pathways,
            "appointment": self.appointments,
            "internet_log": self.internet_logs,
        }
        fine_keys = list(GEOGRAPHY_COLUMNS) + (["VARIABLE_A", "VARIABLE_B"] if grouping else [])
        fine, medians = [], []
        for group in _snapshot_groups(direct):
            # a snapshot's rows differ from period to period: each period is aggregated on its own
            fine.append(self._snapshot_parts(group, periods, variable_type, grouping, fine_keys))
            medians.append((None, []))
        for unit, table in units.items():
            unit_measures = [m for m in direct if _group_of(m) == unit]
            if not unit_measures:
                continue
            if len(periods) == 1:
                table = _in_period_rows(table, unit_measures, periods[0])
            if grouping:
                table = _with_variable_columns(table, variable_type, grouping)
            decomposable = [m for m in unit_measures if m.statistic != "median"]
            fine.append(_aggregate_parts(table, fine_keys, decomposable, periods))
            medians.append((table, [m for m in unit_measures if m.statistic == "median"]))

        frames = [[] for _ in periods]
        for level_name in levels:
            level = LEVELS[level_name]
            keys = list(level.keys) + (["VARIABLE_A", "VARIABLE_B"] if grouping else [])
            wide = [None for _ in periods]
            for (table, median_measures), parts in zip(medians, fine):
                unit_measures = [m for m in direct if _group_of(m) == _unit_of(parts[0])]
                median_values = _aggregate(table, keys, median_measures, periods) if median_measures else None
                for i, period_parts in enumerate(parts):
                    result = _roll_up(period_parts, keys, [m for m in unit_measures if m.statistic != "median"])
                    if median_values is not None:
                        result = _merge_wide(result, median_values[i], keys)
                    wide[i] = result if wide[i] is None else _merge_wide(wide[i], result, keys)
            for i in range(len(periods)):
                frames[i].append(_to_long(wide[i], level, variable_type, measures))
        return [pd.concat(period_frames, ignore_index=True) for period_frames in frames]

    def _labelled_pathways(self, period: Period) -> ibis.Table:
        """The pathways any breakdown measure counts in ``period``, with their breakdown labels."""
        measures = [m for m in self.registry if m.breakdowns and _group_of(m) == "pathway" and m.statistic != "percentage"]
        return _in_period_rows(self._pathways_for(period), measures, period)

    def _snapshot_parts(self, measures: list[Measure], periods: list[Period], variable_type, grouping,
                        keys) -> list[pd.DataFrame]:
        """The finest-grain parts of snapshot measures sharing one cohort kind; one frame per period.

        A pathway is in the snapshot of every period it is open at the end of, so the periods'
        snapshots (each with its own period end, :data:`PERIOD_END`) are stacked and aggregated
        in one query, grouped by period.
        """
        cohort = measures[0].cohort
        assert cohort is not None  # a snapshot measure has a cohort (registry)
        stacked = None
        for i, period in enumerate(periods):
            pathways = self._pathways_for(period) if grouping else self.pathways
            table = snapshot_rows(pathways, self.tables, cohort, period.end).mutate(**{_PERIOD_INDEX: ibis.literal(i)})
            if grouping:
                table = _with_variable_columns(table, variable_type, grouping)
            stacked = table if stacked is None else stacked.union(table, distinct=False)
        assert stacked is not None
        metrics = _metrics(stacked, measures, lambda m: in_cohort(stacked, m, periods[0]), decomposed=True)
        result = stacked.group_by([*keys, _PERIOD_INDEX]).aggregate(**metrics).execute()
        frames = _split_by_period(result, keys, measures, len(periods), decomposed=True)
        for frame in frames:
            frame.attrs["unit"] = _group_of(measures[0])
        return frames

    def _pathways_for(self, period: Period) -> ibis.Table:
        """Pathways with the annual breakdown labels (age is at the end of the period)."""
        rules = code_lists()
        p = self.pathways
        end = period.end
        birthday_later = (p.PersonBirthDate.month() > end.month) | (
            (p.PersonBirthDate.month() == end.month) & (p.PersonBirthDate.day() > end.day)
        )
        age = end.year - p.PersonBirthDate.year() - birthday_later.cast("int64")
        age_group = ibis.cases(
            *[((age >= low) & (age <= high), label) for label, low, high in rules["age_groups"]],
            else_=rules["age_not_stated_label"],
        )
        ethnic = p.EthnicCategory.strip().upper()
        categories = rules["ethnic_category"]
        return p.mutate(
            GenderLabel=p.Gender.strip().substitute(rules["gender"], else_=rules["gender_not_stated_label"]),
            AgeGroup=age_group,
            EthnicGroup=ethnic.substitute({k: v[0] for k, v in categories.items()}, else_=rules["ethnic_not_stated_label"]),
            EthnicCategoryLabel=ethnic.substitute({k: v[1] for k, v in categories.items()}, else_=ALL),
            IMDDecileLabel=p.IndicesOfDeprivationDecile.substitute(rules["imd_decile"], else_=rules["imd_not_stated_label"]),
            ProblemDescriptor=p.ProblemDescriptor.fill_null(rules["problem_descriptor_not_stated_label"]),
            ProblemDescriptorDetail=p.ProblemDescriptorDetail.fill_null(rules["problem_descriptor_not_stated_label"]),
        )


def _with_variable_columns(table: ibis.Table, variable_type: str, grouping) -> ibis.Table:
    """VARIABLE_A/VARIABLE_B for one grouping of a breakdown.

    Two-level breakdowns (ethnic group, presenting complaint) give one row per category that
    has one (VARIABLE_B = the category) and one "All" row per group; single-level breakdowns
    leave VARIABLE_B empty.
    """
    var_a, var_b = grouping
    if var_b:
        table = table.filter(table[var_b].notnull() & ~table[var_b].isin(["", ALL]))
        return table.mutate(VARIABLE_A=table[var_a], VARIABLE_B=table[var_b])
    two_level = any(b for _, b in BREAKDOWNS[variable_type])
    return table.mutate(VARIABLE_A=table[var_a], VARIABLE_B=ibis.literal(ALL if two_level else ""))


#: The pathway columns the breakdown labels are made from (see MeasureEngine._pathways_for).
BREAKDOWN_SOURCES = ["PersonBirthDate", "Gender", "EthnicCategory", "IndicesOfDeprivationDecile",
                     "ProblemDescriptor", "ProblemDescriptorDetail"]


def _group_of(m: Measure) -> str:
    """The rows a measure is aggregated over: its unit's, or (a snapshot) the pathways open at the period end
    by its cohort's dates."""
    if m.cohort is not None and m.cohort.snapshot:
        return f"pathway open at the period end by {m.cohort.event} and {m.cohort.until}"
    return m.unit


def _snapshot_groups(measures: list[Measure]) -> list[list[Measure]]:
    """The snapshot measures among ``measures``, grouped by the rows they count (in registry order)."""
    groups: dict[str, list[Measure]] = {}
    for m in measures:
        if _group_of(m) != m.unit:
            groups.setdefault(_group_of(m), []).append(m)
    return list(groups.values())


def _pathway_columns(registry) -> set[str]:
    """The pathway columns the measures read: keys, geography, breakdown sources, events, conditions, values."""
    columns = {PATHWAY_KEY, *GEOGRAPHY_COLUMNS, *BREAKDOWN_SOURCES}
    for m in registry:
        if m.unit != "pathway":
            continue
        columns |= {m.cohort.event, *_condition_columns(m.cohort.where), *_condition_columns(m.where)}
        if m.cohort.until:
            columns.add(m.cohort.until)
        columns |= {c for c in (m.value, m.per) if c}
    return columns


def _condition_columns(where: dict) -> set[str]:
    columns = set()
    for column, rule in where.items():
        if column == "any_of":
            for alternative in rule:
                columns |= _condition_columns(alternative)
        else:
            columns.add(column)
    return columns


def compute_measures(tables: dict[str, ibis.Table], period: Period | str, **options) -> pd.DataFrame:
    """Convenience: the unrounded long measures table for one period."""
    period = period if isinstance(period, Period) else Period.parse(period)
    return MeasureEngine(tables).compute(period, **options)


# --- expression building --------------------------------------------------------------------

def condition(table: ibis.Table, where: dict, period_end=None) -> ibis.expr.types.BooleanValue:
    """The registry's condition mini-language as one Ibis boolean (null counts as false).

    ``period_end``: the date (or date column) ``days_to_period_end`` counts to (snapshot cohorts only;
    the registry checks).
    """
    result = ibis.literal(True)
    for column, rule in where.items():
        if column == "any_of":
            alternatives = [condition(table, alt, period_end) for alt in rule]
            part = alternatives[0]
            for alt in alternatives[1:]:
                part = part | alt
        else:
            part = _column_condition(table[column], rule, period_end)
        result = result & part.fill_null(False)
    return result


def _column_condition(col, rule, period_end=None):
    if not isinstance(rule, dict):
        return col == rule
    part = ibis.literal(True)
    for op, value in rule.items():
        if op == "days_to_period_end":
            # whole days from the date to the period end: 0 on the last day, null without a date
            end = period_end if isinstance(period_end, ibis.Expr) else ibis.literal(period_end)
            part = part & _column_condition(end.cast(col.type()).delta(col, unit="day"), value)
        elif op == "in":
            part = part & col.isin(value)
        elif op == "not_in":
            part = part & ~col.isin(value)
        elif op == "is_null":
            part = part & (col.isnull() if value else col.notnull())
        elif op in ("le", "lt", "ge", "gt"):
            part = part & {"le": col <= value, "lt": col < value, "ge": col >= value, "gt": col > value}[op]
        else:
            raise ValueError(f"unknown condition operator {op!r}")
    return part


def in_cohort(table: ibis.Table, m: Measure, period: Period) -> ibis.expr.types.BooleanValue:
    if m.cohort.snapshot:
        # the table holds the pathways open at the end of their period (its end in PERIOD_END) already
        end = table[PERIOD_END]
        return (table[m.cohort.event].notnull() & condition(table, {**m.cohort.where}, end)
                & condition(table, m.where, end))
    event = table[m.cohort.event]
    in_period = event.between(ibis.literal(period.start), ibis.literal(period.end)).fill_null(False)
    return in_period & _cohort_conditions(table, m)


def _cohort_conditions(table: ibis.Table, m: Measure) -> ibis.expr.types.BooleanValue:
    """What puts a row in the measure's count, besides its event date falling in the period (which
    needs a date: so a row without one is not counted, and the result is a column, never a constant)."""
    return table[m.cohort.event].notnull() & condition(table, {**m.cohort.where}) & condition(table, m.where)


def _metrics(table: ibis.Table, measures: list[Measure], selected: Callable[[Measure], ibis.expr.types.BooleanValue],
             decomposed: bool) -> dict:
    """The aggregate of each measure over the rows ``selected(measure)`` picks.

    ``decomposed``: a mean as its sum and count (``<id>__sum``, ``<id>__n``), to be rolled up.
    """
    metrics = {}
    for m in measures:
        rows = selected(m)
        if m.statistic == "count":
            metrics[m.id] = rows.cast("int64").sum()
            continue
        value = table[m.value].cast("float64")
        if m.per:
            # a mean per unit of `per`: sum of the value over sum of `per` (over rows with both)
            both = rows & table[m.value].notnull() & table[m.per].notnull()
            total, n = value.sum(where=both), table[m.per].cast("float64").sum(where=both)
            if decomposed:
                metrics[f"{m.id}__sum"], metrics[f"{m.id}__n"] = total, n
            else:
                metrics[m.id] = ibis.ifelse(n > 0, total / n, ibis.null("float64"))
        elif decomposed and m.statistic == "mean":
            metrics[f"{m.id}__sum"] = value.sum(where=rows)
            metrics[f"{m.id}__n"] = value.count(where=rows)
        elif m.statistic == "median":
            metrics[m.id] = _median(value, rows)
        else:
            metrics[m.id] = getattr(value, m.statistic)(where=rows)
    return metrics


def _median(value: ibis.expr.types.FloatingValue, rows: ibis.expr.types.BooleanValue) -> ibis.expr.types.FloatingScalar:
    """The exact median of ``value`` over the rows ``rows`` picks: the middle value, or the mean of
    the two middle values when their number is even (DuckDB's ``quantile_cont``, Spark's
    ``percentile`` at 0.5: the same numbers).

    Written as the median of the value where the row is picked and NULL elsewhere (both ignore
    NULLs) rather than with ``where=``: Ibis gives Spark a filtered median as
    ``percentile(IF(rows, value, NULL), IF(rows, 0.5, NULL))``, whose percentage Spark refuses
    as not a constant (DATATYPE_MISMATCH.NON_FOLDABLE_INPUT).
    """
    return ibis.ifelse(rows, value, ibis.null("float64")).median()


def _aggregate(table: ibis.Table, keys: list[str], measures: list[Measure], periods: list[Period]) -> list[pd.DataFrame]:
    """The measures of each period grouped by ``keys`` (one row when there are none); one frame per period."""
    if len(periods) > 1:
        return _aggregate_by_period(table, keys, measures, periods, decomposed=False)
    [period] = periods
    metrics = _metrics(table, measures, lambda m: in_cohort(table, m, period), decomposed=False)
    grouped = table.group_by(keys).aggregate(**metrics) if keys else table.aggregate(**metrics)
    return [grouped.execute()]


def _in_period_rows(table: ibis.Table, measures: list[Measure], period: Period) -> ibis.Table:
    """Only the rows with at least one of the measures' event dates in the period."""
    events = sorted({m.cohort.event for m in measures})
    any_event = ibis.literal(False)
    for event in events:
        any_event = any_event | table[event].between(ibis.literal(period.start), ibis.literal(period.end)).fill_null(False)
    return table.filter(any_event)


def _aggregate_parts(table: ibis.Table, keys: list[str], measures: list[Measure], periods: list[Period]) -> list[pd.DataFrame]:
    """Additive parts at the finest grain: counts, sums, max, min, and sum + count for means; one frame per period."""
    if len(periods) > 1:
        results = _aggregate_by_period(table, keys, measures, periods, decomposed=True)
    else:
        [period] = periods
        metrics = _metrics(table, measures, lambda m: in_cohort(table, m, period), decomposed=True)
        results = [table.group_by(keys).aggregate(**metrics).execute()]
    for result in results:
        result.attrs["unit"] = _group_of(measures[0])
    return results


_PERIOD_INDEX = "__period_index"


def _aggregate_by_period(table: ibis.Table, keys: list[str], measures: list[Measure], periods: list[Period],
                         decomposed: bool) -> list[pd.DataFrame]:
    """What :func:`_aggregate` / :func:`_aggregate_parts` give for each period in turn, from one query per event date.

    A row belongs to a measure's period by one date (its cohort's event), and periods that do
    not overlap put each date in one period at most: so the measures sharing an event date are
    aggregated for every period at once, grouped by that period, and every row is read once
    per event date rather than once per period. A group a period has no rows for counts zero
    (and its other statistics are missing), as in a query of that period alone.
    """
    ordered = sorted(periods, key=lambda p: p.start)
    overlapping = [(a.label, b.label) for a, b in zip(ordered, ordered[1:]) if b.start <= a.end]
    if overlapping:
        raise ValueError(f"periods {overlapping[0]} overlap: the totals of several periods need periods that do not")
    start, end = ordered[0].start, ordered[-1].end
    by_period: list[list[pd.DataFrame]] = [[] for _ in periods]
    for event in sorted({m.cohort.event for m in measures}):
        event_measures = [m for m in measures if m.cohort.event == event]
        dated = table.filter(table[event].between(ibis.literal(start), ibis.literal(end)))
        index = ibis.cases(*[(dated[event].between(ibis.literal(p.start), ibis.literal(p.end)), i)
                             for i, p in enumerate(periods)])
        rows = dated.mutate(**{_PERIOD_INDEX: index})
        rows = rows.filter(rows[_PERIOD_INDEX].notnull())
        metrics = _metrics(rows, event_measures, lambda m: _cohort_conditions(rows, m), decomposed)
        result = rows.group_by([*keys, _PERIOD_INDEX]).aggregate(**metrics).execute()
        for i, part in enumerate(_split_by_period(result, keys, event_measures, len(periods), decomposed)):
            by_period[i].append(part)
    frames = []
    for parts in by_period:
        frame = parts[0]
        for part in parts[1:]:
            frame = _merge_wide(frame, part, keys)
        # a group one event date has rows for and another not: the other's counts are zero
        frame = frame.fillna(dict.fromkeys(_count_columns(measures, decomposed), 0))
        frames.append(frame)
    return frames


def _count_columns(measures: list[Measure], decomposed: bool) -> list[str]:
    """The columns of an aggregate that are counts (zero, not missing, over no rows)."""
    return [name for m in measures for name in
            ([m.id] if m.statistic == "count" else [f"{m.id}__n"] if decomposed and m.statistic == "mean" else [])]


def _split_by_period(result: pd.DataFrame, keys: list[str], measures: list[Measure], n_periods: int,
                     decomposed: bool) -> list[pd.DataFrame]:
    """A result grouped by ``keys`` and period index as one frame per period: one row when there are no
    keys (as an ungrouped query gives), counts of a period without rows zero, its other statistics missing."""
    counts = _count_columns(measures, decomposed)
    frames = []
    for i in range(n_periods):
        part = result[result[_PERIOD_INDEX] == i].drop(columns=_PERIOD_INDEX).reset_index(drop=True)
        part = part if keys else part.reindex([0])
        part = part.fillna(dict.fromkeys(counts, 0))
        frames.append(part)
    return frames


def _unit_of(parts: pd.DataFrame) -> str:
    return parts.attrs["unit"]


def _roll_up(parts: pd.DataFrame, keys: list[str], measures: list[Measure]) -> pd.DataFrame:
    """The finest-grain parts added up to one geography level (all of England when no keys)."""
    how = {}
    for m in measures:
        if m.statistic in ("count", "sum"):
            how[m.id] = "sum"
        elif m.statistic in ("max", "min"):
            how[m.id] = m.statistic
        elif m.statistic == "mean":
            how[f"{m.id}__sum"] = "sum"
            how[f"{m.id}__n"] = "sum"
    if keys:
        rolled = parts.groupby(keys, dropna=False, sort=True).agg(how).copy().reset_index()  # copy: one block
    else:
        rolled = parts.agg(how).to_frame().T.reset_index(drop=True)
        if parts.empty:
            rolled = pd.DataFrame({column: [0.0 if agg == "sum" else np.nan] for column, agg in how.items()})
    means = {}
    for m in measures:
        if m.statistic == "sum":
            # a sum over no rows is missing in SQL; zero referrals means a sum of zero
            rolled[m.id] = rolled[m.id].fillna(0)
        if m.statistic == "mean":
            total, n = rolled.pop(f"{m.id}__sum"), rolled.pop(f"{m.id}__n")
            means[m.id] = np.where(n > 0, total / n.where(n > 0, 1), np.nan)
    # added at once: one column at a time fragments a wide frame
    return pd.concat([rolled, pd.DataFrame(means, index=rolled.index)], axis=1)


def _merge_wide(left: pd.DataFrame, right: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The columns of both, outer-joined on ``keys`` (side by side when there are none)."""
    if not keys:
        return pd.concat([left, right], axis=1)
    if left.empty or right.empty:
        # what the outer join gives, without it: pandas cannot join on the keys of an empty
        # Arrow-backed frame straight from a query
        columns = list(left.columns) + [c for c in right.columns if c not in left.columns]
        return (left if right.empty else right).reindex(columns=columns).reset_index(drop=True)
    return left.merge(right, on=keys, how="outer")


def _to_long(wide: pd.DataFrame, level: GeographyLevel, variable_type: str | None, measures: list[Measure]) -> pd.DataFrame:
    wide = wide.copy()
    counts = {m.id for m in measures if m.statistic in ("count", "sum")}
    for mid in counts:
        wide[mid] = wide[mid].fillna(0)
    percentages = {}
    for m in measures:
        if m.statistic == "percentage":
            numerator, denominator = (sum((-wide[t[1:]] if t.startswith("-") else wide[t]) for t in terms)
                                      for terms in (m.numerator, m.denominator))
            with np.errstate(divide="ignore", invalid="ignore"):
                percentages[m.id] = np.where(denominator > 0, 100.0 * numerator / denominator, np.nan)
    # added at once: one column at a time fragments a wide frame
    wide = pd.concat([wide, pd.DataFrame(percentages, index=wide.index)], axis=1)
    n = len(wide)
    frame = pd.DataFrame(
        {
            "GROUP_TYPE": level.group_type,
            "ORG_CODE1": wide[level.code1] if level.code1 else "all",
            "ORG_NAME1": wide[level.name1] if level.name1 else "all SubICBs",
            "ORG_CODE2": wide[level.code2] if level.code2 else "all",
            "ORG_NAME2": wide[level.name2] if level.name2 else "all Providers",
            "VARIABLE_TYPE": variable_type or "Total",
            "VARIABLE_A": wide["VARIABLE_A"] if variable_type else "",
            "VARIABLE_B": wide["VARIABLE_B"] if variable_type else "",
        },
        index=range(n),
    )
    values = wide[[m.id for m in measures]].astype("float64").reset_index(drop=True)
    long = frame.join(values).melt(
        id_vars=list(frame.columns), var_name="MEASURE_ID", value_name="MEASURE_VALUE"
    )
    long["MEASURE_NAME"] = long["MEASURE_ID"].map({m.id: m.name for m in measures})
    long["STATISTIC"] = long["MEASURE_ID"].map({m.id: m.statistic for m in measures})
    long["BASE_MEASURE_ID"] = long["MEASURE_ID"].map({m.id: m.base_measure_id or "" for m in measures})
    return long


def _checked_levels(levels: list[str] | None) -> list[str]:
    levels = list(levels or LEVELS)
    unknown = [name for name in levels if name not in LEVELS]
    if unknown:
        raise ValueError(f"unknown geography level(s) {unknown}; choose from {list(LEVELS)}")
    return levels


def _finished(table: pd.DataFrame, period: Period, levels: list[str]) -> pd.DataFrame:
    """One period's long table: its dates first, then the published columns, in the documented row order."""
    table = table.copy()
    table.insert(0, "REPORTING_PERIOD_START", period.start.isoformat())
    table.insert(1, "REPORTING_PERIOD_END", period.end.isoformat())
    return _sorted(table[MEASURE_COLUMNS], levels)


def _sorted(table: pd.DataFrame, levels: list[str]) -> pd.DataFrame:
    """A stable, documented row order so the same inputs give byte-identical files."""
    registry_order = {m.id: i for i, m in enumerate(load_registry())}
    level_order = {name: i for i, name in enumerate(LEVELS)}
    key = pd.DataFrame(
        {
            "level": table["GROUP_TYPE"].map(level_order),
            "variable": table["VARIABLE_TYPE"].map({"Total": -1, **{v: i for i, v in enumerate(BREAKDOWNS)}}),
            "org1": table["ORG_CODE1"].astype(str),
            "org2": table["ORG_CODE2"].astype(str),
            "a": table["VARIABLE_A"].astype(str),
            "b": table["VARIABLE_B"].astype(str),
            "measure": table["MEASURE_ID"].map(registry_order),
        }
    )
    order = key.sort_values(list(key.columns), kind="mergesort").index
    return table.loc[order].reset_index(drop=True)

"""Where a report's measures come from: computed from a record-level dataset (kept in the cache
and reused while the data files and the package are unchanged), or read from a file NHS
Digital published; with the earlier periods a report's trends need.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd

from iapt_report.data.backends import DEFAULT_BACKEND, open_tables
from iapt_report.data.dataset import event_date_range
from iapt_report.data.periods import Period
from iapt_report.engine.measures import LEVELS, MeasureEngine
from iapt_report.outputs.exports import package_versions
from iapt_report.report.report_data import ENGLAND
from iapt_report.sources.published import read_published

from .config import BuildConfig, BuildError


class RecordLevelMeasures:
    """Measures computed from a record-level dataset folder, read and derived only when needed.

    With a cache folder, every table the engine computes (one period, levels, breakdowns) is
    kept there as Parquet, under a key made of the data files' hashes, this package's own files
    (code, registry, reference data) and the engine's library versions. A later build of the
    same data then reads the measures instead of loading, validating and deriving the dataset
    again: the statistician who rewrites the narrative, or a batch that adds organisations,
    waits seconds, not minutes. Any change to a data file or to the package makes a new key.
    ``backend`` is the engine that computes (:mod:`data.backends`); both give the same tables, so
    the cache does not depend on it.
    """

    def __init__(self, data_dir: Path, hashes: dict[str, str], cache_dir: Path | None, backend: str = DEFAULT_BACKEND):
        self.data_dir = Path(data_dir)
        self.backend = backend
        self.cache_dir = cache_dir
        self._engine: MeasureEngine | None = None
        self.all_from_cache = True  # until a table has to be computed (reset per report period)
        self._fingerprint = _cache_fingerprint(hashes) if cache_dir is not None else ""

    @property
    def cache_key(self) -> str | None:
        """Where the measures are cached: ``<cache folder>/<key>-*.parquet`` (None without a cache)."""
        return None if self.cache_dir is None else f"{self.cache_dir.as_posix()}/{self._fingerprint[:16]}"

    def load(self) -> None:
        """Read and validate the dataset now, so that an invalid one fails before any report is
        built; not when the cache already holds measures of these very files (they were
        validated when those were computed; any table still missing loads them then)."""
        cached = self.cache_dir is not None and any(self.cache_dir.glob(f"{self._fingerprint[:16]}-*.parquet"))
        if not cached:
            self._engine_now()

    def _engine_now(self) -> MeasureEngine:
        if self._engine is None:
            self._engine = MeasureEngine(open_tables(self.data_dir, self.backend))
        return self._engine

    def compute(self, period: Period, levels: list[str] | None = None, breakdowns: bool | None = None) -> pd.DataFrame:
        """What :meth:`MeasureEngine.compute` gives, from the cache when it holds it."""
        return self._cached([period.label, levels, breakdowns],
                            lambda engine: engine.compute(period, levels=levels, breakdowns=breakdowns))

    def compute_totals(self, periods: list[Period], levels: list[str] | None = None) -> pd.DataFrame:
        """What :meth:`MeasureEngine.compute_totals` gives, from the cache when it holds it."""
        return self._cached(["totals", [p.label for p in periods], levels],
                            lambda engine: engine.compute_totals(periods, levels=levels))

    def date_range(self) -> tuple[date, date]:
        """The first and last event date of the dataset (:func:`dataset.event_date_range`), from
        the cache when it holds them."""
        def compute(engine: MeasureEngine) -> pd.DataFrame:
            first, last = event_date_range(engine.tables)
            return pd.DataFrame({"first": [first.isoformat()], "last": [last.isoformat()]})

        table = self._cached(["event_date_range"], compute)
        return date.fromisoformat(table["first"].iloc[0]), date.fromisoformat(table["last"].iloc[0])

    def not_computed(self) -> dict[str, str]:
        """Measure ID -> why the dataset cannot give it (an optional v2.1 table or field it lacks:
        :attr:`MeasureEngine.not_computed`), from the cache when it holds it."""
        def compute(engine: MeasureEngine) -> pd.DataFrame:
            return pd.DataFrame({"measure_id": list(engine.not_computed), "reason": list(engine.not_computed.values())},
                                dtype="str")

        table = self._cached(["not_computed"], compute)
        return dict(zip(table["measure_id"], table["reason"]))

    def _cached(self, request: list, compute: Callable[[MeasureEngine], pd.DataFrame]) -> pd.DataFrame:
        if self.cache_dir is None:
            self.all_from_cache = False
            return compute(self._engine_now())
        key = hashlib.sha256((self._fingerprint + json.dumps(request)).encode()).hexdigest()
        path = self.cache_dir / f"{self._fingerprint[:16]}-{key[:32]}.parquet"
        if path.is_file():
            try:
                return pd.read_parquet(path)
            except Exception:  # a damaged cache file is recomputed, never trusted
                path.unlink(missing_ok=True)
        self.all_from_cache = False
        table = compute(self._engine_now())
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        table.to_parquet(partial, index=False)
        os.replace(partial, path)
        return table


#: The parts of the package the measures cannot depend on: the report stage and the commands,
#: which no lower stage imports (tests/test_architecture.py). Editing how a section is computed
#: or drawn leaves the cached measures in use, so re-running a section takes seconds.
_NOT_IN_MEASURES = ("report/", "cli.py", "__main__.py")


def _cache_fingerprint(hashes: dict[str, str]) -> str:
    """What a cached measures table depends on: the data files, this package's files up to the
    engine (reference data, data, outputs, engine, sources), the engine's libraries."""
    digest = hashlib.sha256(json.dumps(sorted(hashes.items())).encode())
    package = Path(__file__).resolve().parents[2]  # the whole iapt_report package
    for path in sorted(package.rglob("*")):
        if path.relative_to(package).as_posix().startswith(_NOT_IN_MEASURES):
            continue
        if path.is_file() and path.suffix in (".py", ".yaml", ".yml", ".csv", ".json", ".toml", ".txt"):
            digest.update(path.relative_to(package).as_posix().encode())
            digest.update(path.read_bytes())
    versions = package_versions()
    digest.update(json.dumps({k: versions.get(k) for k in ("ibis-framework", "duckdb", "pandas", "pyarrow")},
                             sort_keys=True).encode())
    return digest.hexdigest()


def _measures_for(engine: MeasureEngine | RecordLevelMeasures, period: Period, config: BuildConfig) -> pd.DataFrame:
    """The report period (every level, breakdowns for a year) and, for months, the trend months."""
    frames = [engine.compute(period)]
    if period.kind == "month" and config.trend_months > 1:
        # trends are drawn for England and the reports' own organisations: only their levels
        current = frames[0]
        org_levels = current.loc[current.ORG_CODE1.isin(config.orgs) | current.ORG_CODE2.isin(config.orgs),
                                 "GROUP_TYPE"].unique().tolist()
        levels = [level for level in LEVELS if level == ENGLAND or level in org_levels]
        frames.append(engine.compute_totals(_previous_months(period, config.trend_months - 1), levels=levels))
    return pd.concat(frames, ignore_index=True)


def _published_measures(source: Path, available: list[str], period: Period, config: BuildConfig) -> pd.DataFrame:
    """The report period from a published file (every organisation's totals, breakdowns for England
    and the report's organisations) and, for trends, earlier periods the file holds (England and
    the report's organisations: the last ``trend_months`` months, or every earlier year)."""
    if period.label not in available:
        held = f"{available[0]} to {available[-1]}" if available else "no periods"
        raise BuildError(f"{source.name} does not hold {period.label}; it holds {held}")
    orgs = [o for o in config.orgs if o != ENGLAND] or [ENGLAND]
    if period.kind == "month":
        frames = [read_published(source, periods=[period.label])]
        earlier = [p.label for p in _previous_months(period, max(config.trend_months - 1, 0))
                   if p.label in available]
    else:
        frames = [read_published(source, periods=[period.label], totals_only=True),
                  read_published(source, periods=[period.label], orgs=orgs)]
        earlier = [label for label in available
                   if Period.parse(label).kind == "year" and Period.parse(label).end < period.start]
    if earlier:
        frames.append(read_published(source, periods=earlier, orgs=orgs, totals_only=True))
    return pd.concat(frames, ignore_index=True).drop_duplicates(ignore_index=True)


def _previous_months(period: Period, count: int) -> list[Period]:
    out, year, month = [], period.start.year, period.start.month
    for _ in range(count):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        out.append(Period.parse(f"{year:04d}-{month:02d}"))
    return out

"""The measures job: dataset folder in, one complete output folder per period out."""

from __future__ import annotations

import time
from pathlib import Path

from tqdm import tqdm

from iapt_report.data.backends import DEFAULT_BACKEND, check_backend, open_tables
from iapt_report.data.dataset import event_date_range
from iapt_report.data.periods import Period, check_periods_have_data
from iapt_report.outputs.exports import (
    input_hashes,
    publication_table,
    staged_folder,
    write_csv,
    write_manifest,
    write_publication_files,
)
from iapt_report.outputs.paths import check_replaceable, check_writable, inside, separate_folders

from .disclosure import apply_disclosure
from .measures import MeasureEngine
from .registry import load_registry, measure_metadata


def write_measures(
    data_dir: Path,
    periods: list[Period],
    out: Path,
    levels: list[str] | None = None,
    breakdowns: bool | None = None,
    command_line: list[str] | None = None,
    allow_empty: bool = False,
    backend: str = DEFAULT_BACKEND,
) -> dict[str, Path]:
    """Validate the dataset, compute every period and write its folder.

    One period writes into ``out``; several write ``out/<period>``. Each folder holds
    ``measures.csv`` (publication layout, disclosure control applied; ``measures.zip`` of one CSV
    per level when too big for a spreadsheet), ``metadata.csv``,
    ``measures_unrounded.parquet`` (for the reports; not for publication) and ``manifest.json``.
    Nothing is written if the dataset is invalid, or if a period lies outside the data's event
    dates (unless ``allow_empty``: its counts are then all zero). A measure whose optional
    tables the dataset lacks (registry ``requires``) is left out, and named in the manifest's
    ``not_computed`` and in metadata.csv (COMPUTED = no, NOT_COMPUTED_REASON).

    ``out`` must not be, hold or lie inside ``data_dir``, and a folder is replaced only if this
    package wrote it (:func:`paths.replace_problem`): :class:`paths.OutputPathError` otherwise,
    before the dataset is read.

    ``backend`` computes the measures: ``duckdb`` (in this process) or ``spark`` (the active
    Spark session, or a local one; see :mod:`data.backends`). Both give the same figures.
    """
    data_dir, out = Path(data_dir), Path(out)
    check_backend(backend)
    separate_folders(data_dir, "--data", out, "--out")
    folders = {period.label: out if len(periods) == 1 else inside(out, period.label) for period in periods}
    for folder in folders.values():
        check_replaceable(folder, "--out")
    check_writable(out.parent if len(periods) == 1 else out, "--out", out)
    timings: dict[str, float] = {}
    steps = 2 + len(periods)
    with tqdm(total=steps, desc="measures", unit="step", disable=None) as progress:
        started = time.perf_counter()
        progress.set_postfix_str("loading and validating")
        tables = open_tables(data_dir, backend)
        hashes = input_hashes(data_dir)
        timings["load_and_validate"] = round(time.perf_counter() - started, 3)
        progress.update()

        started = time.perf_counter()
        progress.set_postfix_str("deriving pathways")
        engine = MeasureEngine(tables)
        if not allow_empty:
            check_periods_have_data(periods, event_date_range(engine.tables), "--allow-empty")
        timings["derive_pathways"] = round(time.perf_counter() - started, 3)
        progress.update()

        outputs = {}
        for period in periods:
            progress.set_postfix_str(f"period {period}")
            started = time.perf_counter()
            measures = engine.compute(period, levels=levels, breakdowns=breakdowns)
            folder = folders[period.label]
            with staged_folder(folder, option="--out") as staging:
                write_publication_files(publication_table(apply_disclosure(measures)), staging)
                write_csv(measure_metadata(engine.not_computed), staging / "metadata.csv")
                measures.to_parquet(staging / "measures_unrounded.parquet", index=False)
                period_timings = {**timings, f"measures_{period}": round(time.perf_counter() - started, 3)}
                write_manifest(
                    staging,
                    inputs=hashes,
                    parameters={
                        "period": period.label,
                        "period_start": period.start.isoformat(),
                        "period_end": period.end.isoformat(),
                        "data": str(data_dir),
                        "levels": levels or "all",
                        "backend": backend,
                        "breakdowns": breakdowns if breakdowns is not None else period.kind == "year",
                        "command_line": command_line or [],
                    },
                    timings=period_timings,
                    not_computed=not_computed_names(engine.not_computed),
                )
            outputs[period.label] = folder
            progress.update()
    return outputs


def not_computed_names(not_computed: dict[str, str]) -> dict[str, dict[str, str]]:
    """The measures a run could not compute, for its manifest: ID -> name and reason."""
    names = {m.id: m.name for m in load_registry()}
    return {measure: {"name": names[measure], "reason": reason} for measure, reason in not_computed.items()}

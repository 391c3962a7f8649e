"""Benchmarks: a national year of synthetic data, loading, and all measures for a month and a year.

Run with `make benchmark` (or `.venv/bin/python benchmarks/run_benchmarks.py [--scale 1.0]`).
Each step runs in this process one after another, so the timings are side by side on the same
machine state; peak memory is the process's maximum resident set size after each step.
Results are printed and written to benchmarks/_work/results.json; record them, with the
machine, in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from datetime import date
from pathlib import Path

from iapt_report.data.dataset import load_dataset
from iapt_report.data.periods import Period
from iapt_report.data.store import DUCKDB_MEMORY_LIMIT, connect
from iapt_report.engine.measures import MeasureEngine
from iapt_report.sources.synthetic import generate, write_dataset

WORK = Path(__file__).parent / "_work"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def timed(label: str, results: dict, fn, *args, **kwargs):
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    seconds = time.perf_counter() - started
    results[label] = {"seconds": round(seconds, 2), "peak_rss_gb_so_far": round(peak_rss_gb(), 2)}
    print(f"{label:<45} {seconds:8.1f} s   peak RSS so far {peak_rss_gb():5.2f} GB", flush=True)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--reuse", action="store_true", help="reuse benchmarks/_work/data if present")
    args = parser.parse_args()
    results: dict = {"scale": args.scale, "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                                      "python": platform.python_version()},
                      "duckdb_memory_limit": DUCKDB_MEMORY_LIMIT}
    data = WORK / "data"
    if not (args.reuse and data.exists()):
        tables = timed("generate national year 2020-21", results, generate, date(2020, 4, 1), date(2021, 3, 31),
                       scale=args.scale)
        results["rows"] = {name: len(frame) for name, frame in tables.items()}
        timed("write parquet", results, write_dataset, tables, data)
        del tables
    # DuckDB checks the Parquet files and reads them in place through views; connect hands those to Ibis
    loaded = timed("load and validate (typed Parquet, in place)", results, load_dataset, data)
    ibis_tables = timed("connect (hand the tables to Ibis)", results, connect, loaded)
    del loaded
    engine = timed("derive pathways (cached)", results, MeasureEngine, ibis_tables)
    timed("all measures, month 2020-09 (all levels)", results, engine.compute, Period.parse("2020-09"))
    timed("all measures, year 2020-21 (levels + breakdowns)", results, engine.compute, Period.parse("2020-21"))
    del engine, ibis_tables
    results["peak_rss_gb"] = round(peak_rss_gb(), 2)
    WORK.mkdir(exist_ok=True)
    (WORK / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Benchmark: the `measures` command on a local Spark and on DuckDB, side by side, on the same data.

Generates a synthetic dataset (April to September 2020, ``--scale`` 0.25 of national volume by
default: 248,000 referrals, 1.4 million contacts) into benchmarks/_work/spark-<scale>/ (reused when
present), then runs ``iapt-report measures --period 2020-09`` with ``--backend duckdb`` and with
``--backend spark`` (a local session on every core), alternating, ``--repeats`` times, each in a
process of its own: the two are measured in the same minutes of the same machine, so their
ratio holds even when the machine is busy. Each Spark run starts its own JVM, as a user's
command does. The two runs' ``measures.csv`` must be byte for byte the same. Results (every
time, the median of each and their ratio) go to benchmarks/_work/spark.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from iapt_report.sources.synthetic import generate, write_dataset

WORK = Path(__file__).parent / "_work"
PERIOD = "2020-09"
BACKENDS = ("duckdb", "spark")


def dataset(scale: float) -> Path:
    folder = WORK / f"spark-{scale:g}"
    if not (folder / "IDS101Referral.parquet").exists():
        started = time.perf_counter()
        write_dataset(generate(date(2020, 4, 1), date(2020, 9, 30), scale=scale), folder)
        print(f"generated {folder} in {time.perf_counter() - started:.1f} s", flush=True)
    return folder


def run(backend: str, data: Path, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "iapt_report.cli", "measures", "--period", PERIOD, "--data", str(data),
                    "--out", str(out), "--backend", backend], check=True, stdout=subprocess.DEVNULL)
    return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    data = dataset(args.scale)
    times: dict[str, list[float]] = {backend: [] for backend in BACKENDS}
    for repeat in range(args.repeats):
        for backend in BACKENDS if repeat % 2 == 0 else reversed(BACKENDS):
            seconds = run(backend, data, WORK / f"spark-out-{backend}")
            times[backend].append(seconds)
            print(f"{backend}: {seconds:.1f} s", flush=True)
    same = ((WORK / "spark-out-spark" / "measures.csv").read_bytes()
            == (WORK / "spark-out-duckdb" / "measures.csv").read_bytes())
    medians = {backend: statistics.median(values) for backend, values in times.items()}
    result = {"scale": args.scale, "period": PERIOD, "seconds": times, "median_seconds": medians,
              "spark_over_duckdb": round(medians["spark"] / medians["duckdb"], 2), "same_measures_csv": same}
    (WORK / "spark.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if not same:
        raise SystemExit("the two backends wrote different measures.csv files")


if __name__ == "__main__":
    main()

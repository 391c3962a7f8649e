"""Benchmark: national monthly and annual report builds, end to end, split by step.

Reuses the national year written by run_benchmarks.py (benchmarks/_work/data; run that first)
and builds the September 2020 monthly report and the 2020-21 annual report for England with
the renderer this machine has, each twice: a first build, and a rebuild that reads the measures
from the cache the first left in its output folder. Timings come from each report's manifest: load and derive
(shared by the batch), measures, preparing the build folder, notebooks, rendering.
Results are written to benchmarks/_work/reports.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from pathlib import Path

from iapt_report.report.build import BuildConfig, build_reports

WORK = Path(__file__).parent / "_work"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=["monthly", "annual"], action="append",
                        help="only this kind of report (repeat for both; default both)")
    kinds = parser.parse_args().kind or ["monthly", "annual"]
    data = WORK / "data"
    if not data.exists():
        raise SystemExit("run benchmarks/run_benchmarks.py first: it writes the national year to benchmarks/_work/data")
    (data / "_synthetic.json").write_text('{"synthetic": true}\n')
    results = {}
    for kind, period in (("monthly", "2020-09"), ("annual", "2020-21")):
        if kind not in kinds:
            continue
        output = WORK / f"reports-{kind}"
        shutil.rmtree(output, ignore_errors=True)
        # first build: the dataset is loaded, validated and derived; the second (same data, same
        # output folder) reads the measures from the cache, as a rebuild after editing would
        for run in ("first build", "rebuild (measures cached)"):
            started = time.perf_counter()
            [report] = build_reports(BuildConfig(kind=kind, periods=[period], orgs=["England"], data=data,
                                                 output=output))
            total = time.perf_counter() - started
            if report.error:
                raise SystemExit(f"{kind} build failed: {report.error}")
            results[f"{kind}, {run}"] = {
                "end_to_end_seconds": round(total, 1), "steps_seconds": report.seconds,
                "measures_from_cache": report.measures_from_cache, "renderer": report.renderer,
                "peak_rss_gb_so_far": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024, 2)}
            print(f"{kind:8} {run:26} {total:7.1f} s  {report.seconds}  ({report.renderer})", flush=True)
    path = WORK / "reports.json"
    earlier = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**earlier, **results}, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Benchmark: rendering a national report folder with Quarto and with the fallback, side by side.

Takes the England monthly (September 2020) and annual (2020-21) report folders of an earlier
build (benchmarks/_work/reports-<kind>/, written by bench_reports.py; otherwise built here from
the synthetic data `make report` uses, _data/synthetic, with the fallback), copies each, and
renders the copy with each renderer in turn, alternating, ``--repeats`` times: the two are
measured in the same minutes of the same machine, so their ratio holds even when the machine is
busy. Results (every time, and the median of each) go to benchmarks/_work/render.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

from iapt_report.report.build import BuildConfig, build_reports
from iapt_report.report.render import quarto_available, render_report

WORK = Path(__file__).parent / "_work"
REPOSITORY = Path(__file__).resolve().parents[1]
REPORTS = {"monthly": "2020-09", "annual": "2020-21"}


def report_folder(kind: str) -> Path:
    period = REPORTS[kind]
    for output in (WORK / f"reports-{kind}", WORK / f"render-source-{kind}"):
        folder = output / kind / period / "England"
        if (folder / "report.qmd").exists():
            return folder
    data = REPOSITORY / "_data" / "synthetic"
    if not data.exists():
        raise SystemExit("no report folder to render: run benchmarks/bench_reports.py or `make report` first")
    output = WORK / f"render-source-{kind}"
    [report] = build_reports(BuildConfig(kind=kind, periods=[period], orgs=["England"], data=data, output=output,
                                         renderer="fallback"))
    if report.error:
        raise SystemExit(f"{kind} build failed: {report.error}")
    return report.folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    if not quarto_available():
        raise SystemExit("quarto is not on PATH (make quarto, then run through make, or put .tools/quarto on PATH)")
    results = {}
    for kind in REPORTS:
        source = report_folder(kind)
        synthetic = "synthetic-banner" in (source / "report.html").read_text(encoding="utf-8")
        times: dict[str, list[float]] = {"quarto": [], "fallback": []}
        for _ in range(repeats):
            for renderer in times:
                copy = WORK / f"render-{kind}-{renderer}"
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(source, copy)
                started = time.perf_counter()
                result = render_report(copy, synthetic=synthetic, renderer=renderer)
                times[renderer].append(round(time.perf_counter() - started, 2))
                label = result.renderer
                print(f"{kind:8} {label:40} {times[renderer][-1]:6.2f} s", flush=True)
        medians = {renderer: statistics.median(values) for renderer, values in times.items()}
        results[kind] = {"seconds": times, "median_seconds": medians,
                         "quarto_over_fallback": round(medians["quarto"] / medians["fallback"], 1),
                         "quarto_adds_seconds": round(medians["quarto"] - medians["fallback"], 1)}
        print(f"{kind}: median quarto {medians['quarto']:.1f} s, fallback {medians['fallback']:.1f} s "
              f"(x{results[kind]['quarto_over_fallback']})", flush=True)
    WORK.mkdir(exist_ok=True)
    (WORK / "render.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

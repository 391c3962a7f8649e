"""The engine end to end against the hand-written SQL reference (benchmarks/reference_sql.py),
side by side: for each dataset and period, `iapt-report measures` (load and check the files,
derive, all measures at all five levels, write the folder) and the reference query, each in a
fresh process (so each peak memory is its own), one after the other. Every value the reference
computes is compared with the engine's.

    python benchmarks/bench_engine.py --data 0.25=/tmp/q --data 1=/tmp/national --period 2020-09 --period 2020-21

Results: benchmarks/_work/engine.json; record them, with the machine, in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
WORK = HERE / "_work"

ENGINE = """
import json, resource, sys, time
from pathlib import Path
from iapt_report.data.periods import Period
from iapt_report.engine.pipeline import write_measures
started = time.perf_counter()
folders = write_measures(Path(sys.argv[1]), [Period.parse(sys.argv[2])], Path(sys.argv[3]))
seconds = time.perf_counter() - started
steps = json.loads((Path(sys.argv[3]) / "manifest.json").read_text())["timings_seconds"]
print(json.dumps({"seconds": seconds, "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                  "steps": steps}))
"""

REFERENCE = """
import json, resource, sys
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from reference_sql import run
from iapt_report.data.periods import Period
seconds, values = run(Path(sys.argv[1]), Period.parse(sys.argv[2]))
Path(sys.argv[3]).write_text(json.dumps([[*key, value] for key, value in values.items()]))
print(json.dumps({"seconds": seconds, "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def _child(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if done.returncode:
        return {"failed": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(engine_folder: Path, reference_values: Path) -> dict:
    """How many of the reference's values the engine's unrounded table holds, and how many differ."""
    import pandas as pd

    table = pd.read_parquet(engine_folder / "measures_unrounded.parquet")
    table = table[table["VARIABLE_TYPE"] == "Total"]
    code = table["ORG_CODE1"].where(table["GROUP_TYPE"] != "Provider", table["ORG_CODE2"])
    code = code.where(table["GROUP_TYPE"] != "England", "England")
    engine = dict(zip(zip(table["GROUP_TYPE"], code, table["MEASURE_ID"]), table["MEASURE_VALUE"]))
    differ, compared, absent = [], 0, 0
    for level, org, measure, value in json.loads(reference_values.read_text()):
        if (level, org, measure) not in engine and not value:
            absent += 1  # an organisation with no activity in the period has no rows in the engine's table
            continue
        theirs = engine.get((level, org, measure))
        compared += 1
        same = (value is None and (theirs is None or theirs != theirs)) or (
            value is not None and theirs is not None and abs(float(theirs) - float(value)) <= 1e-9 * max(1, abs(value)))
        if not same:
            differ.append([level, org, measure, value, theirs])
    return {"compared": compared, "differ": len(differ), "zero_and_absent_from_engine": absent,
            "first_differences": differ[:5]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", required=True, help="LABEL=FOLDER, e.g. 1=/tmp/national")
    parser.add_argument("--period", action="append", required=True)
    args = parser.parse_args()
    results = []
    for item in args.data:
        label, folder = item.split("=", 1)
        for period in args.period:
            with tempfile.TemporaryDirectory(prefix="bench-engine-") as scratch:
                out, values = Path(scratch) / "out", Path(scratch) / "reference.json"
                reference = _child(REFERENCE, folder, period, str(values), str(HERE))
                engine = _child(ENGINE, folder, period, str(out))
                row = {"data": label, "period": period, "engine": engine, "reference": reference}
                if "failed" not in engine and "failed" not in reference:
                    row |= {"ratio_time": engine["seconds"] / reference["seconds"], "values": compare(out, values)}
            results.append(row)
            print(json.dumps(row), flush=True)
    WORK.mkdir(exist_ok=True)
    (WORK / "engine.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""The section notebooks: committed clean, paired with their percent-format scripts, thin."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
PARAMETERS = {"kind", "period", "org", "output", "measures_path", "build_dir"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs_and_has_a_parameters_cell(path):
    notebook = json.loads(path.read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    lines = "".join(tagged[0]["source"]).splitlines()
    names = {re.match(r"(\w+)", line).group(1) for line in lines if "=" in line}
    assert names == PARAMETERS
    # each parameter typed and described, as papermill --help-notebook shows it
    for line in lines:
        assert re.fullmatch(r'\w+: str = "[^"]*"  # \S.*', line), line


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_matches_its_paired_script(path):
    script = path.with_suffix(".py")
    assert script.exists(), f"{script.name} missing: run jupytext --sync {path}"
    from_script = jupytext.read(script)
    from_notebook = jupytext.read(path)
    sources = lambda nb: [(c.cell_type, c.source) for c in nb.cells]  # noqa: E731
    assert sources(from_script) == sources(from_notebook), f"run: jupytext --sync {path}"


def test_every_section_of_the_build_has_a_notebook():
    from iapt_report.report.build import SECTIONS

    wanted = {name for sections in SECTIONS.values() for name in sections}
    assert wanted == {p.stem for p in NOTEBOOKS}


# --- every section runs on selections that turn out empty ------------------------------------------

def _minimal_annual_measures():
    """England 2020-21 with a handful of totals and an ethnic breakdown published only as
    categories, some suppressed (as older annual tables are): no group rows, no full counts."""
    import pandas as pd

    def row(mid, value, variable_type="Total", a="", b=""):
        return {"REPORTING_PERIOD_START": "2020-04-01", "REPORTING_PERIOD_END": "2021-03-31", "GROUP_TYPE": "England",
                "ORG_CODE1": "all", "ORG_NAME1": "all", "ORG_CODE2": "all", "ORG_NAME2": "all",
                "VARIABLE_TYPE": variable_type, "VARIABLE_A": a, "VARIABLE_B": b, "MEASURE_ID": mid,
                "MEASURE_NAME": mid, "STATISTIC": "percentage" if mid == "M192" else "count",
                "BASE_MEASURE_ID": "M191" if mid == "M192" else "", "MEASURE_VALUE": value,
                "SUPPRESSED": value != value, "PUBLISHED_VALUE": "*" if value != value else f"{value:g}",
                "COUNTS": "referrals"}

    rows = [row("M001", 1000.0), row("M076", 400.0), row("M179", 20.0), row("M191", 190.0), row("M192", 50.0)]
    rows += [row("M001", float("nan"), "Ethnic Group", "Mixed", "White and Asian"),
             row("M001", 12.0, "Ethnic Group", "Mixed", "Any other Mixed background"),
             row("M001", float("nan"), "Ethnic Group", "White", "British")]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("section", ["key_facts", "activity_waiting", "demographics", "ethnicity", "outcomes",
                                     "variation"])
def test_section_notebook_runs_when_its_selections_are_empty(section, tmp_path):
    import papermill
    import yaml

    measures_path = tmp_path / "measures.parquet"
    _minimal_annual_measures().to_parquet(measures_path, index=False)
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / f"{section}.ipynb"
    papermill.execute_notebook(str(notebook), str(tmp_path / f"{section}.ipynb"), progress_bar=False,
                               parameters={"kind": "annual", "period": "2020-21", "org": "England",
                                           "measures_path": str(measures_path), "build_dir": str(tmp_path)},
                               kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    variables = yaml.safe_load((tmp_path / "variables" / f"{section}.yml").read_text())[section]
    for value in variables.values():  # whatever a section says, it holds no suppressed value
        assert "fewer than 5" not in value and "suppressed" not in value.lower() and "not available" not in value

"""The section notebooks: committed clean, paired with their percent-format scripts, thin."""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
PARAMETERS = {"kind", "period", "org", "measures_path", "build_dir"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs_and_has_a_parameters_cell(path):
    notebook = json.loads(path.read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    names = {line.split("=")[0].strip() for line in "".join(tagged[0]["source"]).splitlines() if "=" in line}
    assert names == PARAMETERS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_matches_its_paired_script(path):
    script = path.with_suffix(".py")
    assert script.exists(), f"{script.name} missing: run jupytext --sync {path}"
    from_script = jupytext.read(script)
    from_notebook = jupytext.read(path)
    sources = lambda nb: [(c.cell_type, c.source) for c in nb.cells]  # noqa: E731
    assert sources(from_script) == sources(from_notebook), f"run: jupytext --sync {path}"


def test_every_section_of_the_build_has_a_notebook():
    from iapt_report.build import SECTIONS

    wanted = {name for sections in SECTIONS.values() for name in sections}
    assert wanted == {p.stem for p in NOTEBOOKS}

"""Search and sort in the HTML report's organisation tables (report_templates/table_tools.html).

The render fixture's provider table (80 rows) is rendered by each renderer and used as a reader
would, in headless Chromium (tests/page_check/table_tools.js): with scripts off it is a plain
table of every row; with scripts on it has a labelled search box and header buttons, sorts by a
column both ways (aria-sort saying which), and filters rows as the reader types.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from browser import NODE_MODULES, page_check_available
from iapt_report.report import render
from test_render import build_folder, render_quietly

SCRIPT = Path(__file__).parent / "page_check" / "table_tools.js"
RENDERERS = ["fallback"] + (["quarto"] if render.quarto_available() else [])

pytestmark = pytest.mark.skipif(not page_check_available(),
                                reason="Chromium, node or tests/page_check's npm packages not installed")


def use_tables(page: Path) -> dict:
    done = subprocess.run(["node", str(SCRIPT), str(page)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NODE_PATH": str(NODE_MODULES)})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("renderer", RENDERERS)
def test_provider_table_can_be_searched_and_sorted(renderer, tmp_path):
    folder = build_folder(tmp_path / "build")
    render_quietly(folder, synthetic=True, renderer=renderer)
    page = folder / "report.html"
    assert "table-tools" in page.read_text(encoding="utf-8")

    used = use_tables(page)
    assert used["errors"] == []
    assert used["noscript"] == {"rows": 80, "buttons": 0, "search": 0}  # without scripts: the plain table

    key_facts, providers = used["tools"]
    assert key_facts == {"rows": 2, "search": False, "label": None, "buttons": []}  # a short table is left alone
    assert providers["rows"] == 80 and providers["search"] and providers["label"] == "Search this table"
    assert [name.rstrip("\u2195") for name in providers["buttons"]] == [
        "Provider", "Referrals received", "Entered treatment", "Recovery rate"]

    rates = [int(cell.rstrip("%")) for cell in used["ascending"]["cells"]]
    assert used["ascending"]["sort"] == "ascending" and rates == sorted(rates) and rates[0] == 40
    rates = [int(cell.rstrip("%")) for cell in used["descending"]["cells"]]
    assert used["descending"]["sort"] == "descending" and rates == sorted(rates, reverse=True) and rates[0] == 59

    assert sorted(used["search"]["first"]) == [f"Provider {n} (fictional)" for n in range(70, 80)]
    assert used["search"]["status"] == "Showing 10 of 80 rows"
    assert used["cleared"] == {"rows": 80, "status": "Showing all 80 rows"}


def test_the_script_is_self_contained():
    """Nothing fetched from elsewhere: no CDN, no library, no link."""
    text = (render.TEMPLATES / render.TABLE_TOOLS).read_text(encoding="utf-8")
    assert "http" not in text and " src=" not in text and "import(" not in text and "fetch(" not in text

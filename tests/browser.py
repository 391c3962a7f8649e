"""Report pages in a real browser (headless Chromium): the DOM after scripts, and a reader's checks.

``check_pages`` runs tests/page_check/check.js: axe-core (Deque's accessibility engine) for
WCAG 2.2 A and AA at a given window width, whether the page scrolls sideways, whether it asks
for anything outside itself, script errors, and whether a heading reached from the contents
hides under the sticky synthetic-data banner. Its npm packages (pinned in
tests/page_check/package.json) are installed by .ci/run into .tools/page_check; tests that
need them skip when absent, and fail in CI (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
PAGE_CHECK = Path(__file__).parent / "page_check" / "check.js"
NODE_MODULES = Path(os.environ.get("PAGE_CHECK_MODULES", REPOSITORY / ".tools" / "page_check" / "node_modules"))

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def chromium_available() -> bool:
    return shutil.which("chromium") is not None


def page_check_available() -> bool:
    return (chromium_available() and shutil.which("node") is not None
            and (NODE_MODULES / "axe-core").is_dir() and (NODE_MODULES / "playwright-core").is_dir())


def dom_after_scripts(page: Path, width: int = 1280, height: int = 2000, budget_ms: int = 8000) -> str:
    """The page's DOM once its scripts have run, as Chromium serialises it."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             f"--virtual-time-budget={budget_ms}", "--dump-dom", Path(page).as_uri()],
            capture_output=True, text=True, timeout=300)
    if "</html>" not in done.stdout:
        raise RuntimeError(f"Chromium did not load {page}:\n{done.stderr[-2000:]}")
    return done.stdout


def check_pages(pages: list[Path], widths: tuple[int, ...] = (1280, 390)) -> list[dict]:
    """One result per page and width (see tests/page_check/check.js), in one browser session."""
    wanted = [{"file": str(Path(page).resolve()), "width": width} for page in pages for width in widths]
    done = subprocess.run(["node", str(PAGE_CHECK)], input=json.dumps(wanted), capture_output=True, text=True,
                          timeout=1200, env={**os.environ, "NODE_PATH": str(NODE_MODULES)})
    if done.returncode != 0:
        raise RuntimeError(f"page check failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def problems(result: dict) -> list[str]:
    """What a reader's browser found wrong with one page at one width, as sentences."""
    where = f"{Path(result['file']).parent.name} at {result['width']}px"
    found = [f"{where}: {v['id']} ({v['impact']}): {v['help']}; {v['nodes'][:2]}" for v in result["violations"]]
    if result["scrollWidth"] > result["viewport"]:
        found.append(f"{where}: the page is {result['scrollWidth']}px wide in a {result['viewport']}px window")
    found += [f"{where}: fetched {url}" for url in result["external"]]
    found += [f"{where}: script error {error}" for error in result["errors"]]
    found += [f"{where}: heading {href} hides under the banner" for href in result["obscured"]]
    return found

import sys
from pathlib import Path

# tests import their shared builders (tests/builders.py) as plain modules
sys.path.insert(0, str(Path(__file__).parent))


def pytest_sessionstart(session):
    """In CI the tests that render with Quarto, read PDFs and check pages in Chromium must run:
    a missing tool fails the run instead of skipping those tests (they skip on other machines)."""
    import os
    import shutil

    import pytest

    if not os.environ.get("CI"):
        return
    from browser import page_check_available

    missing = [tool for tool in ("quarto", "pdftotext", "pdftoppm", "chromium", "node") if shutil.which(tool) is None]
    if not page_check_available():
        missing.append("tests/page_check's npm packages (.tools/page_check)")
    if missing:
        raise pytest.UsageError(f"CI is set but {', '.join(missing)} not on PATH: the tests that need them would "
                                "skip. .ci/run installs them; outside CI, unset CI to let those tests skip.")

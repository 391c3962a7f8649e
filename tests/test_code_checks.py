"""The checks a developer runs before committing (.pre-commit-config.yaml) pass on the whole tree:
ruff's lint rules and mypy's type check of src/, both configured in pyproject.toml and pinned
in the test extra. (The notebooks' pairing and outputs are checked in test_notebooks.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    done = run("ruff", "check", "--no-cache", "src", "tests", "benchmarks", "notebooks")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_no_type_errors_in_src():
    # the files and settings are in pyproject.toml ([tool.mypy])
    done = run("mypy", "--no-error-summary")
    assert done.returncode == 0, done.stdout + done.stderr

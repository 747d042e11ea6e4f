"""The habits CI keeps: ruff is clean on everything this project wrote, and mypy on the whole package."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_ruff_is_clean():
    done = _run("ruff", "check", "grader", "tests", "scripts", "rubrics", "reference", "mlgrade")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


@pytest.mark.slow
def test_mypy_finds_nothing_in_the_package():
    done = _run("mypy")  # configured in pyproject.toml: the whole package, the pydantic plugin
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]

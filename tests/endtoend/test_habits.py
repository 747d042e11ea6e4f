"""The habits CI keeps: ruff is clean on everything this project wrote, mypy on the whole package, and
`pip install .` packs no bytecode a checkout's own runs left behind."""

from __future__ import annotations

import glob
import subprocess
import sys
import tomllib
from pathlib import Path

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


def test_package_data_takes_no_bytecode_a_checkout_left(tmp_path):
    """pyproject's package-data patterns, globbed as setuptools globs them, over a copy of each package folder
    with a compiled module beside every file: none is taken (``templates/**/*`` took the template's compiled
    refs.py into every wheel built from a checkout that had run its tests)."""
    import shutil

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert data
    for package, patterns in data.items():
        src = ROOT.joinpath(*package.split("."))
        copy = tmp_path / package
        shutil.copytree(src, copy, ignore=shutil.ignore_patterns("__pycache__"))
        for folder in [copy, *(p for p in copy.rglob("*") if p.is_dir())]:
            (folder / "__pycache__").mkdir(exist_ok=True)
            (folder / "__pycache__" / "left.cpython-311.pyc").write_bytes(b"\0")
        for pattern in patterns:
            taken = [t for t in glob.glob(str(copy / pattern), recursive=True) if Path(t).is_file()]
            assert [t for t in taken if "__pycache__" in t or t.endswith(".pyc")] == [], (package, pattern)

"""Shared fixtures: hostile-zip builders, the sample submissions, and the --slow switch."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Self-checks remember question results in the user's cache folder: tests use one of their own.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="mlgrade-test-cache-")
sys.path.insert(0, str(ROOT / "scripts"))
# reference/ is the course's (instructor-only) folder, not part of the installed package: the tests read it here
sys.path.insert(0, str(ROOT))


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("slow") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def make_zip(path: Path, entries: list, symlinks: dict | None = None, compression=zipfile.ZIP_DEFLATED) -> Path:
    """``entries``: ``(name, bytes)`` pairs or ready ``ZipInfo``/bytes pairs."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries:
            info = name if isinstance(name, zipfile.ZipInfo) else zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0))
            if not isinstance(name, zipfile.ZipInfo):
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                info.create_system = 3
                info.compress_type = compression
            zf.writestr(info, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            info.create_system = 3
            zf.writestr(info, target)
    return path


def tree(root: Path) -> set[str]:
    """Every path below ``root``, relative, for 'nothing was written outside' assertions."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture
def zip_factory(tmp_path):
    src = tmp_path / "src"
    src.mkdir()

    def build(name: str, entries: list, **kw) -> Path:
        return make_zip(src / name, entries, **kw)

    return build


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return ROOT / "submissions"


@pytest.fixture(scope="session")
def default_rubric():
    from grader.rubric import load_rubric

    return load_rubric(ROOT / "rubric.yaml")


def pytest_sessionfinish(session, exitstatus):
    import shutil

    shutil.rmtree(os.environ.get("XDG_CACHE_HOME", ""), ignore_errors=True) if "mlgrade-test-cache-" in os.environ.get(
        "XDG_CACHE_HOME", "") else None

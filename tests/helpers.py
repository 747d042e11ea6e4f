"""Small builders shared by tests: images, hostile image files, one-off rubrics."""

from __future__ import annotations

import io
import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from grader.core.options import GradeOptions
from grader.rubric import parse_rubric
from grader.score.pipeline import grade_submission


def png_bytes(size=(320, 200), mode="RGB", color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color if mode in ("RGB", "RGBA") else 128).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(size=(320, 200), mode="RGB") -> bytes:
    buf = io.BytesIO()
    im = Image.new("RGB", size, (10, 120, 200))
    if mode != "RGB":
        im = im.convert(mode)
    im.save(buf, "JPEG")
    return buf.getvalue()


def huge_png_header(width: int = 30000, height: int = 30000) -> bytes:
    """A valid-looking PNG that claims ``width x height``: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def grade_files(tmp_path: Path, files: dict[str, bytes], rubric_yaml: str, options: GradeOptions | None = None,
                base_dir: Path | None = None):
    """Grade a folder submission made of ``files`` with a rubric given as YAML text (its files relative to
    ``base_dir``, the repository by default: the course packs' tests are in rubrics/)."""
    src = write_files(tmp_path / "student", files)
    rubric = parse_rubric(rubric_yaml, base_dir=base_dir or Path(__file__).resolve().parent.parent)
    return grade_submission(src, rubric, tmp_path / "work", options)


def notebook_bytes(*cells: str, outputs: dict[int, str] | None = None) -> bytes:
    """A notebook of code cells; ``outputs`` maps a cell index to stored stdout text."""
    import json

    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    for i, src in enumerate(cells):
        outs = []
        if outputs and i in outputs:
            outs = [nbformat.v4.new_output("stream", name="stdout", text=outputs[i])]
        cell = nbformat.v4.new_code_cell(src, outputs=outs, execution_count=i + 1)
        cell["id"] = f"c{i}"
        nb.cells.append(cell)
    return json.dumps(nb).encode()


def run_live(job, *names: str):
    """Run ``job``'s notebook in a live session, as grading does, and read ``names`` (names or expressions)
    from the student's namespace: ``(run, {name: value})``. The session is closed (its kernel and everything
    it started are gone) before this returns. A name the notebook does not define, or a run that did not
    finish, raises the session's :class:`~grader.execute.notebooks.session.StudentFailure`."""
    from grader.execute.notebooks.session import NotebookSession

    session = NotebookSession(job, Path(job.notebook).name)
    try:
        run = session.run
        return run, {name: session.value(name) for name in names}
    finally:
        session.close()


def bwrap_problem() -> str | None:
    """Why bubblewrap cannot run here (tests skip), or None; with MLGRADE_REQUIRE_BWRAP=1 (CI) a sandbox that
    does not work is an error, never a skip."""
    import os

    from grader.execute.isolation import backend

    problem = backend("bwrap").problem()
    if problem is not None and os.environ.get("MLGRADE_REQUIRE_BWRAP") == "1":
        raise RuntimeError(f"MLGRADE_REQUIRE_BWRAP=1 but the sandbox does not work here: {problem}")
    return problem


def isolation_modes() -> list:
    """'none' always; 'bwrap' where bubblewrap works (CI installs it, so there it always runs)."""
    import pytest

    problem = bwrap_problem()
    return ["none", pytest.param("bwrap", marks=pytest.mark.skipif(problem is not None, reason=str(problem)))]


def fresh_env(path: Path, pth_lines: list[str] = ()) -> Path:
    """A new virtualenv (no pip: the test's own pip installs into it with ``--python``) that sees this
    environment's third-party distributions, but not mlgrade: nothing is downloaded, and mlgrade must
    come from what the test installs or names in ``pth_lines``. Returns its interpreter."""
    import subprocess
    import sys
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    deps = path.parent / f"{path.name}-deps"
    deps.mkdir(parents=True)
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.startswith(("mlgrade", "__editable__", "_mlgrade")) or name in ("grader", "reference"):
            continue
        (deps / entry.name).symlink_to(entry)
    subprocess.run([sys.base_prefix + "/bin/python3" if Path(sys.base_prefix + "/bin/python3").exists()
                    else "python3", "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    env_site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   capture_output=True, text=True, check=True).stdout.strip())
    (env_site / "_deps.pth").write_text("\n".join([str(deps), *pth_lines]) + "\n")
    return python


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    if os.environ.get("MLGRADE_REQUIRE_BWRAP") == "1":  # CI: every client test must run for real
        raise RuntimeError("chromium is needed for the browser tests (apt-get install chromium)")
    pytest.skip("chromium is not installed")


#: One notebook question, ``x == 1``: the smallest rubric that runs a notebook in a grading worker.
NOTEBOOK_VALUE_RUBRIC = """
name: one value
questions:
  - id: nb
    title: a notebook value
    points: 1
    files: [nb.ipynb]
    checks:
      - {kind: notebook_value, notebook: nb.ipynb, expr: x, expected: 1}
"""

"""``mlgrade export student-kit``: what a student gets, that it installs offline, and that it checks."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from helpers import fresh_env

from grader.cli import main
from grader.studentkit import KIT_FOLDER

SECRET = "tolerance: 3.14159e-07"  # a hidden question's parameter: must not reach the student


def _instructor_rubric(tmp_path: Path) -> Path:
    text = (ROOT / "rubric.yaml").read_text()
    text = text.replace("  - id: backprop\n", "  - id: backprop\n    hidden: true\n")
    assert "        options: {tolerance: 1.0e-6}\n" in text
    text = text.replace("        options: {tolerance: 1.0e-6}\n", f"        options: {{{SECRET}}}  # hidden-test note for TAs\n")
    for pack in ("hw4", "aml_hw4"):  # the course packs the rubric's questions use, next to it as in the repository
        shutil.copytree(ROOT / "rubrics" / pack, tmp_path / "rubrics" / pack, ignore=shutil.ignore_patterns("samples"),
                        dirs_exist_ok=True)
    path = tmp_path / "instructor.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def kit(tmp_path) -> Path:
    out = tmp_path / "hw4-kit.zip"
    assert main(["export", "student-kit", "--rubric", str(_instructor_rubric(tmp_path)), "-o", str(out)]) == 0
    return out


def _members(kit: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(kit) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_kit_holds_the_wheel_the_public_rubric_and_a_readme(kit):
    files = _members(kit)
    names = sorted(files)
    pack = [f"{KIT_FOLDER}/rubrics/hw4/{f}" for f in ("refs.py", "tests/test_xor_equation.py", "tests/test_xor_hand.py",
                                                      "tests/test_xor_notebook.py", "tests/xor_checks.py")]
    assert names == sorted([f"{KIT_FOLDER}/README.md", f"{KIT_FOLDER}/mlgrade-0.1.0-py3-none-any.whl",
                            f"{KIT_FOLDER}/rubric.yaml", *pack])  # the hidden question's pack (aml_hw4) stays home
    public = files[f"{KIT_FOLDER}/rubric.yaml"].decode()
    assert "3.14159e-07" not in public and "TAs" not in public  # hidden parameters and comments stay home
    backprop = next(q for q in yaml.safe_load(public)["questions"] if q["id"] == "backprop")
    assert backprop == {"id": "backprop", "title": backprop["title"], "points": 3, "files": ["backprop.ipynb"],
                        "checks": [{"kind": "graded_by_instructor"}], "hidden": True}
    digits = next(q for q in yaml.safe_load(public)["questions"] if q["id"] == "digits")
    assert digits["checks"][0]["kind"] == "digits"  # public questions keep their checks


def test_readme_gives_commands_per_platform_with_this_kits_names(kit):
    readme = _members(kit)[f"{KIT_FOLDER}/README.md"].decode()
    wheel = "mlgrade-0.1.0-py3-none-any.whl"
    blocks = dict(re.findall(r"## (Windows|macOS and Linux|Google Colab)[^\n]*\n(?:(?!## ).)*?```\n(.+?)\n```",
                             readme, re.S))
    assert set(blocks) == {"Windows", "macOS and Linux", "Google Colab"}
    assert blocks["Windows"].splitlines() == ["py -m venv mlgrade-env",
                                              rf".\mlgrade-env\Scripts\python -m pip install {wheel}",
                                              r".\mlgrade-env\Scripts\mlgrade check my_hw4.zip"]
    assert blocks["macOS and Linux"].splitlines()[2] == "mlgrade-env/bin/mlgrade check my_hw4.zip"
    assert blocks["Google Colab"].splitlines() == ["!unzip -q -o hw4-kit.zip", f"%pip install -q {KIT_FOLDER}/{wheel}",
                                                   f"!mlgrade check my_hw4.zip --rubric {KIT_FOLDER}/rubric.yaml"]
    assert "pip install mlgrade\n" not in readme  # never a package that is not published
    assert "Python 3.11 or newer" in readme and "provisional" in readme and "backprop" in readme


def test_the_wheel_is_complete_and_its_record_is_true(kit):
    with zipfile.ZipFile(__import__("io").BytesIO(_members(kit)[f"{KIT_FOLDER}/mlgrade-0.1.0-py3-none-any.whl"])) as w:
        names = set(w.namelist())
        record = w.read("mlgrade-0.1.0.dist-info/RECORD").decode().splitlines()
        for line in record:
            name, digest, size = line.rsplit(",", 2)
            if name.endswith("RECORD"):
                continue
            data = w.read(name)
            assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert int(size) == len(data)
        assert len(record) == len(names)
        assert (w.getinfo("grader/nbexec/support/bin/pip").external_attr >> 16) & 0o111  # still executable
        assert "[console_scripts]" in w.read("mlgrade-0.1.0.dist-info/entry_points.txt").decode()
        assert "sys_platform == \"win32\"" in w.read("mlgrade-0.1.0.dist-info/METADATA").decode()  # pywin32
    for needed in ("grader/insandbox/kernel.py", "grader/nbexec/support/bin/pip.cmd", "mlgrade/__init__.py",
                   "grader/nbexec/support/colab/mlgrade/__init__.py", "reference/backprop.py"):
        assert needed in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_the_same_installation_gives_the_same_kit(tmp_path, kit):
    again = tmp_path / "again" / "hw4-kit.zip"
    assert main(["export", "student-kit", "--rubric", str(_instructor_rubric(tmp_path)), "-o", str(again)]) == 0
    assert again.read_bytes() == kit.read_bytes()


def test_a_rubric_with_a_mistake_is_refused_with_its_key_path(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "rubric.yaml").read_text().replace("points: 0.5", "points: two", 1))
    assert main(["export", "student-kit", "--rubric", str(bad), "-o", str(tmp_path / "k.zip")]) == 2
    assert "questions[0].points" in capsys.readouterr().err and not (tmp_path / "k.zip").exists()


@pytest.mark.slow
def test_the_kit_installs_offline_into_a_fresh_virtualenv_and_checks_a_sample(tmp_path, kit):
    """The student's steps: unzip, pip install the wheel into a new environment, `mlgrade check` with the
    kit's rubric. Offline: mlgrade's dependencies are this environment's distributions; nothing is fetched."""
    with zipfile.ZipFile(kit) as zf:
        zf.extractall(tmp_path / "unpacked")
    folder = tmp_path / "unpacked" / KIT_FOLDER
    python = fresh_env(tmp_path / "student-env")
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_FIND_LINKS")}
    res = subprocess.run([*pip, "install", "--no-index", "--no-cache-dir", str(folder / "mlgrade-0.1.0-py3-none-any.whl")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "Successfully installed mlgrade-0.1.0" in res.stdout
    assert subprocess.run([*pip, "check"], capture_output=True, text=True, env=env).returncode == 0
    where = subprocess.run([str(python), "-c", "import grader, mlgrade; print(grader.__file__)"], capture_output=True,
                           text=True, env=env, cwd=tmp_path)
    assert str(tmp_path / "student-env") in where.stdout  # the wheel's copy, not this checkout

    sample = ROOT / "submissions" / "bob_partial.zip"
    mlgrade_exe = python.parent / "mlgrade"
    res = subprocess.run([str(mlgrade_exe), "check", str(sample), "--isolation", "none", "--json", "r.json"],
                         capture_output=True, text=True, cwd=folder, env=env, timeout=900)  # ./rubric.yaml: the kit's
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    got = {t["number"]: t["score"] for t in json.loads((folder / "r.json").read_text())["tests"]}

    from grader.rubric import load_rubric
    from grader.selfcheck import self_check

    expected = self_check(sample, load_rubric(_instructor_rubric(tmp_path)), "none").result  # the instructor's
    assert got == {q.id: q.score for q in expected.questions}
    assert got["backprop"] == 0 and "graded by your instructor with hidden tests: backprop" in res.stdout

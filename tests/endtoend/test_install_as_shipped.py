"""The install commands mlgrade writes, executed word for word in fresh environments, from the generated files
alone: the student kit's README, the Classroom workflow, Gradescope's setup.sh and run_autograder.

Slow (each installs mlgrade's dependencies from the package index, with pip's cache) and needs what CI has:
PyPI, Debian's packages (setup.sh runs apt-get), root for Gradescope's run as another user.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from helpers import notebook_bytes

pytestmark = pytest.mark.slow
WHEEL = "mlgrade-0.1.0-py3-none-any.whl"
LIGHT_MB = 400  # issue 21: the student install's floor


def _system_env() -> dict[str, str]:
    """A newcomer's shell: the system's Python first, nothing of this test run's environment."""
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "PIP_CACHE_DIR", "TMPDIR", "XDG_CACHE_HOME")}
    return {**keep, "PATH": "/usr/local/bin:/usr/bin:/bin"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """mlgrade installed from this checkout as users get it: ``pip install .``, not editable, in a fresh
    virtualenv; its ``mlgrade`` builds the kit, the template and the autograder zip in these tests."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    env = _system_env()
    subprocess.run(["python3", "-m", "venv", str(venv)], env=env, check=True)
    build = tmp_path_factory.mktemp("src") / "mlgrade"  # a copy: the build must not write into the checkout
    shutil.copytree(ROOT, build, ignore=shutil.ignore_patterns(".venv", ".git", "*.egg-info", "__pycache__", "build"))
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(build)], env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import grader; print(grader.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path_factory.getbasetemp())
    assert "site-packages" in where.stdout and str(build) not in where.stdout  # not editable
    return venv / "bin" / "mlgrade"


def _mlgrade(installed: Path, *args: str, cwd: Path = ROOT) -> None:
    """A command of the non-editable install, run from the checkout (the course folder with its rubric)."""
    done = subprocess.run([str(installed), *args], cwd=cwd, env=_system_env(), capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def _scores(results: Path) -> dict[str, float]:
    return {t["number"]: t["score"] for t in json.loads(results.read_text())["tests"]}


def _instructor_scores(sample: Path, rubric: Path) -> dict[str, float]:
    from grader.rubric import load_rubric
    from grader.student.selfcheck import self_check

    return {q.id: q.score for q in self_check(sample, load_rubric(rubric), "auto", remember=False).result.questions}


def test_the_kits_readme_commands_install_light_and_check(tmp_path, installed):
    kit = tmp_path / "hw4-kit.zip"
    _mlgrade(installed, "export", "student-kit", "--rubric", str(ROOT / "rubric.yaml"), "--samples",
             str(ROOT / "submissions"), "-o", str(kit))
    with zipfile.ZipFile(kit) as zf:
        zf.extractall(tmp_path)
    folder = tmp_path / "mlgrade-kit"
    readme = (folder / "README.md").read_text()
    block = re.search(r"## macOS and Linux\n(?:(?!## ).)*?```\n(.+?)\n```", readme, re.S).group(1).splitlines()
    sample = ROOT / "submissions" / "alice_complete.zip"
    shutil.copy(sample, folder / "my_submission.zip")
    env = _system_env()
    started = time.monotonic()
    for line in block[:-1]:  # the Python check and the install, exactly as written
        done = subprocess.run(line, shell=True, cwd=folder, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, line + "\n" + done.stdout[-2000:] + done.stderr[-2000:]
    seconds = time.monotonic() - started
    size = _du_mb(folder / "mlgrade-env")
    print(f"kit install: {seconds:.0f} s, {size:.0f} MB")
    assert size <= LIGHT_MB, f"the student install takes {size:.0f} MB"
    done = subprocess.run(block[-1] + " --json r.json", shell=True, cwd=folder, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert _scores(folder / "r.json") == _instructor_scores(sample, ROOT / "rubric.yaml")


def test_the_classroom_workflows_install_and_grade_steps(tmp_path, installed):
    repo = tmp_path / "hw4-template"
    repo.mkdir()
    _mlgrade(installed, "init", "classroom", "--rubric", str(ROOT / "rubric.yaml"), "--samples",
             str(ROOT / "submissions"), "--repo", str(repo))
    with zipfile.ZipFile(ROOT / "submissions" / "bob_partial.zip") as zf:
        zf.extractall(repo)  # a student's repository: the template with their work committed
    env = _system_env()
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                ["git", "-c", "user.name=s", "-c", "user.email=s@x", "commit", "-q", "-m", "hw"]):
        subprocess.run(cmd, cwd=repo, env=env, check=True)
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "classroom.yml").read_text())
    steps = {s.get("name", ""): s for s in workflow["jobs"]["run-autograding-tests"]["steps"]}
    install = next(s["run"] for n, s in steps.items() if n.startswith("Install mlgrade"))
    subprocess.run(["python3", "-m", "venv", str(tmp_path / "runner")], env=env, check=True)
    env["PATH"] = f"{tmp_path / 'runner' / 'bin'}:{env['PATH']}"  # actions/setup-python puts its python first
    done = subprocess.run(install, shell=True, cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    env["GITHUB_OUTPUT"] = str(tmp_path / "gh_output")
    done = subprocess.run(steps["Grade"]["run"] + " --json r.json", shell=True, cwd=repo, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "q1a=" in (tmp_path / "gh_output").read_text()
    got = _scores(repo / "r.json")
    want = _instructor_scores(ROOT / "submissions" / "bob_partial.zip", ROOT / "rubric.yaml")
    assert {k: v for k, v in got.items() if k != "digits"} == {k: v for k, v in want.items() if k != "digits"}


HOSTILE = r'''
import json, os
root = os.environ.get("MARK_ROOT", "{root}")
seen = {{}}
for rel in ("source/reference/backprop.py", "source/rubric.yaml", "source/hidden/secret.txt", "results/results.json"):
    try:
        seen[rel] = open(os.path.join(root, rel)).read()[:60]
    except Exception as e:
        seen[rel] = type(e).__name__
try:
    with open(os.path.join(root, "results", "results.json"), "w") as f:
        f.write('{{"score": 1000}}')
    seen["write results"] = "wrote"
except Exception as e:
    seen["write results"] = type(e).__name__
seen["uid"] = os.getuid()
with open("{marker}", "w") as f:
    json.dump(seen, f)
'''


@pytest.mark.skipif(os.geteuid() != 0 or sys.platform != "linux", reason="Gradescope runs its autograder as root")
def test_gradescope_setup_and_run_autograder_without_user_namespaces(tmp_path, request, installed):
    """setup.sh as Gradescope runs it (apt-get, a venv, the wheel from the zip), then run_autograder in a
    container-like process where user namespaces are refused (Docker's seccomp profile): the student's code runs
    as another user and can read none of the autograder's files, nor write the results."""
    hidden = tmp_path / "hidden-data"
    hidden.mkdir()
    (hidden / "secret.txt").write_text("the hidden answers")
    zip_path = tmp_path / "autograder.zip"
    _mlgrade(installed, "export", "gradescope", "--rubric", str(ROOT / "rubric.yaml"), "--hidden", str(hidden),
             "-o", str(zip_path))
    top = Path(tempfile.mkdtemp(prefix="mlgrade-gs-test-", dir="/tmp"))  # like /autograder: others may traverse it
    os.chmod(top, 0o755)
    request.addfinalizer(lambda: shutil.rmtree(top, ignore_errors=True))
    root = top / "autograder"
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root / "source")
    env = {**_system_env(), "AUTOGRADER_ROOT": str(root), "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (root / "source").stat().st_mode & 0o777 == 0o700  # root's alone, from here on

    def grade(files: dict[str, bytes]) -> dict:
        shutil.rmtree(root / "submission", ignore_errors=True)
        shutil.rmtree(root / "results", ignore_errors=True)
        (root / "submission").mkdir()
        for name, data in files.items():
            (root / "submission" / name).write_bytes(data)
        run = subprocess.run([sys.executable, str(ROOT / "tests" / "no_userns.py"), "bash",
                              str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                             timeout=900)
        assert run.returncode == 0, run.stderr[-3000:]
        return json.loads((root / "results" / "results.json").read_text())

    drop = top / "drop"  # the one place the student's code may write that the test can read
    drop.mkdir(mode=0o1777)
    os.chmod(drop, 0o1777)
    marker = drop / "seen.json"
    hostile = notebook_bytes(HOSTILE.format(root=root, marker=marker))
    data = grade({"backprop.ipynb": hostile})
    seen = json.loads(marker.read_text())
    assert seen["uid"] != 0
    assert {k: v for k, v in seen.items() if k != "uid"} == {
        "source/reference/backprop.py": "PermissionError", "source/rubric.yaml": "PermissionError",
        "source/hidden/secret.txt": "PermissionError", "results/results.json": "PermissionError",
        "write results": "PermissionError"}
    assert data["score"] == 0 and "unprivileged user" in data["output"]
    with zipfile.ZipFile(ROOT / "submissions" / "alice_complete.zip") as zf:
        files = {Path(n).name: zf.read(n) for n in zf.namelist() if not n.endswith("/")}
    data = grade(files)
    got = {t["number"]: t["score"] for t in data["tests"]}
    want = _instructor_scores(ROOT / "submissions" / "alice_complete.zip", ROOT / "rubric.yaml")
    assert {k: v for k, v in got.items() if k != "digits"} == {k: v for k, v in want.items() if k != "digits"}

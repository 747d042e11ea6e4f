"""A tired user's mistakes, every command: one readable line, the right exit code, no traceback, no files left.

Each row is a mistake someone made (the table grows with every bug report): the command line, the exit
code expected (2: a usage or environment problem), and words the one line must hold. Every row runs
``mlgrade`` as a user would, in a process of its own; rows marked ``user`` run as an unprivileged user
(``nobody``) when the tests run as root, so that permissions are what a TA's account meets.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

MLGRADE = str(Path(sys.executable).parent / "mlgrade")
NOBODY = 65534

RUBRIC = """name: t
questions:
  - {id: a, title: file a, points: 1, checks: [{kind: file_present, file: a.txt}]}
  - {id: b, title: file b, points: 2, checks: [{kind: file_present, file: b.txt}]}
"""
DIGITS_RUBRIC = """name: d
questions:
  - {id: digits, title: digits, points: 40, checks: [{kind: digits, model: digits.h5}]}
"""


@pytest.fixture(scope="module")
def ws() -> Iterator[Path]:
    """A workspace every user can read (pytest's own temporary folders are private to their owner): a rubric,
    two submissions, a graded class and some traps."""
    root = Path(tempfile.mkdtemp(prefix="mlgrade-badinput-"))
    try:
        os.chmod(root, 0o755)
        _fill(root)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _fill(root: Path) -> None:
    (root / "rubric.yaml").write_text(RUBRIC)
    (root / "digits.yaml").write_text(DIGITS_RUBRIC)
    subs = root / "subs"
    subs.mkdir()
    for name, files in {"ann": {"a.txt": "a"}, "bob": {"a.txt": "a", "b.txt": "b"}}.items():
        with zipfile.ZipFile(subs / f"{name}.zip", "w") as z:
            for fname, text in files.items():
                z.writestr(fname, text)
    (root / "empty").mkdir()
    (root / "nozips").mkdir()
    (root / "nozips" / "notes.txt").write_text("nothing to grade")
    (root / "afile").write_text("a regular file")
    (root / "hidden_empty" / "digits" / "3").mkdir(parents=True)
    (root / "hidden_junk" / "digits" / "3").mkdir(parents=True)
    (root / "hidden_junk" / "digits" / "3" / "x.png").write_bytes(b"not a png")
    for name, text in {"val_yaml": "ann: {total: [\n", "val_typo": "ann: {totl: 1}\n",
                       "val_type": "ann: {total: lots}\n", "val_nosample": "zed: {total: 1}\n"}.items():
        (root / name / "samples").mkdir(parents=True)
        (root / name / "rubric.yaml").write_text(RUBRIC)
        shutil.copy(subs / "ann.zip", root / name / "samples" / "ann.zip")
        (root / name / "samples" / "expected.yaml").write_text(text)
    done = subprocess.run([MLGRADE, "grade", str(subs), "--out", str(root / "graded"), "--rubric",
                           str(root / "rubric.yaml"), "--isolation", "none"], capture_output=True, text=True,
                          cwd=root, timeout=300)
    assert done.returncode == 0, done.stderr
    subprocess.run(["chmod", "-R", "a+rX", str(root)], check=True)


def _cases():
    """(id, argv with {ws}, exit code, words the line holds, run as an unprivileged user)."""
    r = "--rubric {ws}/rubric.yaml"
    return [
        # output paths that cannot be written
        ("check-out-under-proc", f"check {{ws}}/subs/ann.zip {r} -o /proc/nope/report.txt", 2, "cannot write", False),
        ("check-json-under-file", f"check {{ws}}/subs/ann.zip {r} --json {{ws}}/afile/r.json", 2, "not a folder",
         False),
        ("check-html-is-folder", f"check {{ws}}/subs/ann.zip {r} --html {{ws}}/empty", 2, "is a folder", False),
        ("grade-out-is-file", f"grade {{ws}}/subs {r} --out {{ws}}/afile", 2, "not a folder", False),
        ("grade-out-under-file", f"grade {{ws}}/subs {r} --out {{ws}}/afile/grades", 2, "not a folder", False),
        ("grade-out-read-only", f"grade {{ws}}/subs {r} --out {{ws}}/graded/new", 2, "cannot write", True),
        ("export-under-file", f"export gradescope {r} -o {{ws}}/afile/ag.zip", 2, "not a folder", False),
        ("init-dir-under-file", "init assignment hw9 --dir {ws}/afile/hw9", 2, "not a folder", False),
        ("import-out-under-file", "import nbgrader {ws}/afile --out {ws}/afile/x", 2, "not a notebook", False),
        ("gradescope-results-under-file", "gradescope --submission {ws}/subs --rubric {ws}/rubric.yaml "
         "--results {ws}/afile/results.json", 2, "not a folder", False),
        # submissions that are not submissions
        ("grade-empty-folder", f"grade {{ws}}/empty {r} --out {{ws}}/o1", 2, "no submissions", False),
        ("grade-folder-without-zips", f"grade {{ws}}/nozips {r} --out {{ws}}/o2", 2, "no submissions", False),
        ("grade-the-rubric", f"grade {{ws}}/rubric.yaml {r} --out {{ws}}/o3", 2, "the rubric", False),
        ("grade-out-is-submissions", f"grade {{ws}}/subs {r} --out {{ws}}/subs", 2, "the submissions folder",
         False),
        ("grade-empty-format", f"grade {{ws}}/subs {r} --out {{ws}}/o4 --format ,", 2, "format", False),
        ("grade-blank-format", f"grade {{ws}}/subs {r} --out {{ws}}/o5 --format=", 2, "format", False),
        ("grade-hidden-without-images", "grade {ws}/subs --rubric {ws}/digits.yaml --out {ws}/o6 --hidden "
         "{ws}/hidden_empty", 2, "no usable", False),
        ("grade-hidden-junk-images", "grade {ws}/subs --rubric {ws}/digits.yaml --out {ws}/o7 --hidden "
         "{ws}/hidden_junk", 2, "no usable", False),
        ("grade-bad-scheduler", f"grade {{ws}}/subs {r} --out {{ws}}/o8 --scheduler http://127.0.0.1:abc", 2,
         "scheduler", False),
        ("grade-jobs-zero", f"grade {{ws}}/subs {r} --out {{ws}}/o9 --jobs 0", 2, "--jobs", False),
        # values no platform takes
        ("classroom-python-three", f"init classroom {r} --repo {{ws}}/empty --python three", 2, "--python", False),
        ("review-port-negative", "review {ws}/graded --port -5", 2, "--port", False),
        ("review-port-too-big", "review {ws}/graded --port 70000", 2, "--port", False),
        # a class the user may read but not change
        ("override-read-only-class", "override {ws}/graded ann a 1 -m fine", 2, "read-only", True),
        ("review-read-only-class", "review {ws}/graded --port 0", 2, "read-only", True),
        # validate's inputs
        ("validate-samples-is-file", "validate {ws}/rubric.yaml --samples {ws}/afile", 2, "not a folder", False),
        ("validate-expected-yaml-error", "validate {ws}/val_yaml/rubric.yaml", 2, "expected.yaml", False),
        ("validate-expected-typo", "validate {ws}/val_typo/rubric.yaml", 2, "total", False),
        ("validate-expected-wrong-type", "validate {ws}/val_type/rubric.yaml", 2, "total", False),
        ("validate-expected-unknown-sample", "validate {ws}/val_nosample/rubric.yaml", 2, "zed", False),
    ]


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_mistake_gets_one_line_and_no_traceback(ws, case):
    _, argv, code, words, as_user = case
    before = _tree(ws)
    args = [a.format(ws=ws) for a in argv.split(" ")]
    prefix: list[str] = []
    if as_user:
        if os.geteuid() == 0:
            prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        elif os.access(ws / "graded", os.W_OK) and os.stat(ws / "graded").st_uid == os.geteuid():
            pytest.skip("needs root (to become another user) or a class the test user does not own")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ws / "empty"), "LANG": "C.UTF-8", "COLUMNS": "200"}
    done = subprocess.run([*prefix, MLGRADE, *args], capture_output=True, text=True, cwd=ws / "empty", env=env,
                          timeout=120)
    err = done.stderr.strip()
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == code, (done.returncode, done.stdout[-500:], err)
    lines = [ln for ln in err.splitlines() if re.match(r"mlgrade( [a-z-]+)?: error:", ln)]
    assert len(lines) == 1 and words in err, err  # one error, said once (a file's mistakes listed under it)
    assert len(err.splitlines()) <= 12, err
    assert _tree(ws) == before, set(_tree(ws)) ^ set(before)


def test_non_utf8_words_in_an_override_are_kept_readable(ws, tmp_path):
    cls = tmp_path / "graded"
    shutil.copytree(ws / "graded", cls)
    done = subprocess.run([os.fsencode(MLGRADE), b"override", os.fsencode(cls), b"ann", b"a", b"1", b"-m",
                           b"caf\xe9 ok", b"--by", b"ta\xff"], capture_output=True, timeout=120)
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr
    text = (cls / "overrides.yaml").read_text(encoding="utf-8")
    assert "caf" in text and "ok" in text


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*")
            if ".mlgrade" not in p.parts and "__pycache__" not in p.parts}


def test_the_output_folder_inside_the_submissions_is_never_graded(ws, tmp_path):
    subs = tmp_path / "subs"
    shutil.copytree(ws / "subs", subs)
    for _ in range(2):  # the second run finds grades/ (and its per-student folders) among the submissions
        done = subprocess.run([MLGRADE, "grade", str(subs), "--out", str(subs / "grades"), "--rubric",
                               str(ws / "rubric.yaml"), "--isolation", "none"], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
    rows = (subs / "grades" / "grades.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["ann", "bob"]


def test_a_second_run_on_one_output_folder_is_refused_naming_the_first(ws, tmp_path):
    from grader.core.files import held_or_refused

    out = tmp_path / "grades"
    with held_or_refused(out / ".mlgrade" / "grading.lock", "mlgrade grade (pid 4242 on lab-7, since 01:02:03)"):
        done = subprocess.run([MLGRADE, "grade", str(ws / "subs"), "--out", str(out), "--rubric",
                               str(ws / "rubric.yaml"), "--isolation", "none"], capture_output=True, text=True,
                              timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "is being graded by mlgrade grade (pid 4242 on lab-7, since 01:02:03)" in done.stderr
    assert not (out / "grades.csv").exists()
    done = subprocess.run([MLGRADE, "grade", str(ws / "subs"), "--out", str(out), "--rubric",
                           str(ws / "rubric.yaml"), "--isolation", "none"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and (out / "grades.csv").exists(), done.stderr  # free again once released


def test_grading_into_a_shared_folder_someone_else_owns_works(ws):
    if os.geteuid() != 0:
        pytest.skip("needs root, to grade as another user into root's folder")
    shared = Path(tempfile.mkdtemp(prefix="mlgrade-shared-"))
    try:
        os.chmod(shared, 0o777)  # a course's shared folder: writable by all, owned by someone else
        done = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", MLGRADE,
                               "grade", str(ws / "subs"), "--out", str(shared), "--rubric", str(ws / "rubric.yaml"),
                               "--isolation", "none"], capture_output=True, text=True, timeout=300,
                              env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"})
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert (shared / "grades.csv").exists() and os.stat(shared).st_mode & 0o777 == 0o777
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_an_unwritable_github_output_is_said_before_grading(ws):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ws / "empty"), "LANG": "C.UTF-8",
           "GITHUB_OUTPUT": str(ws / "afile" / "out.txt")}
    done = subprocess.run([MLGRADE, "classroom", str(ws / "subs" / "ann.zip"), "--rubric", str(ws / "rubric.yaml")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "$GITHUB_OUTPUT" in done.stderr and "not a folder" in done.stderr
    assert "Classroom points" not in done.stdout  # said before anything was graded

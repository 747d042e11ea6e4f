"""A repeated ``mlgrade check`` of an unchanged submission prints its last report without grading; anything that
could change the report grades in full (grader.student.replay)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.student import replay

RUBRIC = """
name: replay
questions:
  - id: answer
    title: the answer
    points: 2
    checks:
      - kind: pytest
        tests: tests/test_answer.py
        uses: [answer.txt]
"""

TEST = """
def test_answer(files):
    assert files.text("answer.txt").strip() == "{expected}"
"""


def _write_rubric(folder: Path, expected: str = "42") -> Path:
    (folder / "tests").mkdir(parents=True, exist_ok=True)
    (folder / "tests" / "test_answer.py").write_text(TEST.format(expected=expected))
    (folder / "rubric.yaml").write_text(RUBRIC)
    return folder / "rubric.yaml"


def _zip(path: Path, answer: str) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("answer.txt", answer + "\n")
    return path


def _check(args: list[str], cwd: Path, cache: Path, **env: str) -> tuple[str, list[str]]:
    """``mlgrade check`` as a student runs it: its output and the timeline's stages (to see what ran)."""
    timeline = cwd / "timeline.log"
    timeline.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-m", "grader", "check", *args, "--isolation", "none"], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "XDG_CACHE_HOME": str(cache), "MLGRADE_TIMELINE": str(timeline),
                               **env})
    assert done.returncode == 0, done.stderr
    stages = timeline.read_text().splitlines() if timeline.exists() else []
    return done.stdout, stages


def _replayed(stages: list[str]) -> bool:
    return any("cli: check replayed" in s for s in stages)


@pytest.fixture
def course(tmp_path):
    rubric = _write_rubric(tmp_path / "kit")
    sub = _zip(tmp_path / "hw.zip", "42")
    return tmp_path, rubric, sub


def test_an_unchanged_check_is_answered_from_its_last_report_and_a_changed_submission_is_graded(course):
    tmp, rubric, sub = course
    cache = tmp / "cache"
    first, stages = _check([str(sub), "--rubric", str(rubric)], tmp, cache)
    assert "2/2" in first and not _replayed(stages)
    again, stages = _check([str(sub), "--rubric", str(rubric)], tmp, cache)
    assert _replayed(stages) and not any("parsed" in s for s in stages)  # nothing imported, nothing graded
    assert again == first + replay.NOTE

    # the same size and the same time, another answer: the contents decide, so it is graded again
    stat = sub.stat()
    _zip(sub, "41")
    os.utime(sub, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert sub.stat().st_size == stat.st_size
    changed, stages = _check([str(sub), "--rubric", str(rubric)], tmp, cache)
    assert not _replayed(stages) and "0/2" in changed


def test_a_changed_test_file_or_a_new_default_rubric_grades_in_full(course):
    tmp, rubric, sub = course
    cache = tmp / "cache"
    _check([str(sub), "--rubric", str(rubric)], tmp, cache)
    _write_rubric(rubric.parent, expected="43")  # the instructor's updated kit: only a test file changed
    out, stages = _check([str(sub), "--rubric", str(rubric)], tmp, cache)
    assert not _replayed(stages) and "0/2" in out

    # no --rubric: the default is rubric.yaml in this folder; one appearing there is another rubric
    work = tmp / "work"
    work.mkdir()
    other = _write_rubric(tmp / "other", expected="42")
    out, _ = _check([str(sub), "--rubric", str(other)], work, cache)
    assert "2/2" in out
    (work / "rubric.yaml").write_text(RUBRIC)
    (work / "tests").mkdir()
    (work / "tests" / "test_answer.py").write_text(TEST.format(expected="42"))
    first, stages = _check([str(sub)], work, cache)
    assert not _replayed(stages)
    (work / "tests" / "test_answer.py").write_text(TEST.format(expected="0"))
    out, stages = _check([str(sub)], work, cache)
    assert not _replayed(stages) and "0/2" in out
    (work / "rubric.yaml").unlink()  # now the built-in rubric would be used: never this report
    assert replay.replay(["check", str(sub), "--isolation", "none"]) is None


def test_other_words_terminals_or_environments_are_other_checks(course, monkeypatch):
    tmp, rubric, sub = course
    cache = tmp / "cache"
    _check([str(sub), "--rubric", str(rubric)], tmp, cache)
    _, stages = _check([str(sub), "--rubric", str(rubric)], tmp, cache, COLUMNS="60")  # the table's width
    assert not _replayed(stages)
    _, stages = _check([str(sub), "--rubric", str(rubric), "--no-cache"], tmp, cache)
    assert not _replayed(stages)
    # a check writing files keeps no report (its files would not be written again)
    html = tmp / "report.html"
    _check([str(sub), "--rubric", str(rubric), "--html", str(html)], tmp, cache)
    html.unlink()
    _, stages = _check([str(sub), "--rubric", str(rubric), "--html", str(html)], tmp, cache)
    assert not _replayed(stages) and html.is_file()


def test_a_broken_or_hostile_cache_entry_means_a_full_check(course):
    tmp, rubric, sub = course
    cache = tmp / "cache"
    first, _ = _check([str(sub), "--rubric", str(rubric)], tmp, cache)
    entries = list((cache / "mlgrade" / replay.FOLDER).glob("*.json"))
    assert len(entries) == 1
    for bad in ("{not json", json.dumps({"inputs": "x", "stdout": 3}), json.dumps({"stdout": "you got 100"}),
                json.dumps({"inputs": [], "stdout": 5}), "x" * (replay.MAX_ENTRY_BYTES + 1)):
        entries[0].write_text(bad)
        out, stages = _check([str(sub), "--rubric", str(rubric)], tmp, cache)
        assert not _replayed(stages) and out.startswith(first), bad[:40]
        entries = list((cache / "mlgrade" / replay.FOLDER).glob("*.json"))


def test_the_tee_records_and_a_folder_digest_sees_names_and_contents(tmp_path):
    tee = replay.Tee(open(os.devnull, "w"))
    tee.write("table\n")
    assert tee.text() == "table\n" and tee.isatty() is False
    # a folder's digest covers its files' names and contents
    (tmp_path / "a").write_text("1")
    before = replay.content_digest(tmp_path)
    (tmp_path / "a").rename(tmp_path / "b")
    assert replay.content_digest(tmp_path) != before
    assert replay.content_digest(tmp_path / "missing") is None


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_report_another_user_left_in_the_cache_folder_is_not_believed(course):
    tmp, rubric, sub = course
    cache = tmp / "cache"
    _check([str(sub), "--rubric", str(rubric)], tmp, cache)
    entry = next((cache / "mlgrade" / replay.FOLDER).glob("*.json"))
    data = json.loads(entry.read_text())
    data["stdout"] = "total 100/100\n"
    entry.write_text(json.dumps(data))
    os.chown(entry, 65534, 65534)  # XDG_CACHE_HOME=/tmp on a shared machine: anyone could have written it
    out, stages = _check([str(sub), "--rubric", str(rubric)], tmp, cache)
    assert not _replayed(stages) and "100/100" not in out and "2/2" in out

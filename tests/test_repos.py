"""Grading GitHub Classroom repositories at a deadline: a roster of local bare repositories (no
network), the commit before the deadline, late commits ignored, students without a repository."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest

from grader.cli import main
from grader.platforms.repos import RepoError, parse_deadline, read_roster, roster_repos

RUBRIC = """
name: repo test
questions:
  - {id: a, title: file a, points: 1, checks: [{kind: file_present, file: a.txt}]}
  - {id: b, title: file b, points: 2, checks: [{kind: file_present, file: b.txt}]}
"""


def git(repo: Path, *args: str, date: str | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "S", "GIT_AUTHOR_EMAIL": "s@example.edu", "GIT_COMMITTER_NAME": "S",
           "GIT_COMMITTER_EMAIL": "s@example.edu"}
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    return subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def remote_with_commits(remotes: Path, name: str, commits: list[tuple[str, dict[str, bytes]]]) -> list[str]:
    """A bare repository ``remotes/<name>.git`` whose history is ``commits`` (date, files); the shas."""
    work = remotes / f"{name}-work"
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    shas = []
    for date, files in commits:
        for fname, data in files.items():
            (work / fname).write_bytes(data)
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", f"work at {date}", date=date)
        shas.append(git(work, "rev-parse", "HEAD"))
    git(remotes, "clone", "-q", "--bare", str(work), str(remotes / f"{name}.git"))
    return shas


@pytest.fixture
def classroom(tmp_path):
    remotes = tmp_path / "remotes"
    remotes.mkdir()
    alice = remote_with_commits(remotes, "hw4-alice-s", [
        ("2026-03-01T10:00:00+00:00", {"a.txt": b"a"}),
        ("2026-03-01T22:00:00+00:00", {"README.md": b"more"}),
        ("2026-03-02T09:00:00+00:00", {"b.txt": b"late"})])
    remote_with_commits(remotes, "hw4-bob", [("2026-03-03T00:00:00+00:00", {"a.txt": b"a", "b.txt": b"b"})])
    roster = tmp_path / "classroom_roster.csv"
    with open(roster, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["identifier", "github_username", "github_id", "name"])
        w.writerow(["alice@uni.edu", "alice-s", "101", "Alice Smith"])
        w.writerow(["bob@uni.edu", "bob", "102", "Bob Li"])
        w.writerow(["carol@uni.edu", "carol", "103", "Carol Ng"])  # never accepted: no repository
        w.writerow(["dan@uni.edu", "", "", "Dan Wu"])  # no GitHub account linked
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(RUBRIC)
    return tmp_path, remotes, roster, rubric, alice


def grade_roster(tmp, remotes, roster, rubric, out, deadline="2026-03-01T23:59:00+00:00"):
    return main(["grade", "--roster", str(roster), "--org", "course", "--repo-prefix", "hw4",
                 "--repo-url", str(remotes / "{repo}.git"), "--deadline", deadline, "--out", str(out),
                 "--rubric", str(rubric), "--jobs", "1"])


def test_roster_graded_at_the_deadline_with_the_commit_recorded(classroom, capsys):
    tmp, remotes, roster, rubric, alice = classroom
    out = tmp / "grades"
    assert grade_roster(tmp, remotes, roster, rubric, out) == 0
    err = capsys.readouterr().err
    assert "grading the last commit before 2026-03-01 23:59:00 UTC" in err
    assert f"alice-s: commit {alice[1][:12]}" in err and "(1 later commits ignored)" in err
    rows = list(csv.reader((out / "grades.csv").open()))
    assert rows[0] == ["student", "a", "b", "total"]
    # alice: the commit before the deadline has a.txt but not the late b.txt
    assert rows[1:] == [["Dan_Wu", "0", "0", "0"], ["alice-s", "1", "0", "1"], ["bob", "0", "0", "0"],
                        ["carol", "0", "0", "0"]]
    summary = json.loads((out / "summary.json").read_text())
    src = summary["sources"]["alice-s"]
    assert src["commit"] == alice[1] and src["late_commits"] == 1 and src["full_name"] == "Alice Smith"
    assert src["committed_at"].startswith("2026-03-01T22:00:00")
    assert summary["errors"]["bob"] == ["no commit before the deadline"]
    assert "could not be cloned" in summary["errors"]["carol"][0]
    assert summary["errors"]["Dan_Wu"] == ["no GitHub account is linked to this roster entry"]
    assert alice[1][:12] in (out / "students" / "alice-s" / "feedback.html").read_text()
    # a second run fetches, finds nothing new, regrades nothing
    assert grade_roster(tmp, remotes, roster, rubric, out) == 0
    assert "graded 0, reused 1 stored results" in capsys.readouterr().err
    # a later deadline takes the late commit
    assert grade_roster(tmp, remotes, roster, rubric, out, deadline="2026-03-05T00:00") == 0
    rows = {r[0]: r for r in csv.reader((out / "grades.csv").open())}
    assert rows["alice-s"][1:] == ["1", "2", "3"] and rows["bob"][1:] == ["1", "2", "3"]


def test_folders_of_clones_from_gh_classroom_clone(classroom, capsys):
    tmp, remotes, roster, rubric, alice = classroom
    clones = tmp / "student-repos"
    clones.mkdir()
    for name in ("hw4-alice-s", "hw4-bob"):
        git(clones, "clone", "-q", str(remotes / f"{name}.git"), str(clones / name))
    out = tmp / "g"
    assert main(["grade", str(clones), "--repo-prefix", "hw4", "--deadline", "2026-03-01T23:59:00Z", "--out", str(out),
                 "--rubric", str(rubric), "--jobs", "1"]) == 0
    rows = list(csv.reader((out / "grades.csv").open()))
    assert rows[1:] == [["alice-s", "1", "0", "1"], ["bob", "0", "0", "0"]]


def test_roster_and_deadline_mistakes_are_usage_errors(classroom, capsys):
    tmp, remotes, roster, rubric, _ = classroom
    bad = tmp / "bad.csv"
    bad.write_text("name,email\nx,y\n")
    with pytest.raises(RepoError, match="github_username"):
        read_roster(bad)
    with pytest.raises(RepoError, match="--org and --repo-prefix"):
        roster_repos([], "", "hw4")
    with pytest.raises(RepoError, match="expected a date and time"):
        parse_deadline("next friday")
    assert parse_deadline("2026-03-01T23:59Z").isoformat() == "2026-03-01T23:59:00+00:00"
    assert parse_deadline("2026-03-01 23:59").tzinfo is not None  # local time
    hostile = roster_repos([{"github_username": "x; rm -rf /", "identifier": "i"}], "org", "hw4")
    assert hostile[0].problem and not hostile[0].url
    assert main(["grade", "--out", str(tmp / "o"), "--rubric", str(rubric)]) == 2
    assert main(["grade", str(rubric), "--deadline", "2026-01-01", "--out", str(tmp / "o"), "--rubric", str(rubric)]) == 2
    assert "--deadline applies to repositories" in capsys.readouterr().err


def test_a_committed_symlink_is_not_followed(tmp_path, rubric_text=RUBRIC):
    clones = tmp_path / "student-repos"
    repo = clones / "hw4-mallory"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    os.symlink("/etc/passwd", repo / "a.txt")
    (repo / "b.txt").write_text("b")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "x", date="2026-03-01T10:00:00+00:00")
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(rubric_text)
    out = tmp_path / "g"
    assert main(["grade", str(clones), "--repo-prefix", "hw4", "--out", str(out), "--rubric", str(rubric),
                 "--jobs", "1"]) == 0
    rows = list(csv.reader((out / "grades.csv").open()))
    assert rows[1:] == [["mallory", "0", "2", "2"]]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sources"]["mallory"]["late_commits"] == 0  # no deadline: the last commit
    assert "root:" not in (out / "students" / "mallory" / "feedback.html").read_text()


def test_org_and_prefix_without_a_roster_list_repositories_with_gh(classroom, monkeypatch):
    tmp, remotes, roster, rubric, alice = classroom
    fake = tmp / "bin"
    fake.mkdir()
    (fake / "gh").write_text('#!/bin/sh\n[ "$1 $2 $3" = "repo list course" ] || exit 1\n'
                             'echo \'[{"name": "hw4-alice-s"}, {"name": "hw4-bob"}, {"name": "hw5-alice-s"}, '
                             '{"name": "course-notes"}]\'\n')
    os.chmod(fake / "gh", 0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    out = tmp / "g"
    assert main(["grade", "--org", "course", "--repo-prefix", "hw4", "--repo-url", str(remotes / "{repo}.git"),
                 "--deadline", "2026-03-01T23:59:00Z", "--out", str(out), "--rubric", str(rubric), "--jobs", "1"]) == 0
    rows = list(csv.reader((out / "grades.csv").open()))
    assert rows[1:] == [["alice-s", "1", "0", "1"], ["bob", "0", "0", "0"]]
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    from grader.platforms.repos import org_repos
    if not __import__("shutil").which("gh"):
        with pytest.raises(RepoError, match="needs the GitHub CLI"):
            org_repos("course", "hw4")

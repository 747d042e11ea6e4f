"""Grading GitHub Classroom repositories at a deadline: a roster of local bare repositories (no
network), the commit before the deadline, late commits ignored, students without a repository."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from grader.cli.main import main
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
    zips = tmp / "zips"
    zips.mkdir(exist_ok=True)
    with zipfile.ZipFile(zips / "ann.zip", "w") as z:
        z.writestr("a.txt", "a")
    assert main(["grade", str(zips), "--deadline", "2026-01-01", "--out", str(tmp / "o"), "--rubric", str(rubric)]) == 2
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


# --------------------------------------------------------------------------- git as data
# A student's repository is data: its .gitattributes, .lfsconfig and hooks run nothing, the instructor's
# git configuration does not apply to it, its size is bounded before a byte is written, and a remote that
# never answers costs only that student.

import shutil  # noqa: E402
import socket  # noqa: E402
import stat  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import zipfile  # noqa: E402

from grader.intake.unpack import UnpackLimits  # noqa: E402
from grader.platforms.gitdata import git_env  # noqa: E402
from grader.platforms.repos import StudentRepo, prepare  # noqa: E402

MiB = 1024**2


class Listener:
    """A TCP server on 127.0.0.1 that accepts connections, counts them and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)  # held open, never answered

    def close(self):
        self.sock.close()
        for c in self.connections:
            c.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def bare_repo(root: Path, name: str, files: dict[str, bytes], date="2026-03-01T10:00:00+00:00") -> Path:
    work = root / f"{name}-work"
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    for fname, data in files.items():
        (work / fname).parent.mkdir(parents=True, exist_ok=True)
        (work / fname).write_bytes(data)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "work", date=date)
    git(root, "clone", "-q", "--bare", str(work), str(root / f"{name}.git"))
    return root / f"{name}.git"


def repeated_blob_repo(root: Path, name: str, copies: int) -> Path:
    """A small repository whose one commit names a single 1 MiB blob ``copies`` times."""
    work = root / f"{name}-work"
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    (work / "blob").write_bytes(np.random.default_rng(7).bytes(MiB))
    oid = git(work, "hash-object", "-w", "blob")
    (work / "blob").unlink()
    index = "".join(f"100644 {oid}\tcopy{i:04d}.bin\n" for i in range(copies))
    subprocess.run(["git", "-C", str(work), "update-index", "--index-info"], input=index, text=True, check=True)
    git(work, "commit", "-q", "-m", "many names, one blob", date="2026-03-01T10:00:00+00:00")
    git(root, "clone", "-q", "--bare", str(work), str(root / f"{name}.git"))
    return root / f"{name}.git"


def test_a_snapshot_is_bounded_before_it_is_written_and_removed_once_graded(tmp_path, capsys):
    remotes = tmp_path / "remotes"
    remotes.mkdir()
    big = repeated_blob_repo(remotes, "hw4-big", 200)  # ~1 MiB of git objects, 200 MiB as files
    assert sum(p.stat().st_size for p in big.rglob("*") if p.is_file()) < 3 * MiB
    ok = bare_repo(remotes, "hw4-ok", {"a.txt": b"a", "b.txt": b"b"})
    limits = UnpackLimits(max_total_bytes=32 * MiB)
    t0 = time.monotonic()
    prepared = prepare([StudentRepo("big", url=str(big)), StudentRepo("ok", url=str(ok))], None,
                       tmp_path / "work", log=lambda m: None, limits=limits)
    assert time.monotonic() - t0 < 60
    assert "add up to more than 32.0 MiB" in prepared.missing["big"]
    assert [p.name for p in prepared.zips] == ["ok.zip"]
    assert sorted(p.name for p in (tmp_path / "work" / "snapshots").iterdir()) == ["ok.zip"]
    # too many files, and one file over the per-file limit: refused the same way
    many = prepare([StudentRepo("big", url=str(big))], None, tmp_path / "w2", log=lambda m: None,
                   limits=UnpackLimits(max_entries=50))
    assert "more than 50 files" in many.missing["big"]
    one = prepare([StudentRepo("big", url=str(big))], None, tmp_path / "w3", log=lambda m: None,
                  limits=UnpackLimits(max_entry_bytes=MiB - 1))
    assert "over the per-file limit" in one.missing["big"] and "copy0000.bin" in one.missing["big"]

    # end to end: the limits are the rubric's; the student gets the reason; no snapshot is left
    roster = tmp_path / "roster.csv"
    roster.write_text("identifier,github_username,github_id,name\nb@x,big,1,Big\no@x,ok,2,Ok\n")
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(RUBRIC + "limits: {max_total_bytes: 33554432}\n")
    out = tmp_path / "grades"
    assert main(["grade", "--roster", str(roster), "--org", "course", "--repo-prefix", "hw4", "--repo-url",
                 str(remotes / "{repo}.git"), "--out", str(out), "--rubric", str(rubric), "--jobs", "1"]) == 0
    rows = {r[0]: r[1:] for r in csv.reader((out / "grades.csv").open())}
    assert rows["big"] == ["0", "0", "0"] and rows["ok"] == ["1", "2", "3"]
    assert "add up to more than 32.0 MiB" in json.loads((out / "summary.json").read_text())["errors"]["big"][0]
    assert not (out / ".mlgrade" / "repos" / "snapshots").exists()
    assert main(["grade", "--roster", str(roster), "--org", "course", "--repo-prefix", "hw4", "--repo-url",
                 str(remotes / "{repo}.git"), "--out", str(out), "--rubric", str(rubric), "--jobs", "1"]) == 0
    assert "graded 0, reused 1 stored results" in capsys.readouterr().err  # the same commit, the same bytes


def test_git_runs_no_filter_hook_or_instructor_setting_and_gets_a_minimal_environment(tmp_path, listener,
                                                                                     monkeypatch):
    remotes = tmp_path / "remotes"
    remotes.mkdir()
    lfs_pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 12\n"
    student = bare_repo(remotes, "hw4-eve", {
        ".gitattributes": b"*.txt filter=x\n*.h5 filter=lfs diff=lfs merge=lfs -text\n*.md export-ignore\n",
        ".lfsconfig": f"[lfs]\n\turl = http://127.0.0.1:{listener.port}/lfs\n".encode(),
        "a.txt": b"a", "b.txt": b"b", "weights.h5": lfs_pointer, "README.md": b"read me"})
    marks = tmp_path / "marks"
    marks.mkdir()
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for hook in ("reference-transaction", "post-checkout", "post-merge", "pre-auto-gc", "fsmonitor"):
        (hooks / hook).write_text(f"#!/bin/sh\ntouch {marks}/hook-{hook}\n")
        (hooks / hook).chmod(0o755)
    connect = f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {listener.port}))\""
    # the instructor's git configuration (global, system, ~/.gitconfig): git-lfs as it installs itself,
    # a filter that would rewrite files, hooks; the grader must not read any of it
    config = tmp_path / "gitconfig"
    config.write_text(
        f"[filter \"x\"]\n\tsmudge = sh -c 'touch {marks}/filter-x; sed s/a/SMUDGED/'\n\trequired = true\n"
        f"[filter \"lfs\"]\n\tsmudge = sh -c 'touch {marks}/filter-lfs; {connect}; cat'\n"
        f"\tprocess = sh -c 'touch {marks}/filter-lfs-process; {connect}'\n\trequired = true\n"
        f"[core]\n\thooksPath = {hooks}\n\tfsmonitor = {hooks}/fsmonitor\n"
        f"[url \"http://127.0.0.1:{listener.port}/\"]\n\tinsteadOf = {remotes}/\n")
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(config, home / ".gitconfig")
    # git run through a wrapper that records the environment it was given
    real_git = shutil.which("git")
    wrap = tmp_path / "bin"
    wrap.mkdir()
    (wrap / "git").write_text(f"#!/bin/sh\nenv >> {tmp_path}/git-env\nexec {real_git} \"$@\"\n")
    (wrap / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrap}:{os.environ['PATH']}")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_SYSTEM", str(config))
    monkeypatch.setenv("MLGRADE_TEST_SECRET", "instructor-secret-4711")
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "nowhere"))  # an instructor's stray git variable
    clone = tmp_path / "student-repos" / "hw4-mal"  # a clone of the instructor's, with its own hooks
    clone.parent.mkdir()
    subprocess.run([real_git, "clone", "-q", "--no-checkout", str(student), str(clone)], check=True,
                   env={**git_env(), "PATH": os.environ["PATH"]})
    prepared = prepare([StudentRepo("eve", url=str(student)), StudentRepo("mal", clone=clone)], None,
                       tmp_path / "work", log=lambda m: None, limits=UnpackLimits(), timeout=60)
    assert prepared.missing == {}
    for snap in prepared.zips:
        with zipfile.ZipFile(snap) as zf:
            files = {i.filename: zf.read(i) for i in zf.infolist()}
        # the committed bytes, exactly: no smudge filter, no export-ignore, no LFS download
        assert files == {".gitattributes": files[".gitattributes"], ".lfsconfig": files[".lfsconfig"],
                         "a.txt": b"a", "b.txt": b"b", "weights.h5": lfs_pointer, "README.md": b"read me"}
    assert sorted(p.name for p in marks.iterdir()) == []
    assert listener.connections == []
    seen = (tmp_path / "git-env").read_text()
    assert "instructor-secret-4711" not in seen and "GIT_DIR=" not in seen
    assert "GIT_CONFIG_NOSYSTEM=1" in seen and "GIT_CONFIG_GLOBAL=/dev/null" in seen


def test_a_remote_that_never_answers_costs_only_its_student(tmp_path, listener):
    remotes = tmp_path / "remotes"
    remotes.mkdir()
    ok = bare_repo(remotes, "hw4-ok", {"a.txt": b"a"})
    t0 = time.monotonic()
    prepared = prepare([StudentRepo("hang", url=f"http://127.0.0.1:{listener.port}/hw4-hang.git"),
                        StudentRepo("ok", url=str(ok))], None, tmp_path / "work", log=lambda m: None, timeout=3)
    took = time.monotonic() - t0
    assert took < 30, took
    assert listener.connections  # git did try
    assert "did not finish within 3 s" in prepared.missing["hang"]
    assert [p.name for p in prepared.zips] == ["ok.zip"]
    assert not (tmp_path / "work" / "mirrors" / ".hang.partial").exists()
    left = []  # every git process of that student died with its group
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and str(listener.port).encode() in (p / "cmdline").read_bytes():
                left.append(p.name)
        except OSError:
            continue
    assert left == []


def test_a_snapshot_holds_the_commit_byte_for_byte(tmp_path):
    remotes = tmp_path / "remotes"
    remotes.mkdir()
    files = {"a.txt": b"a", "src/deep/er/x.py": b"print(1)\n", "empty": b"", "caf\u00e9.txt".encode(): b"c",
             "data.bin": np.random.default_rng(3).bytes(200_000)}
    work = remotes / "w"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    for name, data in files.items():
        path = work / (name.decode() if isinstance(name, bytes) else name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (work / "run.sh").write_bytes(b"#!/bin/sh\n")
    (work / "run.sh").chmod(0o755)
    os.symlink("/etc/passwd", work / "link")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "x", date="2026-03-01T10:00:00+00:00")
    prepared = prepare([StudentRepo("s", clone=work)], None, tmp_path / "w1", log=lambda m: None)
    again = prepare([StudentRepo("s", clone=work)], None, tmp_path / "w2", log=lambda m: None)
    assert prepared.zips[0].read_bytes() == again.zips[0].read_bytes()
    with zipfile.ZipFile(prepared.zips[0]) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        assert zf.read("data.bin") == files["data.bin"] and zf.read("src/deep/er/x.py") == b"print(1)\n"
        assert zf.read("caf\u00e9.txt") == b"c" and zf.read("empty") == b""
        assert stat.S_ISLNK(infos["link"].external_attr >> 16) and zf.read("link") == b"/etc/passwd"
        assert infos["run.sh"].external_attr >> 16 == 0o100755
    listed = subprocess.run(["git", "-C", str(work), "ls-files", "-z"], capture_output=True, check=True).stdout
    assert sorted(infos) == sorted(n.decode() for n in listed.split(b"\0") if n)

"""Grading a GitHub Classroom assignment from the students' repositories, at a deadline.

The instructor's run: every student repository is cloned (a bare mirror, kept under
``OUT/.mlgrade/repos`` so a rerun only fetches what is new) or read from clones made with
``gh classroom clone student-repos``; the files of the last commit before ``--deadline`` are
copied, as data, into a zip (:mod:`grader.platforms.gitdata`: no filter, hook or configuration
runs, the size is bounded before anything is written, each student's git has a deadline), and
that zip is graded like any other submission, through the same hardened unpacker, then removed.
The commit graded, its date and the number of later commits ignored are recorded with the grades.

Repositories come from a Classroom roster CSV (``identifier, github_username, github_id,
name``) plus the organisation and the assignment's repository prefix (repositories are named
``<prefix>-<username>``), or from a folder of clones. Commit dates are what the student's git
wrote: they can be set by hand. GitHub's push times are not in git; for a disputed deadline,
look at the repository's activity on GitHub.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from grader.intake.lms import plain_id
from grader.intake.sources import safe_id
from grader.intake.unpack import UnpackLimits
from grader.platforms.gitdata import DEFAULT_TIMEOUT, Git, GitError, GitTimeout, OverLimit, list_tree, write_snapshot

GITHUB_URL = "https://github.com/{org}/{repo}.git"
MAX_ROSTER_BYTES = 10 * 1024**2
_USERNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
_NAME_PART = re.compile(r"[A-Za-z0-9._-]{1,100}")


class RepoError(ValueError):
    """A problem with the roster or the options; the message says what to change."""


@dataclass(frozen=True)
class StudentRepo:
    student: str  # the id grades are filed under
    url: str = ""  # what to clone; "" when reading an existing clone
    clone: Path | None = None  # an existing clone (gh classroom clone student-repos)
    github: str = ""
    identifier: str = ""
    name: str = ""
    problem: str = ""  # why there is nothing to grade (no account linked, ...)


@dataclass
class Prepared:
    """Zips to grade, where each came from, and students with nothing to grade (and why)."""

    zips: list[Path] = field(default_factory=list)
    origins: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


def parse_deadline(text: str) -> datetime:
    """ISO 8601 (``2026-03-01T23:59``, ``2026-03-01 23:59:00+01:00``, ``...Z``); without an offset it
    is this machine's local time."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise RepoError(f"--deadline {text!r}: expected a date and time like 2026-03-01T23:59 or "
                        "2026-03-01T23:59+01:00") from None
    if when.tzinfo is None:
        when = when.astimezone()  # local time
    return when


def read_roster(path: Path) -> list[dict[str, str]]:
    """Rows of a Classroom roster export, with the columns checked."""
    if path.stat().st_size > MAX_ROSTER_BYTES:
        raise RepoError(f"{path}: over {MAX_ROSTER_BYTES // 2**20} MiB; is it a roster?")
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text))
    cols = {c.strip().lower() for c in (reader.fieldnames or [])}
    if "github_username" not in cols:
        raise RepoError(f"{path}: expected GitHub Classroom's roster columns (identifier, github_username, "
                        f"github_id, name); found {', '.join(sorted(cols)) or 'none'}")
    return [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in reader]


def _student_id(text: str) -> str:
    """The id grades are filed under: the same one :func:`grader.intake.sources.discover` gives the snapshot
    (never an output's name), so origins and reasons stay with their student."""
    return safe_id(plain_id(text))


def roster_repos(rows: list[dict[str, str]], org: str, prefix: str, url_template: str = GITHUB_URL
                 ) -> list[StudentRepo]:
    """One repository per roster row: ``<prefix>-<github_username>`` in ``org``."""
    if not _NAME_PART.fullmatch(org or "") or not _NAME_PART.fullmatch(prefix or ""):
        raise RepoError("--org and --repo-prefix are needed with --roster (the organisation and the assignment's "
                        "repository prefix, e.g. --org my-course --repo-prefix hw4)")
    out = []
    for row in rows:
        user, ident, name = row.get("github_username", ""), row.get("identifier", ""), row.get("name", "")
        if not user:
            who = _student_id(name or ident or "unknown")
            out.append(StudentRepo(who, identifier=ident, name=name,
                                   problem="no GitHub account is linked to this roster entry"))
            continue
        if not _USERNAME.fullmatch(user):
            out.append(StudentRepo(_student_id(user), github=user, identifier=ident, name=name,
                                   problem=f"{user!r} is not a GitHub username"))
            continue
        url = url_template.format(org=org, repo=f"{prefix}-{user}", user=user, prefix=prefix)
        out.append(StudentRepo(_student_id(user), url=url, github=user, identifier=ident, name=name))
    return out


def org_repos(org: str, prefix: str, url_template: str = GITHUB_URL) -> list[StudentRepo]:
    """Every repository ``<prefix>-<username>`` of ``org``, listed with the GitHub CLI (``gh``, logged
    in) or, without it, GitHub's REST API with ``$GITHUB_TOKEN``. Without a roster, students are
    known only by their GitHub usernames."""
    if not _NAME_PART.fullmatch(org or "") or not _NAME_PART.fullmatch(prefix or ""):
        raise RepoError("--org and --repo-prefix are needed (the organisation and the assignment's repository "
                        "prefix, e.g. --org my-course --repo-prefix hw4)")
    names = _list_with_gh(org) if shutil.which("gh") else _list_with_api(org)
    out = []
    for name in sorted(set(names)):
        if not name.startswith(prefix + "-"):
            continue
        user = name[len(prefix) + 1:]
        if _USERNAME.fullmatch(user):
            url = url_template.format(org=org, repo=name, user=user, prefix=prefix)
            out.append(StudentRepo(_student_id(user), url=url, github=user))
    if not out:
        raise RepoError(f"no repository named {prefix}-<username> in {org}")
    return out


def _list_with_gh(org: str) -> list[str]:
    import json

    res = subprocess.run(["gh", "repo", "list", org, "--limit", "10000", "--json", "name"], capture_output=True,
                         text=True, timeout=300)
    if res.returncode != 0:
        raise RepoError(f"gh repo list {org}: {(res.stderr.strip().splitlines() or ['failed'])[-1][:300]}")
    try:
        return [str(r["name"]) for r in json.loads(res.stdout) if isinstance(r, dict) and "name" in r]
    except (ValueError, TypeError) as e:
        raise RepoError(f"gh repo list {org}: unexpected answer ({e})") from None


def _list_with_api(org: str) -> list[str]:
    import json
    import urllib.request

    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if not token:
        raise RepoError("listing an organisation's repositories needs the GitHub CLI (gh, logged in) or "
                        "$GITHUB_TOKEN; or give the Classroom roster with --roster")
    names: list[str] = []
    for page in range(1, 200):
        req = urllib.request.Request(f"https://api.github.com/orgs/{org}/repos?per_page=100&page={page}",
                                     headers={"Authorization": f"Bearer {token}",
                                              "Accept": "application/vnd.github+json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                batch = json.loads(resp.read(50 * 1024**2))
        except (OSError, ValueError) as e:
            raise RepoError(f"GitHub API, repositories of {org}: {e}") from None
        if not isinstance(batch, list) or not batch:
            break
        names += [str(r["name"]) for r in batch if isinstance(r, dict) and "name" in r]
    return names


def is_clone_folder(path: Path) -> bool:
    """A folder whose sub-folders are git clones (what ``gh classroom clone student-repos`` makes)."""
    if not path.is_dir():
        return False
    subs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return bool(subs) and all((p / ".git").exists() for p in subs)


def folder_repos(path: Path, prefix: str = "") -> list[StudentRepo]:
    out = []
    for p in sorted(q for q in path.iterdir() if q.is_dir() and not q.name.startswith(".")):
        user = p.name[len(prefix) + 1:] if prefix and p.name.startswith(prefix + "-") else p.name
        out.append(StudentRepo(_student_id(user), clone=p, github=user))
    return out


def fetch(repo: StudentRepo, mirrors: Path, git: Git) -> Path:
    """A bare mirror of the student's repository, cloned once, fetched on later runs. A fetch that
    fails or runs out of time leaves no half-made mirror behind (a killed git leaves lock files)."""
    dest = mirrors / f"{repo.student}.git"
    if dest.is_dir():
        try:
            git.run(["--git-dir", str(dest), "remote", "update", "--prune"])
        except GitError:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    else:
        tmp = mirrors / f".{repo.student}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            git.run(["clone", "--mirror", "--quiet", "--template=", "--", repo.url, str(tmp)])
        except GitError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        os.replace(tmp, dest)
    return dest


def _where(git_dir: Path) -> list[str]:
    """Our bare mirrors by ``--git-dir``; the instructor's clones by ``-C`` (git finds their ``.git``)."""
    return ["--git-dir", str(git_dir)] if git_dir.suffix == ".git" and (git_dir / "HEAD").is_file() else \
        ["-C", str(git_dir)]


def last_commit_before(git_dir: Path, deadline: datetime | None, git: Git | None = None
                       ) -> tuple[str, str, int] | None:
    """``(sha, committer date, commits after the deadline)`` on the default branch, or None."""
    git = git or Git()
    where = _where(git_dir)
    try:
        head = git.run([*where, "rev-parse", "--verify", "-q", "HEAD^{commit}"]).strip()
    except GitTimeout:
        raise
    except GitError:
        return None  # an empty repository
    args = [*where, "rev-list", "-1"]
    if deadline is not None:
        args.append(f"--before={int(deadline.timestamp())}")
    sha = git.run([*args, head]).strip()
    if not sha:
        return None
    date = git.run([*where, "show", "-s", "--format=%cI", sha]).strip()
    later = int(git.run([*where, "rev-list", "--count", f"{sha}..{head}"]).strip() or 0)
    return sha, date, later


def snapshot(git_dir: Path, sha: str, dest_zip: Path, limits: UnpackLimits | None = None,
             git: Git | None = None) -> None:
    """The commit's files as a zip (graded like any submission, through the same unpacker), read
    as data (:mod:`grader.platforms.gitdata`): its size checked against the rubric's unpack limits
    before anything is written."""
    git = git or Git()
    entries = list_tree(git, git_dir, sha, limits or UnpackLimits())
    write_snapshot(git, git_dir, entries, dest_zip)


def remove_snapshots(work: Path) -> None:
    """Snapshots are copies of what was graded: gone once the class is graded (the next run makes
    them again from the mirrors, byte for byte)."""
    shutil.rmtree(Path(work) / "snapshots", ignore_errors=True)


def prepare(repos: list[StudentRepo], deadline: datetime | None, work: Path, log=print,
            limits: UnpackLimits | None = None, timeout: float = DEFAULT_TIMEOUT) -> Prepared:
    """Fetch every repository and export the commit to grade; nothing is lost to a missing repository:
    that student gets a row saying why. ``limits``: the rubric's unpack limits, which bound each
    snapshot before it is written; ``timeout``: seconds of git per student."""
    if shutil.which("git") is None:
        raise RepoError("git is not installed (apt-get install git)")
    mirrors, snaps = work / "mirrors", work / "snapshots"
    mirrors.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(snaps, ignore_errors=True)
    snaps.mkdir(parents=True)
    out = Prepared()
    seen: set[str] = set()
    for repo in repos:
        student = repo.student
        n = 2
        while student in seen:
            student, n = f"{repo.student}-{n}", n + 1
        seen.add(student)
        origin: dict[str, Any] = {k: v for k, v in (("github", repo.github), ("identifier", repo.identifier),
                                                    ("full_name", repo.name), ("repo", repo.url or str(repo.clone)))
                                  if v}
        if deadline is not None:
            origin["deadline"] = deadline.isoformat()
        out.origins[student] = origin
        if repo.problem:
            out.missing[student] = repo.problem
            continue
        try:
            git = Git(timeout)
            git_dir = repo.clone if repo.clone is not None else fetch(repo, mirrors, git)
            found = last_commit_before(git_dir, deadline, git)
            if found is None:
                out.missing[student] = ("no commit before the deadline" if deadline is not None
                                        else "the repository has no commits")
                log(f"{student}: {out.missing[student]}")
                continue
            sha, date, later = found
            snapshot(git_dir, sha, snaps / f"{student}.zip", limits, git)
        except GitError as e:
            if isinstance(e, GitTimeout | OverLimit):
                out.missing[student] = str(e)
            else:
                what = "could not be cloned" if repo.clone is None else "could not be read"
                out.missing[student] = f"the repository {what} ({e}); has the student accepted the assignment?"
            log(f"{student}: {out.missing[student]}")
            continue
        origin.update(commit=sha, committed_at=date, late_commits=later)
        out.zips.append(snaps / f"{student}.zip")
        log(f"{student}: commit {sha[:12]} of {date}" + (f" ({later} later commits ignored)" if later else ""))
    return out


def deadline_utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

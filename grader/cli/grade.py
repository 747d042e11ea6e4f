"""``mlgrade grade``: a batch — zips, folders of zips, LMS bulk downloads, Classroom repositories."""

from __future__ import annotations

import argparse
import fnmatch
import re
import sys
from pathlib import Path

from grader.batch import spawn
from grader.batch.run import grade_batch
from grader.batch.scheduling import ClusterError
from grader.classstep.overrides import OverridesError
from grader.cli.common import (
    EXIT_CLUSTER,
    EXIT_OK,
    UsageError,
    add_isolation,
    add_rubric,
    must_be_folder,
    note,
    writable_folder,
)
from grader.core.environment import check_requirements
from grader.core.options import GradeOptions
from grader.execute.isolation import AUTO_ORDER
from grader.execute.isolation import for_command as isolation_for
from grader.intake.submission import expand_braces
from grader.platforms import gradescope_export, lmsdownload, repos
from grader.render import UnknownFormat, parse_format_list
from grader.rubric.model import Rubric, default_rubric_path, load_for_command
from grader.score.claims import question_patterns


def arguments(g: argparse.ArgumentParser) -> None:
    g.add_argument("paths", type=Path, nargs="*", metavar="PATH",
                   help="zips, folders of zips, an LMS bulk download, or a folder of git clones")
    g.add_argument("--out", type=Path, required=True, metavar="DIR", help="where grades are written")
    add_rubric(g)
    g.add_argument("--hidden", type=Path, metavar="DIR", help="folder of hidden test data")
    g.add_argument("--force", action="store_true", help="regrade submissions that already have results")
    add_isolation(g, "sandbox for student code; grading without one needs an explicit 'none'")
    g.add_argument("--jobs", type=int, default=None, metavar="N", help="worker processes (default: CPU cores)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="grade on a Dask cluster (e.g. tcp://HOST:8786) instead of on this machine; "
                        "needs pip install 'mlgrade[distributed]' here and on every worker")
    g.add_argument("--seed", type=int, default=None, help="grading seed (default: fixed, so regrades agree)")
    g.add_argument("--format", action="append", metavar="NAMES",
                   help="output formats to write, comma-separated ('default' = the usual set, 'all'); "
                        "`mlgrade formats` lists them")
    g.add_argument("--assignment", default="", metavar="NAME",
                   help="the assignment's column name in LMS grade files (default: the rubric's name)")
    gh = g.add_argument_group("GitHub Classroom repositories")
    gh.add_argument("--roster", type=Path, metavar="CSV", help="Classroom roster export: one repository per student")
    gh.add_argument("--org", metavar="ORG",
                    help="the organisation holding the repositories (alone: every PREFIX-<username> repository "
                         "in it, listed with gh or $GITHUB_TOKEN)")
    gh.add_argument("--repo-prefix", metavar="PREFIX",
                    help="the assignment's repository prefix (repositories are PREFIX-<username>)")
    gh.add_argument("--repo-url", default=None, metavar="TEMPLATE",
                    help="clone URL template (default: https://github.com/{org}/{repo}.git)")
    gh.add_argument("--deadline", metavar="WHEN",
                    help="grade each repository's last commit before this time (ISO 8601; local time "
                         "unless it has an offset)")
    gh.add_argument("--git-timeout", type=float, default=300.0, metavar="SECONDS",
                    help="seconds of git per student repository (fetch and copy); a remote that does not "
                         "answer costs that student only (default: 300)")


def run(args: argparse.Namespace) -> int:
    if not args.paths and args.roster is None and args.org is None:
        raise UsageError("give the submissions to grade (PATH...), a Classroom --roster, or --org and --repo-prefix")
    for p in args.paths:
        if not p.exists():
            raise UsageError(f"{p}: no such file or folder")
    if not args.scheduler:
        isolation = isolation_for(args.isolation, "grade")
        # the worker started ahead starts this sandbox while the rubric is read (0.2 s) and the inputs checked
        spawn.warm(isolation)
    rubric = load_for_command(args.rubric)
    if args.scheduler:
        if args.jobs is not None:
            raise UsageError("--jobs is for grading on this machine; with --scheduler every Dask worker grades "
                             "one submission at a time (start more workers for more at once)")
        # The sandbox and the packages the rubric requires are the workers' business: each one checks its own
        # and grades nothing without them ("auto" is the strongest sandbox there, never a silent fallback).
        isolation = AUTO_ORDER[0] if args.isolation == "auto" else args.isolation
    else:
        check_requirements(rubric.requires, "grade")
    writable_folder("--out", args.out)
    rubric_path = args.rubric or default_rubric_path()
    check_inputs(args.paths, args.out, rubric_path, rubric)
    must_be_folder("--hidden", args.hidden)
    if args.hidden is not None and not (args.hidden / "digits").is_dir():
        note(f"{args.hidden} has no digits/<label>/ folder; the digits question uses the bundled hidden set")
    elif args.hidden is not None:
        check_hidden_digits(args.hidden / "digits")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.scheduler:
        check_scheduler_address(args.scheduler)
    try:
        named = parse_format_list(args.format) if args.format is not None else ["default"]
    except UnknownFormat as e:
        raise UsageError(str(e)) from None
    if not named:
        raise UsageError(f"--format {','.join(args.format)!r} names no format (`mlgrade formats` lists them; "
                         "`default` is the usual set)")
    kw = {"seed": args.seed} if args.seed is not None else {}
    options = GradeOptions(hidden_dir=args.hidden.resolve() if args.hidden else None, isolation=isolation, **kw)
    paths, origins, missing = _repositories(args, rubric)
    paths, lms_origins, lms_formats = _lms_downloads(paths, args.out, rubric, missing)
    origins.update(lms_origins)
    try:  # Gradescope's Export Submissions: each submission folder one student, named for the score import
        paths, gs_origins = gradescope_export.stage(paths)
    except gradescope_export.ExportProblem as e:
        raise UsageError(str(e)) from None
    origins.update(gs_origins)
    lms_formats += ["gradescope-scores"] if gs_origins else []
    try:
        formats = parse_format_list(args.format if args.format else ["default", *lms_formats])
    except UnknownFormat as e:
        raise UsageError(str(e)) from None
    try:
        grade_batch(paths, args.out, rubric, options, force=args.force, jobs=args.jobs,
                    rubric_text=rubric_path.read_text(encoding="utf-8"), rubric_source=str(rubric_path.resolve()),
                    formats=formats, assignment=args.assignment, origins=origins, missing=missing,
                    scheduler_address=args.scheduler)
    except ClusterError as e:
        print(f"mlgrade: error: {e}", file=sys.stderr)
        return EXIT_CLUSTER
    except OverridesError as e:
        raise UsageError(f"{e}\nthe grades are stored; fix the file and run the same command again (nothing is "
                         "graded twice)") from None
    finally:
        repos.remove_snapshots(args.out / ".mlgrade" / "repos")
    return EXIT_OK


def check_inputs(paths: list[Path], out: Path, rubric_path: Path, rubric: Rubric) -> None:
    """Submissions that are not submissions, said before any grading: the output folder, the rubric, an empty
    folder, a folder with nothing the rubric asks for."""
    out_r = out.resolve()
    patterns = [pat for q in rubric.questions for pat in question_patterns(q)]
    for p in paths:
        rp = p.resolve()
        if rp == out_r:
            raise UsageError(f"--out {out} is the submissions folder: write the grades elsewhere (e.g. --out grades); "
                             "the output folder is never read as submissions")
        if out_r in rp.parents:
            raise UsageError(f"{p} is inside the output folder {out}: give the submissions, not the grades")
        if rp.is_file() and (rp == rubric_path.resolve() or rp.suffix.lower() in (".yaml", ".yml")):
            raise UsageError(f"{p} is the rubric (YAML), not a submission: give the .zip files or their folder, "
                             f"and the rubric with --rubric")
        if rp.is_dir():
            _folder_has_submissions(p, rp, out_r, patterns)


def _folder_has_submissions(p: Path, rp: Path, out_r: Path, patterns: list[str]) -> None:
    children = [c for c in rp.iterdir() if c.resolve() != out_r and not c.name.startswith(".")]
    if not children:
        raise UsageError(f"{p}: an empty folder, no submissions to grade")
    if any(c.is_dir() or c.suffix.lower() == ".zip" for c in children):
        return
    wanted = [pat.lower() for pattern in patterns for pat in expand_braces(pattern)]
    names = [c.name.lower() for c in children[:10_000]]
    if not any(fnmatch.fnmatchcase(n, w.rsplit("/", 1)[-1]) for n in names for w in wanted):
        shown = ", ".join(dict.fromkeys(patterns[:6]))
        raise UsageError(f"{p}: no submissions: no .zip files, no student folders, and none of the files the rubric "
                         f"asks for ({shown}) to grade it as one unpacked submission")


def check_hidden_digits(folder: Path) -> None:
    """``--hidden DIR/digits/<label>/``: at least one image the digits check reads and decodes, by its own
    rules (a folder of the wrong thing would give every student zero)."""
    from grader.checks import digitsdata  # deferred: numpy and Pillow only when --hidden is given

    files = digitsdata.staff_digit_files(folder.parent)
    for f in files[:50]:
        try:
            digitsdata.preprocess_photo(f, f"{f.parent.name}/{f.name}")
            return
        except (OSError, ValueError):  # not an image after all (safeimage's ImageProblem is a ValueError)
            continue
    raise UsageError(f"--hidden {folder.parent}: {folder} holds no usable images ({len(files)} image files under "
                     "digits/<label>/; expected digits/<label>/*.png, e.g. digits/3/0001.png); every student would "
                     "score 0 on the digits")


def check_scheduler_address(address: str) -> None:
    """A Dask scheduler's address, checked before any connection is tried (a bad one hangs the client)."""
    m = re.fullmatch(r"(?:(tcp|tls|ws|wss|ucx)://)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(\d{1,5})", address)
    if address.startswith(("http://", "https://")):
        raise UsageError(f"--scheduler {address}: a Dask scheduler speaks tcp:// (or tls://), not http://; e.g. "
                         "tcp://127.0.0.1:8786 (the dashboard's http port is not the scheduler's)")
    if m is None or not 0 < int(m.group(3)) < 65536:
        raise UsageError(f"--scheduler {address}: not a scheduler address; e.g. tcp://127.0.0.1:8786")


def _lms_downloads(paths: list[Path], out: Path, rubric: Rubric,
                  missing: dict[str, str]) -> tuple[list[Path], dict, list[str]]:
    """Canvas, Moodle and Blackboard bulk downloads become a staged folder of submissions, one per
    student (latest attempt), with the LMS's ids kept for its grade file; entries that are nobody's
    join ``missing`` (a row each, with the reason)."""
    result, origins, formats = [], {}, []
    for i, p in enumerate(paths):
        lms = lmsdownload.detect(p)
        if lms is None:
            result.append(p)
            continue
        try:
            staged = lmsdownload.stage(p, out / ".mlgrade" / "lms" / f"{i}-{lms}", rubric.limits.max_archive_bytes)
        except (lmsdownload.LmsDownloadError, OSError) as e:
            raise UsageError(str(e)) from None
        nobodys = f", {len(staged.unrecognised)} entries not recognised (a row each)" if staged.unrecognised else ""
        print(f"mlgrade: {p}: a {lms.title()} bulk download, {len(staged.origins) - len(staged.unrecognised)} "
              f"students{nobodys}", file=sys.stderr)
        for line in staged.notes[:20]:
            print(f"  {line}", file=sys.stderr)
        result.append(staged.folder)
        origins.update(staged.origins)
        missing.update(staged.unrecognised)
        if lmsdownload.LMS_FORMAT[lms] not in formats:
            formats.append(lmsdownload.LMS_FORMAT[lms])
    return result, origins, formats


def _repositories(args: argparse.Namespace, rubric: Rubric) -> tuple[list[Path], dict, dict]:
    """Classroom repositories (a roster, or folders of clones) become zips of the commit to grade."""
    clone_folders = [p for p in args.paths if repos.is_clone_folder(p)]
    by_org = args.roster is None and args.org is not None
    if args.roster is None and not clone_folders and not by_org:
        if args.deadline:
            raise UsageError("--deadline applies to repositories: give a --roster, or a folder of git clones")
        return list(args.paths), {}, {}
    try:
        deadline = repos.parse_deadline(args.deadline) if args.deadline else None
        found: list[repos.StudentRepo] = []
        if args.roster is not None:
            found += repos.roster_repos(repos.read_roster(args.roster), args.org or "", args.repo_prefix or "",
                                        args.repo_url or repos.GITHUB_URL)
        elif by_org:
            found += repos.org_repos(args.org, args.repo_prefix or "", args.repo_url or repos.GITHUB_URL)
        for folder in clone_folders:
            found += repos.folder_repos(folder, args.repo_prefix or "")
        if deadline is not None:
            print(f"mlgrade: grading the last commit before {repos.deadline_utc(deadline)}", file=sys.stderr)
        if not args.git_timeout > 0:
            raise UsageError("--git-timeout must be a positive number of seconds")
        prepared = repos.prepare(found, deadline, args.out / ".mlgrade" / "repos",
                                 log=lambda m: print(f"  {m}", file=sys.stderr), limits=rubric.limits,
                                 timeout=args.git_timeout)
    except (repos.RepoError, OSError) as e:
        raise UsageError(str(e)) from None
    others = [p for p in args.paths if p not in clone_folders]
    return [*others, *prepared.zips], prepared.origins, prepared.missing

"""``mlgrade grade``: grade a class in parallel, resumably, then score it as a class.

Submissions are graded by long-lived worker processes (:mod:`grader.batch.worker`), each
with its own sandbox uid, notebook runner and model server: ``--jobs`` of them on
this machine, or one per Dask worker of a cluster (``--scheduler``; see
:mod:`grader.batch.scheduling`). A scheduler runs the attempts, enforces a wall clock
per submission and replaces a worker that dies or hangs; this driver retries what
the grader failed on (once in the run, then by later runs), never stores such a
failure as the student's zero, and shows progress. Every result is stored as soon
as it exists (:mod:`grader.score.store`), so rerunning after a crash, even ``kill -9``
of this process, grades only what is missing. Then the class-level step
(:mod:`grader.classstep.classwide`) runs on the stored records, and the output formats chosen with
``--format`` are written by their renderers (:mod:`grader.render`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from grader.batch.scheduling import Attempt, Scheduler
from grader.batch.scheduling.local import LocalPool
from grader.classstep.classwide import EXPORT_LOCK, class_results, class_step
from grader.classstep.gradedrubric import file_digests
from grader.classstep.report import ClassReport
from grader.core.files import held_or_refused, locked
from grader.core.options import GradeOptions
from grader.core.results import SubmissionResult
from grader.core.timeline import mark
from grader.execute.isolation import cgroups
from grader.execute.isolation.staging import sweep_stale
from grader.execute.notebooks.executor import IMPORT_ALLOWANCE_S
from grader.intake.sources import Source, discover
from grader.render import parse_format_list, write_outputs
from grader.render.common import fmt_points
from grader.render.terminal import print_class_summary
from grader.rubric import Rubric, RubricError, parse_rubric
from grader.score.pipeline import failed_result, runs_notebooks
from grader.score.store import ClassManifest, ResultStore, folder_hash, load_class, record_key, save_class

# A submission whose grading failed for the grader's reasons (a worker died, the clock ran out) is
# tried again once in the same run, and by later runs until it has had this many attempts.
MAX_ATTEMPTS = 3
RETRIES_IN_RUN = 1


def submission_timeout(rubric: Rubric) -> float:
    """A wall clock per submission, from the rubric's own limits, with room for model work."""
    total = 120.0
    for q in rubric.questions:
        for c in q.checks:
            notebook = float(getattr(c.params, "notebook_timeout", 0) or 0)
            # room for a heavy import (TensorFlow) on top of the notebook's own limit
            total += notebook + 30.0 + (IMPORT_ALLOWANCE_S if notebook else 0.0)
    return total


@dataclass
class BatchReport:
    graded: int = 0
    reused: int = 0
    failed: list[str] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)  # graded, with a check that crashed in the grader, twice
    wall_s: float = 0.0


def grade_batch(
    paths: list[Path], out: Path, rubric: Rubric, options: GradeOptions, force: bool = False,
    jobs: int | None = None, rubric_text: str | None = None, rubric_source: str = "rubric.yaml",
    console: Console | None = None, timeout: float | None = None, formats: list[str] | None = None,
    origins: dict[str, dict] | None = None, assignment: str = "", missing: dict[str, str] | None = None,
    scheduler_address: str | None = None,
) -> list[SubmissionResult]:
    """Grade every submission under ``paths`` into ``out``, on ``jobs`` local workers or on the Dask
    cluster at ``scheduler_address``, then write ``formats`` (default: the renderers' defaults); the
    class-level step runs here, over the stored records. ``origins``: where each student's submission came
    from, for the outputs; ``missing``: students with nothing to grade, and why (each gets a row of zeros
    with the reason)."""
    console = console or Console(stderr=True)
    out.mkdir(parents=True, exist_ok=True)
    holder = f"mlgrade grade (pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%H:%M:%S')})"
    with held_or_refused(out / ".mlgrade" / "grading.lock", holder):  # one run per class folder at a time
        return _grade_batch(paths, out, rubric, options, force, jobs, rubric_text, rubric_source, console, timeout,
                            formats, origins, assignment, missing, scheduler_address)


def _grade_batch(paths: list[Path], out: Path, rubric: Rubric, options: GradeOptions, force: bool,
                 jobs: int | None, rubric_text: str | None, rubric_source: str, console: Console,
                 timeout: float | None, formats: list[str] | None, origins: dict[str, dict] | None,
                 assignment: str, missing: dict[str, str] | None,
                 scheduler_address: str | None) -> list[SubmissionResult]:
    started = time.monotonic()
    mark("batch: start")
    if os.stat(out).st_uid == os.geteuid():  # never chmod what is not ours (a colleague's shared folder)
        os.chmod(out, os.stat(out).st_mode | 0o055)  # the sandbox user must be able to reach the work folders
    sources = discover(paths, exclude=[out])
    store = ResultStore(out)
    options = replace(options, integrity=True)  # fingerprints for the class-level integrity step
    if options.feedback_images and options.preview_dir is None:  # previews of flagged images, for `mlgrade review`
        options = replace(options, preview_dir=(out / ".mlgrade" / "previews").resolve())
    opts_digest = hashlib.sha256(f"{options.seed}|{folder_hash(options.hidden_dir)}".encode()).hexdigest()[:16]
    keys = {s.student: record_key(s.path, rubric.digest(), opts_digest) for s in sources}
    attempts: dict[str, int] = {}
    todo = []
    for s in sources:
        stored = None if force else store.get(s.student, keys[s.student])
        if stored is not None and stored.provisional and stored.attempts < MAX_ATTEMPTS:
            attempts[s.student] = stored.attempts  # the grader failed on it last time: try again
            stored = None
        if stored is None:
            todo.append(s)
    report = BatchReport(reused=len(sources) - len(todo))
    scheduler: Scheduler | None = None
    try:
        if todo:
            scheduler = _scheduler(len(todo), out, rubric, options, jobs, rubric_text, rubric_source, console,
                                   timeout, scheduler_address)
            _run(todo, keys, store, rubric, scheduler, console, report, attempts)
            scheduler.release()  # the workers stop their sandboxes while the class step runs
        mark("graded")
        class_report = _class_step(out, sources, keys, store, rubric, rubric_text, rubric_source, formats,
                                   origins, assignment, missing)
        mark("class step and outputs written")
    finally:
        if scheduler is not None:
            scheduler.close()
            mark("workers stopped")
            sweep_stale()  # the private folders of workers killed during the run (none of them is alive now)
            cgroups.sweep()  # and their cgroups
    report.wall_s = time.monotonic() - started
    print_class_summary(console, class_report, report.graded, report.reused, len(report.failed), report.wall_s,
                        crashed=len(report.crashed))
    return class_report.results


def _scheduler(count: int, out: Path, rubric: Rubric, options: GradeOptions, jobs: int | None,
               rubric_text: str | None, rubric_source: str, console: Console, timeout: float | None,
               scheduler_address: str | None) -> Scheduler:
    """Where ``count`` submissions are graded: ``jobs`` local workers, or the Dask cluster at the address."""
    if rubric_text is None:
        raise ValueError("grading needs the rubric's text, for the workers")
    config = {"rubric_text": rubric_text, "rubric_source": rubric_source, "notebooks": runs_notebooks(rubric),
              "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()}}
    _clean_work_folders(out)
    timeout = timeout or submission_timeout(rubric)
    if scheduler_address:
        from grader.batch.scheduling import cluster  # deferred: Dask is optional (mlgrade[distributed])

        return cluster.DaskScheduler(scheduler_address, config, rubric, options, timeout, console,
                                     retries=RETRIES_IN_RUN)
    return LocalPool(min(jobs or os.cpu_count() or 1, count), config, out, timeout)


def _class_step(out: Path, sources: list[Source], keys: dict[str, str], store: ResultStore, rubric: Rubric,
                rubric_text: str | None, rubric_source: str, formats: list[str] | None,
                origins: dict[str, dict] | None, assignment: str, missing: dict[str, str] | None) -> ClassReport:
    """The class-level step on the stored records, then every chosen output format."""
    manifest = ClassManifest(keys=keys, sources={s.student: str(s.path) for s in sources},
                             rubric_text=rubric_text if rubric_text is not None else _known_rubric_text(out, rubric),
                             rubric_source=rubric_source, rubric_digest=rubric.digest(),
                             rubric_files=file_digests(rubric), formats=parse_format_list(formats),
                             origins=origins or {}, assignment=assignment, missing=missing or {})
    with locked(out / EXPORT_LOCK):
        if manifest.rubric_text:  # what `mlgrade override` and `mlgrade review` read the class from
            save_class(out, manifest)
        results = class_results(store, keys, manifest.sources, rubric, missing)
        class_report = class_step(rubric, results, out, origins=origins, assignment=assignment,
                                  rubric_source=rubric_source)
        mark("class step")
        write_outputs(out, class_report, manifest.formats)
    return class_report


def _known_rubric_text(out: Path, rubric: Rubric) -> str:
    """The rubric's text from the last run into ``out``, if that run used the same rubric ('' if not)."""
    previous = load_class(out)
    if previous is None:
        return ""
    try:
        same = parse_rubric(previous.rubric_text, previous.rubric_source).digest() == rubric.digest()
    except RubricError:
        return ""
    return previous.rubric_text if same else ""


def _clean_work_folders(out: Path) -> None:
    """Work and 'running' notes left by a run that was killed belong to nobody now: start clean.
    (Only this process and its workers write there; rmtree does not follow symlinks.)"""
    work_root = out / ".mlgrade" / "work"
    shutil.rmtree(work_root, ignore_errors=True)
    shutil.rmtree(out / ".mlgrade" / "running", ignore_errors=True)
    work_root.mkdir(parents=True, exist_ok=True)
    os.chmod(work_root.parent, 0o755)
    os.chmod(work_root, 0o755)


def _run(todo: list[Source], keys: dict[str, str], store: ResultStore, rubric: Rubric, scheduler: Scheduler,
         console: Console, report: BatchReport, attempts: dict[str, int]) -> None:
    """Hand submissions to ``scheduler``, store every record the moment it exists, retry what the grader
    failed on once, and show progress."""
    pending = deque(todo)
    tries_here: dict[str, int] = {}
    graded_once: set[str] = set()  # a record with a crashed check is stored: a failed retry never replaces it

    def again(s: Source, tries: int) -> bool:
        """Count ``tries`` against the run's retries; True when ``s`` goes back in line."""
        tries_here[s.student] = tries_here.get(s.student, 0) + tries
        if tries_here[s.student] <= RETRIES_IN_RUN:
            pending.append(s)
            return True
        return False
    columns = [TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeRemainingColumn(), TextColumn("{task.fields[last]}")]
    t0 = time.monotonic()
    console.print(f"grading {len(todo)} submission{'s' if len(todo) != 1 else ''} on {scheduler.describe()}",
                  markup=False, highlight=False)
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("grading", total=len(todo), rate="", last="")

        def finish(student: str, note: str) -> None:
            report.graded += 1
            per_min = report.graded / max(time.monotonic() - t0, 1e-6) * 60
            progress.update(bar, advance=1, rate=f"{per_min:.1f}/min", last=f"{student}: {note}")

        while pending or scheduler.busy():
            while pending and scheduler.free() > 0:
                s = pending.popleft()
                number = attempts.get(s.student, 0) + tries_here.get(s.student, 0) + 1
                scheduler.submit(Attempt(s, keys[s.student], number))
            for outcome in scheduler.wait(0.5):
                s, attempt = outcome.attempt.source, outcome.attempt
                if outcome.fault:
                    # The grader, not the student, failed on this one: try again once, then store that.
                    if again(s, outcome.tries):
                        continue
                    if s.student in graded_once:  # its record of the first attempt holds every other question
                        report.crashed.append(s.student)
                        finish(s.student, "a check crashed in the grader")
                        continue
                    result = failed_result(s.student, s.path, rubric, outcome.fault, grader_fault=True)
                    result.attempts = attempt.number + outcome.tries - 1
                    store.put(s.student, attempt.key, result)
                    report.failed.append(s.student)
                    finish(s.student, outcome.fault)
                    continue
                if outcome.record is not None:  # handed back by the scheduler, not stored by the worker
                    store.put(s.student, attempt.key, outcome.record)
                if outcome.crashed:  # a helper that did not start (a starved machine) may start the next time
                    if again(s, outcome.tries):
                        graded_once.add(s.student)
                        continue
                    report.crashed.append(s.student)
                finish(s.student, f"{fmt_points(outcome.total)}/{fmt_points(rubric.max_total)}")


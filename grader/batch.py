"""``mlgrade grade``: grade a class in parallel, resumably, then score it as a class.

Submissions are spread over ``--jobs`` long-lived worker processes
(:mod:`grader.worker`), each with its own sandbox uid, notebook runner and model
server. The parent only schedules: it enforces a wall clock per submission,
replaces a worker that dies or hangs (that submission gets a row with the
reason, the batch goes on), and shows progress. Every result is stored as soon
as it exists (:mod:`grader.store`), so rerunning after a crash, even ``kill -9``
of this process, grades only what is missing. Then the class-level step
(:mod:`grader.classwide`) runs on the stored records, and the output formats chosen with
``--format`` are written by their renderers (:mod:`grader.render`).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import select
import shutil
import subprocess
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from grader.classwide import EXPORT_LOCK, class_results, class_step
from grader.isolation import kill_tree
from grader.options import GradeOptions
from grader.pipeline import failed_result
from grader.render import parse_format_list, write_outputs
from grader.render.common import fmt_points
from grader.render.files import locked
from grader.render.terminal import print_class_summary
from grader.results import SubmissionResult
from grader.rubric import Rubric, RubricError, parse_rubric
from grader.sources import Source, discover
from grader.store import ClassManifest, ResultStore, folder_hash, load_class, record_key, save_class

# A submission whose grading failed for the grader's reasons (a worker died, the clock ran out) is
# tried again once in the same run, and by later runs until it has had this many attempts.
MAX_ATTEMPTS = 3
RETRIES_IN_RUN = 1


def submission_timeout(rubric: Rubric) -> float:
    """A wall clock per submission, from the rubric's own limits, with room for model work."""
    from grader.nbexec.executor import IMPORT_ALLOWANCE_S

    total = 120.0
    for q in rubric.questions:
        for c in q.checks:
            notebook = float(getattr(c.params, "notebook_timeout", 0) or 0)
            # room for a heavy import (TensorFlow) on top of the notebook's own limit
            total += notebook + 30.0 + (IMPORT_ALLOWANCE_S if notebook else 0.0)
    return total


@dataclass
class _Worker:
    slot: int
    proc: subprocess.Popen | None = None
    task: dict | None = None
    deadline: float = 0.0
    started: float = 0.0


@dataclass
class BatchReport:
    graded: int = 0
    reused: int = 0
    failed: list[str] = field(default_factory=list)
    wall_s: float = 0.0


class _Pool:
    def __init__(self, jobs: int, config: dict, out: Path):
        self.config = config
        self.out = out
        self.workers = [_Worker(slot) for slot in range(jobs)]

    def _spawn(self, w: _Worker) -> None:
        cfg = {**self.config, "options": {**self.config["options"], "sandbox_slot": w.slot}}
        stderr = None if os.environ.get("MLGRADE_DEBUG") else subprocess.DEVNULL
        w.proc = subprocess.Popen([sys.executable, "-m", "grader.worker", json.dumps(cfg)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                  text=True, bufsize=1, start_new_session=True)

    def assign(self, w: _Worker, task: dict, timeout: float) -> None:
        if w.proc is None or w.proc.poll() is not None:
            self._spawn(w)
        assert w.proc is not None and w.proc.stdin is not None
        w.task, w.started, w.deadline = task, time.monotonic(), time.monotonic() + timeout
        # who is grading what, for an instructor looking at a stuck batch (and for tests)
        running = self.out / ".mlgrade" / "running"
        running.mkdir(parents=True, exist_ok=True)
        (running / task["student"]).write_text(f"{w.proc.pid}\n")
        try:
            w.proc.stdin.write(json.dumps(task) + "\n")
            w.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # seen as a dead worker on the next poll

    def kill(self, w: _Worker) -> None:
        if w.proc is not None:
            kill_tree(w.proc)
        w.proc = None

    def close(self) -> None:
        for w in self.workers:
            if w.proc is not None and w.proc.stdin is not None:
                try:
                    w.proc.stdin.close()
                except OSError:
                    pass
        for w in self.workers:
            if w.proc is not None:
                try:
                    w.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    pass
            self.kill(w)


def grade_batch(
    paths: list[Path], out: Path, rubric: Rubric, options: GradeOptions, force: bool = False,
    jobs: int | None = None, rubric_text: str | None = None, rubric_source: str = "rubric.yaml",
    console: Console | None = None, timeout: float | None = None, formats: list[str] | None = None,
    origins: dict[str, dict] | None = None, assignment: str = "", missing: dict[str, str] | None = None,
) -> list[SubmissionResult]:
    """Grade every submission under ``paths`` into ``out``, then write ``formats`` (default: the
    renderers' defaults). ``origins``: where each student's submission came from, for the outputs;
    ``missing``: students with nothing to grade, and why (each gets a row of zeros with the reason)."""
    console = console or Console(stderr=True)
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, os.stat(out).st_mode | 0o055)  # the sandbox user must be able to reach the work folders
    sources = discover(paths)
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
    if todo:
        if rubric_text is None:
            raise ValueError("grading needs the rubric's text, for the workers")
        config = {"rubric_text": rubric_text, "rubric_source": rubric_source, "out": str(out),
                  "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()}}
        _run(todo, keys, store, out, rubric, config, jobs or os.cpu_count() or 1,
             timeout or submission_timeout(rubric), console, report, attempts)
    manifest = ClassManifest(keys=keys, sources={s.student: str(s.path) for s in sources},
                             rubric_text=rubric_text if rubric_text is not None else _known_rubric_text(out, rubric),
                             rubric_source=rubric_source, formats=parse_format_list(formats),
                             origins=origins or {}, assignment=assignment, missing=missing or {})
    with locked(out / EXPORT_LOCK):
        if manifest.rubric_text:  # what `mlgrade override` and `mlgrade review` read the class from
            save_class(out, manifest)
        results = class_results(store, keys, manifest.sources, rubric, missing)
        class_report = class_step(rubric, results, out, origins=origins, assignment=assignment,
                                  rubric_source=rubric_source)
        write_outputs(out, class_report, manifest.formats)
    report.wall_s = time.monotonic() - started
    print_class_summary(console, class_report, report.graded, report.reused, len(report.failed), report.wall_s)
    return results


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


def _run(todo: list[Source], keys: dict[str, str], store: ResultStore, out: Path, rubric: Rubric, config: dict,
         jobs: int, timeout: float, console: Console, report: BatchReport, attempts: dict[str, int]) -> None:
    work_root = out / ".mlgrade" / "work"
    # Work and 'running' notes left by a run that was killed belong to nobody now: start clean.
    # (Only this process and its workers write there; rmtree does not follow symlinks.)
    shutil.rmtree(work_root, ignore_errors=True)
    shutil.rmtree(out / ".mlgrade" / "running", ignore_errors=True)
    work_root.mkdir(parents=True, exist_ok=True)
    os.chmod(work_root.parent, 0o755)
    os.chmod(work_root, 0o755)
    pending = deque(todo)
    tries_here: dict[str, int] = {}
    pool = _Pool(min(jobs, len(todo)), config, out)
    by_student = {s.student: s for s in todo}
    columns = [TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeRemainingColumn(), TextColumn("{task.fields[last]}")]
    t0 = time.monotonic()
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            bar = progress.add_task("grading", total=len(todo), rate="", last="")

            def finish(student: str, note: str, workdir: str) -> None:
                report.graded += 1
                shutil.rmtree(workdir, ignore_errors=True)
                (out / ".mlgrade" / "running" / student).unlink(missing_ok=True)
                per_min = report.graded / max(time.monotonic() - t0, 1e-6) * 60
                progress.update(bar, advance=1, rate=f"{per_min:.1f}/min", last=f"{student}: {note}")

            def fail(w: _Worker, why: str) -> None:
                """The grader, not the student, failed on this one: try again once, then store that."""
                assert w.task is not None
                s = by_student[w.task["student"]]
                shutil.rmtree(w.task["workdir"], ignore_errors=True)
                tries_here[s.student] = tries_here.get(s.student, 0) + 1
                if tries_here[s.student] <= RETRIES_IN_RUN:
                    pending.append(s)
                    w.task = None
                    return
                result = failed_result(s.student, s.path, rubric, why, grader_fault=True)
                result.attempts = w.task["attempt"]
                store.put(s.student, w.task["key"], result)
                report.failed.append(s.student)
                finish(s.student, why, w.task["workdir"])
                w.task = None

            while pending or any(w.task for w in pool.workers):
                for w in pool.workers:
                    if w.task is None and pending:
                        s = pending.popleft()
                        # A fresh, unguessable folder per attempt: nothing of a killed attempt is reused.
                        workdir = work_root.resolve() / f"{s.student}-{secrets.token_hex(6)}"
                        attempt = attempts.get(s.student, 0) + tries_here.get(s.student, 0) + 1
                        pool.assign(w, {"student": s.student, "source": str(s.path.resolve()), "key": keys[s.student],
                                        "workdir": str(workdir), "attempt": attempt}, timeout)
                busy = [w for w in pool.workers if w.task is not None and w.proc is not None]
                streams = {w.proc.stdout: w for w in busy if w.proc and w.proc.stdout}
                ready, _, _ = select.select(list(streams), [], [], 0.5)
                for stream in ready:
                    w = streams[stream]
                    line = stream.readline()
                    if not line:
                        code = w.proc.poll() if w.proc else None
                        pool.kill(w)
                        hint = " (out of memory?)" if code in (-9, 137) else ""
                        fail(w, f"the grading worker died while grading this submission (exit {code}){hint}")
                        continue
                    done = json.loads(line)
                    assert w.task is not None
                    finish(done["student"], f"{fmt_points(done['total'])}/{fmt_points(rubric.max_total)}",
                           w.task["workdir"])
                    w.task = None
                now = time.monotonic()
                for w in pool.workers:
                    if w.task is not None and now > w.deadline:
                        pool.kill(w)
                        fail(w, f"grading this submission took longer than {timeout:.0f} s and was stopped")
    finally:
        pool.close()

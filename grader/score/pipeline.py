"""Grade one submission: unpack it, run every question's checks, score, return a record.

This is the only place that turns check outcomes into marks, so the rules are
in one spot: a question's required files gate it; each check gives a fraction;
the question's score is ``points * weighted mean of fractions``; a ``gate``
check that does not fully pass zeroes the question; a kind that is declared
but not built makes the question "not graded yet".
"""

from __future__ import annotations

import shutil
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import replace
from pathlib import Path

from grader import __version__
from grader.core import progress
from grader.core.errors import SubmissionProblem
from grader.core.hashing import source_hash
from grader.core.options import GradeOptions
from grader.core.results import CheckResult, QuestionResult, Status, SubmissionResult, round_score, status_for
from grader.core.timeline import mark
from grader.execute.isolation import backend
from grader.execute.modelserver import close_model_server
from grader.execute.notebooks.executor import close_runner
from grader.execute.notebooks.session import NotebookSession
from grader.intake.sources import student_id
from grader.intake.submission import Submission, describe_pattern
from grader.intake.unpack import UnpackRefused, unpack
from grader.rubric import CheckSpec, Question, Rubric
from grader.rubric.kinds import CheckContext, CheckParams, get_kind
from grader.score.claims import claimed_elsewhere, own_patterns
from grader.score.fingerprints import collect
from grader.score.qcache import QuestionCache, question_key
from grader.score.shipped import expected_patterns, shipped_in


def grade_submission(
    source: Path,
    rubric: Rubric,
    workdir: Path,
    options: GradeOptions | None = None,
    student: str | None = None,
    keep_work: bool = False,
) -> SubmissionResult:
    """Grade ``source`` in the fresh folder ``workdir`` (created here, removed afterwards)."""
    options = options or GradeOptions()
    started = time.perf_counter()
    source = Path(source)
    student = student or student_id(source)
    try:
        report = unpack(source, Path(workdir) / "files", rubric.limits)
        mark("unpacked")
    except UnpackRefused as e:
        result = _refused(student, source, rubric, str(e))
    except OSError as e:  # the grader's own disk or folders, not the student's archive
        result = failed_result(student, source, rubric, f"the grader could not unpack {source.name} "
                               f"({e.strerror or e}); this is not a problem with the submission", grader_fault=True)
    else:
        sub = Submission(
            student=student,
            source=source,
            root=report.root,
            files=report.files,
            skipped=report.skipped,
            ignored=report.ignored,
            notes=report.notes,
            content_hash=report.content_hash,
            grader_files=shipped_in(report.root, report.files, rubric),
            expected=expected_patterns(rubric),
        )
        questions = grade_questions(sub, rubric, options, Path(workdir))
        mark("questions graded")
        fingerprints = _fingerprints(sub, rubric, options)
        result = SubmissionResult(
            student=student,
            source=str(source),
            total=round_score(sum(q.score for q in questions)),
            max_total=round_score(rubric.max_total),
            questions=questions,
            warnings=[f"{entry}: {why}" for entry, why in report.skipped.items()] + report.notes,
            files=report.files,
            submission_hash=report.content_hash,
            integrity=fingerprints,
        )
    finally:
        if not keep_work:
            shutil.rmtree(workdir, ignore_errors=True)
    result.rubric_hash = rubric.digest()
    result.grader_version = __version__
    result.elapsed_s = round(time.perf_counter() - started, 3)
    return result


def _fingerprints(sub: Submission, rubric: Rubric, options: GradeOptions) -> dict:
    """What the class-level integrity step compares (batch grading only; a failure here costs no grade)."""
    if not options.integrity or not rubric.integrity.enabled:
        return {}

    try:
        return collect(sub, options)
    except Exception as e:  # a grader bug must not cost the student's grade
        return {"version": 1, "notes": [f"fingerprints not collected ({type(e).__name__}: {str(e)[:200]})"]}


def stop_services() -> None:
    """Stop the sandboxed helpers this process started (notebook sandboxes, the model server) and remove
    their folders: the end of a one-off grading (``mlgrade check``, the Python API), where the process
    may live on (a student's notebook) and must not keep a zygote and Keras in memory."""
    close_runner()
    close_model_server()


def failed_result(student: str, source: Path, rubric: Rubric, why: str, grader_fault: bool = False) -> SubmissionResult:
    """Zero for every question, with the reason: for a submission the grader could not finish.

    ``grader_fault``: the failure is the grader's or the machine's (a worker that died, a full
    disk), not the student's: the questions are marked as grader errors, and a rerun grades the
    submission again instead of keeping this record.
    """
    result = _refused(student, source, rubric, why)
    for q in result.questions:
        q.reason = f"not graded: {why}"
        if grader_fault:
            q.status = Status.ERROR
    result.grader_fault = why if grader_fault else ""
    result.rubric_hash = rubric.digest()
    result.grader_version = __version__
    return result


def _refused(student: str, source: Path, rubric: Rubric, why: str) -> SubmissionResult:
    questions = [
        QuestionResult(
            id=q.id,
            title=q.title,
            score=0.0,
            max_score=q.points,
            status=Status.FAILED,
            reason=f"not graded: the submission could not be unpacked ({why})",
        )
        for q in rubric.questions
    ]
    return SubmissionResult(
        student=student, source=str(source), total=0.0, max_total=round_score(rubric.max_total),
        questions=questions, errors=[why], submission_hash=_bytes_hash(source),
    )


def _bytes_hash(source: Path) -> str:
    """What could not be unpacked is still known by its bytes: an instructor's decision on it (a zip that
    came by mail instead) goes stale when the student hands in something else."""
    try:
        return "bytes:" + source_hash(source) if Path(source).exists() else ""
    except OSError:
        return ""


_NOTEBOOK_THREAD: ThreadPoolExecutor | None = None


def warm_notebooks(options: GradeOptions) -> None:
    """Start the notebook sandbox now, on the notebook thread (whose life it shares): a batch worker whose
    rubric runs notebooks calls this as it starts, so the sandbox (0.3-0.5 s) starts while the rubric is read,
    the first submission unpacked and its test files collected."""
    warm_sandbox(options.isolation, options.sandbox_slot)


def warm_sandbox(isolation: str, slot: int) -> None:
    """:func:`warm_notebooks` before the options are known (a worker told its sandbox ahead of its rubric)."""
    _notebook_thread().submit(_warm, isolation, slot)


def stop_sandbox(isolation: str) -> Future:
    """Stop what ``isolation``'s backend started (after anything queued before it on the notebook thread)."""
    return _notebook_thread().submit(backend(isolation).close)


def runs_notebooks(rubric: Rubric) -> bool:
    return any(uses_notebooks(q) for q in rubric.questions)


def _warm(isolation: str, slot: int) -> None:
    try:
        backend(isolation).warm(slot)
        mark("notebook sandbox warm")
    except Exception:  # noqa: BLE001 - the first notebook starts it again and says why it cannot
        pass


def uses_notebooks(q: Question) -> bool:
    return any((k := get_kind(c.kind)) is not None and k.uses_notebooks for c in q.checks)


def _notebook_thread() -> ThreadPoolExecutor:
    """The one thread that runs notebook questions, for the life of the process.

    Not a pool per submission: the notebook sandbox started from this thread dies when the thread that
    started it ends (bubblewrap's ``--die-with-parent`` and ``PR_SET_PDEATHSIG`` follow the thread), so
    a thread per submission killed the zygote after every submission, and with it the chance to close
    its sessions and remove its staged folders in order."""
    global _NOTEBOOK_THREAD
    if _NOTEBOOK_THREAD is None:
        _NOTEBOOK_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notebooks")
    return _NOTEBOOK_THREAD


def grade_questions(sub: Submission, rubric: Rubric, options: GradeOptions, workdir: Path) -> list[QuestionResult]:
    """All questions; those that run notebooks on a second thread, at the same time as the rest.

    The notebook runner and the model server are separate processes, so the two threads mostly
    wait on different pipes; each helper is used by one thread only.
    """
    cache: dict = {}
    results: dict[str, QuestionResult] = {}
    base = rubric.base_dir
    try:
        remembered, keys = _remembered(sub, rubric, options)
        results.update(remembered)
        todo = [q for q in rubric.questions if q.id not in results]
        nb_questions = [q for q in todo if uses_notebooks(q)]
        if nb_questions and len(nb_questions) < len(todo):
            pool = _notebook_thread()
            futures = {q.id: pool.submit(grade_question, sub, q, options, cache, workdir, base,
                                     rubric.questions)
                       for q in nb_questions}
            try:
                for q in todo:
                    if q.id not in futures:
                        results[q.id] = grade_question(sub, q, options, cache, workdir, base, rubric.questions)
            except BaseException:  # Ctrl-C or the grader's own failure: what has not started never will
                for fut in futures.values():
                    fut.cancel()
                raise
            finally:  # every notebook question has ended before its sessions are closed, whatever happened
                wait_for(futures.values())
            for qid, fut in futures.items():
                results[qid] = fut.result()
        else:
            for q in todo:
                results[q.id] = grade_question(sub, q, options, cache, workdir, base, rubric.questions)
    finally:
        close_sessions(cache)
    _remember(options, keys, results, {q.id for q in todo})
    return [results[q.id] for q in rubric.questions]


def close_sessions(cache: dict) -> None:
    """End the submission's live notebook sessions: their kernels and everything they started die."""
    for value in list(cache.values()):
        if isinstance(value, NotebookSession):
            try:
                value.close()
            except Exception:  # a sandbox that is already gone has nothing left to close
                pass


def _remembered(sub: Submission, rubric: Rubric, options: GradeOptions) -> tuple[dict, dict]:
    """A self-check's remembered results (grader.score.qcache) for questions whose inputs did not change."""
    if not options.question_cache:
        return {}, {}

    store = QuestionCache(Path(options.question_cache))
    # the rubric's own files (test files, reference modules, plugins) decide results too: a changed test regrades
    keys = {q.id: (f"{key}-{rubric.digest()}" if (key := question_key(sub, q, options)) else None)
            for q in rubric.questions}
    found = {qid: r for qid, key in keys.items() if key and (r := store.get(key)) is not None}
    return found, keys


def _remember(options: GradeOptions, keys: dict, results: dict, graded: set[str]) -> None:
    if not options.question_cache:
        return

    store = QuestionCache(Path(options.question_cache))
    for qid in graded:
        if keys.get(qid):
            store.put(keys[qid], results[qid])


def grade_question(
    sub: Submission, q: Question, options: GradeOptions, cache: dict, workdir: Path | None = None,
    rubric_dir: Path | None = None, others: Sequence[Question] = (),
) -> QuestionResult:
    """One question; ``others`` (the rubric's questions) keep its missing-file hints off files they claim."""
    progress.say(f"{q.id}: {q.title}")
    base = dict(id=q.id, title=q.title, max_score=q.points)
    files: dict[str, str] = {}
    missing: list[str] = []
    ctx = CheckContext(submission=sub, question=q, options=options, cache=cache, workdir=workdir,
                       rubric_dir=rubric_dir)
    for pattern in q.files:
        hit = sub.find_one(pattern)
        if hit is None:
            users = [c.params for c in q.checks if isinstance(c.params, CheckParams)
                     and pattern in c.params.file_patterns()]
            why = sub.explain_missing(pattern, [m for params in users for m in params.code_markers()])
            missing.append(why + _content_hints(ctx, users, pattern, others))
        else:
            files[pattern] = sub.rel(hit)
    if missing:
        return QuestionResult(**base, score=0.0, status=Status.FAILED, files=files,
                              reason="; ".join(missing) + _other_files(sub, q))

    checks = [run_check(ctx, spec) for spec in q.checks]
    pending = [c for c in checks if c.status is Status.PENDING]
    errors = [c for c in checks if c.status is Status.ERROR]
    failed_gates = [c for c in checks if (c.gate and c.fraction < 1.0) or (c.veto and c.fraction <= 0.0)]
    reason = "; ".join(c.reason for c in checks)
    manual = any(c.manual_review for c in checks)

    if pending:
        graded = [c.reason for c in checks if c.status is not Status.PENDING]
        unbuilt = sorted({c.kind for c in pending if (k := get_kind(c.kind)) is None or k.run is None})
        # a built kind that stays pending (graded by the instructor) says why itself
        whys = [c.reason for c in pending if c.kind not in unbuilt]
        if unbuilt:
            whys.insert(0, "not graded yet (" + ", ".join(unbuilt) + " is not built yet)")
        return QuestionResult(
            **base, score=0.0, status=Status.PENDING, manual_review=manual, files=files, checks=checks,
            reason="; ".join([*whys, *graded]),
        )
    if failed_gates:
        score = 0.0
    else:
        total_w = sum(c.weight for c in checks)
        if total_w > 0:
            frac = sum(c.weight * c.fraction for c in checks) / total_w
        else:
            frac = min(c.fraction for c in checks)
        score = round_score(q.points * frac)
    status = Status.ERROR if errors and score < q.points else status_for(score, q.points)
    relative = next((c.details["class_relative"] for c in checks if "class_relative" in c.details), None)
    return QuestionResult(
        **base, score=score, status=status, reason=reason, manual_review=manual, files=files, checks=checks,
        relative=relative,
    )


def _content_hints(ctx: CheckContext, users: list[CheckParams], pattern: str, others: Sequence[Question] = ()) -> str:
    """Files that look like the missing one by their content, asked only of the checks for which ``pattern``
    is their own file (``weights:`` of classify_images, not one of its ``images:``: its hints are about its
    model), and shown only the student's files not yet named as the rubric expects nor claimed by another
    question (:mod:`grader.score.claims`)."""
    own = [params for params in users if pattern in own_patterns(params)]
    if not own:
        return ""
    try:
        taken = claimed_elsewhere(ctx, others)
    except Exception:  # a hint is a courtesy: it must never cost the student the real reason
        taken = frozenset()
    free = [f for f in ctx.submission.hint_candidates() if f not in taken]
    view = replace(ctx, submission=replace(ctx.submission, files=free))
    hints: list[str] = []
    for params in own:
        try:
            hints += params.suggest_files(view, pattern)
        except Exception:  # a hint is a courtesy: it must never cost the student the real reason
            continue
    hints = list(dict.fromkeys(hints))[:3]
    return "; " + "; ".join(hints) + " — rename it if that is the one" if hints else ""


def _other_files(sub: Submission, q: Question) -> str:
    """What became of the question's other files, so one report lists everything at once."""
    others = [p for c in q.checks if isinstance(c.params, CheckParams) for p in c.params.file_patterns()]
    others = [p for p in dict.fromkeys(others) if p not in q.files]
    if not others:
        return ""
    found = [f"'{sub.rel(hit)}'" for p in others if (hit := sub.find_one(p)) is not None]
    lacking = [describe_pattern(p) for p in others if sub.find_one(p) is None]
    parts = []
    if found:
        parts.append("found " + ", ".join(found))
    if lacking:
        parts.append("also missing " + ", ".join(lacking))
    return " (this question also uses: " + "; ".join(parts) + ")"


def run_check(ctx: CheckContext, spec: CheckSpec) -> CheckResult:
    """Run one check; a student's bad file fails it, a grader bug is reported as an error."""
    started = time.perf_counter()
    result = _run_check(ctx, spec)
    result.elapsed_s = round(time.perf_counter() - started, 4)
    return result


def _run_check(ctx: CheckContext, spec: CheckSpec) -> CheckResult:
    kind = get_kind(spec.kind)
    common = dict(kind=spec.kind, weight=spec.weight, gate=spec.gate, veto=spec.veto)
    if kind is None or kind.run is None:
        return CheckResult(**common, fraction=0.0, status=Status.PENDING, reason=f"{spec.kind}: not graded yet")
    try:
        out = kind.run(ctx, spec.params)
    except SubmissionProblem as e:
        return CheckResult(**common, fraction=0.0, status=Status.FAILED, reason=str(e))
    except Exception as e:  # a bug in the grader must not cost the batch, nor look like the student's fault
        # the traceback marks the check as crashed (SubmissionResult.crashed_checks): the batch tries it again
        tb = traceback.format_exception(type(e), e, e.__traceback__, limit=-3)
        return CheckResult(
            **common, fraction=0.0, status=Status.ERROR,
            reason=f"internal error in check '{spec.kind}' ({type(e).__name__}: {e}); "
            "this is a grader problem, please report it",
            details={"traceback": "".join(tb)[-4000:]},
        )
    frac = min(1.0, max(0.0, float(out.fraction)))
    status = Status.PENDING if out.pending else (
        Status.PASSED if frac >= 1.0 else Status.PARTIAL if frac > 0 else Status.FAILED
    )
    if out.grader_error and not out.pending:
        status = Status.ERROR
    return CheckResult(
        **common, fraction=frac, status=status, reason=out.reason,
        manual_review=out.manual_review, details=out.details, instructor_notes=list(out.instructor_notes),
    )

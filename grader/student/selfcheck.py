"""A student's self-check: grade one submission as it will be graded, and say plainly what differs.

Shared by ``mlgrade check`` and the notebook API (``mlgrade.check()``). The grading is the
pipeline's, unchanged; what this module adds is what a student needs to read the result:

- where the check ran without the sandbox (Windows, macOS, Colab, a Linux machine without
  bubblewrap), one note saying so and what it means for them: nothing, it is their own code;
- questions scored relative to the class are provisional, and questions the instructor grades with
  hidden tests (``hidden: true``) are shown as such, never run;
- a report as text (terminal) and as an HTML table (Jupyter, Colab, VS Code), every string escaped.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.core.options import GradeOptions
from grader.core.portable import memory_limit_words, platform_name
from grader.core.results import SubmissionResult
from grader.execute.isolation import AUTO_ORDER, Backend, backend, resolve
from grader.render.notebook_html import fragment
from grader.render.terminal import print_result
from grader.rubric import Rubric
from grader.score.hidden import public_rubric, with_hidden_pending
from grader.score.pipeline import grade_submission, stop_services
from grader.score.qcache import default_folder
from grader.student import relative

DEFAULT_NOTEBOOK_MB = 2048


@dataclass
class SelfCheck:
    """One self-check: the result record, and what the student should know about how it was made."""

    result: SubmissionResult
    rubric: Rubric
    source: str
    isolation: Backend
    notes: list[str] = field(default_factory=list)
    reuse_note: str | None = None  # among the notes: which results the question cache gave

    @property
    def total(self) -> float:
        return self.result.total

    @property
    def max_total(self) -> float:
        return self.result.max_total

    def title(self) -> str:
        return f"mlgrade check: {self.source} ({self.rubric.name})"

    def to_text(self, width: int = 100) -> str:
        from rich.console import Console


        buf = io.StringIO()
        console = Console(file=buf, width=width, force_terminal=False, color_system=None)
        print_result(self.result, console, title=self.title())
        for note in self.notes:
            console.print(f"note: {note}", markup=False, highlight=False)
        return buf.getvalue()

    def to_html(self) -> str:
        return fragment(self.result, self.title(), self.notes)

    # Jupyter, Colab and VS Code show this when the check is a cell's last expression.
    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<mlgrade check of {self.source}: {self.result.total:g}/{self.result.max_total:g}>"


def choose_isolation(requested: str = "auto") -> Backend:
    """The backend for a self-check: the sandbox where it works, else the portable path (never an error
    for ``auto``; ``bwrap`` raises :class:`~grader.execute.isolation.IsolationUnavailable` where it cannot run)."""
    return resolve(requested)


def self_check(source: Path, rubric: Rubric, isolation: str = "auto", keep_work: bool = False,
               label: str | None = None, first_note: str | None = None, feedback_images: bool = False,
               remember: bool = True, again: str = "--no-cache grades everything again",
               class_bests: dict[str, float] | None = None) -> SelfCheck:
    """Grade ``source`` (a zip or a folder) as the instructor's run would; hidden questions are pending,
    never run. ``label``: how the report names what was checked; ``first_note``: said before the other
    notes; ``feedback_images``: thumbnails for a feedback page; ``remember``: reuse the results of
    questions whose files did not change since the last check (grader.score.qcache); ``again``: how to grade
    everything again where the student is (an option of the command, a keyword of mlgrade.check());
    ``class_bests``: the best accuracy so far per class-relative question, where it is known."""
    chosen = choose_isolation(isolation)
    work = Path(tempfile.mkdtemp(prefix="mlgrade-check-"))  # private: sandboxes get staged copies
    options = GradeOptions(self_check=True, isolation=chosen.name, feedback_images=feedback_images,
                           question_cache=str(default_folder()) if remember else None, model_engine="numpy")
    try:
        result = with_hidden_pending(grade_submission(Path(source), public_rubric(rubric), work / "w", options,
                                                      keep_work=keep_work), rubric)
        result = relative.in_words(result, class_bests)
    finally:
        stop_services()  # one-off: no sandbox, Keras or staging folder left in a student's notebook process
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)
    check = SelfCheck(result, rubric, label or str(source), chosen)
    if keep_work:
        check.notes.append(f"work folder kept: {work / 'w'}")
    check.notes[:0] = ([first_note] if first_note else []) + notes(result, rubric, chosen, requested=isolation)
    reused = [q.id for q in result.questions if q.details.get("reused")]
    if reused:
        check.reuse_note = (f"{', '.join(reused)}: your files for these did not change since your last check, so "
                            f"their results were reused ({again})")
        check.notes.append(check.reuse_note)
    return check


def notes(result: SubmissionResult, rubric: Rubric, chosen: Backend, requested: str = "auto") -> list[str]:
    """What the student should know about this check, each said once, in plain words."""
    out = []
    if not chosen.isolated and any(f.lower().endswith(".ipynb") for f in result.files):
        if requested == "none":
            why = f"{platform_name()}: no sandbox was asked for"
        else:
            problem = (backend(AUTO_ORDER[0]).problem() or "").strip()
            problem = problem.splitlines()[-1] if problem else "it is not available here"
            why = f"{platform_name()}: the sandbox needs bubblewrap on Linux; {problem}"
        out.append(
            f"your notebooks ran without the sandbox, as you, on this computer ({why}). For a self-check that "
            "changes nothing: it is your own code. When graded they run in a sandbox; here, as there, they get "
            f"no network and the same time limits, and {memory_limit_words(_notebook_memory(rubric))}.")
    # a class-relative question says its own accuracy and score range in its row (grader.student.relative)
    hidden = [q.id for q in rubric.questions if q.hidden]
    if hidden:
        out.append(f"graded by your instructor with hidden tests: {', '.join(dict.fromkeys(hidden))} "
                   "(shown with 0 points here)")
    return out


def _notebook_memory(rubric: Rubric) -> int:
    mbs = [int(mb) for q in rubric.questions for c in q.checks
           if isinstance(mb := getattr(c.params, "memory_mb", None), int)]
    return max(mbs or [DEFAULT_NOTEBOOK_MB]) * 1024**2



"""Run-time options shared by every check of a grading run (not part of the rubric)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GradeOptions:
    # Folder of hidden test data (instructor only); None for a student's self-check.
    hidden_dir: Path | None = None
    # Seed for everything random the grader generates; fixed so regrades agree.
    seed: int = 20261122
    # True when a student runs `mlgrade check`: scores that depend on the class are provisional.
    self_check: bool = False
    # The isolation backend's name ("bwrap" or "none"), resolved from --isolation auto|bwrap|none;
    # grader.execute.isolation.backend(name) gives the object.
    isolation: str = "none"
    # Which concurrent sandbox this process owns (each slot runs as its own uid).
    sandbox_slot: int = 0
    # The instructor's own view (`mlgrade validate`): why hidden tests failed is shown too.
    reveal_hidden: bool = False
    # Put thumbnails of the student's images in the results, for feedback pages (made in the sandbox).
    feedback_images: bool = True
    # A self-check's folder of remembered question results (grader.score.qcache); None: grade everything.
    question_cache: str | None = None
    # Store fingerprints for the class-level integrity step (batch grading: `mlgrade grade`).
    integrity: bool = False
    # Where the grader writes larger previews of images flagged for manual review (content-addressed
    # PNGs made in the sandbox), for `mlgrade review`; None: no previews. Not part of the grade.
    preview_dir: Path | None = None
    # How the model server runs model files: "" Keras where it is installed (batch grading), "numpy" the
    # numpy engine (grader.insandbox.npmodel, equal to Keras within 1e-5 on the real models) even there:
    # a self-check's model server then starts in 0.3 s instead of Keras' 4-6 s.
    model_engine: str = ""

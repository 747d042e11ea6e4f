"""Authoring help for instructors: scaffold an assignment, and validate one against its sample submissions.

``mlgrade init assignment NAME`` writes a folder an instructor edits into the next assignment::

    NAME/
      rubric.yaml            one question, graded by the test file
      tests/test_NAME.py     plain pytest: a worked example with public and hidden tests
      refs.py                the reference solution the tests compare with
      samples/correct/       a submission that must get every point
      samples/wrong/         a submission that must not
      README.md              what to edit, and how to check it

``mlgrade validate RUBRIC`` grades every sample as a small class (the class-level step
included) and fails when a correct sample loses points, a wrong one gets full marks, an
expected score in ``samples/expected.yaml`` is not met, or the grader reports an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from grader.classstep.classwide import apply_class_relative
from grader.core.options import GradeOptions
from grader.core.results import Status, SubmissionResult
from grader.rubric import load_rubric
from grader.score.pipeline import grade_submission

CORRECT = ("correct", "good")
WRONG = ("wrong", "bad")


# ---------------------------------------------------------------------- init

def _notebook(*cells: tuple[str, str]) -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    for i, (kind, source) in enumerate(cells):
        cell = nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source)
        cell["id"] = f"cell-{i}"
        nb.cells.append(cell)
    return json.dumps(nb, indent=1) + "\n"


def scaffold(folder: Path, name: str) -> list[Path]:
    """Write the assignment folder; refuses to overwrite anything."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,39}", name):
        raise ValueError(f"an assignment name is a letter then letters, digits or '_' (at most 40), got {name!r}")
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} exists and is not empty; choose another name or folder")
    templates = Path(__file__).with_name("templates") / "assignment"
    files = {
        "rubric.yaml": (templates / "rubric.yaml").read_text(),
        f"tests/test_{name}.py": (templates / "test_assignment.py").read_text(),
        "refs.py": (templates / "refs.py").read_text(),
        "README.md": (templates / "README.md").read_text(),
        f"samples/correct/{name}.ipynb": _notebook(
            ("md", f"# {name}: softmax\nImplement `softmax(x, axis=-1)` with numpy."),
            ("code", "import numpy as np"),
            ("code", "def softmax(x, axis=-1):\n    shifted = x - np.max(x, axis=axis, keepdims=True)  # no overflow\n"
                     "    e = np.exp(shifted)\n    return e / e.sum(axis=axis, keepdims=True)"),
            ("code", "print(softmax(np.array([1.0, 2.0, 3.0])))"),
        ),
        f"samples/wrong/{name}.ipynb": _notebook(
            ("md", f"# {name}: softmax (a typical mistake: the sum runs over the whole array)"),
            ("code", "import numpy as np"),
            ("code", "def softmax(x, axis=-1):\n    e = np.exp(x)\n    return e / e.sum()"),
            ("code", "print(softmax(np.array([1.0, 2.0, 3.0])))"),
        ),
    }
    written = []
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("__NAME__", name), encoding="utf-8")
        written.append(path)
    return written


# ---------------------------------------------------------------------- validate

@dataclass
class SampleVerdict:
    sample: str
    expectation: str  # "full marks", "not full marks", "total 56", ...
    result: SubmissionResult
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def samples_of(rubric_path: Path) -> Path | None:
    """Where a rubric's samples are: ``samples/`` next to ``rubric.yaml`` (a course pack), or
    ``samples/<rubric name>/`` next to ``<rubric name>.yaml``."""
    folder = rubric_path.resolve().parent
    for candidate in (folder / "samples" / rubric_path.stem, folder / "samples"):
        if candidate.is_dir() and any(_is_sample(p) or p.name == "expected.yaml" for p in candidate.iterdir()):
            return candidate
    return None


def _is_sample(p: Path) -> bool:
    return (p.is_dir() or p.suffix.lower() == ".zip") and not p.name.startswith(".")


def expectations(samples: Path) -> dict[str, dict]:
    """``samples/expected.yaml``: ``{sample: {total: 56, questions: {ex3: 40}}}`` (names without ``.zip``);
    ``path:`` names a sample kept elsewhere (relative to the samples folder), so one file serves several packs."""
    path = samples / "expected.yaml"
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of sample name to expected scores")
    return {str(k).removesuffix(".zip"): (v or {}) for k, v in data.items()}


def sample_entries(samples: Path) -> list[Path]:
    """The sample submissions of a samples folder: its folders and zips, and the paths ``expected.yaml`` names."""
    entries = sorted(p for p in samples.iterdir() if _is_sample(p))
    for name, spec in expectations(samples).items():
        if "path" in spec:
            path = (samples / str(spec["path"])).resolve()
            if not path.exists():
                raise FileNotFoundError(f"{samples / 'expected.yaml'}: {name}: {spec['path']} does not exist")
            entries.append(path)
    if not entries:
        raise FileNotFoundError(f"{samples}: no samples (folders or .zip files, or paths in expected.yaml)")
    return entries


def validate(rubric_path: Path, samples: Path | None = None, isolation: str = "none",
             work: Path | None = None) -> list[SampleVerdict]:
    import tempfile


    rubric = load_rubric(rubric_path)
    samples = samples or samples_of(rubric_path)
    if samples is None:
        raise FileNotFoundError(f"no samples for {rubric_path}: put a correct and a wrong submission in "
                                f"{rubric_path.resolve().parent / 'samples'}/ (folders or .zip files)")
    expected = expectations(samples)
    entries = sample_entries(samples)
    options = GradeOptions(isolation=isolation, reveal_hidden=True)
    base = Path(work or tempfile.mkdtemp(prefix="mlgrade-validate-"))
    results = [grade_submission(p, rubric, base / p.stem, options, student=p.name.removesuffix(".zip"))
               for p in entries]
    apply_class_relative(rubric, results)  # the samples are graded as one small class
    verdicts = []
    for path, result in zip(entries, results, strict=True):
        name = path.name.removesuffix(".zip")
        verdicts.append(_judge(name, result, expected.get(name), rubric))
    return verdicts


def _judge(name: str, result: SubmissionResult, expected: dict | None, rubric) -> SampleVerdict:
    lower = name.lower()
    problems: list[str] = []
    for q in result.questions:
        if q.status is Status.ERROR:
            problems.append(f"{q.id}: grader error: {q.reason}")
    if expected:
        parts = []
        if "total" in expected:
            parts.append(f"total {expected['total']:g}")
            if abs(result.total - float(expected["total"])) > 1e-4:
                problems.append(f"total {result.total:g}, expected {float(expected['total']):g}")
        for qid, score in (expected.get("questions") or {}).items():
            parts.append(f"{qid} {score:g}")
            got = next((q.score for q in result.questions if q.id == qid), None)
            if got is None:
                problems.append(f"{qid}: no such question")
            elif abs(got - float(score)) > 1e-4:
                problems.append(f"{qid}: {got:g}, expected {float(score):g}")
        return SampleVerdict(name, ", ".join(parts) or "as listed", result, problems)
    if lower.startswith(CORRECT):
        for q in result.questions:
            if q.score < q.max_score and q.status is not Status.ERROR:
                problems.append(f"{q.id}: {q.score:g}/{q.max_score:g} ({q.reason[:300]})")
        return SampleVerdict(name, "full marks", result, problems)
    if lower.startswith(WRONG):
        if result.total >= result.max_total:
            problems.append(f"full marks ({result.total:g}/{result.max_total:g}): the tests do not tell it apart")
        return SampleVerdict(name, "not full marks", result, problems)
    return SampleVerdict(name, "no expectation (name it correct*/wrong* or list it in expected.yaml)", result,
                         problems)

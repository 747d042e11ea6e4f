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

import difflib
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grader.classstep.classwide import apply_class_relative
from grader.core.options import GradeOptions
from grader.core.results import Status, SubmissionResult
from grader.render.common import fmt_points
from grader.rubric import load_rubric
from grader.rubric.yamlerrors import UniqueKeyLoader, describe, explain, yaml_error
from grader.score.pipeline import grade_submission

CORRECT = ("correct", "good")
WRONG = ("wrong", "bad")


# ---------------------------------------------------------------------- init

def _notebook(source: Path) -> str:
    """A notebook from a template written as cells: a line ``# %%`` starts a code cell, ``# %% md`` a
    Markdown one. The samples' code lives in the templates, which no student build ships (it is the
    worked example's solution)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    for i, block in enumerate(re.split(r"^# %%", source.read_text(encoding="utf-8"), flags=re.M)[1:]):
        head, _, body = block.partition("\n")
        body = body.rstrip("\n")
        cell = nbformat.v4.new_markdown_cell(body) if head.strip() == "md" else nbformat.v4.new_code_cell(body)
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
        f"samples/correct/{name}.ipynb": _notebook(templates / "samples" / "correct.cells"),
        f"samples/wrong/{name}.ipynb": _notebook(templates / "samples" / "wrong.cells"),
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


class SampleExpectation(BaseModel):
    """One sample's line of ``samples/expected.yaml``::

        good: {total: 56, questions: {ex1b: 36, ex2: 20}}   # the total, and any question's score
        late: {path: ../../shared/late.zip, total: 10}       # a sample kept elsewhere (relative to samples/)
    """

    model_config = ConfigDict(extra="forbid")

    total: float | None = None
    questions: dict[str, float] = Field(default_factory=dict)
    path: str | None = None


def expectations(samples: Path) -> dict[str, SampleExpectation]:
    """``samples/expected.yaml`` read against :class:`SampleExpectation`: a key that is not a field, a value
    that is not a sample's expectation (``relu_grad: 1`` at the top), is an error naming its line's key."""
    path = samples / "expected.yaml"
    if not path.is_file():
        return {}
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: {yaml_error(e)}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of sample name to expected scores, got {describe(data)}")
    out, problems = {}, []
    for key, value in data.items():
        name = str(key).removesuffix(".zip")
        if not isinstance(value, dict):
            problems.append(f"{name}: expected a sample's expected scores ({{total: 8, questions: {{q1: 3}}}}), "
                            f"got {describe(value)}")
            continue
        try:
            out[name] = SampleExpectation.model_validate(value)
        except ValidationError as e:
            for where, why in explain(e, name, SampleExpectation):
                close = difflib.get_close_matches(where.rsplit(".", 1)[-1], list(SampleExpectation.model_fields), 1)
                hint = f"; did you mean {close[0]!r}?" if close and why.startswith("unknown key") else ""
                problems.append(f"{where}: {why}{hint}")
    if problems:
        raise ValueError(f"{path}:\n  " + "\n  ".join(problems))
    return out


def check_expectations(path: Path, expected: dict[str, SampleExpectation], samples: list[str], rubric) -> None:
    """Every sample and question ``expected.yaml`` names exists: a typo is an error, never a sample unchecked."""
    ids = [q.id for q in rubric.questions]
    problems = []
    for name, exp in expected.items():
        if name not in samples:
            close = difflib.get_close_matches(name, samples, 1)
            problems.append(f"{name}: no such sample (samples: {', '.join(samples)})"
                            + (f"; did you mean {close[0]!r}?" if close else ""))
        for qid in exp.questions:
            if qid not in ids:
                close = difflib.get_close_matches(qid, ids, 1)
                problems.append(f"{name}.questions.{qid}: no such question (questions: {', '.join(ids)})"
                                + (f"; did you mean {close[0]!r}?" if close else ""))
    if problems:
        raise ValueError(f"{path}:\n  " + "\n  ".join(problems))


def sample_entries(samples: Path) -> list[Path]:
    """The sample submissions of a samples folder: its folders and zips, and the paths ``expected.yaml`` names."""
    entries = sorted(p for p in samples.iterdir() if _is_sample(p))
    for name, spec in expectations(samples).items():
        if spec.path is not None:
            path = (samples / spec.path).resolve()
            if not path.exists():
                raise FileNotFoundError(f"{samples / 'expected.yaml'}: {name}: {spec.path} does not exist")
            entries.append(path)
    if not entries:
        raise FileNotFoundError(f"{samples}: no samples (folders or .zip files, or paths in expected.yaml)")
    return entries


def validate(rubric_path: Path, samples: Path | None = None, isolation: str = "none",
             work: Path | None = None) -> list[SampleVerdict]:
    rubric = load_rubric(rubric_path)
    samples = samples or samples_of(rubric_path)
    if samples is None:
        raise FileNotFoundError(f"no samples for {rubric_path}: put a correct and a wrong submission in "
                                f"{rubric_path.resolve().parent / 'samples'}/ (folders or .zip files)")
    expected = expectations(samples)
    entries = sample_entries(samples)
    check_expectations(samples / "expected.yaml", expected, [p.name.removesuffix(".zip") for p in entries], rubric)
    options = GradeOptions(isolation=isolation, reveal_hidden=True)
    with tempfile.TemporaryDirectory(prefix="mlgrade-validate-") as scratch:  # no work folder outlives validate
        base = Path(work or scratch)
        results = [grade_submission(p, rubric, base / p.stem, options, student=p.name.removesuffix(".zip"))
                   for p in entries]
    apply_class_relative(rubric, results)  # the samples are graded as one small class
    verdicts = []
    for path, result in zip(entries, results, strict=True):
        name = path.name.removesuffix(".zip")
        verdicts.append(_judge(name, result, expected.get(name), rubric))
    return verdicts


def _judge(name: str, result: SubmissionResult, expected: SampleExpectation | None, rubric) -> SampleVerdict:
    lower = name.lower()
    problems: list[str] = []
    for q in result.questions:
        if q.status is Status.ERROR:
            problems.append(f"{q.id}: grader error: {q.reason}")
    if expected is not None and (expected.total is not None or expected.questions):
        # compared at the precision the table shows (fmt_points: two decimals)
        parts = []
        if expected.total is not None:
            parts.append(f"total {fmt_points(expected.total)}")
            if fmt_points(result.total) != fmt_points(expected.total):
                problems.append(f"total {fmt_points(result.total)}, expected {fmt_points(expected.total)}")
        for qid, score in expected.questions.items():
            parts.append(f"{qid} {fmt_points(score)}")
            got = next((q.score for q in result.questions if q.id == qid), None)
            if got is None:
                problems.append(f"{qid}: no such question")
            elif fmt_points(got) != fmt_points(score):
                problems.append(f"{qid}: {fmt_points(got)}, expected {fmt_points(score)}")
        return SampleVerdict(name, ", ".join(parts), result, problems)
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

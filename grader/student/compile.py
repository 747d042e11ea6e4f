"""Compile a rubric into its student build: every public check as data, nothing that answers the assignment.

The peers do this by hand (Otter's ``otter assign``, nbgrader's ``generate_assignment``); here it is
one function over the rubric, so every check kind follows one rule:

- a hidden question keeps its id, title, points and files; its checks become ``graded_by_instructor``;
- ``pytest``: the test file with its hidden tests reduced to stubs (:mod:`grader.student.prune`); the
  reference module replaced by the answers it gave, recorded while the public tests ran against
  stand-ins (:mod:`grader.student.standins`) and the instructor's samples; ``hidden_rng`` drawn from a
  practice seed written into the build, so its draws were recorded too. Helpers the tests import
  ship only when the rubric lists them in ``student_files``;
- ``notebook_function`` / ``notebook_value``: the listed inputs and the reference's results, as data;
  hidden cases become a count and their points;
- ``model_accuracy`` / ``digits``: the public data set written into the build; hidden data never;
- kinds with nothing to hide (files, images, architectures, inlined) are copied; any other kind
  (an instructor's plugin) ships only when its plugin file is listed, else it is graded later.

After the build is written it is verified (the recorded tests must judge the stand-ins as the real
reference did) and scanned for leaks (:mod:`grader.student.leaks`): a build that would hand students
an answer is refused, never written with a warning.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

import numpy as np
import yaml

from grader.authoring.assignments import sample_entries, samples_of
from grader.checks import digitsdata
from grader.checks.model_accuracy import HIDDEN
from grader.checks.pytest.fixtures import SubmissionFiles
from grader.checks.pytest.harness import Fixtures, Harness, run_tests
from grader.checks.pytest.recorded import RecordedReference, RecordingReference
from grader.checks.pytest.recording import Recorder, recording
from grader.checks.values import materialize
from grader.core.options import GradeOptions
from grader.execute.notebooks.session import StudentFailure
from grader.insandbox.wire import encode
from grader.intake.submission import Submission
from grader.rubric import Rubric, load_rubric, parse_rubric
from grader.rubric.instructor import load_module, reference_function
from grader.rubric.kinds import get_kind
from grader.score.pipeline import grade_submission
from grader.student.leaks import Probe, Secrets, scan
from grader.student.prune import local_imports, prune_tests
from grader.student.standins import KINDS, stand_in

RUBRIC = "rubric.yaml"
COMPILED = "compiled"  # the build's own data files (cases, public data sets)
RECORDING_SUFFIX = ".reference.json"


class BuildError(Exception):
    """The rubric cannot be given to students as it is: the message says what to change."""


@dataclass
class CheckReport:
    """What became of one check in the student build, for the instructor."""

    question: str
    check: str  # "pytest tests/test_softmax.py"
    state: str  # "compiled" | "partly" | "graded later" | "copied"
    notes: list[str] = field(default_factory=list)


@dataclass
class StudentBuild:
    folder: Path
    files: list[str]  # written, relative to ``folder``
    hidden_questions: list[str]
    report: list[CheckReport]
    practice_seed: str
    secrets: Secrets  # what must never ship, for scanning what is made of the build (a kit, a template)
    uses_models: bool = True  # a public check runs a student's model file (the wheel needs an engine for it)


@dataclass
class _PytestJob:
    question: str
    raw: dict[str, Any]  # the check as the build writes it
    test_rel: str
    test_file: Path  # the pruned copy in the build
    reference: Path | None
    notebooks: dict[str, str]  # fixture name -> the submission's notebook pattern
    options: dict[str, Any]
    recording: str = ""  # the recording's file, relative to the build
    outcomes: dict[str, dict[str, str]] = field(default_factory=dict)  # stand-in -> test -> outcome (real reference)


class _Build:
    """One compilation in progress: the source rubric, the build folder and what has been written."""

    def __init__(self, rubric: Rubric, dest: Path, seed: str):
        self.rubric = rubric
        self.base = rubric.base_dir.resolve()
        self.dest = dest
        self.seed = seed
        self.files: list[str] = []
        self.report: list[CheckReport] = []
        self.jobs: list[_PytestJob] = []
        self.shipped = {str(Path(p)) for p in rubric.student_files}
        self.secrets = Secrets()
        self.calls: list = []  # what the public tests sent the `right` stand-in, and the reference's answers

    def write(self, rel: str, data: bytes | str) -> str:
        path = self.dest / rel
        if not path.resolve().is_relative_to(self.dest.resolve()):
            raise BuildError(f"{rel}: outside the rubric's folder; a student build keeps the rubric's layout")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        if rel not in self.files:
            self.files.append(rel)
        return rel

    def rel(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.base).as_posix()
        except ValueError:
            raise BuildError(f"{path} is outside the rubric's folder {self.base}; a file students receive must be "
                             "in it (or below it)") from None

    def note(self, question: str, check: str, state: str, *notes: str) -> None:
        self.report.append(CheckReport(question, check, state, [n for n in notes if n]))


# ---------------------------------------------------------------------------------------------- per kind

Compiler = Callable[[_Build, str, dict[str, Any], Any], dict[str, Any]]
COMPILERS: dict[str, Compiler] = {}


def student_compiler(kind: str) -> Callable[[Compiler], Compiler]:
    """Register how checks of ``kind`` are given to students (the one registration point; plugins may use it)."""

    def register(fn: Compiler) -> Compiler:
        COMPILERS[kind] = fn
        return fn

    return register


def _graded_later(build: _Build, qid: str, what: str, why: str) -> dict[str, Any]:
    build.note(qid, what, "graded later", why)
    return {"kind": "graded_by_instructor"}


for _kind in ("file_present", "image", "graded_by_instructor", "keras_weights", "classify_images", "architecture"):
    def _copy(build: _Build, qid: str, raw: dict[str, Any], params: Any, _kind: str = _kind) -> dict[str, Any]:
        build.note(qid, _kind, "copied")
        return dict(raw)

    COMPILERS[_kind] = _copy


@student_compiler("pytest")
def _pytest(build: _Build, qid: str, raw: dict[str, Any], p: Any) -> dict[str, Any]:
    source = build.base / p.tests
    test_rel = build.rel(source)
    reference = (build.base / p.reference).resolve() if p.reference else None
    _check_imports(build, source, reference)
    listing = Harness(Fixtures({}, lambda: None, lambda _: None, lambda: None, ""), source, self_check=False)
    run = run_tests(source, build.base, listing, collect_only=True)
    if run.problems:
        raise BuildError(f"{test_rel}: {'; '.join(run.problems)}")
    points: dict[str, float] = {}
    for t in run.tests:
        group = t.group.split("::", 1)[1] if "::" in t.group else t.group
        points[group] = round(points.get(group, 0.0) + t.points, 6)
    original = source.read_text(encoding="utf-8")
    pruned = prune_tests(original, points, test_rel)
    build.write(test_rel, pruned.source)
    if pruned.hidden or pruned.removed:  # what students do not get of this file: secret, by bytes and by code
        build.secrets.add_file(source, f"the instructor's {test_rel}", code=False)
        build.secrets.add_code(_only(original, set(pruned.hidden) | set(pruned.removed)), f"{test_rel}")
    out = {k: v for k, v in raw.items() if k not in ("reference", "reference_data", "practice_seed")}
    out["tests"] = test_rel
    out["practice_seed"] = build.seed
    if reference is not None:
        out["reference"] = str(reference)  # for the recording runs only; the written build holds data instead
    notebooks = dict(p.notebooks)
    if p.notebook:
        notebooks["notebook"] = p.notebook
    job = _PytestJob(qid, out, test_rel, build.dest / test_rel, reference, notebooks, dict(p.options))
    build.jobs.append(job)
    hidden = f"{len(pruned.hidden)} hidden test(s) as stubs" if pruned.hidden else ""
    build.note(qid, f"pytest {test_rel}", "compiled", hidden)
    return out


def _only(source: str, names: set[str]) -> str:
    """The top-level definitions of ``source`` named in ``names`` (``Cls::test`` names its class)."""
    import ast

    tops = {n.split("::")[0] for n in names}
    tree = ast.parse(source)
    return "\n\n".join(ast.unparse(n) for n in tree.body if getattr(n, "name", None) in tops)


def _check_imports(build: _Build, test_file: Path, reference: Path | None) -> None:
    """Every local module a public test file imports must ship (listed in ``student_files``), and never the
    reference itself: the student build would fail to import it, or hand out the answers."""
    problems = []
    folders = [test_file.parent, build.base]
    conftest = test_file.parent / "conftest.py"
    if conftest.is_file() and build.rel(conftest) not in build.shipped:
        problems.append(f"its folder has {build.rel(conftest)}, which students need to run the tests: list it in "
                        "student_files (or move what the public tests need into the test file)")
    for name, line in local_imports(test_file.read_text(encoding="utf-8")):
        if name in ("grader", "mlgrade"):  # what students install: mlgrade itself
            continue
        for folder in folders:
            found = next((c for c in (folder / f"{name}.py", folder / name) if c.exists()), None)
            if found is None:
                continue
            if reference is not None and found.resolve() == reference:
                problems.append(f"line {line} imports the reference module {name} directly: use the `reference` "
                                "fixture, which the student build replaces by recorded answers")
            elif build.rel(found) not in build.shipped:
                problems.append(f"line {line} imports {build.rel(found)}: list it in the rubric's student_files if "
                                "students may read it (it must not compute the answers), or keep the tests that need "
                                "it in a hidden question")
            break
    if problems:
        raise BuildError(f"{build.rel(test_file)}: " + "; ".join(problems))


def _wire(value: Any) -> Any:
    return encode(value)


@student_compiler("notebook_function")
def _notebook_function(build: _Build, qid: str, raw: dict[str, Any], p: Any) -> dict[str, Any]:
    fn = reference_function(build.base, p.reference)
    rng = np.random.default_rng(int(build.seed[:12], 16))  # the listed cases' random inputs: drawn once, here
    cases = []
    for c in p.cases:
        args, kwargs = materialize(c.args, rng, {}), materialize(c.kwargs, rng, {})
        expected = fn(*args, **kwargs)
        cases.append({"args": _wire(list(args)), "kwargs": _wire(dict(kwargs)), "points": c.points,
                      "expected": _wire(expected)})
        build.secrets.probes.append(Probe(p.function, cases[-1]["args"], cases[-1]["kwargs"], cases[-1]["expected"]))
    rel = build.write(f"{COMPILED}/{qid}-{p.function}.cases.json", json.dumps(cases, sort_keys=True))
    out = {k: v for k, v in raw.items() if k not in ("reference", "cases", "hidden")}
    out["compiled_cases"] = rel
    if p.hidden is not None:
        out["hidden"] = {"count": p.hidden.count, **({"points": p.hidden.points} if p.hidden.points is not None
                                                     else {})}
    build.note(qid, f"notebook_function {p.function}", "compiled",
               f"{len(cases)} listed case(s) with their results"
               + (f"; {p.hidden.count} hidden case(s) graded later" if p.hidden else ""))
    return out


def _spec(value: Any) -> Any:
    """A reference result as a rubric value (arrays as ``{array: ...}``), or raise TypeError."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"an array of {value.dtype}")
        dtype = {"b": "bool", "i": "int64", "u": "int64", "f": "float64"}[value.dtype.kind]
        return {"array": value.tolist(), "dtype": dtype}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_spec(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _spec(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(type(value).__name__)


@student_compiler("notebook_value")
def _notebook_value(build: _Build, qid: str, raw: dict[str, Any], p: Any) -> dict[str, Any]:
    if p.reference is None:
        build.note(qid, f"notebook_value {p.expr}", "copied")
        return dict(raw)
    fn = reference_function(build.base, p.reference)
    rng = np.random.default_rng(int(build.seed[:12], 16))
    try:
        expected = _spec(fn(*materialize(p.reference_args, rng)))
    except TypeError as e:
        return _graded_later(build, qid, f"notebook_value {p.expr}", f"the reference's result is not data ({e})")
    out = {k: v for k, v in raw.items() if k not in ("reference", "reference_args")}
    out["expected"] = expected
    build.note(qid, f"notebook_value {p.expr}", "compiled", "the reference's value, as data")
    return out


def _public_digits(build: _Build, qid: str, n: int) -> str:
    """The practice digits a kit's self-check scores on; never one the class is scored on."""
    d = digitsdata.mnist_public()
    hidden = {np.asarray(im, np.uint8).tobytes() for im in digitsdata.mnist_hidden().images}
    shared = sum(np.asarray(im, np.uint8).tobytes() in hidden for im in d.images)
    if shared:
        raise BuildError(f"{qid}: {shared} of the {len(d.images):,} public digits ({d.name}) are hidden digits "
                         f"({digitsdata.mnist_hidden().name}); a student build must not ship them")
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, x=np.asarray(d.images, np.uint8), y=np.asarray(d.labels, np.int64))
    return build.write(f"{COMPILED}/{qid}-{n}-digits-public.npz", buf.getvalue())


@student_compiler("digits")
def _digits(build: _Build, qid: str, raw: dict[str, Any], p: Any) -> dict[str, Any]:
    out = dict(raw)
    out["public_sample"] = _public_digits(build, qid, 0)
    build.note(qid, "digits", "compiled", "the 1,000 public digits; the class is scored on hidden ones")
    return out


@student_compiler("model_accuracy")
def _model_accuracy(build: _Build, qid: str, raw: dict[str, Any], p: Any) -> dict[str, Any]:
    out = {k: v for k, v in raw.items() if k not in ("also",)}
    public = p.public_data
    if public is None and not (p.data.npz or p.data.images or "").startswith(HIDDEN) and p.data.package is None:
        public = p.data  # the instructor's data is not hidden: it is what a self-check uses
    if p.data.package == "digits" and public is None:
        out["public_data"] = {"npz": _public_digits(build, qid, len(build.files)), "name": "mnist-public"}
    elif public is not None and public.package is None:
        src = build.base / (public.npz or public.images or "")
        rel = f"{COMPILED}/{qid}-{len(build.files)}-{src.name}"
        if src.is_dir():
            for f in sorted(src.rglob("*")):
                if f.is_file():
                    build.write(f"{rel}/{f.relative_to(src).as_posix()}", f.read_bytes())
        else:
            build.write(rel, src.read_bytes())
        out["public_data"] = {**public.model_dump(exclude_defaults=True), "npz" if public.npz else "images": rel}
    elif public is not None:
        out["public_data"] = public.model_dump(exclude_defaults=True)  # a set bundled in a package students have
    else:
        return _graded_later(build, qid, "model_accuracy", "its data is hidden and no public_data is given")
    if out["data"] != raw["data"] or p.data.npz or p.data.images:
        out["data"] = {"package": "digits"} if p.data.package == "digits" else out["public_data"]
    build.note(qid, "model_accuracy", "compiled", "scored on the public data here; the class on the instructor's")
    return out


# ---------------------------------------------------------------------------------------------- the build

def practice_seed(rubric: Rubric) -> str:
    """The seed a build's random inputs come from: fixed by what the rubric means, so the same rubric gives the
    same build. It is public (in the build): grading draws from the grading seed and the submission instead."""
    return hashlib.sha256(f"mlgrade student build|{rubric.digest()}".encode()).hexdigest()[:16]


def _public_rubric(build: _Build, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    rubric = build.rubric
    hidden = []
    questions = []
    plugins_shipped = all(str(Path(p)) in build.shipped for p in rubric.plugins)
    for raw_q, q in zip(data.get("questions") or [], rubric.questions, strict=True):
        raw_q = dict(raw_q)
        if q.hidden:
            hidden.append(q.id)
            raw_q["checks"] = [{"kind": "graded_by_instructor"}]
            build.note(q.id, "question", "graded later", "hidden: true")
            questions.append(raw_q)
            continue
        checks = []
        for raw_c, c in zip(raw_q.get("checks") or [], q.checks, strict=True):
            compiler = COMPILERS.get(c.kind)
            if compiler is not None:
                checks.append(compiler(build, q.id, dict(raw_c), c.params))
            elif rubric.plugins and plugins_shipped:
                build.note(q.id, c.kind, "copied", "the instructor's own kind (its plugin file ships)")
                checks.append(dict(raw_c))
            else:
                checks.append(_graded_later(build, q.id, c.kind, "the instructor's own kind, whose plugin is not "
                                            "in student_files"))
        raw_q["checks"] = checks
        questions.append(raw_q)
    out: dict[str, Any] = {k: data[k] for k in ("name", "description", "limits", "requires") if k in data}
    if rubric.plugins and plugins_shipped:
        out["plugins"] = list(rubric.plugins)
    table = rubric.architecture_table
    if table:
        out["architectures"] = {name: arch.model_dump() for name, arch in sorted(table.items())}
    out["questions"] = questions
    return out, hidden


HEADER = ("# The student build of {name!r} (mlgrade export student-kit): the public checks, compiled to data.\n"
          "# Hidden questions and tests are listed with their points and graded by your instructor.\n")


def _dump(data: dict[str, Any], name: str) -> str:
    return HEADER.format(name=name) + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def compile_student_build(rubric_path: Path, dest: Path, samples: Path | None = None, isolation: str = "auto",
                          say: Callable[[str], None] = lambda _: None) -> StudentBuild:
    """Write the student build of the rubric at ``rubric_path`` into the empty folder ``dest``. ``samples``:
    submissions to run the public tests on while recording (the rubric's ``samples/`` by default)."""
    rubric_path = Path(rubric_path)
    rubric = load_rubric(rubric_path)
    data = yaml.safe_load(rubric_path.read_text(encoding="utf-8"))
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise BuildError(f"{dest} is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    import sys

    bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # nothing but the build lands in dest
    try:
        return _compile(rubric, rubric_path, data, dest, samples, isolation, say)
    finally:
        sys.dont_write_bytecode = bytecode


def _compile(rubric: Rubric, rubric_path: Path, data: dict[str, Any], dest: Path, samples: Path | None,
             isolation: str, say: Callable[[str], None]) -> StudentBuild:
    build = _Build(rubric, dest, practice_seed(rubric))
    samples = samples or _samples_of(rubric_path)
    _secrets(build, rubric_path, samples)
    for rel in rubric.student_files:
        src = build.base / rel
        for f in (sorted(p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
                  if src.is_dir() else [src]):
            build.write(build.rel(f), f.read_bytes())
    public, hidden = _public_rubric(build, data)
    say("recording the reference's answers for the public tests")
    provisional = build.write(RUBRIC, _dump(public, rubric.name))
    _record(build, parse_rubric((dest / provisional).read_text(encoding="utf-8"), RUBRIC, base_dir=dest,
                                builtin_packs=False), samples, isolation, say)
    for job in build.jobs:  # the written build: recorded answers, never the reference's path
        job.raw.pop("reference", None)
        if job.reference is not None:
            job.raw["reference_data"] = job.recording
    build.write(RUBRIC, _dump(public, rubric.name))
    final = parse_rubric((dest / RUBRIC).read_text(encoding="utf-8"), RUBRIC, base_dir=dest, builtin_packs=False)
    say("checking that the recorded tests judge as the reference does")
    _verify(build, final)
    build.secrets.probes += [Probe(*call) for call in build.calls]
    say("scanning the build for anything that answers the assignment")
    leaks = scan([dest], build.secrets)
    if leaks:
        raise BuildError("the student build would hand out answers, so it was not made:\n  "
                         + "\n  ".join(map(str, leaks)))
    return StudentBuild(dest, sorted(build.files), hidden, build.report, build.seed, build.secrets,
                        _uses_models(build, final))


MODEL_KINDS = {"keras_weights", "classify_images", "architecture", "digits", "model_accuracy"}


def _uses_models(build: _Build, final: Rubric) -> bool:
    """Whether a public check of the build runs a student's model file: a model kind, an instructor's kind (it
    may), or a public test that asks for the ``model`` fixture."""
    import ast


    for q in final.questions:
        for c in q.checks:
            kind = get_kind(c.kind)
            if c.kind in MODEL_KINDS or (kind is not None and kind.origin != "built-in"):
                return True
    for job in build.jobs:
        for path in [job.test_file, *(build.dest / f for f in build.files if f.endswith(".py"))]:
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (OSError, SyntaxError, UnicodeDecodeError):
                return True
            if any(isinstance(n, ast.arg) and n.arg == "model" for n in ast.walk(tree)):
                return True
    return False


def _secrets(build: _Build, rubric_path: Path, samples: Path | None) -> None:
    """What students must never receive: reference modules, the files of hidden questions, the samples (correct
    ones are solutions), and every Python file beside the rubric or its tests that is not in ``student_files``."""
    rubric = build.rubric
    for q in rubric.questions:
        for c in q.checks:
            for rel in (c.params.rubric_files() if hasattr(c.params, "rubric_files") else []):
                path = build.base / rel
                ref = getattr(c.params, "reference", None)
                is_ref = isinstance(ref, str) and ref.split(":")[0] == rel
                if q.hidden or is_ref:
                    for f in (sorted(path.rglob("*")) if path.is_dir() else [path]):
                        build.secrets.add_file(f, f"the instructor's {rel}" + (" (hidden)" if q.hidden else ""))
    folders = {build.base} | {(build.base / rel).parent for rel in _test_files(rubric)}
    for folder in folders:
        for f in sorted(folder.glob("*.py")):
            if f.is_file() and _rel_or_none(build, f) not in build.shipped and f.name != "__init__.py" \
                    and not _is_public_test(build, f):
                build.secrets.add_file(f, f"the instructor's {f.name}")
    for sample_dir in {samples, (rubric_path.resolve().parent / "samples")}:
        if sample_dir is not None and Path(sample_dir).is_dir():
            for f in sorted(Path(sample_dir).rglob("*")):
                if f.is_file():
                    build.secrets.add_file(f, f"a sample submission ({f.name})")
                if f.suffix.lower() == ".zip":
                    _zip_secrets(build.secrets, f)


def _zip_secrets(secrets: Secrets, path: Path, limit: int = 64 * 1024**2) -> None:
    """The files inside a sample zip (the instructor's own), as secrets: a solution notebook in a sample."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist()[:2000]:
                if info.is_dir() or info.file_size > limit:
                    continue
                with tempfile.TemporaryDirectory() as tmp:
                    f = Path(tmp) / Path(info.filename).name
                    f.write_bytes(zf.read(info))
                    secrets.add_file(f, f"a sample submission's {info.filename} ({path.name})")
    except (zipfile.BadZipFile, OSError, ValueError):
        pass


def _test_files(rubric: Rubric) -> list[str]:
    return [c.params.tests for q in rubric.questions for c in q.checks if c.kind == "pytest"]


def _is_public_test(build: _Build, f: Path) -> bool:
    public = {t for q in build.rubric.questions if not q.hidden for c in q.checks if c.kind == "pytest"
              for t in [c.params.tests]}
    return any((build.base / t).resolve() == f.resolve() for t in public)


def _rel_or_none(build: _Build, f: Path) -> str | None:
    try:
        return f.resolve().relative_to(build.base).as_posix()
    except ValueError:
        return None


def _samples_of(rubric_path: Path) -> Path | None:
    return samples_of(rubric_path)


# ---------------------------------------------------------------------------------------------- recording

def _empty_files(folder: Path):
    """A submission with no files, inside the stand-in's folder (removed with it)."""
    root = folder / "no-files"
    root.mkdir(exist_ok=True)
    return SubmissionFiles(Submission(student="stand-in", source=root, root=root, files=[]))


def _no_model(pattern: str):
    raise StudentFailure(f"{pattern}: no model file here (a stand-in of the export)")


def _run_job(build: _Build, job: _PytestJob, kind: str, reference: Callable[[], Any]) -> dict[str, str]:
    """The job's public tests against one stand-in: ``{test: outcome}``."""
    module = load_module(job.reference) if job.reference is not None else None
    folder = Path(tempfile.mkdtemp(prefix="mlgrade-standin-"))
    calls = build.calls if kind == "right" else None
    makers: dict[str, Callable[[], Any]] = {
        name: functools.partial(stand_in, module, kind, folder, pattern, calls)
        for name, pattern in job.notebooks.items()} if module is not None else {}
    fixtures = Fixtures(notebooks=makers, files=lambda: _empty_files(folder), model=_no_model, reference=reference,
                        rng_seed=f"practice|{build.seed}", options=MappingProxyType(job.options))
    harness = Harness(fixtures, job.test_file, self_check=True)
    try:
        run = run_tests(job.test_file, build.dest, harness)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {t.nodeid: t.outcome for t in run.tests if not t.hidden}


def _watched(recorder: Recorder, test_file: Path, reference: Path) -> RecordingReference:
    """The reference module, loaded afresh, with what ``test_file``'s tests read of it recorded."""
    return recorder.watch(test_file, load_module(reference))


def _returning(value: Any) -> Callable[[], Any]:
    return lambda: value


def _record(build: _Build, provisional: Rubric, samples: Path | None, isolation: str,
            say: Callable[[str], None]) -> None:
    with recording(build.seed) as recorder:
        for job in build.jobs:
            if job.reference is None:
                continue
            module = load_module(job.reference)
            for name in _constants_read(build, job):  # the handout's numbers a public test reads: recorded as data
                value = getattr(module, name, None)
                if value is not None and not callable(value) and not isinstance(value, ModuleType):
                    recorder.recording_for(job.test_file).value(name, value)
            for kind in KINDS:
                job.outcomes[kind] = _run_job(build, job, kind,
                                              functools.partial(_watched, recorder, job.test_file, job.reference))
        if samples is not None and build.jobs:
            _grade_samples(provisional, samples, isolation, say)
    for job in build.jobs:
        if job.reference is None:
            continue
        text = recorder.recording_for(job.test_file).to_json()
        job.recording = build.write(job.test_rel + RECORDING_SUFFIX, text)


def _constants_read(build: _Build, job: _PytestJob) -> set[str]:
    """``NAME`` of every ``reference.NAME`` in the code students receive with this test file (the test itself
    and the shipped helpers beside it)."""
    import ast

    names: set[str] = set()
    sources = [job.test_file] + [build.dest / f for f in build.files
                                 if f.endswith(".py") and (build.dest / f).parent == job.test_file.parent]
    for path in dict.fromkeys(sources):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
                  and n.value.id in ("reference", "ref", "refs")}
    return names


def _grade_samples(rubric: Rubric, samples: Path, isolation: str, say: Callable[[str], None]) -> None:
    """The instructor's samples graded with the build's public tests, the reference recorded: the answers
    real notebooks ask for (their own outputs, files, the failing paths of wrong samples)."""
    only_tests = rubric.model_copy(update={"questions": [
        q.model_copy(update={"checks": [c for c in q.checks if c.kind == "pytest"]})
        for q in rubric.questions if any(c.kind == "pytest" for c in q.checks)]})
    only_tests._base_dir = rubric.base_dir
    only_tests._assets = rubric._assets
    work = Path(tempfile.mkdtemp(prefix="mlgrade-build-"))
    try:
        for entry in sample_entries(samples):
            say(f"  sample {entry.name}")
            grade_submission(entry, only_tests, work / entry.stem,
                             GradeOptions(self_check=True, isolation=isolation), student=entry.stem)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _verify(build: _Build, final: Rubric) -> None:
    """The written build's tests must judge each stand-in as the real reference did, or say "graded later"."""
    for job in build.jobs:
        if job.reference is None:
            continue
        replay = RecordedReference((build.dest / job.recording).read_text(encoding="utf-8"), job.recording)
        pending: set[str] = set()
        for kind, before in job.outcomes.items():
            after = _run_job(build, job, kind, _returning(replay))
            for test, outcome in before.items():
                now = after.get(test, "missing")
                if now == "pending":
                    pending.add(test.rsplit("::", 1)[-1])
                elif now != outcome:
                    raise BuildError(f"{job.test_rel}: {test} {outcome} with the reference but {now} with the "
                                     "recorded answers; please report this (mlgrade's recording is at fault)")
        if pending:
            for r in build.report:
                if r.question == job.question and r.check == f"pytest {job.test_rel}":
                    r.state = "partly"
                    r.notes.append("checked when graded where they use the student's own values: "
                                   + ", ".join(sorted(pending)))

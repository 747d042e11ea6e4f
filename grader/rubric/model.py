"""The rubric is data: YAML validated into typed models with errors a human can act on.

A rubric lists questions; each has an id, a title, points, the files it needs
(case-insensitive glob patterns, matched at any folder depth, ``{a,b}``
alternatives allowed) and checks of registered kinds::

    name: HW4
    questions:
      - id: q1b
        title: HDFView screenshot of the second dense layer
        points: 0.5
        files: ["hdfview.{png,jpg,jpeg}"]
        checks:
          - kind: image
            file: "hdfview.{png,jpg,jpeg}"
            manual_review: true

Every check may carry ``weight`` (its share of the question, default 1),
``gate`` (if true, the question scores zero unless this check fully passes) and
``veto`` (if true, the question scores zero when this check scores zero).
All other keys of a check are its kind's parameters.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from grader.core.errors import UsageError
from grader.intake.unpack import UnpackLimits
from grader.rubric.architectures import Architecture, architecture_files, read_architectures
from grader.rubric.integrity import IntegrityConfig
from grader.rubric.kinds import CheckParams, get_kind, known_kinds, load_plugin_file
from grader.rubric.yamlerrors import UniqueKeyLoader, dedupe, describe, explain, yaml_error

_STRICT = ConfigDict(extra="forbid", frozen=True)


class CheckSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    kind: str
    weight: float = Field(1.0, ge=0)
    gate: bool = False  # the question scores zero unless this check fully passes
    veto: bool = False  # the question scores zero if this check scores zero
    params: Any = None  # the kind's own params model, validated by the loader


class Question(BaseModel):
    model_config = _STRICT

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
    title: str = Field(min_length=1)
    points: float = Field(ge=0)
    files: list[str] = Field(default_factory=list)
    checks: list[CheckSpec] = Field(min_length=1)
    # Graded only in the instructor's run (hidden tests or data): a student's self-check, the student kit
    # and a student's `mlgrade classroom` workflow show it as pending instead of running it.
    hidden: bool = False

    @field_validator("files")
    @classmethod
    def _patterns_not_empty(cls, v: list[str]) -> list[str]:
        for p in v:
            if not p.strip():
                raise ValueError("a file pattern is empty")
        return v


class Rubric(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1)
    description: str = ""
    limits: UnpackLimits = Field(default_factory=UnpackLimits)
    # Python packages (import names) the grading environment must have for the students' notebooks,
    # e.g. [seaborn, tensorflow]; checked when grading starts.
    requires: list[str] = Field(default_factory=list)
    # Python files next to the rubric that register check kinds of their own (instructor code, trusted).
    plugins: list[str] = Field(default_factory=list)
    # The architectures checks name (`architecture: cats_vs_dogs_cnn`): a mapping, or YAML files next to the
    # rubric holding one (grader.rubric.architectures). Course content lives with the course, not in mlgrade.
    architectures: dict[str, Architecture] | list[str] = Field(default_factory=dict)
    questions: list[Question] = Field(min_length=1)
    # The class-level integrity step's settings (grader.classstep.integrity): read after grading only.
    integrity: IntegrityConfig = Field(default_factory=IntegrityConfig)
    # Files next to the rubric that students receive in its student build (mlgrade export student-kit,
    # init classroom) besides the public tests themselves: helpers the public tests import, their conftest.py,
    # plugins of public questions. Nothing else of the rubric's folder ever ships (grader.student).
    student_files: list[str] = Field(default_factory=list)

    # The rubric's folder (test files, reference modules, plugins and data sets are named relative to it)
    # and a digest of those files' contents, so that changing a test file regrades the class.
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _assets: str = PrivateAttr(default="")
    _architectures: dict[str, Architecture] = PrivateAttr(default_factory=dict)

    @property
    def max_total(self) -> float:
        return sum(q.points for q in self.questions)

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def architecture_table(self) -> dict[str, Architecture]:
        """Every architecture the rubric defines, by name (read from its files when they are files)."""
        return dict(self._architectures)

    def asset_files(self) -> list[Path]:
        """The files of the rubric's folder that grading reads: plugins, and what the checks name
        (a test file brings its folder's other Python files: its conftest, its helpers)."""
        found: list[Path] = [self._base_dir / p for p in self.plugins]
        found += [self._base_dir / p for p in architecture_files(self.architectures)]
        for q in self.questions:
            for c in q.checks:
                if isinstance(c.params, CheckParams):
                    for rel in c.params.rubric_files():
                        path = self._base_dir / rel
                        found.append(path)
                        if path.suffix == ".py" and path.parent.is_dir():
                            found += sorted(path.parent.glob("*.py"))
        return list(dict.fromkeys(found))

    def graded_files(self) -> list[Path]:
        """What the rubric's meaning depends on, for its digest: plugins, architectures and the files the checks
        name, and of Python files only what they import from the rubric's folder (and the conftest.py files
        above a test), not every other file beside them: a helper no question uses regrades nobody."""
        named = [self._base_dir / p for p in self.plugins]
        named += [self._base_dir / p for p in architecture_files(self.architectures)]
        for q in self.questions:
            for c in q.checks:
                if isinstance(c.params, CheckParams):
                    named += [self._base_dir / rel for rel in c.params.rubric_files()]
        data = [p for p in named if p.suffix != ".py"]
        return list(dict.fromkeys([*data, *python_closure([p for p in named if p.suffix == ".py"], self._base_dir)]))

    def relative_assets(self) -> list[tuple[Path, str]]:
        """Every file grading reads from the rubric's folder (folders expanded) as ``(path, name relative to
        the rubric)``, for copying a rubric elsewhere (a Gradescope autograder, a Classroom repository).
        Raises ``ValueError`` for a file outside the rubric's folder, which a copy could not keep in place."""
        base = self._base_dir.resolve()
        out: list[tuple[Path, str]] = []
        for path in self.asset_files():
            for p in (sorted(q for q in path.rglob("*") if q.is_file() and "__pycache__" not in q.parts)
                      if path.is_dir() else [path]):
                try:
                    rel = p.resolve().relative_to(base)
                except ValueError:
                    raise ValueError(f"{p} is outside the rubric's folder {base}; put the files the rubric uses "
                                     "in its folder (or below it)") from None
                out.append((p, rel.as_posix()))
        return list(dict.fromkeys(out))

    def portable_layout(self) -> tuple[str, list[tuple[Path, str]]]:
        """The rubric's folder and every file grading reads, for copying elsewhere (a Gradescope autograder, a
        Dask worker): ``(the rubric's folder relative to the copy's root, [(file, name relative to the root)])``.
        The root is the deepest folder holding the rubric and all its files, so a pack whose reference sits in a
        shared folder (``reference: ../../reference/backprop.py``) keeps its layout."""
        base = self._base_dir.resolve()
        files: list[Path] = []
        for path in self.asset_files():
            files += (sorted(q for q in path.rglob("*") if q.is_file() and "__pycache__" not in q.parts)
                      if path.is_dir() else [path])
        resolved = [p.resolve() for p in dict.fromkeys(files)]
        root = Path(os.path.commonpath([str(base), *map(str, resolved)])) if resolved else base
        return (base.relative_to(root).as_posix() if base != root else "",
                [(p, p.relative_to(root).as_posix()) for p in resolved])

    def digest(self) -> str:
        """A hash of what the rubric means (not of its comments or layout), its own files' contents included.
        The ``integrity`` settings and ``student_files`` are left out: they never change a grade, so changing them
        regrades nobody."""
        blob = json.dumps(self.model_dump(mode="json", exclude={"integrity", "student_files"}), sort_keys=True,
                          default=str)
        blob += self._assets
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class RubricError(Exception):
    """A rubric that cannot be used. ``problems`` are ``(key path, message)`` pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {path}: {msg}" if path else f"{source}: {msg}" for path, msg in problems]
        super().__init__("\n".join(lines))


def load_rubric(path: str | Path) -> Rubric:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RubricError(str(path), [("", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise RubricError(str(path), [("", f"cannot read: {e}")]) from None
    return parse_rubric(text, source=str(path), base_dir=path.resolve().parent)


# mlgrade's own course packs (rubrics/ in a checkout; a wheel does not ship them).
BUILTIN_ROOT = Path(__file__).resolve().parents[2]
_NOT_FOUND = "not found next to the rubric"


def parse_rubric(text: str, source: str = "<rubric>", base_dir: str | Path | None = None,
                 builtin_packs: bool = True) -> Rubric:
    """``base_dir``: the rubric's folder (default: the folder of ``source`` when it names a file, else the
    current folder); test files, reference modules, plugins and data sets are found relative to it.

    A copy of (part of) the default rubric made elsewhere names files of mlgrade's own course packs
    (``rubrics/aml_hw4/tests/...``) that are not beside it: when every problem is such a missing file and
    all of them are in mlgrade's own folder, the rubric is read against that folder instead
    (``builtin_packs=False`` turns this off, for checking what a copy must carry itself)."""
    try:
        return _parse_rubric(text, source, base_dir)
    except RubricError as e:
        here = Path(base_dir).resolve() if base_dir is not None else None
        if (not builtin_packs or not e.problems or here == BUILTIN_ROOT
                or not (BUILTIN_ROOT / "rubrics").is_dir()
                or not all(_NOT_FOUND in msg for _, msg in e.problems)):
            raise
        try:
            return _parse_rubric(text, source, BUILTIN_ROOT)
        except RubricError:
            raise e from None


def _parse_rubric(text: str, source: str, base_dir: str | Path | None) -> Rubric:
    if base_dir is None:
        base_dir = Path(source).resolve().parent if Path(source).is_file() else Path.cwd()
    base_dir = Path(base_dir)
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise RubricError(source, [("", f"not valid YAML: {yaml_error(e)}")]) from None
    if not isinstance(data, dict):
        raise RubricError(source, [("", f"expected a mapping with 'name' and 'questions', got {describe(data)}")])

    problems: list[tuple[str, str]] = []
    # Stage 0: the rubric's own plugin files, so that the kinds they register can be named below.
    plugins = data.get("plugins", [])
    if isinstance(plugins, list):
        for i, name in enumerate(plugins):
            if not isinstance(name, str) or not name.endswith(".py"):
                problems.append((f"plugins[{i}]", f"expected a Python file next to the rubric, got {describe(name)}"))
                continue
            path = base_dir / name
            if not path.is_file():
                problems.append((f"plugins[{i}]", f"{name!r} not found next to the rubric (looked for {path})"))
                continue
            try:
                load_plugin_file(path)
            except Exception as e:  # the instructor's code: say what broke, where
                problems.append((f"plugins[{i}]", f"{name} failed to load: {type(e).__name__}: {e}"))
    # Stage 1: the architectures checks may name, then each check's kind and parameters, against the registry.
    architectures, arch_problems = read_architectures(data.get("architectures"), base_dir)
    problems += arch_problems
    context = {"rubric_dir": base_dir, "architectures": architectures}
    questions = data.get("questions")
    if isinstance(questions, list):
        for qi, q in enumerate(questions):
            if isinstance(q, dict) and isinstance(q.get("checks"), list):
                q["checks"] = [
                    _parse_check(c, f"questions[{qi}].checks[{ci}]", problems, context)
                    for ci, c in enumerate(q["checks"])
                ]
    # Stage 2: the rubric's own structure.
    try:
        rubric = Rubric.model_validate(data)
    except ValidationError as e:
        problems.extend(explain(e, prefix="", model=Rubric))
        raise RubricError(source, dedupe(problems)) from None
    seen: dict[str, int] = {}
    for i, q in enumerate(rubric.questions):
        if q.id in seen:
            problems.append((f"questions[{i}].id", f"duplicate id '{q.id}' (also questions[{seen[q.id]}])"))
        seen.setdefault(q.id, i)
    for i, rel in enumerate(rubric.student_files):
        if not (base_dir / rel).exists():
            problems.append((f"student_files[{i}]",
                             f"{rel!r} not found next to the rubric (looked for {base_dir / rel})"))
    if problems:
        raise RubricError(source, dedupe(problems))
    rubric._base_dir = base_dir
    rubric._architectures = architectures
    rubric._assets = _assets_digest(rubric.graded_files())
    return rubric


MAX_CLOSURE_FILES = 500  # an instructor's own files; a bound all the same


OWN_PACKAGES = ("grader", "mlgrade")  # mlgrade's own code: its version is in every record, not the digest


def python_closure(files: list[Path], base: Path) -> list[Path]:
    """``files``, the conftest.py beside each, and the modules they import that are files next to them or in
    ``base`` (packages too), transitively; never mlgrade's own modules (a rubric at a checkout's top would
    otherwise count the grader's source, which a copy of the rubric does not carry). Parsed, never imported."""
    base = base.resolve()
    out: list[Path] = []
    todo = [*files, *(f.parent / "conftest.py" for f in files)]
    while todo and len(out) < MAX_CLOSURE_FILES:
        path = todo.pop(0)
        if path in out or not path.is_file():
            continue
        out.append(path)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            names: list[str] = []
            roots = [path.parent, base]
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    roots = [path.parents[node.level - 1]] if node.level <= len(path.parents) else []
                prefix = (node.module + ".") if node.module else ""
                names = ([node.module] if node.module else []) + [prefix + a.name for a in node.names]
            for name in names:
                if name.split(".")[0] in OWN_PACKAGES:
                    continue
                rel = Path(*name.split("."))
                for root in roots:
                    todo += [root / rel.with_suffix(".py"), root / rel / "__init__.py"]
    return out


def _assets_digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for path in files:
        paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for p in paths:
            h.update(p.name.encode("utf-8", "surrogateescape") + b"\0")
            try:
                with open(p, "rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
            except OSError:
                h.update(b"<unreadable>")
    return h.hexdigest()[:16] if files else ""


def _parse_check(raw: Any, path: str, problems: list[tuple[str, str]], context: dict[str, Any] | None = None) -> Any:
    """Validate one check against its kind; on failure return a stand-in so that
    stage 2 reports only the rubric's own structure, not the same problem twice."""
    if not isinstance(raw, dict):
        problems.append((path, f"expected a mapping with a 'kind', got {describe(raw)}"))
        return {"kind": "?"}
    common = {k: raw[k] for k in ("kind", "weight", "gate", "veto") if k in raw}
    if "kind" not in raw:
        problems.append((f"{path}.kind", "required key is missing (known kinds: " + ", ".join(known_kinds()) + ")"))
        return {**common, "kind": "?"}
    kind_name = raw["kind"]
    kind = get_kind(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        known = ", ".join(known_kinds())
        problems.append((f"{path}.kind", f"unknown check kind {describe(kind_name)} (known kinds: {known})"))
        return {**common, "kind": "?"}
    own = {k: v for k, v in raw.items() if k not in common}
    try:
        common["params"] = kind.params.model_validate(own, context=context or {"rubric_dir": None})
    except ValidationError as e:
        problems.extend(explain(e, prefix=path, model=kind.params))
    return common


LOCAL_RUBRIC = Path("rubric.yaml")  # the current folder's rubric: the default before the built-in one


def default_rubric_path() -> Path:
    candidates = [LOCAL_RUBRIC, BUILTIN_ROOT / "rubric.yaml"]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise UsageError("no rubric.yaml here; pass --rubric FILE (your instructor provides it)")
    return path


def load_for_command(path: Path | None) -> Rubric:
    """The rubric named on the command line, or the default one; a rubric that cannot be used is a usage error
    (exit 2) listing every mistake with its key path."""
    path = path or default_rubric_path()
    try:
        return load_rubric(path)
    except RubricError as e:
        raise UsageError(f"the rubric cannot be used:\n{e}") from None

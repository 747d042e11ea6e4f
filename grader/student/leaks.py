"""Does anything students receive answer the assignment? A scan of what ships, not a reading of our code.

What ships is every file of a student build, a student kit or a Classroom template, and every file
inside the wheels and zips among them. It leaks when:

- a file has the bytes of an instructor-only file (a reference module, a test file with hidden
  tests, a sample submission, hidden data, any other file next to the rubric that is not listed in
  ``student_files``);
- a Python function has the code of an instructor-only function (names, comments and layout aside):
  a reference function copied under another name;
- a function decorated ``hidden`` keeps a body (a hidden test that was not reduced to its stub);
- **a function returns the right answers when run**: every Python module that ships is imported in a
  separate process and each of its functions is called on the inputs the public tests send to the
  student's functions (recorded while the build was compiled); one that returns the reference's
  results on all of them, where those differ from the inputs, is an answer key, whatever its name.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.student.prune import _is_hidden_mark

MIN_STATEMENTS = 3  # functions shorter than this are too common to call copies
PROBE_TIMEOUT = 600.0  # a loaded machine: the scan must finish, never be skipped


@dataclass(frozen=True)
class Leak:
    where: str  # the file as it ships (``mlgrade-kit/x.whl!reference/backprop.py``)
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class Probe:
    """One call the public tests make to a student's function, with the reference's answer (wire-encoded)."""

    function: str
    args: Any
    kwargs: Any
    expected: Any


@dataclass
class Secrets:
    """What students must never receive, by content."""

    files: dict[str, str] = field(default_factory=dict)  # sha256 -> what it is
    functions: dict[str, str] = field(default_factory=dict)  # normalized code digest -> "file:function"
    probes: list[Probe] = field(default_factory=list)

    def add_file(self, path: Path, what: str, code: bool = True) -> None:
        """``path``'s bytes, and (``code``) every function in it, as secret."""
        try:
            data = path.read_bytes()
        except OSError:
            return
        if data.strip():
            self.files.setdefault(hashlib.sha256(data).hexdigest(), what)
        if not code:
            return
        if path.suffix == ".py":
            self.add_code(data.decode("utf-8", "replace"), what)
        elif path.suffix == ".ipynb":
            self.add_code(_notebook_code(data), what)

    def add_code(self, source: str, what: str) -> None:
        for name, digest in _function_digests(source):
            self.functions.setdefault(digest, f"{what}: {name}")


def _notebook_code(data: bytes) -> str:
    try:
        nb = json.loads(data)
        cells = nb.get("cells", []) if isinstance(nb, dict) else []
        return "\n".join("".join(c.get("source", "")) if isinstance(c.get("source"), list) else str(c.get("source", ""))
                         for c in cells if isinstance(c, dict) and c.get("cell_type") == "code")
    except (ValueError, AttributeError):
        return ""


def _shapes(tree: ast.AST) -> list[tuple[str, str, int]]:
    """``(name, normalized code, statements)`` of every function in ``tree``, in one pass: chosen names become
    ``V``, function names ``F``; docstrings, decorators and annotations are left out. A copy under other names
    has the same normalized code."""
    found: list[tuple[str, str, int]] = []

    def shape(node: ast.AST) -> tuple[str, int]:
        if isinstance(node, ast.Name):
            return "V", 0
        if isinstance(node, ast.arg):
            return "arg(V)", 0
        if isinstance(node, ast.Constant):
            return f"C({node.value!r})", 0
        parts: list[str] = []
        count = 1 if isinstance(node, ast.stmt) else 0
        body_skip = None
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.body and isinstance(
                node.body[0], ast.Expr) and isinstance(getattr(node.body[0], "value", None), ast.Constant):
            body_skip = node.body[0]
        for name, value in ast.iter_fields(node):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and name in (
                    "name", "decorator_list", "returns", "type_comment", "type_params"):
                continue
            if name in ("annotation", "type_comment", "ctx"):
                continue
            items = value if isinstance(value, list) else [value]
            sub = []
            for item in items:
                if isinstance(item, ast.AST) and item is not body_skip:
                    text, n = shape(item)
                    sub.append(text)
                    count += n
                elif not isinstance(item, ast.AST) and item is not None:
                    sub.append(repr(item))
            parts.append(f"{name}=[{','.join(sub)}]")
        text = f"{type(node).__name__}({';'.join(parts)})"
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append((node.name, text, count))
        return text, count

    shape(tree)
    return found


def _function_digests(source: str) -> list[tuple[str, str]]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        # notebooks hold magics and shell lines: read what parses, cell by cell would be finer
        lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except (SyntaxError, ValueError, RecursionError):
            return []
    try:
        shapes = _shapes(tree)
    except RecursionError:
        return []
    return [(name, hashlib.sha256(text.encode()).hexdigest()) for name, text, statements in shapes
            if statements > MIN_STATEMENTS]


def _hidden_bodies(source: str) -> list[str]:
    """Functions marked ``hidden`` that keep more than a docstring."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
                _is_hidden_mark(d) for d in node.decorator_list):
            body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
            if body or node.args.args:
                bad.append(node.name)
    return bad


# ---------------------------------------------------------------------------------------------- walking

def _unpacked(paths: list[Path], into: Path) -> list[tuple[str, Path]]:
    """``(name as it ships, file here)`` for every file of ``paths``, zips and wheels unpacked (nested too)."""
    out: list[tuple[str, Path]] = []
    todo = [(p.name if p.is_file() else "", p) for p in paths]
    n = 0
    while todo:
        label, path = todo.pop()
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.is_file():
                    todo.append((f"{label}/{f.relative_to(path).as_posix()}".lstrip("/"), f))
            continue
        out.append((label, path))
        if path.suffix.lower() in (".zip", ".whl") and zipfile.is_zipfile(path):
            n += 1
            target = into / f"z{n}"
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    name = info.filename
                    if info.is_dir() or name.startswith("/") or ".." in Path(name).parts:
                        continue
                    dest = target / name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(zf.read(info))
            todo.append((f"{label}!", target))
    return out


def scan(paths: list[Path], secrets: Secrets, run_code: bool = True) -> list[Leak]:
    """Every leak in ``paths`` (files or folders; zips and wheels inside are opened)."""
    leaks: list[Leak] = []
    with tempfile.TemporaryDirectory(prefix="mlgrade-leaks-") as tmp:
        files = _unpacked([Path(p) for p in paths], Path(tmp))
        modules = []
        for label, path in files:
            data = path.read_bytes()
            what = secrets.files.get(hashlib.sha256(data).hexdigest()) if data.strip() else None
            if what:
                leaks.append(Leak(label, f"is {what}"))
            if path.suffix == ".py":
                text = data.decode("utf-8", "replace")
                for name, digest in _function_digests(text):
                    if digest in secrets.functions:
                        leaks.append(Leak(label, f"{name} has the code of {secrets.functions[digest]}"))
                for name in _hidden_bodies(text):
                    leaks.append(Leak(label, f"{name} is a hidden test that kept its body"))
                modules.append((label, path))
        if run_code and secrets.probes and modules:
            leaks += _run_probes(modules, secrets.probes, Path(tmp))
    return list(dict.fromkeys(leaks))


def _roots(modules: list[tuple[str, Path]]) -> list[tuple[str, str, Path]]:
    """``(label, dotted module name, sys.path entry)``: files inside packages are imported as their package's."""
    out = []
    for label, path in modules:
        parts = [path.stem]
        root = path.parent
        while (root / "__init__.py").is_file():
            parts.insert(0, root.name)
            root = root.parent
        if parts[-1] == "__init__":
            parts.pop()
        if parts:
            out.append((label, ".".join(parts), root))
    return out


def _run_probes(modules: list[tuple[str, Path]], probes: list[Probe], tmp: Path) -> list[Leak]:
    """Import the shipped modules (one process per folder they import from, so that a shipped ``grader``
    is the one imported, not this one) and call their functions on the probes."""
    by_root: dict[Path, list[dict[str, str]]] = {}
    for label, name, root in _roots(modules):
        by_root.setdefault(root, []).append({"label": label, "name": name})
    leaks: list[Leak] = []
    for i, (root, mods) in enumerate(sorted(by_root.items())):
        spec = tmp / f"probes-{i}.json"
        spec.write_text(json.dumps({
            "probes": [{"function": p.function, "args": p.args, "kwargs": p.kwargs, "expected": p.expected}
                       for p in probes],
            "root": str(root), "modules": mods,
            "wire": str(Path(__file__).resolve().parent.parent / "insandbox" / "wire.py"),
        }), encoding="utf-8")
        leaks += _probe_process(spec, tmp)
    return leaks


MAX_PROBE_RESTARTS = 50


def _probe_process(spec: Path, tmp: Path) -> list[Leak]:
    """Run the probe; when a shipped function ends the process, run it again without that function (it
    returned nothing, so it answers nothing) — at most ``MAX_PROBE_RESTARTS`` times."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "SYSTEMROOT")}
    env.update(HOME=str(tmp), TMPDIR=str(tmp), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1",
               TF_CPP_MIN_LOG_LEVEL="3")
    script = Path(__file__).with_name("leakprobe.py")
    config = json.loads(spec.read_text(encoding="utf-8"))
    config.setdefault("skip", [])
    leaks: list[Leak] = []
    for _ in range(MAX_PROBE_RESTARTS + 1):
        spec.write_text(json.dumps(config), encoding="utf-8")
        try:
            done = subprocess.run([sys.executable, "-I", "-B", str(script), str(spec)], capture_output=True,
                                  text=True, cwd=tmp, env=env, timeout=PROBE_TIMEOUT)
        except subprocess.TimeoutExpired:
            return leaks + [Leak(str(spec), f"running the shipped modules took over {PROBE_TIMEOUT:.0f} s; "
                                            "cannot tell")]
        last = None
        for line in done.stdout.splitlines():
            try:
                hit = json.loads(line)
            except ValueError:
                continue
            if not isinstance(hit, dict):
                continue
            if hit.get("done"):
                return list(dict.fromkeys(leaks))
            if "trying" in hit:
                last = [hit["trying"], hit["function"]]
                continue
            if not {"label", "function", "graded", "cases"} <= hit.keys():
                continue
            leaks.append(Leak(hit["label"], f"{hit['function']} returns the right answers of {hit['graded']}() "
                                            f"on the {hit['cases']} public input(s) the tests send"))
        if last is None or last in config["skip"]:
            break
        config["skip"].append(last)
    tail = " | ".join(done.stderr.strip().splitlines()[-3:])
    return leaks + [Leak(str(spec), f"the scan of the shipped modules stopped before the end "
                                    f"(exit {done.returncode}): {tail}")]

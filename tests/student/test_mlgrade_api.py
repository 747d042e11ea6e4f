"""``import mlgrade; mlgrade.check(...)``: the report as an HTML table in a real notebook (nbclient),
on a zip, on the open notebook with the files next to it, and in Colab (its front end stood in for)."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

import mlgrade
from grader.core.options import GradeOptions
from grader.rubric import parse_rubric
from grader.score.pipeline import grade_submission

RUBRIC = f"""name: backprop and files
questions:
  - id: backprop
    title: numpy forward and backward pass
    points: 3
    files: [backprop.ipynb]
    checks:
      - kind: pytest   # the course pack's test, where it is (this rubric is written elsewhere)
        tests: {ROOT}/rubrics/aml_hw4/tests/test_backprop.py
        reference: {ROOT}/reference/backprop.py
        notebook: backprop.ipynb
        recognise_by: ["def back_propagation("]
        options: {{tolerance: 1.0e-6}}
  - id: hand
    title: hand values
    points: 1
    files: [xor_hand.txt]
    checks:
      - {{kind: file_present, file: xor_hand.txt}}
"""


def _execute(nb, folder: Path, env: dict | None = None):
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    import os

    client.execute(env={**os.environ, **(env or {})})
    return nb


def _html_outputs(nb) -> list[str]:
    return [o["data"]["text/html"] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if "text/html" in o.get("data", {})]


def _scores_in(page: str) -> dict[str, str]:
    import re

    return dict(re.findall(r"<code>([^<]+)</code></td><td[^>]*>([^<]+)</td>", page))


@pytest.mark.slow
def test_check_renders_the_score_table_in_a_notebook_run_by_nbclient(tmp_path):
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(RUBRIC)
    sample = ROOT / "submissions" / "frank_buggy.zip"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import mlgrade\nmlgrade.check({str(sample)!r}, rubric={str(rubric)!r}, isolation='none')")])
    pages = _html_outputs(_execute(nb, tmp_path))
    assert len(pages) == 1 and '<table class="mlgrade-scores"' in pages[0]
    expected = grade_submission(sample, parse_rubric(RUBRIC, "r.yaml"), tmp_path / "w",
                                GradeOptions(self_check=True, isolation="none"))
    assert _scores_in(pages[0]) == {q.id: f"{q.score:g}/{q.max_score:g}" for q in expected.questions}
    assert f"<b>{expected.total:g}/4</b>" in pages[0]
    assert "your notebooks ran without the sandbox" in pages[0]


@pytest.mark.slow
def test_check_with_no_arguments_checks_the_open_notebook_and_the_files_next_to_it(tmp_path):
    """The student's backprop.ipynb ends with `mlgrade.check(...)`: run in Jupyter it checks its own saved
    copy and its neighbours; inside that check the same cell does nothing (no recursion)."""
    folder = tmp_path / "hw4"
    with zipfile.ZipFile(ROOT / "submissions" / "alice_complete.zip") as zf:
        zf.extractall(folder)
    notebook = next(folder.rglob("backprop.ipynb"))
    (notebook.parent / "rubric.yaml").write_text(RUBRIC)
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import mlgrade\nmlgrade.check(isolation='none')"))
    nbformat.write(nb, notebook)
    # Jupyter Server names the notebook to its kernel like this (relative to its root before 2.11)
    ran = _execute(nbformat.read(notebook, as_version=4), notebook.parent,
                   env={"JPY_SESSION_NAME": notebook.name})
    pages = _html_outputs(ran)
    assert len(pages) == 1, [o for c in ran.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert _scores_in(pages[0]) == {"backprop": "3/3", "hand": "1/1"}
    assert "checked the saved copy of backprop.ipynb" in pages[0]


def test_check_inside_a_notebook_being_graded_refuses_to_recurse(monkeypatch):
    monkeypatch.setenv("MLGRADE_SUBMISSION", "/work")
    with pytest.raises(mlgrade.CheckError, match="does nothing while mlgrade runs this notebook"):
        mlgrade.check("x.zip")


def test_check_says_what_to_do_without_a_rubric_or_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(mlgrade.CheckError, match="no such file or folder"):
        mlgrade.check(tmp_path / "missing.zip")
    (tmp_path / "bad.yaml").write_text("name: x\nquestions: []\n")
    with pytest.raises(mlgrade.CheckError, match="the rubric cannot be used"):
        mlgrade.check(ROOT / "submissions" / "bob_partial.zip", rubric=tmp_path / "bad.yaml")
    with pytest.raises(mlgrade.CheckError, match="could not tell which notebook"):
        mlgrade.check()  # not in Jupyter at all


def test_in_colab_the_open_notebook_is_fetched_and_checked_with_the_files_of_the_folder(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    message = types.ModuleType("google.colab._message")
    message.blocking_request = lambda kind, request="", timeout_sec=0: {"ipynb": json.loads(nbformat.writes(nb))}
    colab = types.ModuleType("google.colab")
    colab.__spec__ = importlib.machinery.ModuleSpec("google.colab", None)
    colab._message = message
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab._message", message)
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab-test")
    content = tmp_path / "content"
    (content / "drive" / "MyDrive").mkdir(parents=True)
    (content / "drive" / "MyDrive" / "xor_hand.txt").write_text("from Drive: must not be copied")
    (content / "sample_data").mkdir()
    (content / "sample_data" / "mnist_test.csv").write_text("1,2,3")
    (content / "data").mkdir()
    (content / "data" / "xor_hand.txt").write_text("001: 0.1\n")
    (content / "rubric.yaml").write_text(
        "name: colab\nquestions:\n"
        "  - {id: nb, title: the notebook, points: 1, files: [backprop.ipynb], "
        "checks: [{kind: file_present, file: backprop.ipynb}]}\n"
        "  - {id: hand, title: hand values, points: 1, files: [xor_hand.txt], "
        "checks: [{kind: file_present, file: xor_hand.txt}]}\n")
    monkeypatch.chdir(content)
    with pytest.raises(mlgrade.CheckError, match="notebook='backprop.ipynb'"):
        mlgrade.check(rubric="rubric.yaml")
    check = mlgrade.check(rubric="rubric.yaml", notebook="backprop.ipynb", isolation="none")
    assert check.result.question("nb").score == 1
    assert check.result.question("hand").files == {"xor_hand.txt": "data/xor_hand.txt"}  # not Drive's
    assert not any("sample_data" in f or "drive" in f for f in check.result.files)
    assert "Google Colab: no sandbox was asked for" in " ".join(check.notes)
    assert check.notes[0].startswith("checked this notebook as it is open in Colab, as backprop.ipynb")
    assert check.title().startswith("mlgrade check: backprop.ipynb and the files next to it")


@pytest.mark.slow
def test_check_without_a_notebook_name_under_nbconvert_says_what_to_pass_in_one_line(tmp_path):
    """`jupyter nbconvert --execute` tells the kernel no notebook name: the cell prints one line naming this
    folder's notebook to pass, the rest of the notebook still runs (no traceback, no error output)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import mlgrade\nmlgrade.check()"),
                                         nbformat.v4.new_code_cell("print('the next cell ran')")])
    nbformat.write(nb, tmp_path / "hw.ipynb")
    env = {k: "" for k in ("JPY_SESSION_NAME",)}
    ran = _execute(nbformat.read(tmp_path / "hw.ipynb", as_version=4), tmp_path, env=env)
    outputs = [o for c in ran.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"], outputs
    said = "".join(o.get("text", "") for o in ran.cells[0].outputs)
    assert said.count("\n") == 1 and said.startswith("mlgrade.check: could not tell which notebook this is"), said
    assert "mlgrade.check('hw.ipynb')" in said and "mlgrade.check('my_hw4.zip')" in said
    assert "the next cell ran" in "".join(o.get("text", "") for o in ran.cells[1].outputs)


def test_a_notebook_named_is_checked_with_the_files_next_to_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rubric.yaml").write_text("name: t\nquestions:\n  - {id: hand, title: hand, points: 1, files: "
                                          "[xor_hand.txt], checks: [{kind: file_present, file: xor_hand.txt}]}\n")
    (tmp_path / "xor_hand.txt").write_text("001: 0.1\n")
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "hw.ipynb")
    first = mlgrade.check("hw.ipynb", isolation="none")
    assert first is not None and first.total == 1 and first.source == "hw.ipynb and the files next to it"
    assert any(n.startswith("checked the saved copy of hw.ipynb") for n in first.notes)
    again = mlgrade.check("hw.ipynb", isolation="none")
    reused = [n for n in again.notes if "did not change since your last check" in n]
    # the notebook's way to grade again, not the command's --no-cache (mlgrade.check() has no such option)
    assert reused and "cache=False" in reused[0] and "--no-cache" not in str(again), again.notes
    fresh = mlgrade.check("hw.ipynb", isolation="none", cache=False)
    assert not [n for n in fresh.notes if "did not change" in n]

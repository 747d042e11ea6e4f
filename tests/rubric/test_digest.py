"""The rubric's digest (what decides a regrade) covers the files its questions use, not its folder's others."""

from __future__ import annotations

from grader.cli.main import main
from grader.rubric import load_rubric


def test_an_unused_file_regrades_no_one_and_a_used_one_regrades_everyone(tmp_path):
    folder = tmp_path / "hw"
    assert main(["init", "assignment", "hw", "--dir", str(folder)]) == 0
    rubric = folder / "rubric.yaml"

    def digest() -> str:
        return load_rubric(rubric).digest()

    before = digest()
    (folder / "make_samples.py").write_text("def softmax(x):\n    return x\n")  # beside the rubric, unused
    (folder / "tests" / "scratch.py").write_text("X = 1\n")  # beside the test file, imported by nothing
    assert digest() == before

    test_file = folder / "tests" / "test_hw.py"
    test_file.write_text(test_file.read_text() + "\n# a comment changes what is run\n")
    edited = digest()
    assert edited != before

    (folder / "tests" / "helper.py").write_text("TOL = 1e-6\n")
    test_file.write_text("from helper import TOL\n" + test_file.read_text())
    with_helper = digest()
    (folder / "tests" / "helper.py").write_text("TOL = 1e-3\n")  # an imported helper is part of the meaning
    assert digest() != with_helper

    conftest = folder / "tests" / "conftest.py"
    conftest.write_text("import pytest\n")
    with_conftest = digest()
    conftest.write_text("import pytest\nX = 2\n")
    assert digest() != with_conftest

    refs = folder / "refs.py"  # the reference the rubric names
    refs.write_text(refs.read_text() + "\n# changed\n")
    assert digest() != with_conftest


def test_a_copy_of_a_rubric_as_a_cluster_or_gradescope_gets_it_reads_as_the_same_digest(tmp_path):
    """Workers refuse to grade when the rubric they rebuilt reads differently from the client's."""
    import shutil

    from conftest import ROOT

    for rubric_path in (ROOT / "rubric.yaml", *sorted((ROOT / "rubrics").glob("*/rubric.yaml"))):
        rubric = load_rubric(rubric_path)
        folder, files = rubric.portable_layout()
        copy = tmp_path / rubric_path.parent.name / "root"
        for path, name in files:
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy / name)
        (copy / folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(rubric_path, copy / folder / "rubric.yaml")
        assert load_rubric(copy / folder / "rubric.yaml").digest() == rubric.digest(), rubric_path

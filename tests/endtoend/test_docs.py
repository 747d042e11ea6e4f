"""The README's quick start and CI's script say the same thing."""

from __future__ import annotations

import re

from conftest import ROOT


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_quick_start_has_exactly_two_commands():
    cmds = quick_start_commands()
    assert len(cmds) == 2
    assert "mlgrade grade submissions" in cmds[0]
    assert "pytest" in cmds[1] and "[test]" in cmds[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert quick_start_commands()[1] in ci


def test_quick_start_works_as_root_without_sudo_and_as_a_user_with_it():
    # a fresh Debian as root has no sudo: "$(command -v sudo)" is empty there, and sudo for a user
    for cmd in quick_start_commands():
        assert "sudo apt-get" not in cmd.replace("$(command -v sudo) apt-get", "")


def tutorial_blocks() -> tuple[str, str]:
    """The tutorial's test file and the YAML question it appends to the rubric."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Grade your own assignment", 1)[1].split("\n### ", 1)[0]
    python = re.findall(r"```python\n(.+?)\n```", section, re.S)
    yaml_blocks = re.findall(r"```yaml\n(.+?)\n```", section, re.S)
    appended = next(b for b in yaml_blocks if "notebook_function" in b)
    return python[0], appended


def test_the_tutorial_builds_an_assignment_that_validates(tmp_path, capsys, monkeypatch):
    """Following the README's tutorial from scratch gives an assignment whose samples grade as expected."""
    from grader.cli.main import EXIT_OK, main

    monkeypatch.setenv("COLUMNS", "1000")
    tests, question = tutorial_blocks()
    folder = tmp_path / "softmax"
    assert main(["init", "assignment", "softmax", "--dir", str(folder)]) == EXIT_OK
    (folder / "tests" / "test_softmax.py").write_text(tests + "\n")
    with (folder / "rubric.yaml").open("a") as f:
        f.write("\n" + question + "\n")
    capsys.readouterr()
    assert main(["validate", str(folder / "rubric.yaml"), "--isolation", "none"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "softmax 6/6, softmax_yaml 4/4; total 10/10" in out
    assert "softmax 3/6, softmax_yaml 1/4" in out


def test_students_are_never_sent_to_install_from_this_repository():
    """The repository holds the reference solutions, the hidden tests and complete samples: what the README
    tells students to install is the kit's wheel (or the Classroom template's), never the checkout."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## For students", 1)[1].split("\n## ", 1)[0]
    code = re.findall(r"`([^`\n]+)`", section) + re.findall(r"```\w*\n(.+?)\n```", section, re.S)
    installs = [c for c in code if re.search(r"\bpip install\b", c)]
    assert installs, "the students' section says how to install mlgrade"
    for cmd in installs:
        assert re.search(r"mlgrade-[\w.]+-py3-none-any\.whl", cmd), cmd
        assert not re.search(r"pip install +(-e +)?\.(\s|$|\[)|git\+|git clone", cmd), cmd
    for words in re.findall(r"[^.]*\bclone of this repository[^.]*\.", section):
        assert re.search(r"\b(never|not)\b", words, re.I), words

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

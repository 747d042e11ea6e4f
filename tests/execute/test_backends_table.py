"""Isolation backends come from one table: the command line's choices and the clean-up follow it."""

from __future__ import annotations

import grader.execute.isolation as isolation
from grader.cli.main import main
from grader.execute.isolation.none import NoIsolation


class Recorder(NoIsolation):
    closed = 0

    def close(self) -> None:
        type(self).closed += 1
        super().close()


def test_the_choices_are_the_table():
    assert isolation.ISOLATION_CHOICES == ("auto", *isolation.BACKENDS)
    assert isolation.AUTO_ORDER[-1] in isolation.BACKENDS


def test_a_new_backend_is_closed_with_the_others(monkeypatch):
    monkeypatch.setitem(isolation.BACKENDS, "recorder", f"{__name__}:Recorder")
    made = isolation.backend("recorder")
    assert isinstance(made, Recorder)
    isolation.close_backends()
    assert Recorder.closed == 1


def test_the_command_line_offers_every_backend(capsys):
    try:
        main(["check", "--help"])
    except SystemExit:
        pass
    text = capsys.readouterr().out
    assert "{" + ",".join(isolation.ISOLATION_CHOICES) + "}" in text

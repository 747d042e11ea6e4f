"""While a student build is compiled: which reference answers each public test file asked for.

:func:`recording` is entered by the compiler (:mod:`grader.student.compile`) around the runs of the
public tests; the ``pytest`` kind asks :func:`active` for the recorder and hands the tests a
:class:`~grader.checks.pytest.recorded.RecordingReference` instead of the bare module. A process-wide
switch, not a context variable: notebook questions run on a thread of their own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from grader.checks.pytest.recorded import Recording, RecordingReference

_LOCK = threading.Lock()
_ACTIVE: list[Recorder] = []


class Recorder:
    """One recording per test file, and the practice seed every ``hidden_rng`` of the build draws from."""

    def __init__(self, practice_seed: str):
        self.practice_seed = practice_seed
        self.recordings: dict[Path, Recording] = {}

    def watch(self, test_file: Path, module: ModuleType) -> RecordingReference:
        return RecordingReference(module, self.recording_for(test_file))

    def recording_for(self, test_file: Path) -> Recording:
        with _LOCK:
            return self.recordings.setdefault(Path(test_file).resolve(), Recording())


def active() -> Recorder | None:
    return _ACTIVE[-1] if _ACTIVE else None


@contextmanager
def recording(practice_seed: str) -> Iterator[Recorder]:
    recorder = Recorder(practice_seed)
    _ACTIVE.append(recorder)
    try:
        yield recorder
    finally:
        _ACTIVE.remove(recorder)

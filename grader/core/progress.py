"""What grading is doing right now, for whoever shows it: a self-check's status line, a notebook cell.

Stages say what starts (``progress.say("running backprop.ipynb")``); a command that wants to show it
listens while it grades. Nothing listens in a batch (its workers report per submission instead), and a
listener that fails never costs a grade.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from grader.core.timeline import mark

_LOCK = threading.Lock()
_LISTENERS: list[Callable[[str], None]] = []


def say(text: str) -> None:
    mark(text)
    with _LOCK:
        listeners = list(_LISTENERS)
    for listen in listeners:
        try:
            listen(text)
        except Exception:  # showing progress is a courtesy
            pass


@contextmanager
def listening(listen: Callable[[str], None]) -> Iterator[None]:
    with _LOCK:
        _LISTENERS.append(listen)
    try:
        yield
    finally:
        with _LOCK:
            _LISTENERS.remove(listen)

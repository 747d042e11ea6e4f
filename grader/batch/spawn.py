"""Grading worker processes, started before the grader knows what they will grade.

A worker's imports take 0.4 s, as long as the ``mlgrade grade`` command's own; started first, it imports
while the command reads the rubric and finds the submissions, then receives its configuration as the first
line of its input (:mod:`grader.batch.worker`). Light on purpose: the command imports this module before
anything heavy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from grader.core.timeline import mark

_IDLE: list[subprocess.Popen] = []  # started ahead, not configured yet


def spawn() -> subprocess.Popen:
    """A new worker process, waiting for its configuration line."""
    stderr = None if os.environ.get("MLGRADE_DEBUG") else subprocess.DEVNULL
    mark("worker spawned")
    return subprocess.Popen([sys.executable, "-m", "grader.batch.worker", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1, start_new_session=True)


def take() -> subprocess.Popen:
    """A worker started ahead if one is still alive, else a new one."""
    while _IDLE:
        proc = _IDLE.pop(0)
        if proc.poll() is None:
            return proc
    return spawn()


def discard() -> None:
    """Workers started ahead and never used: their input ends, so they exit without grading."""
    while _IDLE:
        proc = _IDLE.pop()
        try:
            if proc.stdin is not None:
                proc.stdin.close()
        except OSError:
            pass


def before_grade(argv: list[str]) -> Callable[[], None] | None:
    """``mlgrade grade`` on this machine: one worker ahead (a cluster's workers are the cluster's); the
    clean-up ends it if the command did not use it (--help, a usage error, nothing to grade)."""
    if any(a in ("-h", "--help") or a.startswith("--scheduler") for a in argv):
        return None
    _IDLE.append(spawn())
    return discard

"""Grading worker processes, started before the grader knows what they will grade.

A worker's imports take 0.4 s, as long as the ``mlgrade grade`` command's own; started first, it imports
while the command reads the rubric and finds the submissions, then receives its configuration as the first
line of its input (:mod:`grader.batch.worker`). As soon as the command knows its sandbox (before it reads
the rubric), :func:`warm` claims the worker's slot and tells it to start that sandbox (0.3-0.5 s) while the
command reads the rubric and checks its inputs, instead of after the configuration. The pool
(:mod:`grader.batch.scheduling.local`) gives that worker's seat the slot it warmed, and :func:`take` never
hands a worker to a seat of another slot. Light on purpose: the command imports this module before anything
heavy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from grader.core.timeline import mark
from grader.execute.slots import SlotClaim, SlotError, claim_slot


@dataclass
class _Ahead:
    proc: subprocess.Popen
    slot: int | None = None  # the slot its sandbox warms in (None: told nothing yet)
    claim: SlotClaim | None = None  # held here until the pool takes it over (claimed_ahead)


_IDLE: list[_Ahead] = []  # started ahead, not configured yet


def spawn() -> subprocess.Popen:
    """A new worker process, waiting for its configuration line."""
    stderr = None if os.environ.get("MLGRADE_DEBUG") else subprocess.DEVNULL
    mark("worker spawned")
    return subprocess.Popen([sys.executable, "-m", "grader.batch.worker", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1, start_new_session=True)


def warm(isolation: str) -> None:
    """The sandbox is known (a resolved backend name): the worker started ahead gets a slot and starts it now
    (a backend with nothing to start ahead, such as ``none``, starts nothing)."""
    ahead = next((a for a in _IDLE if a.slot is None and a.proc.poll() is None), None)
    if ahead is None or ahead.proc.stdin is None:
        return
    try:
        claim = claim_slot()
    except (SlotError, OSError):
        return  # the pool claims its slots and says what is wrong
    try:
        ahead.proc.stdin.write(json.dumps({"warm": {"isolation": isolation, "slot": claim.slot}}) + "\n")
        ahead.proc.stdin.flush()
    except OSError:
        claim.release()
        return
    ahead.slot, ahead.claim = claim.slot, claim
    mark("worker told to warm")


def take(slot: int) -> subprocess.Popen:
    """A worker started ahead for ``slot`` (or told no slot) if one is still alive, else a new one. A worker
    whose sandbox warms in another slot is never handed over: it is ended."""
    while _IDLE:
        ahead = _IDLE.pop(0)
        if ahead.proc.poll() is None and ahead.slot in (None, slot):
            return ahead.proc
        _end(ahead)
    return spawn()


def claimed_ahead() -> list[SlotClaim]:
    """The slots claimed for workers started ahead, handed to the caller (the pool), which releases them."""
    claims = [a.claim for a in _IDLE if a.claim is not None]
    for a in _IDLE:
        a.claim = None
    return claims


def discard() -> None:
    """Workers started ahead and never used: their input ends, so they exit without grading (and stop the
    sandbox they started); their slots are released once they are gone."""
    while _IDLE:
        _end(_IDLE.pop())


def _end(ahead: _Ahead) -> None:
    try:
        if ahead.proc.stdin is not None:
            ahead.proc.stdin.close()
    except OSError:
        pass
    if ahead.claim is not None:
        try:
            ahead.proc.wait(timeout=10)  # its sandbox is gone before the slot is free for another
        except subprocess.TimeoutExpired:
            ahead.proc.kill()
        ahead.claim.release()
        ahead.claim = None


def before_grade(argv: list[str]) -> Callable[[], None] | None:
    """``mlgrade grade`` on this machine: one worker ahead (a cluster's workers are the cluster's); the
    clean-up ends it if the command did not use it (--help, a usage error, nothing to grade)."""
    if any(a in ("-h", "--help") or a.startswith("--scheduler") for a in argv):
        return None
    _IDLE.append(_Ahead(spawn()))
    return discard

"""Sandbox slots: claimed by lock, never shared between live processes, freed when the holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from grader.execute.slots import SlotError, claim_slot, claim_slots


@pytest.fixture
def slot_dir(tmp_path, monkeypatch):
    d = tmp_path / "slots"
    monkeypatch.setenv("MLGRADE_SLOT_DIR", str(d))
    return d


def test_claims_in_one_process_are_distinct_and_released(slot_dir):
    claims = claim_slots(3)
    assert [c.slot for c in claims] == [0, 1, 2]
    assert all(c.scratch.is_dir() and oct(c.scratch.stat().st_mode & 0o777) == "0o755" for c in claims)
    another = claim_slot()
    assert another.slot == 3
    claims[1].release()
    assert not claims[1].scratch.exists()
    assert claim_slot().slot == 1
    another.release()


def _holder(slot_dir, ready) -> subprocess.Popen:
    code = ("import sys, time\nfrom grader.execute.slots import claim_slot\nc = claim_slot()\n"
            f"open({str(ready)!r}, 'w').write(str(c.slot))\n(c.scratch / 'left-behind').write_text('x')\ntime.sleep(600)")
    env = {**os.environ, "MLGRADE_SLOT_DIR": str(slot_dir), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 30
    while not (ready.exists() and ready.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc


def test_another_process_holds_its_slot_until_it_dies(slot_dir, tmp_path):
    proc = _holder(slot_dir, tmp_path / "ready")
    try:
        assert (tmp_path / "ready").read_text() == "0"
        mine = claim_slot()
        assert mine.slot == 1  # slot 0 is held by the other process
        mine.release()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    again = claim_slot()  # kill -9 dropped the lock: no stale claim
    assert again.slot == 0
    assert list(again.scratch.iterdir()) == []  # and what the dead holder left was wiped
    again.release()


def test_a_slot_folder_others_can_write_is_refused(slot_dir):
    slot_dir.mkdir(mode=0o777)
    os.chmod(slot_dir, 0o777)
    with pytest.raises(SlotError, match="writable by nobody else"):
        claim_slot()


def test_a_link_in_place_of_the_slot_folder_is_refused(slot_dir, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    slot_dir.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(SlotError, match="expected a folder"):
        claim_slot()


def test_a_link_planted_as_scratch_is_removed_not_followed(slot_dir, tmp_path):
    slot_dir.mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("x")
    (slot_dir / "0").symlink_to(victim)
    claim = claim_slot()
    assert claim.scratch.is_dir() and not claim.scratch.is_symlink()
    assert (victim / "keep").exists()
    claim.release()

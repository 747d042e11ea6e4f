"""Submissions as bytes for Dask workers: what the worker unpacks is what a local run unpacks."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import pytest
from conftest import make_zip

from grader.batch.scheduling.transport import TransportError, extract, pack, pack_folder_plain, unpack_parcel
from grader.intake.unpack import UnpackLimits, UnpackRefused, unpack


def _report(source: Path, dest: Path, limits: UnpackLimits):
    try:
        r = unpack(source, dest, limits)
    except UnpackRefused as e:
        return ("refused", str(e))
    files = {f: (r.root / f).read_bytes() for f in r.files}
    return (r.root.relative_to(dest).as_posix(), files, r.skipped, r.ignored, r.notes, r.content_hash)


def _both(source: Path, tmp_path: Path, limits: UnpackLimits | None = None):
    """The unpack report of ``source`` here, and of its parcel laid out on a 'worker'."""
    limits = limits or UnpackLimits()
    parcel = pack(source, limits)
    box = tmp_path / "box"
    box.mkdir(parents=True)
    arrived = unpack_parcel(parcel, box)
    assert arrived.name == source.name
    return _report(source, tmp_path / "local", limits), _report(arrived, tmp_path / "remote", limits), parcel


def _student_folder(root: Path) -> Path:
    sub = root / "Alice Smith hw4"
    (sub / "hw" / "deep").mkdir(parents=True)
    (sub / "hw" / "xor.ipynb").write_bytes(b'{"cells": []}')
    (sub / "hw" / "deep" / "weights.h5").write_bytes(os.urandom(3000))
    (sub / "__MACOSX" / "hw").mkdir(parents=True)
    (sub / "__MACOSX" / "hw" / "._xor.ipynb").write_bytes(b"junk" * 100)
    (sub / "hw" / ".DS_Store").write_bytes(b"\0" * 50)
    (sub / "hw" / "notes.txt").symlink_to("/etc/shadow")
    (sub / "hw" / "linked_dir").symlink_to("/etc")
    os.mkfifo(sub / "hw" / "pipe")
    make_zip(sub / "hw" / "inner.zip", [("digits.h5", b"model bytes")])
    return sub


def test_a_folder_arrives_as_the_same_submission(tmp_path):
    local, remote, parcel = _both(_student_folder(tmp_path), tmp_path)
    assert local == remote
    root, files, skipped, ignored, notes, _ = local
    assert "xor.ipynb" in files and "deep/weights.h5" in files and "inner/digits.h5" in files
    assert skipped == {"hw/linked_dir": "not copied: symbolic links are never followed",
                       "hw/notes.txt": "not copied: symbolic links are never followed",
                       "hw/pipe": "not copied: not a regular file"}
    assert "__MACOSX/" in ignored and "hw/.DS_Store" in ignored
    assert b"junk" not in parcel.data  # junk is never read, so never sent


def test_a_folder_over_the_limits_travels_as_sizes_and_is_refused_the_same(tmp_path):
    sub = tmp_path / "bob"
    sub.mkdir()
    for i in range(3):
        (sub / f"big{i}.bin").write_bytes(os.urandom(40_000))
    limits = UnpackLimits(max_total_bytes=100_000)
    local, remote, parcel = _both(sub, tmp_path, limits)
    assert local == remote and local[0] == "refused" and "over the limit" in local[1]
    assert len(parcel.data) < 2000  # the 120 kB of content did not travel

    one_too_big = UnpackLimits(max_entry_bytes=30_000)
    assert _both(sub, tmp_path / "b", one_too_big)[:2] == _both(sub, tmp_path / "c", one_too_big)[:2]
    too_many = UnpackLimits(max_entries=2)
    a, b, parcel = _both(sub, tmp_path / "d", too_many)
    assert a == b and "entries exceed the limit" in a[1] and len(parcel.data) < 2000


def test_zips_broken_files_and_links_arrive_the_same(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    cases = {
        "good.zip": make_zip(src / "good.zip", [("xor.ipynb", b"{}"), ("sub/a.txt", b"a")]),
        "slip.zip": make_zip(src / "slip.zip", [("../../evil.txt", b"x"), ("ok.txt", b"y")]),
        "png.zip": src / "png.zip",
        "empty.zip": src / "empty.zip",
    }
    cases["png.zip"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    cases["empty.zip"].write_bytes(b"")
    (src / "link.zip").symlink_to(cases["good.zip"])
    cases["link.zip"] = src / "link.zip"
    for i, (name, path) in enumerate(cases.items()):
        local, remote, _ = _both(path, tmp_path / f"case{i}")
        assert local == remote, name
    big = make_zip(src / "big.zip", [("a.bin", os.urandom(50_000))])
    local, remote, parcel = _both(big, tmp_path / "big", UnpackLimits(max_archive_bytes=10_000))
    assert local == remote and "over the limit" in local[1] and parcel.data == b""


def _transport_zip(entries: list[tuple[str, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            z.writestr(info, b"x")
    return buf.getvalue()


@pytest.mark.parametrize("entries", [
    [("../escape.txt", stat.S_IFREG | 0o644)],
    [("/abs.txt", stat.S_IFREG | 0o644)],
    [("a", stat.S_IFLNK | 0o777), ("a/through-the-link.txt", stat.S_IFREG | 0o644)],
])
def test_extract_never_writes_outside(tmp_path, entries):
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(TransportError):
        extract(_transport_zip(entries), dest)
    assert not (tmp_path / "escape.txt").exists() and not Path("/abs.txt").exists()


def test_parcel_names_are_single_names(tmp_path):
    from grader.batch.scheduling.transport import Parcel

    for bad in ("../x.zip", "a/b.zip", "..", ""):
        with pytest.raises(TransportError):
            unpack_parcel(Parcel(bad, "file", b"PK"), tmp_path)


def test_hidden_data_keeps_folders_and_files(tmp_path):
    hidden = tmp_path / "hidden"
    (hidden / "digits" / "3").mkdir(parents=True)
    (hidden / "digits" / "7").mkdir(parents=True)  # an empty label folder is part of what the grader sees
    (hidden / "digits" / "3" / "a.png").write_bytes(b"png")
    (hidden / "digits" / "3" / "link.png").symlink_to("/etc/passwd")
    out = tmp_path / "out"
    out.mkdir()
    extract(pack_folder_plain(hidden), out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "digits", "digits/3", "digits/3/a.png", "digits/7"]
    with pytest.raises(TransportError, match="hidden data"):
        pack_folder_plain(hidden, max_bytes=1)


def test_the_rubric_files_travel_so_a_worker_needs_no_copy_of_the_course_folder(tmp_path, monkeypatch):
    """An instructor's course folder (a test file, a helper, a reference module) arrives with the run: a
    worker reads the rubric to the client's digest from a folder that exists nowhere but in the zip it was
    sent; without it, the worker refuses with the reason."""
    pytest.importorskip("distributed")

    from grader.batch.scheduling.cluster import _rubric_files
    from grader.batch.scheduling.cluster_worker import GradingPlugin, fingerprint
    from grader.rubric import load_rubric

    course = tmp_path / "course"
    (course / "tests").mkdir(parents=True)
    (course / "tests" / "test_q.py").write_text("from helpers import ok\n\ndef test_q():\n    assert ok()\n")
    (course / "tests" / "helpers.py").write_text("def ok():\n    return True\n")
    (course / "refs.py").write_text("def f(x):\n    return x\n")
    text = ("name: c\nquestions:\n  - id: q\n    title: q\n    points: 1\n    checks:\n"
            "      - {kind: pytest, tests: tests/test_q.py, reference: refs.py}\n")
    (course / "rubric.yaml").write_text(text)
    rubric = load_rubric(course / "rubric.yaml")
    assert {rel for _, rel in rubric.relative_assets()} == {"tests/test_q.py", "tests/helpers.py", "refs.py"}
    monkeypatch.chdir(tmp_path)  # a Dask worker's folder: not the course's
    config = {"rubric_text": text, "rubric_source": "/nonexistent/course/rubric.yaml",
              "options": {"isolation": "none"}}
    without = GradingPlugin("t", config, rubric.digest(), fingerprint(), None, 10)
    assert any("the rubric cannot be read here" in p for p in without._check())

    plugin = GradingPlugin("t", config, rubric.digest(), fingerprint(), None, 10, rubric_zip=_rubric_files(rubric))
    try:
        assert plugin._check() == []
        laid_out = Path(plugin.config["rubric_source"]).parent
        assert (laid_out / "tests" / "helpers.py").read_text() == (course / "tests" / "helpers.py").read_text()
        assert stat.S_IMODE(laid_out.stat().st_mode) == 0o700
    finally:
        plugin._stop()
    assert not laid_out.exists()

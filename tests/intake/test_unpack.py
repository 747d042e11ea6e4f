"""Safe unpacking: every refusal, with a hand-built hostile zip, and nothing written outside."""

from __future__ import annotations

import io
import os
import struct
import uuid
import zipfile
from pathlib import Path

import pytest
from conftest import make_zip, tree

from grader.intake.unpack import UnpackLimits, UnpackRefused, unpack

MiB = 1024 * 1024


@pytest.fixture
def area(tmp_path):
    """A folder holding only the work folder, so anything written beside it is visible."""
    a = tmp_path / "area"
    a.mkdir()
    return a


def only_inside(area: Path) -> None:
    outside = {p for p in tree(area) if not p.startswith("work")}
    assert outside == set(), f"written outside the work folder: {outside}"


def test_plain_zip_unpacks(zip_factory, area):
    z = zip_factory("s.zip", [("weights.h5", b"x" * 10), ("nb/xor.ipynb", b"{}")])
    rep = unpack(z, area / "work")
    assert rep.files == ["nb/xor.ipynb", "weights.h5"]
    assert (rep.root / "weights.h5").read_bytes() == b"x" * 10
    assert rep.skipped == {}
    assert len(rep.content_hash) == 64


@pytest.mark.parametrize(
    "evil",
    ["../escape.txt", "../../escape.txt", "a/../../escape.txt", "..\\..\\escape.txt", "sub\\..\\..\\escape.txt"],
)
def test_zip_slip_entries_are_refused_by_name(zip_factory, area, evil):
    z = zip_factory("s.zip", [(evil, b"pwned"), ("ok.txt", b"fine")])
    rep = unpack(z, area / "work")
    assert rep.files == ["ok.txt"]
    assert evil in rep.skipped and "'..'" in rep.skipped[evil]
    only_inside(area)
    assert not (area.parent / "escape.txt").exists()


@pytest.mark.parametrize("prefix", ["/tmp/", "//server/share/", "C:/", "C:\\", "\\\\server\\share\\", "c:"])
def test_absolute_and_drive_paths_are_refused(zip_factory, area, prefix):
    marker = f"mlgrade-test-{uuid.uuid4().hex}.txt"
    name = prefix + marker
    z = zip_factory("s.zip", [(name, b"pwned"), ("ok.txt", b"fine")])
    rep = unpack(z, area / "work")
    assert rep.files == ["ok.txt"]
    reason = rep.skipped[name]
    assert "absolute path" in reason or "drive letter" in reason
    assert not Path("/tmp", marker).exists()
    only_inside(area)


def test_windows_backslash_folders_become_folders(zip_factory, area):
    z = zip_factory("s.zip", [("HW4\\images\\what1.jpg", b"jpg"), ("HW4\\weights.h5", b"h5")])
    rep = unpack(z, area / "work")
    assert rep.files == ["images/what1.jpg", "weights.h5"]  # 'HW4/' looked through


def test_symlink_entries_are_never_created(zip_factory, area):
    z = zip_factory("s.zip", [("ok.txt", b"fine")], symlinks={"passwd": "/etc/passwd", "up": "../.."})
    rep = unpack(z, area / "work")
    assert rep.files == ["ok.txt"]
    assert "symbolic link" in rep.skipped["passwd"] and "symbolic link" in rep.skipped["up"]
    assert not any(p.is_symlink() for p in (area / "work").rglob("*"))


def test_entry_then_file_through_symlinked_folder_cannot_escape(zip_factory, area):
    # A classic two-step: a symlink 'd' -> '/tmp', then 'd/x'. The link is never made, so 'd/x' stays inside.
    marker = f"mlgrade-test-{uuid.uuid4().hex}"
    z = area.parent / "two-step.zip"
    with zipfile.ZipFile(z, "w") as zf:
        link = zipfile.ZipInfo("d", (2026, 1, 1, 0, 0, 0))
        link.external_attr = (0o120777) << 16
        link.create_system = 3
        zf.writestr(link, "/tmp")  # the symlink entry comes first
        zf.writestr(zipfile.ZipInfo(f"d/{marker}", (2026, 1, 1, 0, 0, 0)), b"pwned")
    rep = unpack(z, area / "work")
    assert not Path("/tmp", marker).exists()
    assert rep.files == [marker]  # 'd/' looked through: a real folder inside the work folder
    only_inside(area)


def test_ratio_bomb_is_refused_before_extraction(zip_factory, area):
    z = zip_factory("bomb.zip", [("zeros.bin", b"\0" * (50 * MiB))])
    assert z.stat().st_size < 200_000
    with pytest.raises(UnpackRefused) as e:
        unpack(z, area / "work")
    msg = str(e.value)
    assert "zeros.bin" in msg and "compression-ratio limit of 200:1" in msg and "bomb" in msg
    assert tree(area) == {"work"}  # nothing extracted


def test_total_size_limit_names_the_limit(zip_factory, area):
    data = os.urandom(MiB)
    z = zip_factory("big.zip", [(f"f{i}.bin", data) for i in range(5)], compression=zipfile.ZIP_STORED)
    with pytest.raises(UnpackRefused, match=r"5\.0 MiB in all, over the limit of 4\.0 MiB"):
        unpack(z, area / "work", UnpackLimits(max_total_bytes=4 * MiB))
    assert tree(area) == {"work"}


def test_entry_size_limit(zip_factory, area):
    z = zip_factory("big.zip", [("huge.h5", os.urandom(3 * MiB))], compression=zipfile.ZIP_STORED)
    with pytest.raises(UnpackRefused, match=r"'huge\.h5' would expand to 3\.0 MiB, over the per-file limit of 2\.0 MiB"):
        unpack(z, area / "work", UnpackLimits(max_entry_bytes=2 * MiB))


def test_entry_count_limit(zip_factory, area):
    z = zip_factory("many.zip", [(f"f{i}.txt", b"x") for i in range(30)])
    with pytest.raises(UnpackRefused, match=r"30 entries exceed the limit of 20 entries"):
        unpack(z, area / "work", UnpackLimits(max_entries=20))


def test_lying_declared_size_is_caught_while_streaming(zip_factory, area):
    # Declare 10 bytes, store 1000: the byte counter stops it, nothing partial is left.
    z = zip_factory("lie.zip", [("a.txt", b"A" * 1000), ("ok.txt", b"fine")], compression=zipfile.ZIP_STORED)
    raw = bytearray(z.read_bytes())
    _patch_sizes(raw, b"a.txt", 10)
    z.write_bytes(raw)
    rep = unpack(z, area / "work")
    assert "a.txt" in rep.skipped
    assert rep.files == ["ok.txt"]


def _patch_sizes(raw: bytearray, name: bytes, size: int) -> None:
    """Rewrite the uncompressed size of ``name`` in its local and central headers."""
    i = 0
    while (i := raw.find(b"PK\x03\x04", i)) >= 0:
        n = struct.unpack_from("<H", raw, i + 26)[0]
        if raw[i + 30 : i + 30 + n] == name:
            struct.pack_into("<I", raw, i + 22, size)
        i += 4
    i = 0
    while (i := raw.find(b"PK\x01\x02", i)) >= 0:
        n = struct.unpack_from("<H", raw, i + 28)[0]
        if raw[i + 46 : i + 46 + n] == name:
            struct.pack_into("<I", raw, i + 24, size)
        i += 4


def _set_encrypted(raw: bytearray) -> None:
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = 0
        while (i := raw.find(sig, i)) >= 0:
            flags = struct.unpack_from("<H", raw, i + off)[0]
            struct.pack_into("<H", raw, i + off, flags | 0x1)
            i += 4


def test_encrypted_zip_gets_a_clear_message(zip_factory, area):
    z = zip_factory("enc.zip", [("weights.h5", b"secret"), ("xor.ipynb", b"{}")], compression=zipfile.ZIP_STORED)
    raw = bytearray(z.read_bytes())
    _set_encrypted(raw)
    z.write_bytes(raw)
    with pytest.raises(UnpackRefused, match="password-protected"):
        unpack(z, area / "work")


def test_one_encrypted_entry_is_skipped_and_named(zip_factory, area):
    inner = make_zip(area.parent / "tmp.zip", [("secret.txt", b"s")], compression=zipfile.ZIP_STORED)
    raw = bytearray(inner.read_bytes())
    _set_encrypted(raw)
    # combine: an encrypted entry plus a normal one, by copying the raw member over
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as src, zipfile.ZipFile(area.parent / "mixed.zip", "w") as dst:
        info = src.infolist()[0]
        dst.writestr("ok.txt", b"fine")
        dst.writestr(info, b"s")
    mixed = bytearray((area.parent / "mixed.zip").read_bytes())
    # mark only the second entry encrypted
    central = mixed.rfind(b"PK\x01\x02")
    struct.pack_into("<H", mixed, central + 8, struct.unpack_from("<H", mixed, central + 8)[0] | 1)
    local = mixed.rfind(b"PK\x03\x04")
    struct.pack_into("<H", mixed, local + 6, struct.unpack_from("<H", mixed, local + 6)[0] | 1)
    (area.parent / "mixed.zip").write_bytes(mixed)
    rep = unpack(area.parent / "mixed.zip", area / "work")
    assert rep.files == ["ok.txt"]
    assert "encrypted" in rep.skipped["secret.txt"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "is a PNG image, not a zip"),
        (b"%PDF-1.4 hello", "is a PDF document, not a zip"),
        (b"Rar!\x1a\x07\x00", "is a RAR archive, not a zip"),
        (b"just some text", "is not a zip archive, not a zip"),
        (b"", "the file is empty"),
    ],
)
def test_not_a_zip(tmp_path, area, content, expected):
    p = tmp_path / "hw.zip"
    p.write_bytes(content)
    with pytest.raises(UnpackRefused) as e:
        unpack(p, area / "work")
    assert expected in str(e.value) and "hw.zip" in str(e.value)


def test_truncated_zip_is_corrupt(zip_factory, area):
    z = zip_factory("t.zip", [("a.bin", os.urandom(5000))])
    z.write_bytes(z.read_bytes()[:3000])
    with pytest.raises(UnpackRefused, match="corrupt or truncated zip"):
        unpack(z, area / "work")


def test_bad_crc_entry_is_skipped_not_fatal(zip_factory, area):
    z = zip_factory("crc.zip", [("a.txt", b"hello world" * 10), ("b.txt", b"fine")], compression=zipfile.ZIP_STORED)
    raw = bytearray(z.read_bytes())
    i = raw.find(b"hello world")
    raw[i] = ord("J")
    z.write_bytes(raw)
    rep = unpack(z, area / "work")
    assert rep.files == ["b.txt"]
    assert "corrupt data" in rep.skipped["a.txt"] and "CRC" in rep.skipped["a.txt"]


def test_junk_is_ignored_and_single_folder_looked_through(zip_factory, area):
    z = zip_factory(
        "s.zip",
        [
            ("HW4/weights.h5", b"h5"),
            ("HW4/.DS_Store", b"junk"),
            ("__MACOSX/HW4/._weights.h5", b"junk"),
            ("HW4/Thumbs.db", b"junk"),
            ("HW4/.ipynb_checkpoints/xor-checkpoint.ipynb", b"{}"),
        ],
    )
    rep = unpack(z, area / "work")
    assert rep.files == ["weights.h5"]
    assert rep.root.name == "HW4"
    assert set(rep.ignored) >= {"HW4/.DS_Store", "__MACOSX/HW4/._weights.h5", "HW4/Thumbs.db"}


def test_one_level_of_nested_zip_is_opened(tmp_path, zip_factory, area):
    level2 = make_zip(tmp_path / "level2.zip", [("deep.txt", b"deep")])
    inner = make_zip(tmp_path / "inner.zip", [("weights.h5", b"h5"), ("level2.zip", level2.read_bytes())])
    z = zip_factory("outer.zip", [("inner.zip", inner.read_bytes()), ("notes.txt", b"n")])
    rep = unpack(z, area / "work")
    assert "inner/weights.h5" in rep.files
    assert "inner/level2.zip" in rep.files  # second level left closed
    assert not any(f.endswith("deep.txt") for f in rep.files)
    assert any("only one level" in n for n in rep.notes)


def test_zip_of_a_zip_is_looked_through(tmp_path, zip_factory, area):
    inner = make_zip(tmp_path / "hw4.zip", [("weights.h5", b"h5"), ("xor.ipynb", b"{}")])
    z = zip_factory("alice.zip", [("hw4.zip", inner.read_bytes())])
    rep = unpack(z, area / "work")
    assert rep.files == ["weights.h5", "xor.ipynb"]


def test_nested_bomb_is_refused_but_the_rest_survives(tmp_path, zip_factory, area):
    bomb = make_zip(tmp_path / "bomb.zip", [("zeros.bin", b"\0" * (20 * MiB))])
    z = zip_factory("s.zip", [("bomb.zip", bomb.read_bytes()), ("weights.h5", b"h5")])
    rep = unpack(z, area / "work")
    assert rep.files == ["weights.h5"]
    assert "compression-ratio limit" in rep.skipped["bomb.zip"]


def test_nested_slip_stays_inside(tmp_path, zip_factory, area):
    inner = make_zip(tmp_path / "in.zip", [("../../../escape.txt", b"x"), ("ok.txt", b"ok")])
    z = zip_factory("s.zip", [("in.zip", inner.read_bytes()), ("top.txt", b"t")])
    rep = unpack(z, area / "work")
    assert "in/ok.txt" in rep.files
    assert "in.zip/../../../escape.txt" in rep.skipped
    only_inside(area)


def test_mojibake_names_are_repaired(zip_factory, area):
    # A tool that wrote UTF-8 bytes without the UTF-8 flag: zipfile reads them as cp437.
    names = ["café/résumé.txt", "日本語.txt", "plain.txt"]
    z = area.parent / "moji.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for n in names:
            zf.writestr(zipfile.ZipInfo(n, (2026, 1, 1, 0, 0, 0)), b"x")
    # zipfile wrote UTF-8 names with the UTF-8 flag; clear the flag, exactly as old Windows/macOS tools did.
    raw = bytearray(z.read_bytes())
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = 0
        while (i := raw.find(sig, i)) >= 0:
            struct.pack_into("<H", raw, i + off, struct.unpack_from("<H", raw, i + off)[0] & ~0x800)
            i += 4
    z.write_bytes(raw)
    with zipfile.ZipFile(z) as zf:
        assert all(not (i.flag_bits & 0x800) for i in zf.infolist())
        assert "caf├⌐/r├⌐sum├⌐.txt" in zf.namelist()
    rep = unpack(z, area / "work")
    assert sorted(rep.files) == sorted(["café/résumé.txt", "日本語.txt", "plain.txt"])


def test_genuine_cp437_names_are_kept(area):
    z = area.parent / "cp.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(zipfile.ZipInfo("Ü.txt".encode("cp437").decode("cp437"), (2026, 1, 1, 0, 0, 0)), b"x")
    rep = unpack(z, area / "work")
    assert rep.files == ["Ü.txt"]


def test_duplicate_entries_keep_the_first(zip_factory, area):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        z = zip_factory("dup.zip", [("a.txt", b"first"), ("a.txt", b"second")])
    rep = unpack(z, area / "work")
    assert (rep.root / "a.txt").read_bytes() == b"first"
    assert "same name" in rep.skipped["a.txt"]


def test_file_and_folder_with_the_same_name(zip_factory, area):
    z = zip_factory("c.zip", [("x", b"file"), ("x/y.txt", b"inside"), ("z.txt", b"z")])
    rep = unpack(z, area / "work")
    assert "x/y.txt" in rep.skipped and "is a file, not a folder" in rep.skipped["x/y.txt"]
    assert rep.files == ["x", "z.txt"]


def test_deep_paths_are_refused(zip_factory, area):
    deep = "/".join(["d"] * 40) + "/f.txt"
    z = zip_factory("deep.zip", [(deep, b"x"), ("ok.txt", b"ok")])
    rep = unpack(z, area / "work")
    assert "folder depth 41 exceeds the limit of 32" in rep.skipped[deep]


def test_a_path_too_long_for_the_file_system_costs_only_its_entry(zip_factory, area):
    """20 folders of 250 bytes pass the depth and part limits, yet no file system opens an 5 KB path."""
    long = "/".join(["d" * 250] * 20) + "/x.txt"
    z = zip_factory("long.zip", [(long, b"x"), ("ok.txt", b"ok")])
    rep = unpack(z, area / "work")
    assert rep.files == ["ok.txt"] and "the path is longer than 1,024 bytes" in rep.skipped[long]
    only_inside(area)


def test_an_entry_with_an_empty_name_is_skipped(zip_factory, area):
    """A NUL as the name's first byte: Python's zipfile cuts the name there and reads it as ''."""
    data = zip_factory("empty.zip", [("X", b"x"), ("ok.txt", b"ok")]).read_bytes()
    z = area.parent / "emptyname.zip"
    z.write_bytes(data.replace(b"X", b"\x00"))
    rep = unpack(z, area / "work")
    assert rep.files == ["ok.txt"] and rep.skipped == {"": "not extracted: empty name"}


def test_folder_source_skips_symlinks_and_applies_limits(tmp_path, area):
    src = tmp_path / "student"
    (src / "HW4").mkdir(parents=True)
    (src / "HW4" / "weights.h5").write_bytes(b"h5")
    (src / "HW4" / "shadow").symlink_to("/etc/shadow")
    (src / "HW4" / "up").symlink_to(tmp_path, target_is_directory=True)
    (src / "HW4" / ".DS_Store").write_bytes(b"junk")
    rep = unpack(src, area / "work")
    assert rep.files == ["weights.h5"]
    assert "symbolic links" in rep.skipped["HW4/shadow"] and "symbolic links" in rep.skipped["HW4/up"]
    assert not any(p.is_symlink() for p in (area / "work").rglob("*"))
    with pytest.raises(UnpackRefused, match="over the limit of"):
        unpack(src, area / "work2", UnpackLimits(max_total_bytes=1))


def test_symlinked_submission_is_refused(tmp_path, zip_factory, area):
    z = zip_factory("s.zip", [("a.txt", b"a")])
    link = tmp_path / "link.zip"
    link.symlink_to(z)
    with pytest.raises(UnpackRefused, match="symbolic link"):
        unpack(link, area / "work")


def test_unpack_refuses_an_existing_work_folder(zip_factory, area):
    (area / "work").mkdir()
    z = zip_factory("s.zip", [("a.txt", b"a")])
    with pytest.raises(FileExistsError):
        unpack(z, area / "work")

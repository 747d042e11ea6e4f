"""Discovery and student ids: no two submissions ever share an id, and ids are stable across runs."""

from __future__ import annotations

from pathlib import Path

from conftest import make_zip

from grader.core.results import QuestionResult, Status, SubmissionResult
from grader.intake.sources import discover, is_plain_id, safe_id, student_id, unique_ids
from grader.score.store import ResultStore


def _zips(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        make_zip(folder / n, [("a.txt", n.encode())])


def test_names_that_normalise_alike_get_distinct_ids(tmp_path):
    # the security review's case: these became a_b, a_b-2, a_b-2
    _zips(tmp_path, ["a b.zip", "a_b-2.zip", "a_b.zip", "A_B.zip", "a\u00a0b.zip", "a/b".replace("/", "\\") + ".zip"])
    found = discover([tmp_path])
    ids = [s.student for s in found]
    assert len({i.casefold() for i in ids}) == len(ids), ids
    by_name = {s.path.name: s.student for s in found}
    assert by_name["a_b-2.zip"] == "a_b-2"  # plain names are kept as they are...
    assert by_name["a b.zip"] != "a_b"  # ...and a lossy name can never become one of them


def test_ids_are_stable_and_do_not_depend_on_the_rest_of_the_class(tmp_path):
    _zips(tmp_path / "one", ["a b.zip", "carol.zip"])
    _zips(tmp_path / "two", ["a b.zip", "carol.zip", "zed x.zip", "a_b.zip"])
    one = {s.path.name: s.student for s in discover([tmp_path / "one"])}
    two = {s.path.name: s.student for s in discover([tmp_path / "two"])}
    assert one["a b.zip"] == two["a b.zip"] and one["carol.zip"] == two["carol.zip"] == "carol"


def test_same_name_in_two_sections_and_case_only_differences(tmp_path):
    _zips(tmp_path / "sec1", ["alice.zip"])
    _zips(tmp_path / "sec2", ["Alice.zip", "bob.zip"])
    found = discover([tmp_path / "sec1", tmp_path / "sec2"])
    ids = [s.student for s in found]
    assert len({i.casefold() for i in ids}) == 3
    assert discover([tmp_path / "sec1", tmp_path / "sec2"]) == found  # deterministic


def test_a_name_forged_to_look_like_a_hashed_id_cannot_take_it(tmp_path):
    forged = safe_id("a b")  # what "a b.zip" becomes: a_b-<hash>
    assert not is_plain_id("a b") and is_plain_id(forged)
    ids = unique_ids([("a b", "0:a b.zip"), (forged, f"0:{forged}.zip")])
    assert ids[0] != ids[1]


def test_hostile_names():
    for name in ["", ".", "..", "../../etc", "CON", "nul.txt", "-rf", "x" * 500, "\x1b[2J", "名前", "a\nb"]:
        sid = safe_id(name)
        assert is_plain_id(sid), (name, sid)
        assert "/" not in sid and "\\" not in sid and len(sid) <= 100
    assert student_id(Path("alice.zip")) == "alice" and student_id(Path("bob.zip.zip")) == "bob"


def test_a_record_is_only_ever_its_own_students(tmp_path):
    store = ResultStore(tmp_path)
    q = QuestionResult(id="q", title="t", score=1, max_score=1, status=Status.PASSED, reason="")
    store.put("alice", "k1", SubmissionResult(student="alice", source="-", total=1, max_total=1, questions=[q]))
    assert store.get("alice", "k1") is not None
    # a record file copied (or written) under another student's name is never used for them
    (store.path("bob")).write_bytes(store.path("alice").read_bytes())
    assert store.get("bob", "k1") is None

"""The instructor's decisions: overrides as data, applied once at the class-level step, never lost, never
applied to a submission that changed since."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
from pathlib import Path

import pytest
from render_samples import HOSTILE, RUBRIC, sample_class, store_class, student

from grader.classstep.classwide import class_step
from grader.classstep.overrides import (
    Override,
    OverridesError,
    apply_overrides,
    clear_override,
    load_overrides,
    overrides_path,
    parse_decision,
    parse_overrides,
    put_override,
    restore_override,
)
from grader.core.results import Status
from grader.render import ClassReport, get_format, write_outputs
from grader.render.export import export_class


def ov(student="amy", question="q2", **kw) -> Override:
    if not {"score", "delta", "accept"} & set(kw):
        kw["score"] = 0.25
    return Override(student=student, question=question, **kw)


def test_parse_decision():
    assert parse_decision("0.25") == {"score": 0.25}
    assert parse_decision("3") == {"score": 3.0}
    assert parse_decision(".5") == {"score": 0.5}
    assert parse_decision("+0.5") == {"delta": 0.5}
    assert parse_decision("-1") == {"delta": -1.0}
    assert parse_decision(" accept ") == {"accept": True}
    for bad in ("abc", "nan", "inf", "1e400", "--1", "0.5.1", "", "1,5"):
        with pytest.raises(ValueError, match="expected a score"):
            parse_decision(bad)


def test_an_override_is_exactly_one_decision():
    with pytest.raises(ValueError, match="exactly one of score, delta or accept"):
        Override(student="a", question="q2")
    with pytest.raises(ValueError, match="got score and delta"):
        Override(student="a", question="q2", score=1, delta=1)
    with pytest.raises(ValueError, match="finite"):
        Override(student="a", question="q2", score=float("nan"))


def test_set_delta_accept_and_clamp():
    results = sample_class()
    amy0 = next(r for r in results if r.student == "amy").model_copy(deep=True)
    rep = apply_overrides(RUBRIC, results, [
        ov("amy", "q2", score=0.25, comment="the screenshot shows the wrong model"),
        ov("amy", "backprop", delta=+0.5),
        ov("ben", "q2", accept=True),
        ov("ben", "backprop", delta=-5),  # clamped at 0
        ov("eve", "arch", score=7),  # a hand-edited score above the points: clamped at 1
    ])
    by = {r.student: r for r in results}
    amy = by["amy"]
    assert amy.question("q2").score == 0.25 and amy.question("q2").status is Status.PARTIAL
    assert amy.question("q2").review.changed and amy.question("q2").review.automatic == 0.5
    assert amy.question("q2").review.comment == "the screenshot shows the wrong model"
    assert amy.question("backprop").score == 1.5
    assert amy.total == pytest.approx(amy0.total - 0.25 + 0.5)
    assert by["ben"].question("q2").score == 0.5 and not by["ben"].question("q2").review.changed
    assert by["ben"].question("backprop").score == 0 and by["ben"].question("backprop").status is Status.FAILED
    assert by["eve"].question("arch").score == 1 and by["eve"].question("arch").status is Status.PASSED
    assert len(rep.applied) == 5 and not rep.stale and not rep.unknown
    assert by["cal"].question("q2").review is None


def test_a_stale_override_is_reported_not_applied():
    results = sample_class()
    rep = apply_overrides(RUBRIC, results, [
        ov("amy", "q2", score=0, submission_hash="old-hash", at="2026-03-01T20:00:00+01:00"),
        ov("ben", "q2", score=1, submission_hash="def"),  # the same submission as graded: applied
        ov("eve", "q2", score=1),  # no hash (written by hand): applied whatever was handed in
    ])
    by = {r.student: r for r in results}
    assert by["amy"].question("q2").score == 0.5 and by["amy"].question("q2").review is None
    assert by["amy"].question("q2").awaiting_review  # back in the review queue
    assert by["ben"].question("q2").score == 1 and by["eve"].question("q2").score == 1
    assert [s.override.student for s in rep.stale] == ["amy"]
    (note,) = rep.notes()
    assert "amy q2" in note and "stale" in note and "old-hash" in note and "def" in note and "2026-03-01" in note


def test_decisions_that_match_nothing_are_reported():
    results = sample_class()
    rep = apply_overrides(RUBRIC, results, [ov("zed", "q2"), ov("amy", "q9")])
    assert [why for _, why in rep.unknown] == ["no such student in this class", "no question 'q9' in the rubric"]
    assert len(rep.notes()) == 2


def test_relative_questions_are_overridden_after_scaling(tmp_path):
    put_override(tmp_path, ov("ben", "digits", delta=1, comment="regrade request: model was fine"))
    report = class_step(RUBRIC, sample_class(), tmp_path)
    ben = next(r for r in report.results if r.student == "ben").question("digits")
    assert ben.review.automatic == pytest.approx(40 * 0.81 / 0.95, abs=1e-3)  # the class-relative score
    assert ben.score == pytest.approx(ben.review.automatic + 1, abs=1e-3)
    assert report.overrides.folder == tmp_path.resolve() and len(report.overrides.applied) == 1


def test_file_round_trip_and_hostile_names(tmp_path):
    weird = ov("a: &x *x\n- [b]", "q2", score=0.5, comment=HOSTILE + " ünï 😀\n line two", by="prof 'x'")
    put_override(tmp_path, weird)
    put_override(tmp_path, ov("ben", "q2", accept=True, at="2026-03-01T20:00:00+01:00", submission_hash="def"))
    text = overrides_path(tmp_path).read_text()
    assert text.startswith("# The instructor's decisions")
    got = load_overrides(tmp_path)
    assert {o.student for o in got} == {weird.student, "ben"}
    assert next(o for o in got if o.student == weird.student) == weird
    assert "accept: true" in text and "score:" not in text.split("student: ben")[1]


def test_put_replaces_clear_removes_restore_undoes(tmp_path):
    assert put_override(tmp_path, ov(score=0.25)) is None
    first = load_overrides(tmp_path)[0]
    previous = put_override(tmp_path, ov(score=0.75))
    assert previous == first and [o.score for o in load_overrides(tmp_path)] == [0.75]
    restore_override(tmp_path, "amy", "q2", previous)
    assert [o.score for o in load_overrides(tmp_path)] == [0.25]
    assert clear_override(tmp_path, "amy", "q2") == first
    assert load_overrides(tmp_path) == []
    assert clear_override(tmp_path, "amy", "q2") is None
    restore_override(tmp_path, "amy", "q2", None)
    assert load_overrides(tmp_path) == []


@pytest.mark.parametrize("text, message", [
    ("overrides:\n  - {student: a, question: q2, score: abc}\n",
     "overrides.yaml: overrides[0].score: expected a number, got 'abc'"),
    ("overrides:\n  - {student: a, question: q2, score: 1, delta: 1}\n",
     "overrides[0]: give exactly one of score, delta or accept: true (got score and delta)"),
    ("overrides:\n  - {student: a, question: q2, scroe: 1}\n", "overrides[0].scroe: unknown key"),
    ("overrides:\n  - {student: a, question: q2, score: 1}\n  - {student: a, question: q2, delta: 1}\n",
     "overrides[1]: a second decision for a q2 (also overrides[0]); keep one"),
    ("overrides: {a: 1}\n", "overrides: expected a list, got a mapping"),
    ("- a\n", "expected a mapping with one key, 'overrides'"),
    ("overrides: [\n", "not valid YAML"),
    ("overrides:\n  - {student: a, student: b, question: q2, score: 1}\n", "duplicate key 'student'"),
])
def test_a_broken_file_is_named_with_the_entry(text, message):
    with pytest.raises(OverridesError) as e:
        parse_overrides(text)
    assert message in str(e.value)


def test_empty_file_and_no_file_mean_no_decisions(tmp_path):
    assert load_overrides(tmp_path) == []
    overrides_path(tmp_path).write_text("# nothing yet\n")
    assert load_overrides(tmp_path) == []


def test_the_file_is_not_followed_through_a_symlink(tmp_path):
    secret = tmp_path / "secret.yaml"
    secret.write_text("overrides: []\n")
    out = tmp_path / "out"
    out.mkdir()
    overrides_path(out).symlink_to(secret)
    with pytest.raises(OverridesError, match="cannot read"):
        load_overrides(out)


def _writer(args):
    out, worker, n = args
    for i in range(n):
        put_override(Path(out), Override(student=f"s{worker}", question=f"q{i}", score=i, comment="x" * 500))
    return worker


def test_concurrent_writers_lose_nothing(tmp_path):
    workers, per = 6, 15
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        assert sorted(pool.map(_writer, [(str(tmp_path), w, per) for w in range(workers)])) == list(range(workers))
    got = load_overrides(tmp_path)
    assert len(got) == workers * per
    assert {(o.student, o.question) for o in got} == {(f"s{w}", f"q{i}") for w in range(workers) for i in range(per)}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".overrides.yaml.")]  # no temporary left


def test_no_format_can_be_written_without_the_decisions(tmp_path):
    results = sample_class()
    put_override(tmp_path, ov("amy", "q2", score=0, comment="wrong screenshot"))
    plain = ClassReport(RUBRIC, results)
    with pytest.raises(ValueError, match="the instructor's decisions were not applied"):
        write_outputs(tmp_path, plain, ["csv"])
    elsewhere = class_step(RUBRIC, sample_class(), tmp_path / "other")
    with pytest.raises(ValueError, match="not applied"):
        write_outputs(tmp_path, elsewhere, ["csv"])
    report = class_step(RUBRIC, sample_class(), tmp_path)
    write_outputs(tmp_path, report, ["csv"])
    rows = list(csv.reader(io.StringIO((tmp_path / "grades.csv").read_text())))
    amy = dict(zip(rows[0], next(r for r in rows if r[0] == "amy"), strict=True))
    assert amy["q2"] == "0"


def test_every_output_shows_the_decision(tmp_path):
    results = sample_class()
    store_class(tmp_path, results)
    put_override(tmp_path, ov("amy", "q2", score=0.25, comment="<b>bias</b> not visible", by="jdoe",
                              at="2026-03-01T20:14:03+01:00", submission_hash="def"))
    put_override(tmp_path, ov("ben", "q2", accept=True, submission_hash="def"))
    put_override(tmp_path, ov("eve", "arch", score=1, submission_hash="changed"))
    report = export_class(tmp_path, ["html", "gradescope", "csv", "summary", "summary-html", "moodle", "terminal"])
    amy = next(r for r in report.results if r.student == "amy")
    assert amy.question("q2").score == 0.25

    page = (tmp_path / "students" / "amy" / "feedback.html").read_text()
    assert "your instructor changed the score from 0.5 to 0.25: &lt;b&gt;bias&lt;/b&gt; not visible" in page
    assert "<b>bias</b>" not in page and "badge reviewed" in page
    assert "Your instructor reviews by hand" not in page
    results_json = json.loads((tmp_path / "students" / "amy" / "results.json").read_text())
    q2 = next(t for t in results_json["tests"] if t["number"] == "q2")
    assert q2["score"] == 0.25 and "changed the score from 0.5 to 0.25: <b>bias</b> not visible" in q2["output"]
    assert results_json["score"] == amy.total
    rows = {r[0]: r for r in csv.reader(io.StringIO((tmp_path / "grades.csv").read_text()))}
    assert rows["amy"][1] == "0.25"
    assert "q2 0.25/1 (instructor: <b>bias</b> not visible)" in (tmp_path / "moodle.csv").read_text()
    assert "changed the score from 0.5 to 0.25" in (tmp_path / "students" / "amy" / "report.txt").read_text()

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["manual_review"] == {}  # amy's flagged q2 was reviewed
    review = summary["review"]
    assert (review["flagged"], review["reviewed"], review["unreviewed"]) == (1, 1, 0)
    assert review["decisions"]["amy"]["q2"] == {"score": 0.25, "automatic": 0.5, "changed": True,
                                                "comment": "<b>bias</b> not visible", "by": "jdoe",
                                                "at": "2026-03-01T20:14:03+01:00"}
    assert review["decisions"]["ben"]["q2"]["changed"] is False
    assert [s["student"] for s in review["stale"]] == ["eve"]
    html = (tmp_path / "summary.html").read_text()
    assert "1 of 1 flagged items reviewed" in html and "eve arch: your decision" in html
    assert "&lt;b&gt;bias&lt;/b&gt; not visible" in html


def test_unreviewed_items_are_counted(tmp_path):
    results = [student("amy", 0.9, review=True), student("ben", 0.8, review=True), student("cal", 0.7)]
    store_class(tmp_path, results)
    report = export_class(tmp_path, ["summary", "summary-html", "html"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["manual_review"] == {"amy": ["q2"], "ben": ["q2"]}
    assert (summary["review"]["flagged"], summary["review"]["unreviewed"]) == (2, 2)
    assert "0 of 2 flagged items reviewed" in (tmp_path / "summary.html").read_text()
    assert "Flagged for manual review" in get_format("html").render(report.results[0], report)
    put_override(tmp_path, ov("ben", "q2", accept=True))
    export_class(tmp_path, ["summary"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["manual_review"] == {"amy": ["q2"]} and summary["review"]["unreviewed"] == 1


def test_a_decision_on_an_unreadable_submission_goes_stale_when_it_changes(tmp_path):
    from grader.rubric import parse_rubric
    from grader.score.pipeline import grade_submission

    rubric = parse_rubric("name: t\nquestions:\n  - {id: a, title: a, points: 1, checks: [{kind: file_present, "
                          "file: a.txt}]}\n")
    broken = tmp_path / "dave.zip"
    broken.write_bytes(b"%PDF-1.4 not a zip")
    first = grade_submission(broken, rubric, tmp_path / "w1")
    assert first.errors and first.submission_hash.startswith("bytes:")
    decision = Override(student="dave", question="a", score=1, submission_hash=first.submission_hash)
    again = grade_submission(broken, rubric, tmp_path / "w2")
    assert apply_overrides(rubric, [again], [decision]).applied  # the same bytes: still applies
    broken.write_bytes(b"%PDF-1.4 another document")
    changed = grade_submission(broken, rubric, tmp_path / "w3")
    assert apply_overrides(rubric, [changed], [decision]).stale

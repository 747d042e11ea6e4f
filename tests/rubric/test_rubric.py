"""Rubric loading: the default rubric is valid, and every mistake gets a message naming its key path."""

from __future__ import annotations

import textwrap

import pytest

from grader.rubric import RubricError, load_rubric, parse_rubric

GOOD = """
name: test
questions:
  - id: a
    title: A
    points: 1
    files: [a.txt]
    checks:
      - kind: file_present
        file: a.txt
  - id: b
    title: B
    points: 2
    checks:
      - kind: file_present
        file: b.txt
  - id: c
    title: C
    points: 0.5
    checks:
      - kind: image
        file: c.png
        manual_review: true
  - id: d
    title: D
    points: 1
    checks:
      - kind: file_present
        file: d.txt
"""


def problems(text: str) -> list[str]:
    with pytest.raises(RubricError) as e:
        parse_rubric(textwrap.dedent(text), source="r.yaml")
    return [f"{p}: {m}" if p else m for p, m in e.value.problems]


def test_default_rubric_has_the_assignment_questions(default_rubric):
    ids = {q.id: q.points for q in default_rubric.questions}
    assert ids == {"q1a": 0.5, "q1b": 0.5, "q2": 1, "q3": 2, "q4a": 1, "q4b": 1, "backprop": 3, "digits": 40}
    assert default_rubric.max_total == 49


def test_good_rubric_parses():
    r = parse_rubric(GOOD)
    assert [q.id for q in r.questions] == ["a", "b", "c", "d"]
    assert r.questions[2].checks[0].params.manual_review is True


def test_points_not_a_number():
    assert problems(GOOD.replace("points: 1\n    checks:\n      - kind: file_present\n        file: d.txt",
                                 "points: two\n    checks:\n      - kind: file_present\n        file: d.txt")) == [
        "questions[3].points: expected a number, got 'two'"
    ]


def test_negative_points():
    assert problems(GOOD.replace("points: 2", "points: -2")) == ["questions[1].points: expected a number >= 0, got -2"]


def test_missing_key():
    assert problems(GOOD.replace("    title: B\n", "")) == ["questions[1].title: required key is missing"]


def test_unknown_key_lists_the_allowed_ones():
    (msg,) = problems(GOOD.replace("    title: B\n", "    title: B\n    pionts: 3\n"))
    assert msg.startswith("questions[1].pionts: unknown key (allowed here: id, title, points, files, checks")


def test_unknown_check_kind():
    (msg,) = problems(GOOD.replace("kind: image", "kind: imagee"))
    assert msg.startswith("questions[2].checks[0].kind: unknown check kind 'imagee' (known kinds: ")
    assert "image" in msg and "file_present" in msg


def test_check_without_kind():
    (msg,) = problems(GOOD.replace("      - kind: image\n        file: c.png", "      - file: c.png"))
    assert msg.startswith("questions[2].checks[0].kind: required key is missing")


def test_check_parameter_errors_carry_the_path():
    assert problems(GOOD.replace("manual_review: true", "manual_review: maybe")) == [
        "questions[2].checks[0].manual_review: expected true or false, got 'maybe'"
    ]
    (msg,) = problems(GOOD.replace("manual_review: true", "manual_reveiw: true"))
    assert msg.startswith("questions[2].checks[0].manual_reveiw: unknown key (allowed here: file, ")
    assert problems(GOOD.replace("        file: b.txt\n", "")) == [
        "questions[1].checks[0].file: required key is missing"
    ]


def test_check_weight_must_be_a_number():
    assert problems(GOOD.replace("        file: b.txt", "        file: b.txt\n        weight: lots")) == [
        "questions[1].checks[0].weight: expected a number, got 'lots'"
    ]


def test_several_problems_are_reported_together():
    got = problems(GOOD.replace("points: 2", "points: x").replace("kind: image", "kind: nope"))
    assert len(got) == 2
    assert got[0].startswith("questions[2].checks[0].kind: unknown check kind 'nope'")
    assert got[1] == "questions[1].points: expected a number, got 'x'"


def test_duplicate_question_ids():
    assert problems(GOOD.replace("id: d", "id: a")) == ["questions[3].id: duplicate id 'a' (also questions[0])"]


def test_bad_id():
    (msg,) = problems(GOOD.replace("id: d", "id: 'd d'"))
    assert msg.startswith("questions[3].id: expected a short id")


def test_duplicate_yaml_key_is_an_error():
    (msg,) = problems(GOOD.replace("    title: A\n", "    title: A\n    title: AA\n"))
    assert "duplicate key 'title'" in msg and "line" in msg


def test_invalid_yaml_points_at_the_line():
    (msg,) = problems("name: x\nquestions: [\n")
    assert msg.startswith("not valid YAML") and "line" in msg


def test_not_a_mapping():
    assert problems("- a\n- b\n") == ["expected a mapping with 'name' and 'questions', got a list"]


def test_empty_questions():
    assert problems("name: x\nquestions: []\n") == ["questions: expected at least 1 item(s), got an empty list"]


def test_questions_not_a_list():
    assert problems("name: x\nquestions: 3\n") == ["questions: expected a list, got 3"]


def test_limits_are_configurable_and_checked():
    r = parse_rubric(GOOD + "limits:\n  max_entries: 10\n  max_ratio: 50\n")
    assert r.limits.max_entries == 10 and r.limits.max_ratio == 50
    assert problems(GOOD + "limits:\n  max_entries: lots\n") == ["limits.max_entries: expected a whole number, got 'lots'"]


def test_missing_file(tmp_path):
    with pytest.raises(RubricError, match="file not found"):
        load_rubric(tmp_path / "nope.yaml")


def test_error_text_names_the_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(GOOD.replace("points: 2", "points: two"))
    with pytest.raises(RubricError) as e:
        load_rubric(p)
    assert str(e.value) == f"{p}: questions[1].points: expected a number, got 'two'"


def test_digest_ignores_comments_but_not_meaning():
    a = parse_rubric(GOOD)
    b = parse_rubric("# a comment\n" + GOOD)
    c = parse_rubric(GOOD.replace("points: 2", "points: 3"))
    assert a.digest() == b.digest() != c.digest()

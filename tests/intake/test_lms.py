"""LMS bulk-download names: who handed in what, and which attempt is the latest."""

from __future__ import annotations

import time

import pytest

from grader.intake.lms import (
    BLACKBOARD,
    CANVAS,
    MOODLE,
    canvas_anonymous,
    canvas_original_name,
    decode_receipt,
    detect_lms,
    latest_attempts,
    moodle_ambiguous,
    parse_blackboard,
    parse_blackboard_receipt,
    parse_canvas,
    parse_lms_name,
    parse_moodle,
    plain_id,
)


def test_canvas_names():
    n = parse_canvas("doejane_3143_207797_hw4_final.zip")
    assert (n.lms, n.user, n.name, n.attempt, n.filename, n.late) == (CANVAS, "3143", "doejane", "207797",
                                                                      "hw4_final.zip", False)
    late = parse_canvas("doejane_LATE_3143_207800_hw4.zip")
    assert late.late and late.user == "3143" and late.filename == "hw4.zip"
    assert parse_canvas("müllerjürgen_12_34_weights.h5").name == "müllerjürgen"
    assert n.student_id == "doejane_3143"
    for bad in ("hw4.zip", "doe jane_1_2_x.zip", "doejane_12_x.zip", "_1_2_x.zip", "doejane_1_2_", "doe-jane_1_2_x.zip"):
        assert parse_canvas(bad) is None, bad


def test_canvas_names_as_content_zipper_writes_them():
    # sortable name "van_der_Berg, Anna": lowercased, non-word characters removed, underscores kept
    n = parse_canvas("van_der_berganna_3165_207797_hw4.zip")
    assert (n.user, n.name, n.attempt, n.filename, n.late) == ("3165", "van_der_berganna", "207797", "hw4.zip", False)
    assert n.student_id == "van_der_berganna_3165"
    late = parse_canvas("van_der_berganna_LATE_3165_207800_hw4-2.zip")
    assert (late.user, late.name, late.late, late.filename) == ("3165", "van_der_berganna", True, "hw4-2.zip")
    assert parse_canvas("li2wei_3171_207810_a b (1).ipynb").name == "li2wei"  # display names keep spaces
    text = parse_canvas("doejane_LATE_3143_text.html")
    assert (text.user, text.filename, text.attempt, text.late) == ("3143", "text.html", "", True)
    assert parse_canvas("doejane_3143_link.html").filename == "link.html"
    assert parse_canvas("doejane_3143_notes.html") is None


def test_canvas_anonymous_names():
    n = parse_canvas("anon_aB3dE_207797_hw4.zip")
    assert (n.anonymous, n.user, n.attempt, n.filename, n.late) == (True, "aB3dE", "207797", "hw4.zip", False)
    assert n.key == "anon_aB3dE" and n.student_id == "anon_aB3dE"
    late = parse_canvas("LATE_anon_Xy7Pq_207801_hw4.zip")
    assert late.anonymous and late.late and late.user == "Xy7Pq"
    assert parse_canvas("anon_k9MnR_text.html").filename == "text.html"
    # a student whose sortable name squashes to "anon" in a named download is that student
    named = parse_canvas("anon_3143_207797_hw4.zip", anonymous=False)
    assert (named.anonymous, named.name, named.user) == (False, "anon", "3143")
    assert canvas_anonymous(["anon_aB3dE_1_a.zip", "LATE_anon_Xy7Pq_2_b.zip", "notes.txt"])
    assert not canvas_anonymous(["doejane_1_10_a.zip", "anon_3143_11_b.zip", "smithbob_2_12_c.zip"])
    kept = latest_attempts([parse_canvas("anon_aB3dE_1_a.zip"), parse_canvas("anon_Xy7Pq_2_a.zip")])
    assert sorted(kept) == ["anon_Xy7Pq", "anon_aB3dE"]  # two students, never one


def test_canvas_counters_merge_re_uploads_but_not_numbered_files():
    kept = latest_attempts([parse_canvas(n) for n in (
        "doejane_1_10_part-1.ipynb", "doejane_1_11_part-2.ipynb", "doejane_1_12_weights.h5",
        "doejane_1_20_weights-1.h5")])
    assert [n.filename for n in kept["1"]] == ["part-1.ipynb", "part-2.ipynb", "weights-1.h5"]


def test_receipts_in_any_line_ending_and_encoding():
    text = "Name: Mary Ann O'Neil (mary_ann.oneil)\r\nAssignment: HW 4\r\n"
    receipt = parse_blackboard("HW_4_mary_ann.oneil_attempt_2026-03-01-23-59-59.txt")
    for data in (text.encode(), text.encode("utf-8-sig"), text.encode("utf-16"), text.replace("\r\n", "\r").encode(),
                 text.replace("\r\n", "\n").encode("cp1252")):
        assert parse_blackboard_receipt(decode_receipt(data), receipt) == ("Mary Ann O'Neil", "mary_ann.oneil"), data
    assert parse_blackboard("HW_4_mary_ann.oneil_attempt_2026-03-01-23-59-59_x.zip").guessed
    assert not parse_blackboard("HW4_jdoe_attempt_2026-03-01-23-59-59_x.zip").guessed


def test_moodle_names():
    folder = parse_moodle("Jane Doe_12345_assignsubmission_file_")
    assert (folder.lms, folder.user, folder.name, folder.filename) == (MOODLE, "12345", "Jane Doe", "")
    flat = parse_moodle("Ana María O'Neil_77_assignsubmission_file_HW4 (1).zip")
    assert flat.name == "Ana María O'Neil" and flat.filename == "HW4 (1).zip"
    assert flat.student_id == "Ana_Maria_O_Neil_77"
    anon = parse_moodle("Participant_4021_assignsubmission_file_")
    assert anon.name == "Participant" and anon.user == "4021"
    assert parse_moodle("Jane Doe_12345_assignsubmission_onlinetext_onlinetext.html").filename == "onlinetext.html"
    # a file name (or a full name) may imitate the pattern: two markers could be either participant's
    assert parse_moodle("Jane Doe_1_assignsubmission_file_Eve_2_assignsubmission_file_x.zip") is None
    assert moodle_ambiguous("Jane Doe_1_assignsubmission_file_Eve_2_assignsubmission_file_x.zip")
    # a folder's name ends with the LMS's marker: the last one is the participant's
    evil = parse_moodle("Jane Doe_1_assignsubmission_file__2_assignsubmission_file_", folder=True)
    assert evil.user == "2" and evil.name == "Jane Doe_1_assignsubmission_file_"
    assert parse_moodle("Jane Doe_1_assignsubmission_file_x", folder=True) is None
    assert parse_moodle("Jane Doe_assignsubmission_file_") is None


def test_blackboard_names_and_receipts():
    n = parse_blackboard("HW4_jdoe_attempt_2024-03-01-23-59-59_hw4.zip")
    assert (n.lms, n.user, n.assignment, n.attempt, n.filename, n.receipt) == (
        BLACKBOARD, "jdoe", "HW4", "2024-03-01-23-59-59", "hw4.zip", False)
    r = parse_blackboard("Homework_4_Keras_jdoe_attempt_2024-03-01-23-59-59.txt")
    assert r.receipt and r.user == "jdoe" and r.assignment == "Homework_4_Keras"
    # an underscore in the username: the receipt says where the assignment's name ends
    amb = "HW_4_jane_doe_attempt_2024-03-01-23-59-59_x.zip"
    assert parse_blackboard(amb).user == "doe"
    assert parse_blackboard(amb, usernames=["jane_doe"]).user == "jane_doe"
    assert parse_blackboard(amb, usernames=["jane_doe"]).assignment == "HW_4"
    receipt = "Name: Jane Doe (jane_doe)\nAssignment: HW 4\nDate Submitted: Friday, 1 March 2024 23:59:59\n"
    assert parse_blackboard_receipt(receipt) == ("Jane Doe", "jane_doe")
    assert parse_blackboard_receipt("no name here") is None
    for bad in ("jdoe_attempt_2024-03-01-23-59-59_x.zip", "HW4_jdoe_attempt_2024-03-01_x.zip",
                "HW4_jdoe_attempt_2024-03-01-23-59-59_", "HW4_jdoe_attempt_2024-03-01-23-59-59.txt_x"):
        assert parse_blackboard(bad) is None, bad
    # the assignment's name, from the download's receipts, settles a username with "_" without its receipt
    assert parse_blackboard(amb, assignment="HW_4").user == "jane_doe"


def test_blackboard_the_first_attempt_marker_is_the_lms_and_receipts_speak_for_their_own_user():
    # mallory's file, named like a later attempt of alice's: still mallory's, same attempt, her file name
    n = parse_blackboard("HW4_mallory_attempt_2026-03-01-11-00-00_x_alice_attempt_2099-12-31-23-59-59_hw4.zip")
    assert (n.user, n.attempt, n.filename, n.receipt) == (
        "mallory", "2026-03-01-11-00-00", "x_alice_attempt_2099-12-31-23-59-59_hw4.zip", False)
    # a file of hers shaped like a receipt is a file, not a receipt
    r = parse_blackboard("HW4_mallory_attempt_2026-03-01-11-00-00_x_alice_attempt_2099-12-31-23-59-59.txt")
    assert not r.receipt and r.user == "mallory"
    receipt = parse_blackboard("HW4_mallory_attempt_2026-03-01-11-00-00.txt")
    # only the first line is the LMS's; a comment the student typed later is not read
    text = "Name: Mal Lory (mallory)\nComments:\nName: Evil (alice)\n"
    assert parse_blackboard_receipt(text, receipt) == ("Mal Lory", "mallory")
    assert parse_blackboard_receipt("Assignment: HW4\nName: Evil (alice)\n", receipt) is None
    # a receipt that names another user than its own file name does is not believed
    assert parse_blackboard_receipt("Name: Evil (alice)\n", receipt) is None
    kept = latest_attempts([n, parse_blackboard("HW4_alice_attempt_2026-03-01-10-00-00_hw4.zip")])
    assert [x.filename for x in kept["HW4_alice"]] == ["hw4.zip"]


def test_canvas_the_prefix_decides_whatever_the_file_is_called():
    n = parse_canvas("smithbob_3150_207990_doejane_LATE_3143_999999_hw4.zip")
    assert (n.user, n.name, n.attempt, n.late, n.filename) == (
        "3150", "smithbob", "207990", False, "doejane_LATE_3143_999999_hw4.zip")


def test_detect_lms_needs_most_names_to_agree():
    canvas = ["doejane_1_10_hw.zip", "smithbob_2_11_hw.zip", "notes.txt"]
    assert detect_lms(canvas) == CANVAS
    assert detect_lms(["Jane Doe_1_assignsubmission_file_", "Bob Li_2_assignsubmission_file_"]) == MOODLE
    assert detect_lms(["A_x_attempt_2024-01-01-00-00-00_a.zip", "A_x_attempt_2024-01-01-00-00-00.txt"]) == BLACKBOARD
    assert detect_lms(["alice.zip", "bob.zip", "doejane_1_10_hw.zip"]) is None
    assert detect_lms([".DS_Store"]) is None
    assert parse_lms_name("alice.zip") is None


def test_latest_attempt_only():
    canvas = [parse_canvas(n) for n in (
        "doejane_1_100_hw4.zip", "doejane_LATE_1_250_hw4-1.zip", "smithbob_2_120_weights.h5",
        "smithbob_2_130_xor.ipynb", "smithbob_2_300_weights-1.h5")]
    kept = latest_attempts(canvas)
    assert [n.filename for n in kept["1"]] == ["hw4-1.zip"]
    assert [n.filename for n in kept["2"]] == ["weights-1.h5", "xor.ipynb"]
    bb = [parse_blackboard(n) for n in (
        "HW4_jdoe_attempt_2024-03-01-10-00-00_hw4.zip", "HW4_jdoe_attempt_2024-03-01-10-00-00.txt",
        "HW4_jdoe_attempt_2024-03-02-09-30-00_hw4_v2.zip", "HW4_jdoe_attempt_2024-03-02-09-30-00_notes.pdf",
        "HW4_jdoe_attempt_2024-03-02-09-30-00.txt")]
    assert [n.filename for n in latest_attempts(bb)["HW4_jdoe"]] == ["hw4_v2.zip", "notes.pdf"]


def test_canvas_original_names_and_safe_ids():
    assert canvas_original_name("weights-1.h5") == "weights.h5"
    assert canvas_original_name("xor-12.ipynb") == "xor.ipynb"
    assert canvas_original_name("report-2024.pdf") == "report-2024.pdf"
    assert canvas_original_name("hw4.zip") == "hw4.zip"
    assert plain_id("../../etc/passwd") == "etc_passwd"
    assert plain_id("\u202eevil") == "evil"
    assert plain_id("") == "submission"
    assert len(plain_id("a" * 500)) == 120


@pytest.mark.parametrize("parse", [parse_canvas, parse_moodle, parse_blackboard])
def test_parsers_are_fast_on_hostile_names(parse):
    hostile = ["_" * 100_000, "a_1_" * 25_000, "x_attempt_" * 10_000, "_1_assignsubmission_a" * 5000]
    t = time.perf_counter()
    for name in hostile:
        parse(name)
    assert time.perf_counter() - t < 0.5


# --------------------------------------------------------------------------- fuzzing (parsers of student names)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
NAMEY = st.lists(st.sampled_from(list("ab_1-. /\\:LATE") + ["_attempt_", "_assignsubmission_", "_12_34_",
                                                             "2026-01-01-00-00-00", "\u202e", "é", ".txt"]),
                 max_size=120).map("".join)


@FUZZ
@given(NAMEY)
def test_lms_name_parsers_are_bounded_and_their_ids_plain(name):
    from grader.intake.sources import is_plain_id

    for parse in (parse_canvas, parse_moodle, parse_blackboard):
        t = time.perf_counter()
        n = parse(name)
        assert time.perf_counter() - t < 0.2
        if n is not None and not n.receipt:
            assert is_plain_id(n.student_id), n.student_id
    assert detect_lms([name, name + "x"]) in (None, CANVAS, MOODLE, BLACKBOARD)

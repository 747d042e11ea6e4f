"""The LMS grade files' own rules: Moodle's worksheet date, Blackboard's column header."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from grader.render.lms_csv import blackboard_column, moodle_time


@pytest.mark.parametrize(("when", "text"), [
    (datetime(2026, 12, 7, 7, 15, tzinfo=UTC), "Monday, 7 December 2026, 7:15 AM UTC"),
    (datetime(2027, 2, 28, 0, 5, tzinfo=UTC), "Sunday, 28 February 2027, 12:05 AM UTC"),
    (datetime(2026, 6, 30, 12, 59, tzinfo=UTC), "Tuesday, 30 June 2026, 12:59 PM UTC"),
    # a TA's clock in another zone: written in UTC, so Moodle's server zone does not move it
    (datetime(2026, 12, 6, 23, 15, tzinfo=timezone(timedelta(hours=-8))), "Monday, 7 December 2026, 7:15 AM UTC"),
])
def test_moodle_time_is_moodles_format_in_utc(when, text):
    assert moodle_time(when) == text


def test_moodle_time_is_english_whatever_the_locale(monkeypatch):
    import locale

    try:
        locale.setlocale(locale.LC_TIME, "de_DE.UTF-8")
    except locale.Error:
        pass  # not installed here; the names are spelled out in the module anyway
    try:
        assert moodle_time(datetime(2026, 12, 7, 19, 0, tzinfo=UTC)).startswith("Monday, 7 December")
    finally:
        locale.setlocale(locale.LC_TIME, "C")


def _report(assignment: str):
    return SimpleNamespace(assignment=assignment, rubric=SimpleNamespace(max_total=49.0))


@pytest.mark.parametrize(("assignment", "header"), [
    ("HW4", "HW4 [Total Pts: 49 Score]"),
    ("HW4 |123456", "HW4 [Total Pts: 49 Score] |123456"),
    ("HW4 [Total Pts: 100 Score] |123456", "HW4 [Total Pts: 100 Score] |123456"),  # pasted from a download
])
def test_blackboard_column_keeps_a_grade_center_column_id_last(assignment, header):
    assert blackboard_column(_report(assignment)) == header

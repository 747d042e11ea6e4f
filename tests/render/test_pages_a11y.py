"""The pages as a screen reader and a TA read them: whose fault a failure is, headings, alt text, table headers."""

from __future__ import annotations

import statistics
from html.parser import HTMLParser
from pathlib import Path

from render_samples import RUBRIC, sample_class

from grader.classstep.classwide import apply_class_relative, class_results
from grader.core.options import GradeOptions
from grader.render import ClassReport, get_format
from grader.rubric import parse_rubric
from grader.score.pipeline import failed_result, grade_submission
from grader.score.store import ResultStore

TINY = parse_rubric("""
name: tiny
questions:
  - {id: q1, title: the data file, points: 2, checks: [{kind: file_present, file: a.txt}]}
  - {id: q2, title: the report, points: 3, checks: [{kind: file_present, file: b.txt}]}
""")


class Outline(HTMLParser):
    """Headings (level, text), images' and charts' alt text (and the charts' titles), tables with their header
    cells and enclosing boxes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headings: list[tuple[int, str]] = []
        self.alts: list[str | None] = []
        self.th_scopes: list[str | None] = []
        self.tables_in_scroll: list[bool] = []
        self._heading: int | None = None
        self._text: list[str] = []
        self._stack: list[dict[str, str | None]] = []
        self.svg_titles: list[str] = []
        self._svg_title: list[str] | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._heading, self._text = int(tag[1]), []
        elif tag == "img":
            self.alts.append(a.get("alt"))
        elif tag == "svg":  # a chart: an image to a screen reader, named by its label, with the same words as title
            self.alts.append(a.get("aria-label") if a.get("role") == "img" else None)
            self._svg_title = []
        elif tag == "title" and self._svg_title is not None:
            self._in_title = True
        elif tag == "th":
            self.th_scopes.append(a.get("scope"))
        elif tag == "table":
            self.tables_in_scroll.append(bool(self._stack) and "scroll" in (self._stack[-1].get("class") or ""))
        if tag not in ("img", "br", "meta", "input"):
            self._stack.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title and self._svg_title is not None:
            self.svg_titles.append("".join(self._svg_title))
            self._in_title, self._svg_title = False, None
        if self._heading is not None and tag == f"h{self._heading}":
            self.headings.append((self._heading, "".join(self._text).strip()))
            self._heading = None
        if self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._text.append(data)
        if self._in_title and self._svg_title is not None:
            self._svg_title.append(data)


def outline(page: str) -> Outline:
    o = Outline()
    o.feed(page)
    return o


def pdf_named_zip(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.zip"
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
    return path


def test_a_pdf_renamed_zip_is_the_students_problem_not_a_grader_error(tmp_path):
    src = pdf_named_zip(tmp_path / "subs", "bob")
    bob = grade_submission(src, TINY, tmp_path / "work-bob", GradeOptions(isolation="none"))
    assert bob.errors and not bob.grader_fault  # the unpacker refused it: the student's file
    crashed = failed_result("cal", tmp_path / "subs" / "cal.zip", TINY, "the worker died twice", grader_fault=True)
    report = ClassReport(TINY, [bob, crashed])
    summary = get_format("summary-html").render(report)

    students = summary.split("<h2>Students</h2>")[1]
    bob_row = next(row for row in students.split("<tr>") if 'href="students/bob/' in row)
    cal_row = next(row for row in students.split("<tr>") if 'href="students/cal/' in row)
    assert "grader error" not in bob_row, "a student's own unreadable file is badged as a grader error"
    assert 'class="badge bad"' in bob_row and "not graded" in bob_row
    assert "is a PDF document, not a zip" in bob_row  # the reason, on the badge
    assert 'class="badge err"' in cal_row and "grader error" in cal_row  # the grader's own failure keeps it

    attention = summary.split("<h2>Could not be graded</h2>")[1].split("<h2>")[0]
    bob_why = next(row for row in attention.split("<tr>") if 'href="students/bob/' in row)
    assert "the submission's" in bob_why and "grader error" not in bob_why
    assert "the grader's" in next(row for row in attention.split("<tr>") if 'href="students/cal/' in row)

    page = get_format("html").render(bob, report)
    assert "grader error" not in page and "problem in the grader" not in page
    assert "is a PDF document, not a zip" in page


def test_a_record_the_grader_lost_is_its_own_error_and_nothing_handed_in_is_the_students(tmp_path):
    results = class_results(ResultStore(tmp_path / "out"), {"dan": "key-that-was-never-stored"},
                            {"dan": "dan.zip"}, TINY, missing={"eve": "no files were handed in"})
    summary = get_format("summary-html").render(ClassReport(TINY, results))
    rows = summary.split("<h2>Students</h2>")[1].split("<tr>")
    dan = next(row for row in rows if 'href="students/dan/' in row)
    eve = next(row for row in rows if 'href="students/eve/' in row)
    assert 'class="badge err"' in dan and "no result was stored" in dan
    assert "grader error" not in eve and "no files were handed in" in eve


def test_each_question_is_a_heading_in_the_pages_outline():
    results = sample_class()
    report = ClassReport(RUBRIC, results, apply_class_relative(RUBRIC, results))
    amy = next(r for r in report.results if r.student == "amy")
    o = outline(get_format("html").render(amy, report))
    levels = [level for level, _ in o.headings]
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False)), f"a heading level is skipped: {o.headings}"
    questions = [text for level, text in o.headings if level == 3]
    assert questions == [f"{q.id}: {q.title}" for q in amy.questions]
    # what a check found sits under its question
    assert (4, "Architecture, layer by layer") in o.headings


def test_every_plot_says_what_it_shows_with_the_numbers():
    results = sample_class()
    report = ClassReport(RUBRIC, results, apply_class_relative(RUBRIC, results))
    o = outline(get_format("summary-html").render(report))
    assert len(o.alts) == 3 and all(o.alts), "a plot has no alt text"
    assert o.svg_titles == o.alts, "a chart's title (its tooltip) says something else than its label"
    assert not any(alt.strip().lower() in ("plot", "image", "chart") for alt in o.alts if alt)
    totals = [r.total for r in results]
    distribution = next(a for a in o.alts if a and a.startswith("histogram"))
    median = f"{statistics.median(totals):.1f}".rstrip("0").rstrip(".")
    assert f"{len(totals)} students" in distribution and f"median {median} of {RUBRIC.max_total:g}" in distribution
    rates = next(a for a in o.alts if a and a.startswith("per-question"))
    for q in RUBRIC.questions:
        assert f"{q.id} " in rates
    passed_q4a = sum(r.question("q4a").status.value == "passed" for r in results) / len(results)
    assert f"q4a {passed_q4a:.0%} passed" in rates
    relative = next(a for a in o.alts if a and a.startswith("digits"))
    best = report.bests["digits"]
    assert f"class best {best:.4f}" in relative
    for r in results:
        if r.question("digits").relative is not None:
            assert f"{r.student} {r.question('digits').relative:.4f}" in relative


def test_every_table_has_column_headers_and_scrolls_in_its_own_box():
    results = sample_class()
    report = ClassReport(RUBRIC, results, apply_class_relative(RUBRIC, results))
    amy = next(r for r in report.results if r.student == "amy")
    for page in (get_format("summary-html").render(report), get_format("html").render(amy, report)):
        o = outline(page)
        assert o.tables_in_scroll and all(o.tables_in_scroll), "a table can push the page sideways on a phone"
        assert o.th_scopes and all(scope in ("col", "row") for scope in o.th_scopes)
        assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    fragment = outline(get_format("notebook-html").render(amy, report))  # a notebook's output: no page around it
    assert fragment.th_scopes and all(scope == "col" for scope in fragment.th_scopes)

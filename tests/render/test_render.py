"""The renderer registry and the text formats: one place to add a format, byte-stable files,
and student text that cannot act in a terminal, a spreadsheet or Gradescope."""

from __future__ import annotations

import csv
import io
import json
from types import SimpleNamespace

import jsonschema
import pytest
from conftest import ROOT
from render_samples import HOSTILE, RUBRIC, sample_class, student

import grader.render as render
from grader.classstep.classwide import apply_class_relative
from grader.cli.main import main
from grader.core import plugins
from grader.render import (
    ClassReport,
    Format,
    UnknownFormat,
    add_format,
    default_formats,
    formats,
    get_format,
    parse_format_list,
    render_one,
    write_outputs,
)

SCHEMA = json.loads((ROOT / "tests" / "schemas" / "gradescope_results.json").read_text())


def report() -> ClassReport:
    results = sample_class()
    return ClassReport(RUBRIC, results, apply_class_relative(RUBRIC, results))


def test_every_format_is_registered_once_with_a_file():
    names = [f.name for f in formats()]
    assert len(names) == len(set(names))
    for expected in ("terminal", "gradescope", "html", "classroom", "csv", "summary", "summary-html", "canvas", "notebook-html",
                     "moodle", "blackboard", "nbgrader"):
        assert expected in names
    assert default_formats() == ["gradescope", "html", "csv", "instructor-notes", "integrity", "summary",
                                 "summary-html"]
    assert parse_format_list("csv, gradescope") == ["csv", "gradescope"]
    assert parse_format_list(["default", "canvas"]) == [*default_formats(), "canvas"]
    assert set(parse_format_list("all")) == set(names)
    with pytest.raises(UnknownFormat, match="unknown output format 'xlsx'; available: blackboard, canvas"):
        parse_format_list("csv,xlsx")


def test_a_new_format_is_one_registration(tmp_path, monkeypatch):
    def marks(rep: ClassReport) -> str:
        return "".join(f"{r.student} {r.total}\n" for r in rep.results)

    fmt = Format("marks-test", "class", "marks.txt", "one line per student", marks)
    monkeypatch.setitem(render._FORMATS, "marks-test", fmt)
    rep = report()
    write_outputs(tmp_path, rep, ["marks-test", "gradescope"])
    assert (tmp_path / "marks.txt").read_text().splitlines()[0].startswith("amy ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["marks.txt", "students"]
    assert sorted(p.name for p in (tmp_path / "students").iterdir()) == ["amy", "ben", "cal", "eve"]
    with pytest.raises(ValueError, match="registered twice"):
        add_format(Format("csv", "class", "x.csv", "", lambda r: ""))


def test_formats_from_other_packages_come_through_entry_points(monkeypatch):
    plugin = Format("plugin-test", "submission", "p.txt", "from a plugin", lambda r, rep: r.student)
    entry = SimpleNamespace(name="plugin-test", load=lambda: plugin)
    real = plugins.entry_points

    monkeypatch.setattr(plugins, "entry_points",
                        lambda group: [*real(group=group), entry] if group == render.ENTRY_POINT_GROUP
                        else real(group=group))
    monkeypatch.setattr(plugins, "_LOADED", set())
    monkeypatch.setattr(render, "_loaded", False)
    monkeypatch.setattr(render, "_FORMATS", dict(render._FORMATS))
    assert get_format("plugin-test").render_one(student("zed", 0.5), report()) == "zed"
    assert get_format("csv").name == "csv"  # the built-in ones are there too


def test_grades_csv_and_summary_are_byte_stable_and_complete():
    a, b = report(), report()
    b.results.reverse()
    csv_a = render_one("csv", a.results[0], a)  # a class format for one submission: a class of one
    assert csv_a.splitlines()[0] == "student,q2,q4a,backprop,arch,digits,total"
    full = get_format("csv").render(a)
    assert full == get_format("csv").render(ClassReport(RUBRIC, b.results, b.bests))
    summary = json.loads(get_format("summary").render(a))
    assert summary["questions"]["digits"]["class_relative"]["class_best"] == 0.95
    assert summary["errors"] == {"cal": ["cal.zip: is a PDF document, not a zip; submit one .zip file"]}
    assert summary["manual_review"] == {"amy": ["q2"]}


def test_student_text_is_inert_in_every_text_format():
    rep = report()
    eve = next(r for r in rep.results if r.student == "eve")
    gs = json.loads(render_one("gradescope", eve, rep))
    jsonschema.validate(gs, SCHEMA)
    assert gs["output_format"] == "text" and all(t["output_format"] == "text" for t in gs["tests"])
    assert "\x1b" not in json.dumps(gs)
    text = render_one("terminal", eve, rep)
    assert "\x1b" not in text and "HYPERLINK" in text
    rep.origins = {"eve": {"lms": "moodle", "user": "9", "full_name": HOSTILE}}
    for name in ("canvas", "moodle", "blackboard", "nbgrader"):
        rows = list(csv.reader(io.StringIO(get_format(name).render(rep))))
        for row in rows:
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@")), (name, cell)
                assert "\x1b" not in cell


def test_check_prints_any_format_and_writes_files(tmp_path, capsys):
    sub = tmp_path / "s"
    sub.mkdir()
    (sub / "a").write_text("a")
    rubric = tmp_path / "r.yaml"
    rubric.write_text("name: r\nquestions:\n  - {id: q, title: Q, points: 2, checks: [{kind: file_present, file: a}]}\n")
    assert main(["check", str(sub), "--rubric", str(rubric), "--format", "gradescope"]) == 0
    assert json.loads(capsys.readouterr().out)["score"] == 2
    assert main(["check", str(sub), "--rubric", str(rubric), "--format", "csv"]) == 2  # a class's grade file
    assert "--format csv: a file for a whole class, made by mlgrade grade" in capsys.readouterr().err
    out = tmp_path / "r.json"
    assert main(["check", str(sub), "--rubric", str(rubric), "--format", "gradescope", "-o", str(out),
                 "--html", str(tmp_path / "f.html")]) == 0
    assert "total 2/2" in capsys.readouterr().out  # the readable report still goes to the terminal
    assert json.loads(out.read_text())["score"] == 2
    assert "<!DOCTYPE html>" in (tmp_path / "f.html").read_text()
    assert main(["check", str(sub), "--rubric", str(rubric), "--format", "xlsx"]) == 2
    assert "unknown output format 'xlsx'" in capsys.readouterr().err
    assert main(["formats"]) == 0
    assert "summary-html" in capsys.readouterr().out

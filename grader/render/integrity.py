"""``integrity``: the class's academic-integrity evidence, ``integrity.csv``, and its summary-page section.

One row per piece of evidence: two students whose files match (weights, XOR weights, images,
screenshots, code), with the files, the similarity and its measure, the threshold it passed and
what matched in words, and each submission's hash (so a case can be tied to the exact bytes
graded); then single students flagged for the handout's sample weights or a well-known image.
``group`` links students connected by any evidence. Evidence to review, never a penalty: no
score is changed. Student-controlled text passes :func:`grader.core.textsafe.csv_cell` / ``esc``.
"""

from __future__ import annotations

from collections import Counter

from grader import __version__
from grader.classstep.integrity import as_rows
from grader.core.files import json_text
from grader.render import ClassReport, register_format
from grader.render.html_page import esc, table
from grader.render.layout import student_link
from grader.render.tables import csv_text

COLUMNS = ["group", "kind", "student_a", "file_a", "student_b", "file_b", "similarity", "measure", "threshold",
           "detail", "submission_a", "submission_b"]
KIND_WORDS = {"weights": "weights", "xor": "XOR weights", "image": "photo", "screenshot": "screenshot",
              "code": "code", "handout-xor": "handout's XOR weights", "known-image": "well-known image"}
MAX_HTML_ROWS = 300


@register_format("integrity", scope="class", filename="integrity.csv", default=True,
                 help="academic-integrity evidence: students whose weights, images or code match (for review)")
def integrity_csv(report: ClassReport) -> str:
    rows: list[list] = [COLUMNS]
    if report.integrity is not None:
        rows += [[row[c] for c in COLUMNS] for row in as_rows(report.integrity)]
    return csv_text(rows)


def _link(student: str) -> str:
    return f'<a href="{esc(student_link(student))}">{esc(student)}</a>'


def integrity_section(report: ClassReport) -> str:
    """The summary page's section: groups of students, what matched and how closely, flags, notes."""
    ir = report.integrity
    if ir is None:
        return ""
    parts = ['<h2 id="integrity">Academic integrity: evidence to review</h2>',
             f"<p>{ir.compared} submissions compared: weights (as arrays, layer by layer), the XOR weights of "
             "notebooks and equations, photos (perceptual hashes), screenshots (identical pixels) and notebook "
             "code (normalised, starter code removed). Matches are evidence for you to look at, not proof; "
             "no score was changed. Every row is in <code>integrity.csv</code>.</p>"]
    if not ir.groups and not ir.flags:
        parts.append("<p>No matching work was found at the rubric's thresholds.</p>")
    if ir.groups:
        rows = []
        for g in ir.groups:
            kinds = Counter(e.kind for e in g.evidence)
            what = ", ".join(f"{KIND_WORDS.get(k, k)} &#215;{n}" for k, n in sorted(kinds.items()))
            rows.append(f'<tr><td id="{esc(g.id)}">{esc(g.id)}</td><td>{", ".join(_link(s) for s in g.students)}'
                        f"</td><td>{what}</td></tr>")
        parts.append("<h3>Groups</h3>" + table(["group", "students", "what matched"], rows, "groups"))
        ev_rows = []
        for e in [e for g in ir.groups for e in g.evidence][:MAX_HTML_ROWS]:
            ev_rows.append(f"<tr><td>{esc(e.group)}</td><td>{esc(KIND_WORDS.get(e.kind, e.kind))}</td>"
                           f"<td>{esc(e.student_a)}: {esc(e.file_a)}</td><td>{esc(e.student_b)}: {esc(e.file_b)}</td>"
                           f'<td class="num">{e.similarity:g} {esc(e.measure)}</td><td>{esc(e.detail)}</td></tr>')
        parts.append("<h3>What matched</h3>" + table(["group", "kind", "first", "second", "similarity", "details"],
                                                     ev_rows, "what matched"))
        total = sum(len(g.evidence) for g in ir.groups)
        if total > MAX_HTML_ROWS:
            parts.append(f"<p>{total - MAX_HTML_ROWS} more rows in integrity.csv.</p>")
    if ir.flags:
        rows = [f"<tr><td>{_link(e.student_a)}</td><td>{esc(KIND_WORDS.get(e.kind, e.kind))}</td>"
                f"<td>{esc(e.file_a)}</td><td>{esc(e.file_b)}</td><td>{esc(e.detail)}</td></tr>"
                for e in ir.flags[:MAX_HTML_ROWS]]
        parts.append("<h3>The handout's own material</h3>" + table(["student", "kind", "file", "matches", "details"],
                                                                  rows, "the handout's own material"))
    if ir.notes:
        parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in ir.notes[:50]) + "</ul>")
    return "\n".join(parts)


@register_format("integrity-json", scope="class", filename="integrity.json",
                 help="the integrity evidence as JSON: settings used, groups with their evidence, flags, notes")
def integrity_json(report: ClassReport) -> str:
    """For a misconduct case file: everything in integrity.csv, grouped, with the settings that found it."""
    ir = report.integrity
    if ir is None:
        return json_text({"enabled": False})
    rows = as_rows(ir)
    return json_text({
        "grader_version": __version__, "rubric": report.rubric.name,
        "settings": report.rubric.integrity.model_dump(mode="json"), "compared": ir.compared,
        "groups": [{"id": g.id, "students": g.students, "kinds": g.kinds,
                    "evidence": [r for r in rows if r["group"] == g.id and r["student_b"]]} for g in ir.groups],
        "flags": [r for r in rows if not r["student_b"]], "notes": ir.notes})

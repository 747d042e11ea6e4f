"""``html``: a student's feedback page, ``<student>/feedback.html`` (and ``mlgrade check --html``).

One self-contained page: the total, then every question with its score and why, and what the
checks found, drawn from their result details where present: the student's images with the
predicted class and probability, the architecture compared layer by layer, the equation as
mathematics beside its four re-evaluated values and the hand values, the failing notebook
cell's source with a trimmed traceback, and the items the instructor reviews by hand.
"""

from __future__ import annotations

from typing import Any

from grader.core.results import CheckResult, QuestionResult, Status, SubmissionResult
from grader.render import ClassReport, register_format
from grader.render.common import LOOK, decision_text, fmt_points
from grader.render.html_page import badge, esc, page, png_data_uri, review_badge, table
from grader.render.mathml import NotRenderable, equation_mathml

XOR_INPUTS = ["001", "011", "101", "111"]
XOR_TARGET = [0, 1, 1, 0]
_SAME = '<span role="img" aria-label="same">&#10003;</span>'
_DIFFERS = '<span role="img" aria-label="differs">&#10007;</span>'


def _num(x: object, digits: int = 6) -> str:
    try:
        return f"{float(x):.{digits}g}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "&#8211;"


def _images(items: list[dict[str, Any]]) -> str:
    figs = []
    for it in items[:12]:
        if not isinstance(it, dict):
            continue
        uri = png_data_uri(it.get("thumbnail"))
        img = f'<img src="{uri}" alt="{esc(_image_alt(it))}">' if uri else ""
        lines = [f"<b>{esc(it.get('file', ''))}</b>" + (f" ({esc(it['label'])})" if it.get("label") else "")]
        if it.get("problem"):
            lines.append(f'<span class="wrong">{esc(it["problem"])}</span>')
        elif "predicted" in it:
            verdict = '<span class="right">right</span>' if it.get("right") else '<span class="wrong">wrong</span>'
            p_of = f"p({esc(it['p_of'])})" if "p_of" in it else "p"
            lines.append(f"predicted <b>{esc(it['predicted'])}</b> ({p_of} = {_num(it.get('p'), 3)}), "
                         f"expected {esc(it.get('expect', ''))}: {verdict}")
        figs.append(f"<figure>{img}<figcaption>{'<br>'.join(lines)}</figcaption></figure>")
    return f'<div class="imgs">{"".join(figs)}</div>' if figs else ""


def _image_alt(it: dict[str, Any]) -> str:
    """What a screen reader says for a student's image: which file, and what the model made of it."""
    what = f"your image {it.get('file', '')}" + (f" ({it['label']})" if it.get("label") else "")
    if it.get("problem"):
        return f"{what}: {it['problem']}"
    if "predicted" in it:
        verdict = "right" if it.get("right") else "wrong"
        return f"{what}: predicted {it['predicted']}, expected {it.get('expect', '')}, {verdict}"
    return what


def _screenshot(d: dict[str, Any], review: bool) -> str:
    uri = png_data_uri(d.get("thumbnail"))
    if not uri:
        return ""
    text = f"{d.get('file', '')}: {d.get('format', '')} {d.get('width', '')}x{d.get('height', '')}"
    caption = esc(text) + (" &#8212; your instructor looks at this one" if review else "")
    return (f'<div class="imgs"><figure class="wide"><img src="{uri}" alt="{esc("your screenshot " + text)}">'
            f"<figcaption>{caption}</figcaption></figure></div>")


def _layers(rows: list[dict[str, Any]]) -> str:
    body = []
    for r in rows[:200]:
        if not isinstance(r, dict):
            continue
        cls = "same" if r.get("same") else "diff"
        body.append(f'<tr class="{cls}"><td class="num">{esc(r.get("n", ""))}</td><td>{esc(r.get("expected", ""))}'
                    f'</td><td>{esc(r.get("found", ""))}</td><td class="num">{esc(_count(r.get("expected_params")))}'
                    f'</td><td class="num">{esc(_count(r.get("found_params")))}</td>'
                    f"<td>{_SAME if r.get('same') else _DIFFERS}</td></tr>")
    if not body:
        return ""
    return ("<h4>Architecture, layer by layer</h4>"
            + table(["#", "expected", "found", "expected parameters", "found parameters", "same"], body,
                    "architecture, layer by layer"))


def _count(x: object) -> str:
    return f"{x:,}" if isinstance(x, int) and not isinstance(x, bool) else ""


def _equation(d: dict[str, Any]) -> str:
    parts = []
    try:
        parts.append(f'<div class="math">{equation_mathml(d["equation_tree"])}</div>')
    except (KeyError, NotRenderable):
        if d.get("equation_text"):
            parts.append(f"<pre>{esc(str(d['equation_text'])[:4000])}</pre>")
    outs = d.get("outputs")
    if isinstance(outs, list) and len(outs) == 4:
        rows = "".join(f"<tr><td>{x}</td><td class=\"num\">{_num(v)}</td><td class=\"num\">{t}</td></tr>"
                       for x, v, t in zip(XOR_INPUTS, outs, XOR_TARGET, strict=True))
        parts.append(table(["X1 X2 X3", "your equation gives", "XOR"], [rows], "your equation's values"))
    if parts and d.get("source"):
        parts.insert(0, f"<p class=\"sub\">read from {esc(d['source'])}</p>")
    return "".join(parts)


def _hand(d: dict[str, Any]) -> str:
    hand, exp = d.get("hand"), d.get("expected")
    if not isinstance(hand, dict) or not isinstance(exp, list) or len(exp) != 4:
        return ""
    tol = d.get("tolerance")
    rows = []
    for x, e in zip(XOR_INPUTS, exp, strict=True):
        h = hand.get(x)
        if h is None:
            rows.append(f"<tr><td>{x}</td><td>missing</td><td class=\"num\">{_num(e)}</td><td></td></tr>")
            continue
        try:
            diff = abs(float(h) - float(e))
        except (TypeError, ValueError):
            continue
        ok = tol is None or diff <= float(tol)
        rows.append(f"<tr class=\"{'same' if ok else 'diff'}\"><td>{x}</td><td class=\"num\">{_num(h)}</td>"
                    f"<td class=\"num\">{_num(e)}</td><td class=\"num\">{diff:.1e}</td></tr>")
    return table(["input", "your hand value", "re-evaluated", "difference"], rows, "your hand values")


def _notebook_errors(errors: list[dict[str, Any]]) -> str:
    out = []
    for e in errors[:3]:
        if not isinstance(e, dict):
            continue
        head = f"{esc(e.get('notebook', ''))} {esc(e.get('cell', ''))}: {esc(e.get('ename', ''))}: " \
               f"{esc(str(e.get('evalue', ''))[:500])}"
        out.append(f'<div class="alert">{head}</div>')
        if e.get("source"):
            out.append(f"<pre>{esc(e['source'])}</pre>")
        if e.get("traceback"):
            out.append(f"<details><summary>traceback</summary><pre>{esc(e['traceback'])}</pre></details>")
    return ("<h4>Errors while your notebook ran</h4>" + "".join(out)) if out else ""


def _accuracy(d: dict[str, Any]) -> str:
    acc = d.get("accuracy")
    if not isinstance(acc, dict) or not acc:
        return ""
    rows = "".join(f"<tr><td>{esc(k)}</td><td class=\"num\">{float(v):.2%}</td></tr>" for k, v in acc.items()
                   if isinstance(v, (int, float)))
    return table(["digit set", "accuracy"], [rows], "accuracy per digit set")


def check_section(c: CheckResult) -> str:
    d = c.details
    parts = []
    if isinstance(d.get("items"), list):
        parts.append(_images(d["items"]))
    if "thumbnail" in d:
        parts.append(_screenshot(d, c.manual_review))
    if isinstance(d.get("layers"), list):
        parts.append(_layers(d["layers"]))
    if "equation_tree" in d or "equation_text" in d:
        parts.append(_equation(d))
    if "hand" in d:
        parts.append(_hand(d))
    if isinstance(d.get("notebook_errors"), list):
        parts.append(_notebook_errors(d["notebook_errors"]))
    if "accuracy" in d:
        parts.append(_accuracy(d))
    if c.status is Status.ERROR:
        parts.append('<p class="note">This is a problem in the grader, not in your work; your instructor '
                     "has been told.</p>")
    return "".join(p for p in parts if p)


def question_card(q: QuestionResult, report: ClassReport) -> str:
    """One question: a heading (``h3``, under the page's ``h2`` Questions) a screen reader lists, its
    status and points, why, and what each check found (``h4`` sections)."""
    head = (f'<header><h3 class="t">{esc(q.id)}: {esc(q.title)}</h3>{badge(q.status)}'
            + (review_badge(reviewed=q.review is not None) if q.manual_review or q.review else "")
            + f'<span class="pts">{fmt_points(q.score)} / {fmt_points(q.max_score)}</span></header>')
    reason = q.reason
    if any("hand" in c.details for c in q.checks):
        reason = reason.split("\n", 1)[0]  # the rest is a text table, drawn as a table below
    body = [f'<div class="why">{esc(reason)}</div>']
    if q.relative is not None:
        best = report.bests.get(q.id)
        if report.self_check or best is None:
            body.append('<p class="note">Provisional: this question is scored relative to the best in the class '
                        "(points &#215; yours / best), known when the class is graded.</p>")
        else:
            body.append(f'<p class="note">Scored relative to the class: your {q.relative:.4f} against the class '
                        f"best {best:.4f}.</p>")
    if q.review is not None:
        who = f' <span class="sub">({esc(q.review.by)}, {esc(q.review.at[:10])})</span>' if q.review.by else ""
        body.append(f'<div class="note decision"><b>Instructor:</b> {esc(decision_text(q))}{who}</div>')
    elif q.manual_review:
        body.append('<p class="note">Flagged for manual review: your instructor checks this item by hand, and the '
                    "score may change.</p>")
    body += [check_section(c) for c in q.checks]
    if q.files:
        files = ", ".join(esc(v) for v in q.files.values())
        body.append(f'<p class="sub">files: {files}</p>')
    cls = LOOK[q.status].css
    return f'<section class="q {cls}" id="q-{esc(q.id)}">{head}<div class="body">{"".join(body)}</div></section>'


def feedback_page(result: SubmissionResult, report: ClassReport) -> str:
    pct = 100 * result.total / result.max_total if result.max_total else 0.0
    counts = {s: sum(q.status is s for q in result.questions) for s in Status}
    summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    origin = report.origin(result.student)
    sub = [esc(report.rubric.name)]
    if origin.get("commit"):
        sub.append(f"commit {esc(str(origin['commit'])[:12])}" + (f" ({esc(origin['committed_at'])})"
                                                                   if origin.get("committed_at") else ""))
    parts = [
        f"<h1>Feedback for {esc(result.student)}</h1>",
        f'<p class="sub">{" &#183; ".join(sub)}</p>',
        f'<div class="hero"><div class="score" id="total">{fmt_points(result.total)}'
        f"<small> / {fmt_points(result.max_total)}</small></div>"
        f'<div class="bar" role="img" aria-label="{pct:.0f}% of the points" title="{pct:.0f}%">'
        f'<span style="width:{min(max(pct, 0), 100):.1f}%"></span></div>'
        f"<div>{esc(summary)}</div></div>",
    ]
    for e in result.errors:
        parts.append(f'<div class="alert"><b>Not graded:</b> {esc(e)}</div>')
    for w in result.warnings[:20]:
        parts.append(f'<div class="note">{esc(w)}</div>')
    review = [q.id for q in result.questions if q.awaiting_review]
    if review:
        parts.append(f'<div class="note">Your instructor reviews by hand: {esc(", ".join(review))}.</div>')
    parts.append("<h2>Questions</h2>")
    parts += [question_card(q, report) for q in result.questions]
    parts.append(f"<footer>mlgrade {esc(result.grader_version)} &#183; rubric {esc(result.rubric_hash[:12])} "
                 f"&#183; submission {esc(result.submission_hash[:12])}</footer>")
    return page(f"{result.student}: {fmt_points(result.total)}/{fmt_points(result.max_total)}", "\n".join(parts))


@register_format("html", scope="submission", filename="feedback.html", default=True,
                 help="a self-contained feedback page per student (images, architecture, equation, errors)")
def render_feedback(result: SubmissionResult, report: ClassReport) -> str:
    return feedback_page(result, report)

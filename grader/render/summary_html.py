"""``summary-html``: the instructor's class page, ``summary.html``.

The score distribution, each question's pass rate, every student's class-relative metric
(the digit accuracy that sets Ex3's scores) with the class best marked, who needs manual
review, who could not be graded, and a link to each student's feedback page. Charts are inline
SVG drawn by :mod:`grader.render.svgplot` (milliseconds, where matplotlib took 0.8 s of every
run); the same class gives the same bytes.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from grader.core.results import Status, SubmissionResult
from grader.render import ClassReport, register_format
from grader.render.common import LOOK, could_not_grade, fmt_points, grader_failed, review_progress, submission_look
from grader.render.html_page import badge, esc, page, review_badge, table
from grader.render.integrity import integrity_section
from grader.render.layout import student_link
from grader.render.svgplot import (
    WIDTH,
    X_AXIS_HEIGHT,
    Canvas,
    Frame,
    Key,
    legend,
    nice_ticks,
    row_labels,
    text_width,
    tick_text,
    title,
    x_axis,
    y_axis,
    y_axis_width,
)

MAX_ALT_ITEMS = 40  # students or questions named in one alt text; the tables below name the rest
MAX_LABEL = 14  # characters of a name on a chart's axis: a long id would crowd out the bars
MAX_TIP = 80  # characters of a name in a bar's hover tip
BLUE, RED, GREEN = "#0969da", "#cf222e", LOOK[Status.PASSED].colour


@dataclass(frozen=True)
class Plot:
    """A drawn chart (inline SVG) and what it shows in words (its alt text: a screen reader's only view of it)."""

    svg: str
    alt: str


def _label(name: str) -> str:
    """A name short enough for an axis; the alt text and the tables carry it whole."""
    return name if len(name) <= MAX_LABEL else name[:MAX_LABEL - 1] + "\u2026"


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _tip(name: str) -> str:
    return name if len(name) <= MAX_TIP else name[:MAX_TIP - 1] + "\u2026"


def histogram(values: list[float], bins: int, top: float) -> list[int]:
    """How many of ``values`` fall in each of ``bins`` equal bins over ``[0, top]`` (the last one holds ``top``);
    a value outside the range counts in the nearest bin rather than vanishing from the chart."""
    counts = [0] * bins
    for v in values:
        k = 0 if math.isnan(v) or v <= 0 else bins - 1 if v >= top else int(bins * v / top)
        counts[min(k, bins - 1)] += 1
    return counts


def distribution_plot(report: ClassReport) -> Plot:
    totals = [r.total for r in report.results]
    top = report.rubric.max_total or 1.0
    counts = histogram(totals, min(20, max(5, len(totals) // 2 or 5)), top)
    c = Canvas(WIDTH, 250)
    head = title(c, ["Score distribution"])
    mean = statistics.fmean(totals) if totals else None
    if mean is not None:
        head += legend(c, [Key(RED, f"mean {mean:.1f}", dashed=True)], head, right=WIDTH - 14)
    y_ticks = nice_ticks(max(counts), most=5, whole=True, cover=True)
    left = y_axis_width(y_ticks)
    f = Frame(left, head + 6, WIDTH - left - 14, c.height - head - 6 - X_AXIS_HEIGHT, x_max=top, y_max=y_ticks[-1])
    width = top / len(counts)
    for k, n in enumerate(counts):
        x0, x1 = f.x(k * width), f.x((k + 1) * width)
        c.rect(x0 + 0.5, f.y(n), x1 - x0 - 1, f.bottom - f.y(n), BLUE,
               tip=f"{n} student{'s' * (n != 1)} scored {_num(k * width)} to {_num((k + 1) * width)}")
    if mean is not None:
        c.line(f.x(mean), f.top, f.x(mean), f.bottom, RED, width=1.5, dashed=True)
    x_axis(c, f, nice_ticks(top), fmt_points, [f"total score (of {fmt_points(top)})"])
    y_axis(c, f, y_ticks, label="students")
    alt = distribution_alt(totals, top)
    return Plot(c.svg(alt), alt)


def distribution_alt(totals: list[float], top: float) -> str:
    """``histogram of total scores: 12 students, median 41.5 of 49, mean 40.2, lowest 12, highest 49``."""
    if not totals:
        return f"histogram of total scores: no students yet (scores are out of {fmt_points(top)})"
    return (f"histogram of total scores: {len(totals)} student{'s' * (len(totals) != 1)}, median "
            f"{_num(statistics.median(totals))} of {fmt_points(top)}, mean {_num(statistics.fmean(totals))}, "
            f"lowest {_num(min(totals))}, highest {_num(max(totals))}")


ORDER = (Status.PASSED, Status.PARTIAL, Status.FAILED, Status.ERROR, Status.PENDING)


ROW, BAR = 24, 17  # a question's row and its bar, in CSS px at natural width


def status_shares(results: list[SubmissionResult], ids: list[str]) -> dict[Status, list[float]]:
    """For each status, the share of students with it on each question (in one pass over the class)."""
    counts = {s: dict.fromkeys(ids, 0) for s in Status}
    for r in results:
        for q in r.questions:
            if q.id in counts[q.status]:
                counts[q.status][q.id] += 1
    n = max(len(results), 1)
    return {s: [counts[s][i] / n for i in ids] for s in ORDER}


def pass_rate_plot(report: ClassReport) -> Plot:
    """One horizontal bar per question, so many questions make the chart taller, never wider than a phone."""
    ids = [q.id for q in report.rubric.questions]
    shares = status_shares(report.results, ids)
    labels = [_label(i) for i in ids]
    c = Canvas(WIDTH, 0)
    head = title(c, ["Per-question results"])
    left = max(40.0, 18 + max((text_width(label) for label in labels), default=0))
    f = Frame(left, head + 6, WIDTH - left - 14, ROW * max(len(ids), 1))
    for k, qid in enumerate(ids):  # the first question on top
        y, done = f.top + k * ROW + (ROW - BAR) / 2, 0.0
        for status in ORDER:
            if share := shares[status][k]:
                c.rect(f.x(done), y, f.x(done + share) - f.x(done), BAR, LOOK[status].colour,
                       tip=f"{qid}: {share:.0%} {LOOK[status].label}")
                done += share
    row_labels(c, f, labels, [f.top + (k + 0.5) * ROW for k in range(len(ids))])
    x_axis(c, f, nice_ticks(1.0, most=5), tick_text, ["share of students"])
    keys = [Key(LOOK[s].colour, LOOK[s].label) for s in ORDER if any(shares[s])]
    c.height = f.bottom + X_AXIS_HEIGHT + 6 + legend(c, keys, f.bottom + X_AXIS_HEIGHT + 4) + 6
    alt = pass_rate_alt(ids, shares, len(report.results))
    return Plot(c.svg(alt), alt)


def pass_rate_alt(ids: list[str], shares: dict[Status, list[float]], students: int) -> str:
    """``per-question results of 12 students: q1 75% passed, 25% failed; q2 ...``."""
    each = []
    for k, qid in enumerate(ids[:MAX_ALT_ITEMS]):
        parts = [f"{shares[s][k]:.0%} {LOOK[s].label}" for s in ORDER if shares[s][k]]
        each.append(f"{qid} {', '.join(parts) or 'no results'}")
    more = f"; {len(ids) - MAX_ALT_ITEMS} more questions in the table below" if len(ids) > MAX_ALT_ITEMS else ""
    return f"per-question results of {students} student{'s' * (students != 1)}: {'; '.join(each)}{more}"


LABELLED_BARS = 40  # above this many students, the plot shows ranks; the table below names them


def relative_plot(report: ClassReport, qid: str) -> Plot | None:
    """Every student's metric, best first, the class best in green: named bars for a small class, ranks for a
    big one."""
    values = [(r.student, v) for r in report.results if (v := r.question(qid).relative) is not None]
    if not values:
        return None
    values.sort(key=lambda sv: (-sv[1], sv[0]))
    best = report.bests.get(qid)
    c = Canvas(WIDTH, 0)
    head = title(c, [f"{_label(qid)}: accuracy per student"]
                 + ([f"(class best {best:.4f}, green)"] if best is not None else []))
    if len(values) <= LABELLED_BARS:
        _named_bars(c, head, values, best)
    else:
        _ranked_bars(c, head, values, best)
    alt = relative_alt(qid, values, best)
    return Plot(c.svg(alt), alt)


NAMED_ROW, NAMED_BAR = 20, 14


def _colour(v: float, best: float | None) -> str:
    return GREEN if best is not None and abs(v - best) < 1e-12 else BLUE


def _named_bars(c: Canvas, head: float, values: list[tuple[str, float]], best: float | None) -> None:
    """One horizontal bar per student, the best on top; by position, so two cut names never merge."""
    labels = [_label(name) for name, _ in values]
    left = max(40.0, 18 + max(text_width(label) for label in labels))
    f = Frame(left, head + 6, WIDTH - left - 14, NAMED_ROW * len(values))
    for k, (name, v) in enumerate(values):
        c.rect(f.left, f.top + k * NAMED_ROW + (NAMED_ROW - NAMED_BAR) / 2, f.x(v) - f.left, NAMED_BAR,
               _colour(v, best), tip=f"{_tip(name)} {v:.4f}")
    if best is not None:
        c.line(f.x(best), f.top, f.x(best), f.bottom, GREEN, dashed=True)
    row_labels(c, f, labels, [f.top + (k + 0.5) * NAMED_ROW for k in range(len(values))])
    x_axis(c, f, nice_ticks(1.0, most=5), tick_text, ["accuracy"])
    c.height = f.bottom + X_AXIS_HEIGHT + 4


def _ranked_bars(c: Canvas, head: float, values: list[tuple[str, float]], best: float | None) -> None:
    """One thin vertical bar per student, best first, unlabelled: the table below names them."""
    y_ticks = nice_ticks(1.0, most=5)
    left = y_axis_width(y_ticks)
    n = len(values)
    f = Frame(left, head + 6, WIDTH - left - 14, 170, x_min=0.5, x_max=n + 0.5)
    for k, (name, v) in enumerate(values, start=1):
        x0 = f.x(k - 0.5)
        c.rect(x0, f.y(v), f.x(k + 0.5) - x0, f.bottom - f.y(v), _colour(v, best), tip=f"{k}. {_tip(name)} {v:.4f}")
    if best is not None:
        c.line(f.left, f.y(best), f.right, f.y(best), GREEN, dashed=True)
    ranks = [1.0] + [t for t in nice_ticks(n, most=5, whole=True) if t > 1]
    x_axis(c, f, ranks, tick_text, ["students, best first", "(names in the table below)"])
    y_axis(c, f, y_ticks, label="accuracy")
    c.height = f.bottom + X_AXIS_HEIGHT + 16 + 4


def relative_alt(qid: str, values: list[tuple[str, float]], best: float | None) -> str:
    """``digits accuracy per student, best first: 3 students, class best 0.9500; amy 0.9500, ben 0.8100, ...``."""
    accs = [v for _, v in values]
    n = len(values)
    head = (f"{qid} accuracy per student, best first: {n} student{'s' * (n != 1)}"
            + (f", class best {best:.4f}" if best is not None else "")
            + f", median {statistics.median(accs):.4f}, lowest {min(accs):.4f}")
    if len(values) > MAX_ALT_ITEMS:
        return head + " (every student is in the table below)"
    return head + "; " + ", ".join(f"{s} {v:.4f}" for s, v in values)


def summary_page(report: ClassReport) -> str:
    results, rubric = report.results, report.rubric
    totals = [r.total for r in results]
    mean = statistics.fmean(totals) if totals else 0.0
    median = statistics.median(totals) if totals else 0.0
    parts = [f"<h1>{esc(rubric.name)}: class summary</h1>",
             f'<p class="sub">{len(results)} submissions &#183; mean <b id="mean">{mean:.2f}</b> &#183; median '
             f"{median:.2f} of {fmt_points(rubric.max_total)}</p>"]
    charts = "".join(p.svg for p in (distribution_plot(report), pass_rate_plot(report)))
    parts.append(f'<div class="plots">{charts}</div>')

    # per question
    rows = []
    n = max(len(results), 1)
    for q in rubric.questions:
        qs = [r.question(q.id) for r in results]
        passed = sum(x.status is Status.PASSED for x in qs)
        partial = sum(x.status is Status.PARTIAL for x in qs)
        errors = sum(x.status is Status.ERROR for x in qs)
        review = sum(x.awaiting_review for x in qs)
        qmean = statistics.fmean([x.score for x in qs]) if qs else 0.0
        rows.append(f"<tr><td>{esc(q.id)}</td><td>{esc(q.title)}</td><td class=\"num\">{fmt_points(q.points)}</td>"
                    f"<td class=\"num\">{qmean:.2f}</td><td class=\"num\">{passed / n:.0%}</td>"
                    f"<td class=\"num\">{partial}</td><td class=\"num\">{errors}</td><td class=\"num\">{review}</td>"
                    "</tr>")
    parts.append("<h2>Questions</h2>" + table(["id", "question", "points", "mean", "full marks", "partial",
                                               "grader errors", "to review"], rows, "questions"))

    # class-relative questions
    for qid, best in report.bests.items():
        plot = relative_plot(report, qid)
        parts.append(f"<h2>{esc(qid)}: relative to the class best</h2>")
        if best is None:
            parts.append('<p class="alert">No student has a valid result here, so nobody scores.</p>')
        else:
            leaders = [r.student for r in results if (rel := r.question(qid).relative) is not None
                       and abs(rel - best) < 1e-12]
            parts.append(f'<p>Class best <b>{best:.4f}</b> ({esc(", ".join(leaders))}); every score is points '
                         "&#215; accuracy / best.</p>")
        if plot:
            parts.append(f'<div class="plots">{plot.svg}</div>')

    # who needs attention
    failed = [r for r in results if could_not_grade(r)]
    parts.append("<h2>Could not be graded</h2>")
    if failed:
        parts.append(table(["student", "why", "whose problem"], (
            f'<tr><th scope="row"><a href="{esc(student_link(r.student))}">{esc(r.student)}</a></th>'
            f"<td>{esc('; '.join(r.errors))}</td><td>{_whose(r)}</td></tr>" for r in failed), "could not be graded"))
    else:
        parts.append("<p>Every submission was graded.</p>")
    parts.append(review_section(report))
    errs = [(r, q) for r in results for q in r.questions if q.status is Status.ERROR]
    if errs:
        parts.append("<h2>Grader errors (not the students' fault)</h2>" + table(["student", "question", "error"], (
            f"<tr><td>{esc(r.student)}</td><td>{esc(q.id)}</td><td>{esc(q.reason[:300])}</td></tr>"
            for r, q in errs), "grader errors"))

    # academic integrity (batch grading only)

    if section := integrity_section(report):
        parts.append(section)

    # everyone
    ids = [q.id for q in rubric.questions]
    rel_ids = list(report.bests)
    head = [esc(i) for i in ids] + [f"{esc(i)} metric" for i in rel_ids]
    body = []
    for r in results:
        cells = "".join(
            f'<td class="num" title="{esc(r.question(i).status.value)}">{fmt_points(r.question(i).score)}</td>'
            for i in ids)
        for i in rel_ids:
            v, best = r.question(i).relative, report.bests.get(i)
            mark = " &#9733; class best" if v is not None and best is not None and abs(v - best) < 1e-12 else ""
            cells += f'<td class="num">{"&#8211;" if v is None else f"{v:.4f}"}{mark}</td>'

        look = submission_look(r)
        flags = (review_badge() if any(q.awaiting_review for q in r.questions) else "") + \
            (badge(look, "; ".join(r.errors) or r.grader_fault) if look else "")
        body.append(f'<tr><th scope="row"><a href="{esc(student_link(r.student))}">{esc(r.student)}</a></th>{cells}'
                    f'<td class="num"><b>{fmt_points(r.total)}</b></td><td>{flags}</td></tr>')
    parts.append("<h2>Students</h2>" + table(["student", *head, "total", "notes"], body, "students"))
    parts.append(f"<footer>rubric {esc(rubric.digest()[:12])}</footer>")
    return page(f"{rubric.name}: class summary", "\n".join(parts))


def _whose(r: SubmissionResult) -> str:
    """The grader's problem (it tries again on the next run) or the submission's (the student acts)."""
    if grader_failed(r):
        return f"{badge(Status.ERROR)} the grader's: the next run grades it again"
    return "the submission's: the student can hand in again"


def review_section(report: ClassReport) -> str:
    """Who still needs a look, the instructor's decisions, and decisions that no longer apply."""
    results = report.results
    reviewed, flagged = review_progress(results)
    parts = ["<h2>Needs manual review</h2>"]
    if flagged:
        parts.append(f'<p id="review-progress">{reviewed} of {flagged} flagged items reviewed'
                     + (" &#8212; <code>mlgrade review</code> on this folder walks you through the rest"
                        if reviewed < flagged else "") + ".</p>")
    waiting = [(r, [q for q in r.questions if q.awaiting_review]) for r in results]
    waiting = [(r, qs) for r, qs in waiting if qs]
    if waiting:
        parts.append(table(["student", "items"], (
            f'<tr><th scope="row"><a href="{esc(student_link(r.student))}">{esc(r.student)}</a></th><td>'
            + "<br>".join(f"{esc(q.id)}: {esc(q.reason[:200])}" for q in qs) + "</td></tr>" for r, qs in waiting),
            "needs manual review"))
    elif not flagged:
        parts.append("<p>Nothing is flagged for review.</p>")
    decided = [(r, q) for r in results for q in r.questions if q.review is not None]
    ov = report.overrides
    notes = ov.notes() if ov else []
    if decided or notes:
        parts.append("<h2>Your decisions</h2>")
    for note in notes:
        parts.append(f'<div class="alert">{esc(note)}</div>')
    if decided:
        parts.append(table(["student", "question", "automatic", "score", "comment", "by"], (
            f'<tr><td><a href="{esc(student_link(r.student))}">{esc(r.student)}</a></td>'
            f'<td>{esc(q.id)}</td><td class="num">{fmt_points(q.review.automatic)}</td>'
            f'<td class="num"><b>{fmt_points(q.score)}</b></td><td>{esc(q.review.comment)}</td>'
            f"<td>{esc(q.review.by)} {esc(q.review.at[:16])}</td></tr>"
            for r, q in decided if q.review is not None), "your decisions"))
    return "".join(parts)


@register_format("summary-html", scope="class", filename="summary.html", default=True,
                 help="the instructor's class page: distribution, pass rates, class-relative metric, links")
def render_summary_html(report: ClassReport) -> str:
    return summary_page(report)

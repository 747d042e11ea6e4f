"""``summary-html``: the instructor's class page, ``summary.html``.

The score distribution, each question's pass rate, every student's class-relative metric
(the digit accuracy that sets Ex3's scores) with the class best marked, who needs manual
review, who could not be graded, and a link to each student's feedback page. Plots are drawn
with matplotlib's Agg backend and embedded as PNG ``data:`` URIs; without metadata, so the
same class gives the same bytes.
"""

from __future__ import annotations

import io
import statistics
from dataclasses import dataclass

from grader.core.results import Status, SubmissionResult
from grader.render import ClassReport, register_format
from grader.render.common import LOOK, could_not_grade, fmt_points, grader_failed, review_progress, submission_look
from grader.render.html_page import badge, esc, page, png_bytes_uri, png_size, review_badge, table
from grader.render.integrity import integrity_section
from grader.render.layout import student_link

# Plots are drawn at 150 dpi and shown at 100 dpi's size (``width``/``height`` below): sharp on a phone's
# dense screen, and 10 pt text stays about 11 CSS px when a 4.4-inch plot shrinks to a 390 px screen.
PLOT_DPI = 150
SHOWN_DPI = 100
PLOT_WIDTH_IN = 4.4
SMALLEST_TEXT_PT = 9  # legends and name labels; the rest is 10 pt
MAX_ALT_ITEMS = 40  # students or questions named in one alt text; the tables below name the rest


@dataclass(frozen=True)
class Plot:
    """A drawn plot and what it shows in words (its alt text: a screen reader's only view of it)."""

    png: bytes
    alt: str

    def img(self, cls: str = "") -> str:
        size = png_size(self.png)
        dims = (f' width="{round(size[0] * SHOWN_DPI / PLOT_DPI)}" height="{round(size[1] * SHOWN_DPI / PLOT_DPI)}"'
                if size else "")
        klass = f' class="{cls}"' if cls else ""
        return f'<img{klass}{dims} alt="{esc(self.alt)}" src="{png_bytes_uri(self.png)}">'


def _figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PLOT_DPI, metadata={"Software": None}, bbox_inches="tight")
    import matplotlib.pyplot as plt  # deferred: matplotlib is imported only when a page is drawn

    plt.close(fig)
    return buf.getvalue()


def _plt():
    import matplotlib  # deferred: matplotlib is imported only when a page is drawn

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # deferred: after choosing the Agg backend

    plt.rcParams.update({"font.size": 10, "axes.spines.top": False, "axes.spines.right": False})
    return plt


MAX_LABEL = 14  # characters of a name on a plot's axis: a long id would widen the plot and shrink its text


def _label(name: str) -> str:
    """A name short enough for an axis; the alt text and the tables carry it whole."""
    return name if len(name) <= MAX_LABEL else name[:MAX_LABEL - 1] + "\u2026"


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def distribution_plot(report: ClassReport) -> Plot:
    plt = _plt()
    totals = [r.total for r in report.results]
    top = report.rubric.max_total or 1.0
    fig, ax = plt.subplots(figsize=(PLOT_WIDTH_IN, 2.8))
    bins = min(20, max(5, len(totals) // 2 or 5))
    ax.hist(totals, bins=bins, range=(0, top), color="#0969da", edgecolor="white")
    if totals:
        mean = statistics.fmean(totals)
        ax.axvline(mean, color="#cf222e", linestyle="--", linewidth=1.2, label=f"mean {mean:.1f}")
        ax.legend(frameon=False)
    ax.set_xlabel(f"total score (of {fmt_points(top)})")
    ax.set_ylabel("students")
    ax.set_title("Score distribution")
    return Plot(_figure_png(fig), distribution_alt(totals, top))


def distribution_alt(totals: list[float], top: float) -> str:
    """``histogram of total scores: 12 students, median 41.5 of 49, mean 40.2, lowest 12, highest 49``."""
    if not totals:
        return f"histogram of total scores: no students yet (scores are out of {fmt_points(top)})"
    return (f"histogram of total scores: {len(totals)} student{'s' * (len(totals) != 1)}, median "
            f"{_num(statistics.median(totals))} of {fmt_points(top)}, mean {_num(statistics.fmean(totals))}, "
            f"lowest {_num(min(totals))}, highest {_num(max(totals))}")


ORDER = (Status.PASSED, Status.PARTIAL, Status.FAILED, Status.ERROR, Status.PENDING)


def pass_rate_plot(report: ClassReport) -> Plot:
    """One horizontal bar per question, so many questions make the plot taller, never wider than a phone."""
    plt = _plt()
    ids = [q.id for q in report.rubric.questions]
    n = max(len(report.results), 1)
    shares = {s: [sum(r.question(i).status is s for r in report.results) / n for i in ids] for s in ORDER}
    fig, ax = plt.subplots(figsize=(PLOT_WIDTH_IN, 0.32 * len(ids) + 1.5))
    rows = list(range(len(ids)))[::-1]  # the first question on top
    left = [0.0] * len(ids)
    for status in ORDER:
        if any(shares[status]):
            ax.barh(rows, shares[status], left=left, color=LOOK[status].colour, label=LOOK[status].label, height=0.7)
            left = [a + b for a, b in zip(left, shares[status], strict=True)]
    ax.set_yticks(rows, [_label(i) for i in ids])
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of students")
    ax.set_title("Per-question results")
    ax.legend(frameon=False, fontsize=SMALLEST_TEXT_PT, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    return Plot(_figure_png(fig), pass_rate_alt(ids, shares, len(report.results)))


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
    relative = [(r.student, r.question(qid).relative) for r in report.results]
    values = [(s, v) for s, v in relative if v is not None]
    if not values:
        return None
    plt = _plt()
    values.sort(key=lambda sv: (-sv[1], sv[0]))
    best = report.bests.get(qid)
    accs = [v for _, v in values]
    colors = ["#1a7f37" if best is not None and abs(v - best) < 1e-12 else "#0969da" for v in accs]
    if len(values) <= LABELLED_BARS:
        fig, ax = plt.subplots(figsize=(PLOT_WIDTH_IN, max(2.2, 0.24 * len(values) + 1.1)))
        rows = list(range(len(values)))[::-1]  # the best on top; by position, so two cut names never merge
        ax.barh(rows, accs, color=colors, height=0.7)
        ax.set_yticks(rows, [_label(name) for name, _ in values])
        ax.set_xlim(0, 1)
        ax.set_xlabel("accuracy")
        if best is not None:
            ax.axvline(best, color="#1a7f37", linestyle="--", linewidth=1)
        ax.tick_params(axis="y", labelsize=SMALLEST_TEXT_PT)
    else:
        fig, ax = plt.subplots(figsize=(PLOT_WIDTH_IN, 3.0))
        ax.bar(range(1, len(accs) + 1), accs, color=colors, width=1.0)
        ax.set_ylim(0, 1)
        ax.set_xlim(0.5, len(accs) + 0.5)
        ax.set_xlabel("students, best first\n(names in the table below)")
        ax.set_ylabel("accuracy")
        if best is not None:
            ax.axhline(best, color="#1a7f37", linestyle="--", linewidth=1)
    best_line = f"\n(class best {best:.4f}, green)" if best is not None else ""
    ax.set_title(f"{_label(qid)}: accuracy per student{best_line}", fontsize=10)
    return Plot(_figure_png(fig), relative_alt(qid, values, best))


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
    images = "".join(p.img("half") for p in (distribution_plot(report), pass_rate_plot(report)))
    parts.append(f'<div class="plots">{images}</div>')

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
            parts.append(f'<div class="plots">{plot.img()}</div>')

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

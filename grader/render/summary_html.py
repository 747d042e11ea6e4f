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

from grader.core.results import Status
from grader.render import ClassReport, register_format
from grader.render.common import LOOK, could_not_grade, fmt_points, review_progress
from grader.render.html_page import badge, esc, page, png_bytes_uri, review_badge
from grader.render.integrity import integrity_section
from grader.render.layout import student_link


def _figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None}, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def distribution_plot(report: ClassReport) -> bytes:
    plt = _plt()
    totals = [r.total for r in report.results]
    top = report.rubric.max_total or 1.0
    fig, ax = plt.subplots(figsize=(5.2, 3.0))
    bins = min(20, max(5, len(totals) // 2 or 5))
    ax.hist(totals, bins=bins, range=(0, top), color="#0969da", edgecolor="white")
    if totals:
        mean = statistics.fmean(totals)
        ax.axvline(mean, color="#cf222e", linestyle="--", linewidth=1.2, label=f"mean {mean:.1f}")
        ax.legend(frameon=False)
    ax.set_xlabel(f"total score (of {fmt_points(top)})")
    ax.set_ylabel("students")
    ax.set_title("Score distribution")
    return _figure_png(fig)


def pass_rate_plot(report: ClassReport) -> bytes:
    plt = _plt()
    ids = [q.id for q in report.rubric.questions]
    n = max(len(report.results), 1)
    fig, ax = plt.subplots(figsize=(max(5.2, 0.6 * len(ids) + 1.5), 3.0))
    bottom = [0.0] * len(ids)
    for status in (Status.PASSED, Status.PARTIAL, Status.FAILED, Status.ERROR, Status.PENDING):
        share = [sum(r.question(i).status is status for r in report.results) / n for i in ids]
        if any(share):
            ax.bar(ids, share, bottom=bottom, color=LOOK[status].colour, label=status.value, width=0.7)
            bottom = [b + s for b, s in zip(bottom, share, strict=True)]
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of students")
    ax.set_title("Per-question results")
    ax.legend(frameon=False, fontsize=8, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return _figure_png(fig)


LABELLED_BARS = 40  # above this many students, the plot shows ranks; the table below names them


def relative_plot(report: ClassReport, qid: str) -> bytes | None:
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
        fig, ax = plt.subplots(figsize=(5.8, max(2.2, 0.24 * len(values) + 0.9)))
        ax.barh([s for s, _ in values][::-1], accs[::-1], color=colors[::-1], height=0.7)
        ax.set_xlim(0, 1)
        ax.set_xlabel("accuracy")
        if best is not None:
            ax.axvline(best, color="#1a7f37", linestyle="--", linewidth=1)
        ax.tick_params(axis="y", labelsize=9)
    else:
        fig, ax = plt.subplots(figsize=(6.4, 3.0))
        ax.bar(range(1, len(accs) + 1), accs, color=colors, width=1.0)
        ax.set_ylim(0, 1)
        ax.set_xlim(0.5, len(accs) + 0.5)
        ax.set_xlabel("students, best first (names in the table below)")
        ax.set_ylabel("accuracy")
        if best is not None:
            ax.axhline(best, color="#1a7f37", linestyle="--", linewidth=1)
    ax.set_title(f"{qid}: accuracy per student" + (f" (class best {best:.4f}, green)" if best is not None else ""),
                 fontsize=10)
    return _figure_png(fig)


def summary_page(report: ClassReport) -> str:
    results, rubric = report.results, report.rubric
    totals = [r.total for r in results]
    mean = statistics.fmean(totals) if totals else 0.0
    median = statistics.median(totals) if totals else 0.0
    parts = [f"<h1>{esc(rubric.name)}: class summary</h1>",
             f'<p class="sub">{len(results)} submissions &#183; mean <b id="mean">{mean:.2f}</b> &#183; median '
             f"{median:.2f} of {fmt_points(rubric.max_total)}</p>"]
    plots = [distribution_plot(report), pass_rate_plot(report)]
    images = "".join(f'<img class="half" alt="plot" src="{png_bytes_uri(p)}">' for p in plots)
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
    parts.append("<h2>Questions</h2><table><tr><th>id</th><th>question</th><th>points</th><th>mean</th>"
                 "<th>full marks</th><th>partial</th><th>grader errors</th><th>to review</th></tr>"
                 + "".join(rows) + "</table>")

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
            parts.append(f'<div class="plots"><img alt="{esc(qid)} per student" src="{png_bytes_uri(plot)}"></div>')

    # who needs attention
    failed = [r for r in results if could_not_grade(r)]
    parts.append("<h2>Could not be graded</h2>")
    if failed:
        parts.append("<table><tr><th>student</th><th>why</th></tr>" + "".join(
            f'<tr><td><a href="{esc(student_link(r.student))}">{esc(r.student)}</a></td>'
            f"<td>{esc('; '.join(r.errors))}</td></tr>" for r in failed) + "</table>")
    else:
        parts.append("<p>Every submission was graded.</p>")
    parts.append(review_section(report))
    errs = [(r, q) for r in results for q in r.questions if q.status is Status.ERROR]
    if errs:
        parts.append("<h2>Grader errors (not the students' fault)</h2><table><tr><th>student</th><th>question</th>"
                     "<th>error</th></tr>" + "".join(
                         f"<tr><td>{esc(r.student)}</td><td>{esc(q.id)}</td><td>{esc(q.reason[:300])}</td></tr>"
                         for r, q in errs) + "</table>")

    # academic integrity (batch grading only)

    if section := integrity_section(report):
        parts.append(section)

    # everyone
    ids = [q.id for q in rubric.questions]
    rel_ids = list(report.bests)
    head = "".join(f"<th>{esc(i)}</th>" for i in ids) + "".join(f"<th>{esc(i)} metric</th>" for i in rel_ids)
    body = []
    for r in results:
        cells = "".join(
            f'<td class="num" title="{esc(r.question(i).status.value)}">{fmt_points(r.question(i).score)}</td>'
            for i in ids)
        for i in rel_ids:
            v, best = r.question(i).relative, report.bests.get(i)
            mark = " &#9733; class best" if v is not None and best is not None and abs(v - best) < 1e-12 else ""
            cells += f'<td class="num">{"&#8211;" if v is None else f"{v:.4f}"}{mark}</td>'

        flags = (review_badge() if any(q.awaiting_review for q in r.questions) else "") + \
            (badge(Status.ERROR) if could_not_grade(r) else "")
        body.append(f'<tr><td><a href="{esc(student_link(r.student))}">{esc(r.student)}</a></td>{cells}'
                    f'<td class="num"><b>{fmt_points(r.total)}</b></td><td>{flags}</td></tr>')
    parts.append(f"<h2>Students</h2><table><tr><th>student</th>{head}<th>total</th><th></th></tr>"
                 + "".join(body) + "</table>")
    parts.append(f"<footer>rubric {esc(rubric.digest()[:12])}</footer>")
    return page(f"{rubric.name}: class summary", "\n".join(parts))


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
        parts.append("<table><tr><th>student</th><th>items</th></tr>" + "".join(
            f'<tr><td><a href="{esc(student_link(r.student))}">{esc(r.student)}</a></td><td>'
            + "<br>".join(f"{esc(q.id)}: {esc(q.reason[:200])}" for q in qs) + "</td></tr>" for r, qs in waiting)
            + "</table>")
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
        parts.append("<table><tr><th>student</th><th>question</th><th>automatic</th><th>score</th><th>comment</th>"
                     "<th>by</th></tr>" + "".join(
                         f'<tr><td><a href="{esc(student_link(r.student))}">{esc(r.student)}</a></td>'
                         f'<td>{esc(q.id)}</td><td class="num">{fmt_points(q.review.automatic)}</td>'
                         f'<td class="num"><b>{fmt_points(q.score)}</b></td><td>{esc(q.review.comment)}</td>'
                         f"<td>{esc(q.review.by)} {esc(q.review.at[:16])}</td></tr>"
                         for r, q in decided if q.review is not None) + "</table>")
    return "".join(parts)


@register_format("summary-html", scope="class", filename="summary.html", default=True,
                 help="the instructor's class page: distribution, pass rates, class-relative metric, links")
def render_summary_html(report: ClassReport) -> str:
    return summary_page(report)

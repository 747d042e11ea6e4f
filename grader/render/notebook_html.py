"""``notebook-html``: the report as one self-contained HTML fragment, a table, for a notebook's output
(``mlgrade.check()`` in Jupyter, Colab or VS Code).

Everything from the submission or the rubric goes through :func:`textsafe.html`; nothing is loaded from
anywhere (no scripts, no links, no images), and styles are inline: a notebook's output has no stylesheet.
"""

from __future__ import annotations

from grader.core import textsafe
from grader.core.results import SubmissionResult
from grader.render import ClassReport, register_format
from grader.render.common import LOOK, fmt_points
from grader.render.terminal import total_line


@register_format("notebook-html", scope="submission", filename="report-fragment.html",
                 help="the self-check's table as a notebook shows it (inline styles, no page around it)")
def notebook_html(result: SubmissionResult, report: ClassReport) -> str:
    return fragment(result, f"mlgrade: {result.student} ({report.rubric.name})", result.warnings)


def fragment(r: SubmissionResult, title: str, notes: list[str]) -> str:
    esc = textsafe.html
    rows = []
    for q in r.questions:
        look = LOOK.get(q.status)
        status = esc(look.label if look else str(q.status))
        if q.manual_review:
            status += '<br><span style="color:#0969da">+ review</span>'
        rows.append(
            "<tr>"
            f'<td style="vertical-align:top;text-align:left"><code>{esc(q.id)}</code></td>'
            f'<td style="vertical-align:top;text-align:right;white-space:nowrap">'
            f"{esc(fmt_points(q.score))}/{esc(fmt_points(q.max_score))}</td>"
            f'<td style="vertical-align:top;text-align:left;color:{look.colour if look else "#000"};'
            f'font-weight:600">{status}</td>'
            f'<td style="vertical-align:top;text-align:left"><b>{esc(q.title)}</b>'
            f'<div style="white-space:pre-wrap;font-family:monospace;font-size:90%">{esc(q.reason)}</div></td>'
            "</tr>"
        )
    head = "".join(f'<th scope="col" style="text-align:left">{h}</th>' for h in ("question", "score", "status", "why"))
    parts = [
        '<div class="mlgrade-report">',
        f"<h3>{esc(title)}</h3>",
        *[f'<p style="color:#cf222e"><b>error:</b> {esc(e)}</p>' for e in r.errors],
        *[f"<p><b>note:</b> {esc(w)}</p>" for w in r.warnings if w not in notes],
        f'<table class="mlgrade-scores" style="border-collapse:collapse">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
        f'<tfoot><tr><td><b>total</b></td><td style="text-align:right"><b>{esc(fmt_points(r.total))}/'
        f"{esc(fmt_points(r.max_total))}</b></td><td></td><td>{esc(total_line(r).partition(' (')[2].rstrip(')'))}"
        "</td></tr></tfoot></table>",
        *[f'<p style="color:#57606a"><b>note:</b> {esc(n)}</p>' for n in notes],
        "</div>",
    ]
    return "\n".join(parts)

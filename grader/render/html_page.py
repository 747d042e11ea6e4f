"""Pieces every HTML page shares: the inline stylesheet, the page frame, badges, safe images.

Pages are self-contained: CSS inline, images as ``data:`` URIs, no script, no network (a
Content-Security-Policy forbids fetching anything). They read on a phone (390 px) as on a desk:
tables scroll inside their own box (:func:`table`), charts (inline SVG) scale to the width, the page
itself never scrolls sideways (``tests/render/test_narrow.py`` measures it in Chromium). Every string from
a record passes through :func:`grader.core.textsafe.html`. Images arrive as base64 PNG produced in the sandbox;
the grader never decodes them, it only checks that they are base64 of a PNG of bounded size
before embedding them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

from grader.core import textsafe
from grader.core.png import MAX_IMAGE_SIDE, PNG_MAGIC, png_size  # noqa: F401 - pages embed PNGs
from grader.core.results import Status
from grader.render.common import LOOK, StatusLook

esc = textsafe.html
MAX_IMAGE_BYTES = 2 * 1024**2
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


CSS = """
:root{--ok:#1a7f37;--part:#9a6700;--bad:#cf222e;--pend:#6e7781;--err:#8250df;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:#1f2328;margin:0;
     background:#fff}
main{max-width:1040px;margin:0 auto;padding:24px 20px 48px;overflow-wrap:break-word}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 10px}h3{font-size:16px;margin:14px 0 6px}
.sub{color:#57606a;margin:0 0 16px}
.score{font-size:44px;font-weight:700;letter-spacing:-1px}.score small{font-size:22px;color:#57606a}
.hero{display:flex;gap:28px;align-items:center;flex-wrap:wrap;padding:16px 20px;border:1px solid var(--line);
      border-radius:10px;background:var(--bg)}
.bar{height:12px;border-radius:6px;background:#eaeef2;overflow:hidden;min-width:220px;flex:1}
.bar>span{display:block;height:100%;background:var(--ok)}
.badge{display:inline-block;padding:1px 9px;border-radius:12px;font-size:12.5px;font-weight:600;color:#fff;
       white-space:nowrap;vertical-align:middle}
.badge.ok{background:var(--ok)}.badge.part{background:var(--part)}.badge.bad{background:var(--bad)}
.badge.pend{background:var(--pend)}.badge.err{background:var(--err)}.badge.review{background:#0969da}
.badge.reviewed{background:#57606a}
.q{border:1px solid var(--line);border-radius:10px;margin:14px 0;overflow:hidden}
.q>header{display:flex;flex-wrap:wrap;gap:6px 12px;align-items:center;padding:10px 14px;background:var(--bg);
          border-bottom:1px solid var(--line)}
.q>header .t{flex:1 1 14em;font-size:15px;font-weight:600;margin:0;overflow-wrap:anywhere}
h4{font-size:15px;margin:12px 0 6px}.q>header .pts{font-weight:700;font-variant-numeric:tabular-nums}
.q>.body{padding:10px 14px}
.q.ok{border-left:5px solid var(--ok)}.q.part{border-left:5px solid var(--part)}.q.bad{border-left:5px solid var(--bad)}
.q.pend{border-left:5px solid var(--pend)}.q.err{border-left:5px solid var(--err)}
.why{white-space:pre-wrap;overflow-wrap:anywhere;margin:4px 0 8px}
pre{background:#f6f8fa;border:1px solid var(--line);border-radius:6px;padding:8px 10px;overflow:auto;
    font:12.5px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;
    overflow-wrap:anywhere;max-height:360px}
table{border-collapse:collapse;margin:6px 0 10px;font-variant-numeric:tabular-nums}
.scroll{max-width:100%;overflow-x:auto;margin:6px 0 10px}.scroll>table{margin:0}
th,td{border:1px solid var(--line);padding:4px 9px;text-align:left;vertical-align:top}
th{background:var(--bg);font-weight:600}
td.num{text-align:right}
tr.diff td{background:#fff5f5}tr.same td{background:#f5fff7}
.imgs{display:flex;flex-wrap:wrap;gap:14px}
figure{margin:0;border:1px solid var(--line);border-radius:8px;padding:8px;width:196px;background:#fff}
figure img{display:block;max-width:178px;max-height:178px;margin:0 auto 6px;image-rendering:auto}
figure.wide{width:auto;max-width:100%}figure.wide img{max-width:100%;max-height:420px}
figcaption{font-size:13px;overflow-wrap:anywhere}
.right{color:var(--ok);font-weight:600}.wrong{color:var(--bad);font-weight:600}
.note{border-left:4px solid #0969da;background:#ddf4ff;padding:6px 10px;border-radius:4px;margin:8px 0}
.note.decision{background:#fff8c5;border-left-color:#9a6700}
.alert{border-left:4px solid var(--bad);background:#ffebe9;padding:6px 10px;border-radius:4px;margin:8px 0}
.math{font-size:17px;overflow-x:auto;padding:6px 0}
math{font-family:"STIX Two Math","Cambria Math","Latin Modern Math",serif}
math mtd{text-align:left;padding:1px 0}math mtd:first-child{text-align:right}
.plots{display:flex;flex-wrap:wrap;gap:16px}
.plots svg{display:block;max-width:100%;height:auto;border:1px solid var(--line);border-radius:8px;background:#fff}
@media (max-width:640px){main{padding:16px 12px 40px}.hero{padding:12px 14px;gap:14px}
  .score{font-size:36px}.bar{min-width:140px}.imgs{gap:10px}figure{width:calc(50% - 5px)}
  figure img{max-width:100%;height:auto}}
footer{color:#57606a;font-size:12.5px;margin-top:32px;border-top:1px solid var(--line);padding-top:10px}
a{color:#0969da}
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def page(title: str, body: str) -> str:
    """A complete page; ``body`` is already-escaped HTML, ``title`` is text."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta name=\"referrer\" content=\"no-referrer\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body><main>\n{body}\n</main></body></html>\n"
    )


def badge(status: Status | StatusLook, title: str = "") -> str:
    """A status's badge; ``title`` (text) is shown on hover, e.g. why a submission was not graded."""
    look = status if isinstance(status, StatusLook) else LOOK[status]
    tip = f' title="{esc(title)}"' if title else ""
    return f'<span class="badge {look.css}"{tip}>{look.label}</span>'


def table(head: Iterable[str], rows: Iterable[str], label: str) -> str:
    """A table in a box of its own that scrolls sideways on a narrow screen, so the page never does.

    ``head``: the column headers as HTML (already escaped), each a ``scope="col"`` header; ``rows``:
    ``<tr>`` HTML. ``label`` (text) names the scrolling region for a screen reader; the region takes
    the keyboard's focus so it can be scrolled without a mouse."""
    cols = "".join(f'<th scope="col">{h}</th>' for h in head)
    return (f'<div class="scroll" role="region" tabindex="0" aria-label="{esc(label)}"><table><thead><tr>{cols}'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def review_badge(reviewed: bool = False) -> str:
    if reviewed:
        return '<span class="badge reviewed">reviewed</span>'
    return '<span class="badge review">manual review</span>'


def png_data_uri(b64: object) -> str | None:
    """A ``data:`` URI for base64 PNG data from the sandbox, or None if it is anything else."""
    if not isinstance(b64, str) or len(b64) > MAX_IMAGE_BYTES * 4 // 3 + 4 or not _B64.fullmatch(b64):
        return None
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    if png_size(raw) is None:
        return None
    return "data:image/png;base64," + base64.b64encode(raw).decode("ascii")

"""``mlgrade review``'s server: only the token holder on 127.0.0.1 gets in, no request names a path,
student text is escaped, decisions land in overrides.yaml at once, and a bomb cannot take the page down."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import threading
from pathlib import Path

import pytest
from helpers import huge_png_header, png_bytes
from render_samples import HOSTILE, sample_class, store_class, student

from grader.classstep.overrides import Override, load_overrides, put_override
from grader.core.results import CheckResult, QuestionResult, Status
from grader.review.queue import ReviewClass, item_id
from grader.review.server import CSP, ReviewServer


def flagged_class(out: Path, previews: dict[str, bytes] | None = None):
    """The sample class, with amy's and eve's q2 flagged and each of them a flagged screenshot check."""
    results = sample_class()
    for r in results:
        if r.student in ("amy", "eve"):
            q = r.question("q2")
            q.manual_review = True
            details = {"file": "classify.png", "format": "PNG", "width": 640, "height": 150,
                       "thumbnail": base64.b64encode(png_bytes((64, 20))).decode()}
            if previews and r.student in previews:
                raw = previews[r.student]
                name = hashlib.sha256(raw).hexdigest() + ".png"
                (out / ".mlgrade" / "previews").mkdir(parents=True, exist_ok=True)
                (out / ".mlgrade" / "previews" / name).write_bytes(raw)
                details["preview"] = name
            q.checks.insert(0, CheckResult(kind="image", fraction=1, status=Status.PASSED, reason="classify.png",
                                           weight=0, gate=True, manual_review=True, details=details))
    store_class(out, results)
    return results


@pytest.fixture
def served(tmp_path):
    """A review server on a free port over a flagged class; yields (server, out)."""
    out = tmp_path / "grades"
    flagged_class(out, {"amy": png_bytes((900, 300), color=(10, 200, 10))})
    server = ReviewServer(ReviewClass(out, by="tester"), 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server, out
    server.shutdown()
    server.server_close()


def request(server, method: str, path: str, body: object = None, headers: dict | None = None,
            token: str | None = "header", host: str | None = None, origin: str | None = "same"):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    h = {"Host": host if host is not None else f"127.0.0.1:{server.port}"}
    if token == "header":
        h["X-Mlgrade-Token"] = server.token
    elif token == "query":
        path += ("&" if "?" in path else "?") + f"token={server.token}"
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if origin == "same":
        h["Origin"] = f"http://127.0.0.1:{server.port}"
    elif origin is not None:
        h["Origin"] = origin
    h.update(headers or {})
    conn.request(method, path, body=data, headers=h)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), payload


def get_json(server, path, **kw):
    code, headers, payload = request(server, "GET", path, **kw)
    assert code == 200, payload
    return json.loads(payload)


def test_the_queue_is_question_by_question_and_counts_progress(served):
    server, out = served
    state = get_json(server, "/api/state")
    assert [(i["student"], i["question"], i["state"]) for i in state["items"]] == [
        ("amy", "q2", "todo"), ("eve", "q2", "todo")]
    assert state["progress"] == {"reviewed": 0, "flagged": 2, "unexported": 0}
    assert state["by"] == "tester" and state["questions"] == ["q2", "q4a", "backprop", "arch", "digits"]


def test_without_the_token_nothing(served):
    server, _ = served
    for path in ("/", "/api/state", "/review.js", f"/api/item/{item_id('amy', 'q2')}", "/img/" + "0" * 64):
        assert request(server, "GET", path, token=None)[0] == 403
        code, _, body = request(server, "GET", path, token=None, headers={"X-Mlgrade-Token": "x" * 43})
        assert code == 403 and b"wrong token" in body
    other_last = "B" if server.token.endswith("A") else "A"  # one character off, never the token itself
    assert request(server, "GET", "/?token=" + server.token[:-1] + other_last, token=None)[0] == 403
    assert request(server, "GET", "/", token="query")[0] == 200
    assert request(server, "GET", "/api/state", token="header")[0] == 200


def test_dns_rebinding_and_other_sites_are_refused(served):
    server, _ = served
    for host in ("evil.example", f"evil.example:{server.port}", "127.0.0.1", f"127.0.0.2:{server.port}",
                 f"127.0.0.1:{server.port + 1}", ""):
        assert request(server, "GET", "/api/state", host=host)[0] == 403, host
    assert request(server, "GET", "/api/state", host=f"localhost:{server.port}")[0] == 200
    # a page elsewhere cannot make the browser fetch the data, even with a stolen token
    code, _, _ = request(server, "GET", "/api/state", headers={"Sec-Fetch-Site": "cross-site"})
    assert code == 403
    # the page itself may be opened from a link elsewhere
    assert request(server, "GET", "/", token="query", headers={"Sec-Fetch-Site": "cross-site"})[0] == 200


def test_posts_need_the_header_token_the_origin_and_json(served):
    server, out = served
    body = {"id": item_id("amy", "q2"), "action": "accept"}
    assert request(server, "POST", "/api/decide", body, token="query")[0] == 403  # a URL token is not enough
    assert request(server, "POST", "/api/decide", body, origin=None)[0] == 403
    assert request(server, "POST", "/api/decide", body, origin="http://evil.example")[0] == 403
    assert request(server, "POST", "/api/decide", body, origin="null")[0] == 403
    assert request(server, "POST", "/api/decide", body, headers={"Content-Type": "text/plain"})[0] == 415
    assert request(server, "POST", "/api/decide", b"x" * 70000)[0] == 413
    assert request(server, "POST", "/api/decide", b"{not json")[0] == 400
    assert request(server, "POST", "/api/decide", b"[1]")[0] == 400
    assert load_overrides(out) == []  # nothing of the above wrote anything
    for method in ("PUT", "DELETE", "OPTIONS", "PATCH"):
        code, headers, _ = request(server, method, "/api/decide", body)
        assert code == 405 and not any(k.lower().startswith("access-control") for k in headers)
    assert request(server, "POST", "/api/decide", body)[0] == 200
    assert [o.accept for o in load_overrides(out)] == [True]


@pytest.mark.parametrize("path", [
    "/../../etc/passwd", "/review.js/../../overrides.yaml", "/static/index.html", "/img/../../../etc/passwd",
    "/img/" + "a" * 63, "/img/" + "A" * 64, "/img/%2e%2e%2foverrides.yaml", "//etc/passwd", "/api/item/../state",
    "/api/item/" + "0" * 16, "/api/item/" + "0" * 17, "/.mlgrade/class.json", "/overrides.yaml",
    "/img/" + "0" * 64 + "/../x", "/api/state/..", "/%00", "/review.css%00.html",
])
def test_no_request_reaches_a_file_by_its_path(served, path):
    server, _ = served
    code, _, payload = request(server, "GET", path)
    assert code == 404, (path, payload)
    assert b"root:" not in payload and b"overrides" not in payload and b"rubric" not in payload


def test_a_hostile_record_cannot_point_the_server_at_a_file(tmp_path):
    out = tmp_path / "grades"
    results = flagged_class(out)
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes((30, 30)))
    link = "b" * 64 + ".png"
    (out / ".mlgrade" / "previews").mkdir(parents=True)
    (out / ".mlgrade" / "previews" / link).symlink_to(secret)  # a link in the previews folder is not followed
    for r in results:
        if r.student == "amy":
            r.question("q2").checks[0].details.update(preview="../../secret.png", thumbnail=None)
        if r.student == "eve":
            r.question("q2").checks[0].details.update(preview=link, thumbnail=None)
    store_class(out, results)
    review = ReviewClass(out)
    assert all(not it.pictures for it in review.items)  # neither becomes a picture
    assert review.image(hashlib.sha256(secret.read_bytes()).hexdigest()) is None
    assert review.image("b" * 64) is None
    assert "No picture of this item" in review.detail(item_id("amy", "q2"), "t")["html"]


def test_images_are_served_by_digest_previews_first(served):
    server, out = served
    amy = get_json(server, f"/api/item/{item_id('amy', 'q2')}")
    eve = get_json(server, f"/api/item/{item_id('eve', 'q2')}")
    (preview,) = (out / ".mlgrade" / "previews").iterdir()
    code, headers, png = request(server, "GET", amy["images"][0].split("?")[0])
    assert code == 200 and headers["Content-Type"] == "image/png" and png == preview.read_bytes()
    assert "immutable" in headers["Cache-Control"] and headers["X-Content-Type-Options"] == "nosniff"
    code, _, png = request(server, "GET", eve["images"][0].split("?")[0])  # no preview: the thumbnail
    assert code == 200 and png == png_bytes((64, 20))
    assert "(the feedback page&#x27;s 480 px thumbnail)" in eve["html"]
    assert amy["images"][0].endswith(f"?token={server.token}") and f'src="{amy["images"][0]}"' in amy["html"]


def test_a_bomb_disguised_as_a_thumbnail_is_never_served(tmp_path):
    """Even if the sandbox that made the thumbnails were subverted, a PNG claiming 30000x30000 pixels
    never reaches the browser; the rest of the page works."""
    out = tmp_path / "grades"
    bomb = huge_png_header(30000, 30000)
    results = flagged_class(out, {"amy": bomb})
    for r in results:
        if r.student == "eve":
            r.question("q2").checks[0].details["thumbnail"] = base64.b64encode(bomb).decode()
    store_class(out, results)
    review = ReviewClass(out)
    amy, eve = review.by_id[item_id("amy", "q2")], review.by_id[item_id("eve", "q2")]
    assert review.image(amy.pictures[0].digest) == png_bytes((64, 20))  # the bomb preview: the thumbnail instead
    assert not eve.pictures
    assert review.detail(eve.id, "t")["html"]


def test_evidence_is_escaped(tmp_path):
    out = tmp_path / "grades"
    results = [student("amy", 0.9, reason=HOSTILE, review=True)]
    results[0].question("q2").title = HOSTILE
    store_class(out, results)
    review = ReviewClass(out)
    d = review.detail(item_id("amy", "q2"), "tok")
    assert "<script>" not in d["html"] and "<img src=x" not in d["html"] and "\x1b" not in d["html"]
    assert "&lt;script&gt;" in d["html"]
    assert d["item"]["title"] == HOSTILE  # JSON: the page shows it with textContent


def test_security_headers_on_every_response(served):
    server, _ = served
    for path, token in (("/", "query"), ("/api/state", "header"), ("/nope", "header"), ("/api/state", None)):
        _, headers, _ = request(server, "GET", path, token=token)
        assert headers["Content-Security-Policy"] == CSP
        assert headers["X-Frame-Options"] == "DENY" and headers["Referrer-Policy"] == "no-referrer"
        assert not any(k.lower().startswith("access-control") for k in headers)
    code, headers, page = request(server, "GET", "/", token="query")
    assert b"<script src=\"/review.js?token=" in page and b"<script>" not in page
    assert "script-src 'self'" in CSP and "'unsafe-inline'" not in CSP


def test_decisions_are_written_at_once_and_undone(served):
    server, out = served
    amy, eve = item_id("amy", "q2"), item_id("eve", "q2")
    r = json.loads(request(server, "POST", "/api/decide", {"id": amy, "action": "accept"})[2])
    assert r["item"]["state"] == "accepted" and r["progress"]["reviewed"] == 1
    (ov,) = load_overrides(out)
    assert ov.accept and ov.by == "tester" and ov.submission_hash == "def" and ov.automatic == 0.5 and ov.at
    r = json.loads(request(server, "POST", "/api/decide", {"id": eve, "action": "score", "value": 0.25,
                                                           "comment": "wrong model in the screenshot"})[2])
    assert r["item"]["state"] == "changed" and r["item"]["score"] == 0.25 and r["progress"]["reviewed"] == 2
    assert {o.student: o.score for o in load_overrides(out)} == {"amy": None, "eve": 0.25}
    r = json.loads(request(server, "POST", "/api/decide", {"id": eve, "action": "delta", "value": -1})[2])
    assert r["item"]["score"] == 0  # clamped
    # undo goes back one decision at a time
    r = json.loads(request(server, "POST", "/api/undo", {})[2])
    assert r["item"]["score"] == 0.25 and next(o for o in load_overrides(out) if o.student == "eve").score == 0.25
    json.loads(request(server, "POST", "/api/undo", {})[2])
    json.loads(request(server, "POST", "/api/undo", {})[2])
    assert load_overrides(out) == []
    code, _, body = request(server, "POST", "/api/undo", {})
    assert code == 409 and b"nothing to undo" in body
    # bad decisions are refused with a reason, nothing written
    for bad, why in (({"id": eve, "action": "score", "value": 2}, b"worth 1 points"),
                     ({"id": eve, "action": "score", "value": "1"}, b"expected a number"),
                     ({"id": eve, "action": "score", "value": True}, b"expected a number"),
                     ({"id": eve, "action": "drop"}, b"unknown action"),
                     ({"id": "0" * 16, "action": "accept"}, b"no such item"),
                     ({"id": eve, "action": "accept", "comment": "x" * 5000}, b"at most 4000")):
        code, _, body = request(server, "POST", "/api/decide", bad)
        assert code == 409 and why in body, (bad, body)
    assert load_overrides(out) == []


def test_undo_does_not_undo_someone_elses_decision(served):
    server, out = served
    amy = item_id("amy", "q2")
    request(server, "POST", "/api/decide", {"id": amy, "action": "accept"})
    put_override(out, Override(student="amy", question="q2", score=0, comment="from the command line"))
    code, _, body = request(server, "POST", "/api/undo", {})
    assert code == 409 and b"changed elsewhere" in body
    assert load_overrides(out)[0].comment == "from the command line"


def test_the_command_line_and_the_page_write_at_once(served):
    server, out = served
    amy, eve = item_id("amy", "q2"), item_id("eve", "q2")
    errors = []

    def page():
        for i in range(20):
            code, _, body = request(server, "POST", "/api/decide", {"id": (amy, eve)[i % 2], "action": "accept",
                                                                    "comment": f"page {i}"})
            if code != 200:
                errors.append(body)

    def cli():
        for i in range(20):
            put_override(out, Override(student="ben", question=f"q{i}", score=1))

    threads = [threading.Thread(target=page), threading.Thread(target=cli)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    got = load_overrides(out)
    assert {o.question for o in got if o.student == "ben"} == {f"q{i}" for i in range(20)}
    assert {o.comment for o in got if o.student in ("amy", "eve")} == {"page 18", "page 19"}
    # the page sees decisions written elsewhere on its next look
    put_override(out, Override(student="eve", question="q2", score=0.75, comment="cli"))
    eve_now = next(i for i in get_json(server, "/api/state")["items"] if i["id"] == eve)
    assert eve_now["score"] == 0.75 and eve_now["comment"] == "cli"


def test_stale_decisions_come_back_to_the_queue(tmp_path):
    out = tmp_path / "grades"
    flagged_class(out)
    put_override(out, Override(student="amy", question="q2", score=0, submission_hash="an-older-zip",
                               at="2026-03-01T20:00:00+01:00", comment="blank screenshot"))
    put_override(out, Override(student="ben", question="arch", score=1, comment="regrade request"))
    review = ReviewClass(out)
    state = review.state()
    by = {(i["student"], i["question"]): i for i in state["items"]}
    assert by[("amy", "q2")]["state"] == "stale" and by[("amy", "q2")]["comment"] == "blank screenshot"
    assert by[("ben", "arch")]["state"] == "changed" and not by[("ben", "arch")]["flagged"]  # listed, not counted
    assert state["progress"]["reviewed"] == 0 and state["progress"]["flagged"] == 2


def test_export_from_the_page_writes_the_grade_files(served):
    server, out = served
    request(server, "POST", "/api/decide", {"id": item_id("eve", "q2"), "action": "score", "value": 0,
                                            "comment": "no screenshot of the classification"})
    assert get_json(server, "/api/state")["progress"]["unexported"] == 1
    r = json.loads(request(server, "POST", "/api/export", {})[2])
    assert r["progress"]["unexported"] == 0
    rows = {line.split(",")[0]: line.split(",") for line in (out / "grades.csv").read_text().splitlines()}
    assert rows["eve"][1] == "0"
    assert "your instructor changed the score" in (out / "students" / "eve" / "feedback.html").read_text()


def test_a_regrade_is_picked_up(tmp_path):
    out = tmp_path / "grades"
    results = flagged_class(out)
    review = ReviewClass(out)
    assert len(review.items) == 2
    for r in results:
        if r.student == "ben":
            r.question("arch").manual_review = True
    store_class(out, results)
    review.refresh()
    assert [(it.student, it.question) for it in review.items] == [("amy", "q2"), ("eve", "q2"), ("ben", "arch")]


def test_an_item_shows_the_other_evidence_and_what_to_look_for(tmp_path):
    out = tmp_path / "grades"
    results = flagged_class(out)
    store_class(out, results)
    review = ReviewClass(out)
    html = review.detail(item_id("amy", "q2"), "t")["html"]
    assert "what1.jpg" in html and "predicted <b>0</b>" in html  # the classification of the student's photos
    assert "amy's other questions" in html and "q4a" in html


def test_review_notes_come_from_the_rubric(tmp_path):
    from grader.score.store import ClassManifest, save_class

    out = tmp_path / "grades"
    rubric = """
name: t
questions:
  - id: shot
    title: screenshot
    points: 1
    checks: [{kind: image, file: "s.png", manual_review: true, review_note: "the <b>bias</b> is visible"}]
"""
    r = student("amy", None, review=True)
    r.questions = [QuestionResult(id="shot", title="screenshot", score=1, max_score=1, status=Status.PASSED,
                                  reason="s.png", manual_review=True)]
    store_class(out, [r], rubric)
    save_class(out, ClassManifest(keys={"amy": "key-amy"}, sources={}, rubric_text=rubric))
    html = ReviewClass(out).detail(item_id("amy", "shot"), "t")["html"]
    assert "Look for:</b> the &lt;b&gt;bias&lt;/b&gt; is visible" in html


def test_mlgrade_review_prints_the_address_and_writes_the_grade_files_when_stopped(tmp_path):
    import re
    import signal
    import subprocess
    import sys
    import urllib.request

    out = tmp_path / "grades"
    flagged_class(out)
    proc = subprocess.Popen([sys.executable, "-m", "grader", "review", str(out), "--no-browser", "--by", "me"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        assert lines[0].startswith(f"mlgrade review: 2 flagged items in {out} (0 reviewed)")
        url = re.fullmatch(r"open (http://127\.0\.0\.1:(\d+)/\?token=([\w-]{43}))\n", lines[1])
        assert url, lines
        port, token = int(url.group(2)), url.group(3)
        with urllib.request.urlopen(url.group(1), timeout=10) as resp:
            assert b"review.js?token=" + token.encode() in resp.read()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/decide", method="POST",
                                     data=json.dumps({"id": item_id("amy", "q2"), "action": "score", "value": 1,
                                                      "comment": "fine after all"}).encode(),
                                     headers={"X-Mlgrade-Token": token, "Content-Type": "application/json",
                                              "Origin": f"http://127.0.0.1:{port}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.loads(resp.read())["item"]["state"] == "changed"
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "rewrote the grade files" in stdout
    row = next(line for line in (out / "grades.csv").read_text().splitlines() if line.startswith("amy,"))
    assert row.split(",")[1] == "1"


def test_mlgrade_review_needs_a_graded_class(tmp_path, capsys):
    from grader.cli.main import main

    assert main(["review", str(tmp_path), "--no-browser"]) == 2
    assert "no graded class here" in capsys.readouterr().err


def test_a_broken_overrides_file_is_reported_not_overwritten(served):
    server, out = served
    (out / "overrides.yaml").write_text("overrides: [\n")
    code, _, body = request(server, "GET", "/api/state")
    assert code == 409 and b"not valid YAML" in body
    code, _, body = request(server, "POST", "/api/decide", {"id": item_id("amy", "q2"), "action": "accept"})
    assert code == 409 and b"not valid YAML" in body
    assert (out / "overrides.yaml").read_text() == "overrides: [\n"


def test_a_flagged_equation_shows_the_mathematics_and_its_values(tmp_path):
    out = tmp_path / "grades"
    results = sample_class()
    results[0].question("q4a").manual_review = True  # e.g. a photo of the equation on paper
    store_class(out, results)
    review = ReviewClass(out)
    html = review.detail(item_id(results[0].student, "q4a"), "t")["html"]
    assert "<math" in html and "your equation gives" in html and "0.9947" in html


FAKE_BROWSER = r'''
import http.cookiejar, json, os, re, sys, time, urllib.request
from pathlib import Path
url, report = sys.argv[1], Path(sys.argv[2])
# what a browser does with what it was started with: a file is read, its refresh followed
if url.startswith("file://"):
    page = Path(urllib.request.url2pathname(url[len("file://"):])).read_text()
    url = re.search(r'http-equiv="refresh" content="0; url=([^"]+)"', page).group(1).replace("&amp;", "&")
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
with opener.open(url, timeout=10) as resp:
    body = resp.read().decode()
report.write_text(json.dumps({"status": resp.status, "page": "review.js" in body, "pid": os.getpid()}))
time.sleep(60)  # a browser stays open, its command line readable in /proc meanwhile
'''


def _processes_holding(secret: bytes) -> list[str]:
    """Every process whose command line or environment (where this user may read it) holds ``secret``."""
    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        for what in ("cmdline", "environ"):
            try:
                if secret in (p / what).read_bytes():
                    found.append(f"{p.name} {what}: {(p / 'cmdline').read_bytes()[:200]!r}")
            except OSError:
                continue
    return found


def test_the_token_is_in_no_process_arguments_or_environment(tmp_path):
    """``mlgrade review`` opens the browser: any local user reads a process's command line in /proc, so
    the browser is started on a file only the instructor can read, which sends it on."""
    import os
    import re
    import signal
    import stat
    import subprocess
    import sys
    import time

    out = tmp_path / "grades"
    flagged_class(out)
    script = tmp_path / "fake_browser.py"
    script.write_text(FAKE_BROWSER)
    report = tmp_path / "browser.json"
    launcher = tmp_path / "browser.sh"  # like xdg-open: starts the browser and returns
    launcher.write_text(f"#!/bin/sh\n{sys.executable} {script} \"$1\" {report} >/dev/null 2>&1 &\n")
    launcher.chmod(0o755)
    env = {**os.environ, "DISPLAY": ":99", "BROWSER": f"{launcher} %s"}
    env.pop("WAYLAND_DISPLAY", None)
    proc = subprocess.Popen([sys.executable, "-m", "grader", "review", str(out), "--by", "me"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        token = re.search(r"\?token=([\w-]{43})", lines[1]).group(1).encode()
        deadline = time.monotonic() + 60
        while not report.exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
        seen = json.loads(report.read_text())
        assert (seen["status"], seen["page"]) == (200, True)  # the browser got in
        assert _processes_holding(token) == []
        private = re.search(r"(/\S+\.html)", lines[2]).group(1)
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(Path(private).parent).st_mode) == 0o700
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        if report.exists():
            try:
                os.kill(json.loads(report.read_text())["pid"], signal.SIGKILL)  # the fake browser
            except (ProcessLookupError, ValueError, KeyError):
                pass
    assert not Path(private).exists()  # removed when the server stops


def test_why_hidden_tests_failed_is_on_the_review_page_for_the_instructor(tmp_path):
    out = tmp_path / "grades"
    results = sample_class()
    for r in results:
        if r.student == "amy":
            r.question("q2").manual_review = True
            r.question("q2").checks[0].instructor_notes = ["(hidden) test_big failed: expected <6>, got 5"]
            r.questions[-1].checks[0].instructor_notes = ["(hidden) test_shape failed: (3,) not (6, 6, 3)"]
    store_class(out, results)
    html = ReviewClass(out).detail(item_id("amy", "q2"), "t")["html"]
    assert "Hidden, for you only:" in html and "expected &lt;6&gt;, got 5" in html
    assert "test_shape failed: (3,) not (6, 6, 3)" in html  # another question's, in the table of the others
    feedback = (out / "amy" / "feedback.html")
    assert not feedback.exists() or "test_big" not in feedback.read_text()

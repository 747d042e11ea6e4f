"""The review page's web server: standard library ``http.server``, on 127.0.0.1 only.

Who may talk to it: the person who has the URL that ``mlgrade review`` prints. Every request
must carry the random token (``?token=`` or the ``X-Mlgrade-Token`` header; compared in
constant time) and a ``Host`` of ``127.0.0.1:PORT`` or ``localhost:PORT``, so a web page that
rebinds its own domain name to 127.0.0.1 is refused. A request that changes anything (POST)
must also carry the token in the header, not the URL, come from the page's own origin
(``Origin``), and send JSON: a form or an image on another site can do none of that. No CORS
header is ever sent. Responses forbid framing, sniffing and referrers, and the page's
Content-Security-Policy allows only its own script, style and images.

How the browser gets the token: never on a command line. Any local user reads every process's
arguments (``/proc/<pid>/cmdline``), and a browser started with the URL holds it there for as long as
it runs. ``mlgrade review`` writes the URL into a page only the instructor can read (mode 0600, in a
fresh 0700 folder under ``OUT/.mlgrade``, removed when the server stops) that sends the browser on
with a refresh, and starts the browser on that file. The URL is also printed, for the instructor's
terminal only. No child process gets the token in its environment either.

What it serves: its own page, script and stylesheet; the queue and each item's evidence as
JSON (every student string escaped, :mod:`grader.review.queue`); PNGs by the digest the queue
gave them. A request names no path: routes are fixed strings, ids and digests are looked up
in the queue's dictionaries.
"""

from __future__ import annotations

import hmac
import html
import json
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from pydantic import ValidationError

from grader.classstep.overrides import OverridesError
from grader.render.html_page import CSS
from grader.review.queue import DecisionRefused, ReviewClass

MAX_BODY = 64 * 1024
TOKEN_HEADER = "X-Mlgrade-Token"
_ITEM = re.compile(r"/api/item/([0-9a-f]{16})")
_IMAGE = re.compile(r"/img/([0-9a-f]{64})")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
STATIC = {"/review.js": ("review.js", "text/javascript; charset=utf-8"),
          "/review.css": ("review.css", "text/css; charset=utf-8")}


def _asset(name: str) -> bytes:
    return resources.files("grader.review").joinpath("static", name).read_bytes()


class ReviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, review: ReviewClass, port: int = 0, token: str | None = None):
        super().__init__(("127.0.0.1", port), Handler)
        self.review = review
        self.token = token or secrets.token_urlsafe(32)
        self.port = self.server_address[1]
        self.hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self.assets = {path: _asset(name) for path, (name, _) in STATIC.items()}
        # an item's evidence is drawn by the feedback pages' code: their stylesheet first
        self.assets["/review.css"] = CSS.encode("utf-8") + self.assets["/review.css"]
        page = _asset("index.html").decode("utf-8")
        self.page = page.replace("{token}", quote(self.token)).encode("utf-8")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={quote(self.token)}"


class Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    server_version = "mlgrade-review"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle or trickling connection is closed: it holds a thread

    def log_message(self, format: str, *args: Any) -> None:  # the base class's signature
        if os.environ.get("MLGRADE_DEBUG"):
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _other(self) -> None:
        self._send(405, {"error": "method not allowed"}, extra={"Allow": "GET, POST"})

    do_PUT = do_DELETE = do_PATCH = do_HEAD = _other
    do_OPTIONS = _other  # no CORS preflight is ever answered

    # -- checks ------------------------------------------------------------------------------

    def _host_ok(self) -> bool:
        return self.headers.get("Host", "") in self.server.hosts

    def _token_ok(self, query: dict[str, list[str]], post: bool) -> bool:
        given = self.headers.get(TOKEN_HEADER)
        if given is None and not post:
            values = query.get("token") or [""]
            given = values[0]
        if not given:
            return False
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self.server.token.encode())

    def _same_origin(self) -> bool:
        origin = self.headers.get("Origin")
        if origin is None or origin == "null":
            return False
        return origin in {f"http://{h}" for h in self.server.hosts}

    # -- dispatch ----------------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        try:
            if not self._host_ok():
                return self._send(403, {"error": "this server answers only to 127.0.0.1 and localhost"})
            url = urlsplit(self.path)
            try:
                query = parse_qs(url.query, max_num_fields=8)
            except ValueError:
                return self._send(400, {"error": "bad query"})
            # Only the page itself may be opened from elsewhere (a link in a mail); everything it loads is its own.
            site = self.headers.get("Sec-Fetch-Site", "same-origin")
            if site not in ("same-origin", "none") and not (method == "GET" and url.path == "/"):
                return self._send(403, {"error": "cross-site requests are refused"})
            if not self._token_ok(query, method == "POST"):
                return self._send(403, {"error": "missing or wrong token: open the address mlgrade review printed"})
            if method == "POST":
                return self._post(url.path)
            return self._get(url.path)
        except (BrokenPipeError, ConnectionResetError):
            return None
        except OverridesError as e:  # a hand edit broke the file: say so, change nothing
            return self._send(409, {"error": f"the overrides file cannot be used: {e}"})
        except Exception:  # a bug here must not take the server down, nor leak a traceback to the page
            traceback.print_exc(file=sys.stderr)
            try:
                self._send(500, {"error": "internal error in the review server (see its terminal)"})
            except OSError:
                pass

    def _get(self, path: str) -> None:
        review = self.server.review
        if path == "/":
            return self._send(200, self.server.page, "text/html; charset=utf-8")
        if path in STATIC:
            return self._send(200, self.server.assets[path], STATIC[path][1])
        if path == "/api/state":
            review.refresh()
            return self._send(200, review.state())
        if m := _ITEM.fullmatch(path):
            detail = review.detail(m.group(1), self.server.token)
            return self._send(200, detail) if detail else self._send(404, {"error": "no such item"})
        if m := _IMAGE.fullmatch(path):
            png = review.image(m.group(1))
            if png is None:
                return self._send(404, {"error": "no such image"})
            return self._send(200, png, "image/png", cache="private, max-age=86400, immutable")
        return self._send(404, {"error": "not found"})

    def _post(self, path: str) -> None:
        if not self._same_origin():
            return self._send(403, {"error": "the request did not come from the review page"})
        if self.headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
            return self._send(415, {"error": "expected JSON"})
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._send(411, {"error": "Content-Length required"})
        if not 0 <= length <= MAX_BODY:
            return self._send(413, {"error": "request too large"})
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self._send(400, {"error": "not JSON"})
        if not isinstance(body, dict):
            return self._send(400, {"error": "expected a JSON object"})
        review = self.server.review
        try:
            if path == "/api/decide":
                return self._send(200, review.decide(str(body.get("id", "")), str(body.get("action", "")),
                                                     body.get("value"), body.get("comment", "")))
            if path == "/api/undo":
                return self._send(200, review.undo())
            if path == "/api/export":
                return self._send(200, review.export())
        except (DecisionRefused, ValidationError) as e:
            return self._send(409, {"error": str(e)})
        return self._send(404, {"error": "not found"})

    def _send(self, code: int, body: bytes | dict, ctype: str = "application/json; charset=utf-8",
              cache: str = "no-store", extra: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", cache)
        for k, v in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


def serve(out: Path, port: int = 0, by: str | None = None, open_browser: bool = True,
          ready: threading.Event | None = None) -> None:
    """Serve the review of ``out`` until interrupted; then write the grade files if anything was decided."""
    review = ReviewClass(out, by=by)
    server = ReviewServer(review, port)
    progress = review.progress()
    opener = opener_page(server.url, Path(out) / ".mlgrade")
    print(f"mlgrade review: {progress['flagged']} flagged items in {out} ({progress['reviewed']} reviewed)",
          flush=True)
    print(f"open {server.url}", flush=True)
    print(f"(or open {opener}, a page only you can read that leads there)", flush=True)
    print("decisions are saved to overrides.yaml as you make them; Ctrl-C stops (and rewrites the grade files)",
          flush=True)
    try:
        _serve(server, review, out, opener if open_browser and _has_display() else None, ready)
    finally:
        shutil.rmtree(opener.parent, ignore_errors=True)


def opener_page(url: str, folder: Path) -> Path:
    """A page that sends the browser on to ``url``, readable by this user only: the browser is started
    with the page's name, so the token is on no command line."""
    folder.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix="review-", dir=folder))  # mode 0700, a fresh name
    page = private / "open.html"
    target = html.escape(url, quote=True)
    text = ('<!doctype html>\n<meta charset="utf-8">\n<meta name="referrer" content="no-referrer">\n'
            f'<meta http-equiv="refresh" content="0; url={target}">\n<title>mlgrade review</title>\n'
            f'<p>Opening the review page&#8230; <a href="{target}">continue</a></p>\n')
    fd = os.open(page, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return page


def _serve(server: ReviewServer, review: ReviewClass, out: Path, browse: Path | None,
           ready: threading.Event | None) -> None:
    if browse is not None:
        import webbrowser

        webbrowser.open(browse.as_uri())

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop) if threading.current_thread() is threading.main_thread() else None
    if ready is not None:
        ready.set()
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if review.decided_since_export:
        review.export()
        print(f"rewrote the grade files in {out} with your decisions", flush=True)


def _has_display() -> bool:
    """Open a browser only where one can show up: never a console browser in this terminal."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))

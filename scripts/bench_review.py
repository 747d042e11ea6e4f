"""Benchmark: what manual review costs: previews while grading, and the review server with a large class.

    python scripts/bench_review.py [--students 200] [--decisions 600] [--repeat 5] [--grade N --isolation bwrap]

1. The preview of a flagged 1920x1080 screenshot, made from the same decode as its 480 px
   thumbnail (``thumbnail_png(..., preview_side=1600)``, what the sandboxed model server runs):
   the time it adds per screenshot.
2. A class of ``--students`` with three flagged screenshots each (records with thumbnails, preview
   files), served by ``mlgrade review``'s server on 127.0.0.1: time to load the class, to list the
   queue, to open an item and its picture, to record a decision (while overrides.yaml grows to
   ``--decisions`` entries), to undo, and to write the grade files.
3. With ``--grade N``: alice's sample graded N times with and without previews (in one process, the
   model server warm, as in a batch worker), once as shipped (640 px screenshots) and once with
   1920x1080 screenshots in their place.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "grader" / "insandbox"))

from grader.core.results import CheckResult, QuestionResult, Status, SubmissionResult  # noqa: E402
from grader.insandbox.safeimage import thumbnail_png  # noqa: E402
from grader.review.queue import ReviewClass  # noqa: E402
from grader.review.server import ReviewServer  # noqa: E402
from grader.rubric import load_rubric  # noqa: E402
from grader.score.store import ClassManifest, ResultStore, save_class  # noqa: E402


def screenshot(path: Path, seed: int = 0) -> None:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (1920, 1080), (240, 240, 240))
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, 1920, 30), fill=(40, 80, 160))
    for y in range(40, 1080, 14):
        for x in range(0, 1920, 90):
            draw.text((x, y), f"{((x * 7 + y * 13 + seed) % 997) / 997:.5f}", fill=(0, 0, 0))
    im.save(path)


def med(xs: list[float]) -> str:
    return f"{1000 * statistics.median(xs):.1f} ms"


def p95(xs: list[float]) -> str:
    return f"{1000 * sorted(xs)[max(int(len(xs) * 0.95) - 1, 0)]:.1f} ms"


def bench_preview(tmp: Path, repeat: int) -> tuple[str, str]:
    shot = tmp / "shot.png"
    screenshot(shot)
    plain, both = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        thumbnail_png(str(shot), "shot.png", 480)
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        out = thumbnail_png(str(shot), "shot.png", 480, preview_side=1600)
        both.append(time.perf_counter() - t)
    size = len(base64.b64decode(out["preview"]["png"]))
    print(f"thumbnail of a 1920x1080 screenshot: {med(plain)}; with its 1600 px preview: {med(both)} "
          f"(+{1000 * (statistics.median(both) - statistics.median(plain)):.0f} ms per flagged screenshot); "
          f"preview {size / 1024:.0f} KiB")
    return out["png"], out["preview"]["png"]


def make_class(out: Path, students: int, thumb: str, preview: str) -> None:
    rubric_path = HERE.parent / "rubric.yaml"
    rubric = load_rubric(rubric_path)
    previews = out / ".mlgrade" / "previews"
    previews.mkdir(parents=True)
    raw = base64.b64decode(preview)
    store = ResultStore(out)
    keys = {}
    for i in range(students):
        name = f"s{i:04d}"
        # a file per student, as in a real class (same bytes: the name is all the server checks up front)
        pname = hashlib.sha256(raw + name.encode()).hexdigest() + ".png"
        (previews / pname).write_bytes(raw)
        qs = []
        for q in rubric.questions:
            flagged = q.id in ("q1b", "q2", "q3")
            checks = [CheckResult(kind="image", fraction=1, status=Status.PASSED, reason="shot.png", manual_review=True,
                                  details={"file": "shot.png", "format": "PNG", "width": 1920, "height": 1080,
                                           "thumbnail": thumb, "preview": pname})] if flagged else []
            qs.append(QuestionResult(id=q.id, title=q.title, score=q.points, max_score=q.points, status=Status.PASSED,
                                     reason="fine", manual_review=flagged, checks=checks))
        r = SubmissionResult(student=name, source=f"{name}.zip", total=rubric.max_total, max_total=rubric.max_total,
                             questions=qs, submission_hash=f"{i:064x}")
        keys[name] = f"k{i}"
        store.put(name, keys[name], r)
    save_class(out, ClassManifest(keys=keys, sources={}, rubric_text=rubric_path.read_text(), formats=["csv", "summary"]))


def bench_grading(tmp: Path, n: int, isolation: str) -> None:
    import zipfile

    from grader.core.options import GradeOptions
    from grader.score.pipeline import grade_submission

    rubric = load_rubric(HERE.parent / "rubric.yaml")
    sample = HERE.parent / "submissions" / "alice_complete.zip"
    big = tmp / "alice_big.zip"
    shot = tmp / "big.png"
    screenshot(shot)
    with zipfile.ZipFile(sample) as src, zipfile.ZipFile(big, "w") as dst:
        for info in src.infolist():
            name = info.filename.rsplit("/", 1)[-1].lower()
            data = shot.read_bytes() if name in ("hdfview.png", "classify.png", "misclassify.png") else src.read(info)
            dst.writestr(info, data)
    grade_submission(sample, rubric, tmp / "warm", GradeOptions(isolation=isolation))  # start the servers
    for label, zip_path in (("as shipped (640 px screenshots)", sample), ("1920x1080 screenshots", big)):
        times: dict[bool, list[float]] = {False: [], True: []}
        for i in range(n):
            for previews in (False, True):
                opts = GradeOptions(isolation=isolation, preview_dir=tmp / f"p{i}" if previews else None)
                t = time.perf_counter()
                grade_submission(zip_path, rubric, tmp / f"w{i}{previews}", opts)
                times[previews].append(time.perf_counter() - t)
        a, b = statistics.median(times[False]), statistics.median(times[True])
        print(f"grading alice, {label}, median of {n}: {a:.2f} s without previews, {b:.2f} s with "
              f"({1000 * (b - a):+.0f} ms per submission, 3 flagged screenshots)")


def call(port: int, token: str, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"X-Mlgrade-Token": token, "Origin": f"http://127.0.0.1:{port}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, payload


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=200)
    ap.add_argument("--decisions", type=int, default=600)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--grade", type=int, default=0, metavar="N")
    ap.add_argument("--isolation", default="bwrap", choices=["bwrap", "none"])
    args = ap.parse_args()
    if args.grade:
        with tempfile.TemporaryDirectory() as tmp:
            bench_grading(Path(tmp), args.grade, args.isolation)
    with tempfile.TemporaryDirectory() as tmp:
        thumb, preview = bench_preview(Path(tmp), args.repeat)
        out = Path(tmp) / "grades"
        make_class(out, args.students, thumb, preview)
        t = time.perf_counter()
        review = ReviewClass(out, by="bench")
        print(f"load a class of {args.students} ({len(review.items)} flagged items): "
              f"{time.perf_counter() - t:.2f} s")
        server = ReviewServer(review, 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port, token = server.port, server.token
        state_t, item_t, img_t, decide_t = [], [], [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            code, payload = call(port, token, "GET", "/api/state")
            state_t.append(time.perf_counter() - t)
        items = json.loads(payload)["items"]
        state_kib = len(payload) / 1024
        for it in items[: 10 * args.repeat]:
            t = time.perf_counter()
            code, payload = call(port, token, "GET", f"/api/item/{it['id']}")
            item_t.append(time.perf_counter() - t)
            url = json.loads(payload)["images"][0].split("?")[0]
            t = time.perf_counter()
            code, png = call(port, token, "GET", url)
            img_t.append(time.perf_counter() - t)
        print(f"list the queue: {med(state_t)} ({state_kib:.0f} KiB); open an item: {med(item_t)}; "
              f"its picture: {med(img_t)} ({len(png) / 1024:.0f} KiB)")
        n = min(args.decisions, len(items))
        for i, it in enumerate(items[:n]):
            body = {"id": it["id"], "action": "score" if i % 3 else "accept", "value": 0.25,
                    "comment": "the bias is not visible in this screenshot"}
            t = time.perf_counter()
            code, _ = call(port, token, "POST", "/api/decide", body)
            decide_t.append(time.perf_counter() - t)
            assert code == 200, code
        print(f"record a decision (overrides.yaml growing to {n} entries): median {med(decide_t)}, p95 "
              f"{p95(decide_t)}, last 50 {med(decide_t[-50:])}")
        t = time.perf_counter()
        call(port, token, "POST", "/api/undo", {})
        print(f"undo: {1000 * (time.perf_counter() - t):.0f} ms")
        t = time.perf_counter()
        call(port, token, "POST", "/api/export", {})
        print(f"write grade files (csv, summary) for {args.students}: {time.perf_counter() - t:.2f} s")
        print(f"overrides.yaml: {(out / 'overrides.yaml').stat().st_size / 1024:.0f} KiB")
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()

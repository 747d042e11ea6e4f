"""Screenshots of the feedback, summary and review pages for the README, taken with headless Chromium.

    mlgrade grade submissions --out /tmp/grades
    python scripts/page_screenshots.py /tmp/grades [--student alice_complete] [--docs docs]

The review page is served by ``mlgrade review`` (started here and stopped again; nothing is decided).
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def shoot(page: Path | str, png: Path, width: int, height: int) -> None:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    url = page if isinstance(page, str) else page.resolve().as_uri()
    # the virtual time budget lets the review page's script fetch and draw its first item
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                    "--virtual-time-budget=5000", f"--window-size={width},{height}", f"--screenshot={png}", url],
                   check=True, capture_output=True, timeout=120)
    print(f"wrote {png}")


def shoot_review(grades: Path, png: Path) -> None:
    mlgrade = Path(sys.executable).parent / "mlgrade"
    server = subprocess.Popen([str(mlgrade), "review", str(grades), "--no-browser"], stdout=subprocess.PIPE, text=True)
    try:
        for line in server.stdout:
            if m := re.search(r"open (http://\S+)", line):
                shoot(m.group(1), png, 1300, 820)
                break
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("grades", type=Path, help="an --out folder of mlgrade grade")
    ap.add_argument("--student", default="alice_complete")
    ap.add_argument("--docs", type=Path, default=HERE.parent / "docs")
    args = ap.parse_args()
    args.docs.mkdir(exist_ok=True)
    shoot(args.grades / "students" / args.student / "feedback.html", args.docs / "feedback.png", 1000, 1700)
    shoot(args.grades / "summary.html", args.docs / "summary.png", 1000, 1500)
    shoot_review(args.grades, args.docs / "review.png")


if __name__ == "__main__":
    main()

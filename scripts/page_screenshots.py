"""Screenshots of the feedback and summary pages for the README, taken with headless Chromium.

    mlgrade grade submissions --out /tmp/grades
    python scripts/page_screenshots.py /tmp/grades [--student alice_complete] [--docs docs]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent


def shoot(page: Path, png: Path, width: int, height: int) -> None:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                    f"--window-size={width},{height}", f"--screenshot={png}", page.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    print(f"wrote {png}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("grades", type=Path, help="an --out folder of mlgrade grade")
    ap.add_argument("--student", default="alice_complete")
    ap.add_argument("--docs", type=Path, default=HERE.parent / "docs")
    args = ap.parse_args()
    args.docs.mkdir(exist_ok=True)
    shoot(args.grades / args.student / "feedback.html", args.docs / "feedback.png", 1000, 1700)
    shoot(args.grades / "summary.html", args.docs / "summary.png", 1000, 1500)


if __name__ == "__main__":
    main()

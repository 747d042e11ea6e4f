"""Benchmark the small runs: where the seconds of one notebook, or one self-check, go.

    python scripts/bench_small.py [--notebooks N] [--runs R] [--jobs J]   # `mlgrade grade` of N notebooks
    python scripts/bench_small.py --timeline                              # one run, stage by stage
    python scripts/bench_small.py --check [--runs R]                      # `mlgrade check`: first, then repeats

The batch is the default rubric's backprop question (one pytest file, one notebook, hidden problems)
and N copies of the complete sample's ``backprop.ipynb``, each a zip of its own, graded into a fresh
``--out`` each run. Prints the median wall time and CPU seconds (machine-wide, from /proc/stat: the
sandboxed processes are not our children, so run it on an otherwise idle machine).

``--timeline`` sets ``MLGRADE_TIMELINE`` (:mod:`grader.core.timeline`): every grader process appends a
line per stage (command parsed, worker spawned, worker imported, sandbox started, notebook run,
graded, class step, outputs, workers stopped), printed here in seconds from the command's start.

``--check`` times ``mlgrade check`` of the complete sample ``submissions/alice_complete.zip`` against
the default rubric: the first run with an empty cache folder (``XDG_CACHE_HOME``), then repeats
(the unchanged submission is answered from the cache).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MLGRADE = [sys.executable, "-m", "grader"]


def machine_cpu() -> float:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    return sum(int(x) for x in fields[:3]) / os.sysconf("SC_CLK_TCK")


def one_question_rubric(folder: Path) -> Path:
    """The default rubric's backprop question alone, its files named by absolute path."""
    text = (ROOT / "rubric.yaml").read_text(encoding="utf-8")
    head = text.split("questions:")[0]
    head = re.sub(r"(?m)^architectures:.*$", "", head)
    block = re.search(r"(  - id: backprop\n(?:    .*\n|      .*\n|        .*\n)*)", text)
    assert block is not None, "rubric.yaml has no backprop question"
    body = block.group(1).replace("rubrics/", f"{ROOT}/rubrics/").replace("reference/", f"{ROOT}/reference/")
    path = folder / "rubric.yaml"
    path.write_text(head + "questions:\n" + body, encoding="utf-8")
    return path


def notebooks(folder: Path, n: int) -> Path:
    with zipfile.ZipFile(ROOT / "submissions" / "alice_complete.zip") as z:
        name = next(x for x in z.namelist() if x.endswith("backprop.ipynb"))
        notebook = z.read(name)
    zips = folder / "zips"
    zips.mkdir()
    for i in range(n):
        with zipfile.ZipFile(zips / f"student_{i:04d}.zip", "w") as z:
            z.writestr("backprop.ipynb", notebook)
    return zips


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, float]:
    c0, t0 = machine_cpu(), time.monotonic()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall, cpu = time.monotonic() - t0, machine_cpu() - c0
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall, cpu


def grade(args: argparse.Namespace, work: Path) -> None:
    rubric = one_question_rubric(work)
    zips = notebooks(work, args.notebooks)
    walls, cpus = [], []
    for i in range(args.runs):
        cmd = [*MLGRADE, "grade", str(zips), "--rubric", str(rubric), "--out", str(work / f"out{i}")]
        wall, cpu = timed(cmd + (["--jobs", str(args.jobs)] if args.jobs else []))
        walls.append(wall)
        cpus.append(cpu)
        print(f"run {i + 1}: {wall:.2f} s wall, {cpu:.2f} CPU-s")
    print(f"mlgrade grade, {args.notebooks} notebook(s), median of {args.runs}: {statistics.median(walls):.2f} s "
          f"wall, {statistics.median(cpus):.2f} CPU-s ({statistics.median(cpus) / args.notebooks:.3f} per notebook)")


def timeline(args: argparse.Namespace, work: Path) -> None:
    rubric = one_question_rubric(work)
    zips = notebooks(work, args.notebooks)
    log = work / "timeline.txt"
    env = {**os.environ, "MLGRADE_TIMELINE": str(log)}
    start = time.time()
    wall, cpu = timed([*MLGRADE, "grade", str(zips), "--rubric", str(rubric), "--out", str(work / "out")], env)
    pids: dict[str, str] = {}
    print(f"{'s':>6}  {'process':<8} stage")
    for line in log.read_text().splitlines():
        t, pid, event = line.split(" ", 2)
        who = pids.setdefault(pid, "main" if not pids else f"worker{len(pids)}")
        print(f"{float(t) - start:6.3f}  {who:<8} {event}")
    print(f"{wall:6.3f}  {'main':<8} exited ({cpu:.2f} CPU-s machine-wide)")


def check(args: argparse.Namespace, work: Path) -> None:
    sample = ROOT / "submissions" / "alice_complete.zip"
    env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache")}
    cmd = [*MLGRADE, "check", str(sample), "--rubric", str(ROOT / "rubric.yaml")]
    first = timed(cmd, env, cwd=work)
    print(f"first check: {first[0]:.2f} s wall, {first[1]:.2f} CPU-s")
    repeats = [timed(cmd, env, cwd=work) for _ in range(args.runs)]
    print(f"repeat check, median of {args.runs}: {statistics.median(w for w, _ in repeats):.2f} s wall, "
          f"{statistics.median(c for _, c in repeats):.2f} CPU-s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--notebooks", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--timeline", action="store_true")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlgrade-bench-small-"))
    os.chmod(work, 0o755)  # the sandbox user reads the work folders under --out
    try:
        (check if args.check else timeline if args.timeline else grade)(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

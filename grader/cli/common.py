"""What every command shares: exit codes, the options several commands take, writing an output file, and
the status line while one submission is graded."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from grader.core import progress
from grader.core.errors import UsageError
from grader.core.files import write_bytes_atomic
from grader.execute.isolation import ISOLATION_CHOICES

EXIT_OK = 0
EXIT_INVALID = 1  # mlgrade validate: a sample was not graded as expected
EXIT_USAGE = 2
EXIT_CLUSTER = 3  # --scheduler: the cluster cannot grade (unreachable, no usable worker, connection lost)

__all__ = ["EXIT_CLUSTER", "EXIT_INVALID", "EXIT_OK", "EXIT_USAGE", "UsageError", "add_isolation", "add_rubric",
           "must_be_folder", "progress_line", "write_output"]


def add_rubric(p: argparse.ArgumentParser, help: str = "rubric YAML (default: ./rubric.yaml)") -> None:
    p.add_argument("--rubric", type=Path, help=help)


def add_isolation(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--isolation", choices=ISOLATION_CHOICES, default="auto", help=help)


def must_be_folder(option: str, path: Path | None) -> None:
    if path is not None and not path.is_dir():
        raise UsageError(f"{option} {path}: not a folder")


def write_output(path: Path, data: str | bytes) -> None:
    write_bytes_atomic(path, data.encode("utf-8") if isinstance(data, str) else data)


@contextmanager
def progress_line(first: str) -> Iterator[None]:
    """A status line on the terminal while one submission is graded (what runs now, for how long); silent
    when stderr is not a terminal, so logs and pipes get the report only."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    started = time.monotonic()
    now = [first]
    done = threading.Event()
    with console.status(escape(first)) as status:
        def tick() -> None:  # the seconds go on while one step waits (a cold model server, a long cell)
            while not done.wait(0.5):
                status.update(f"{escape(now[0])}  [dim]({time.monotonic() - started:.0f} s)[/dim]")

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            with progress.listening(lambda text: now.__setitem__(0, text)):
                yield
        finally:
            done.set()
            ticker.join()


def say(message: str) -> None:
    print(message, flush=True)


def note(message: str) -> None:
    print(f"mlgrade: note: {message}", file=sys.stderr)

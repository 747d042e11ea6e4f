"""``mlgrade review``: the local page to review a class's flagged items with the keyboard."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader.classstep.classwide import NoClass
from grader.classstep.overrides import OverridesError
from grader.cli.common import EXIT_OK, UsageError, class_writable, cli_text, port_number
from grader.review.server import serve


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", type=Path, metavar="DIR", help="the graded class (mlgrade grade --out DIR)")
    p.add_argument("--port", type=port_number, default=0, metavar="N", help="port on 127.0.0.1 (default: any free one)")
    p.add_argument("--by", default=None, metavar="NAME", help="who decides (default: $MLGRADE_REVIEWER or your login)")
    p.add_argument("--no-browser", action="store_true", help="only print the address; do not open a browser")


def run(args: argparse.Namespace) -> int:
    if (args.out / ".mlgrade").is_dir():
        class_writable(args.out)
    try:
        serve(args.out, port=args.port, by=cli_text(args.by), open_browser=not args.no_browser)
    except (NoClass, OverridesError) as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot serve on 127.0.0.1:{args.port}: {e.strerror or e}") from None
    return EXIT_OK

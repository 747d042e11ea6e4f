"""``mlgrade formats``: the output formats, from the one registry :mod:`grader.render` keeps."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from grader.cli.common import EXIT_OK
from grader.render import formats


def arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    table = Table(title="mlgrade output formats (--format)")
    for col in ("name", "per", "file", "default", "what"):
        table.add_column(col, overflow="fold" if col == "what" else "ellipsis", no_wrap=col != "what")
    for f in formats():
        where = f"<student>/{f.filename}" if f.scope == "submission" else f.filename
        table.add_row(f.name, f.scope, where, "yes" if f.default else "", f.help)
    Console().print(table)
    return EXIT_OK

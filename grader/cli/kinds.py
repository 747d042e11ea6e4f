"""``mlgrade kinds``: every check kind, where it comes from and its parameters."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TypedDict

from rich.console import Console
from rich.table import Table

from grader.cli.common import EXIT_OK, UsageError
from grader.rubric.kinds import all_kinds, describe_params, plugin_problems
from grader.rubric.model import load_for_command


class _KindEntry(TypedDict):
    """One kind as listed (and printed with ``--json``)."""

    kind: str
    origin: str
    summary: str
    status: str
    notebooks: bool
    parameters: list[dict[str, Any]]


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rubric", type=Path, help="also load this rubric's plugins")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("kind", nargs="?", help="show one kind only")


def run(args: argparse.Namespace) -> int:
    if args.rubric is not None:
        load_for_command(args.rubric)  # loads its plugins
    kinds = [k for k in all_kinds() if args.kind in (None, k.name)]
    if args.kind and not kinds:
        raise UsageError(f"no check kind {args.kind!r} (known: {', '.join(k.name for k in all_kinds())})")
    listed: list[_KindEntry] = [
        {"kind": k.name, "origin": k.origin, "summary": k.summary,
         "status": "pending" if k.run is None else "ready", "notebooks": k.uses_notebooks,
         "parameters": describe_params(k.params) if k.run is not None else []} for k in kinds]
    if args.json:
        print(json.dumps({"kinds": listed, "plugin_problems": plugin_problems()}, indent=2))
        return EXIT_OK
    console = Console()
    for entry in listed:
        table = Table(title=f"[bold]{entry['kind']}[/bold] ({entry['origin']}): {entry['summary']}",
                      title_justify="left", show_edge=False)
        for col in ("parameter", "type", "default"):
            table.add_column(col, overflow="fold")
        for name, typ, default in param_rows(entry["parameters"]):
            table.add_row(name, typ, default)
        console.print(table)
        console.print()
    for problem in plugin_problems():
        print(f"mlgrade: note: a plugin did not load: {problem}", file=sys.stderr)
    return EXIT_OK


def param_rows(params: list[dict], prefix: str = "") -> list[tuple[str, str, str]]:
    """Rows of the table: nested parameters as ``cases[].args``."""
    out = []
    for p in params:
        default = "(required)" if p["required"] else json.dumps(p["default"])
        out.append((prefix + p["name"], p["type"], default if len(default) <= 40 else default[:37] + "..."))
        out += param_rows(p.get("fields", []), prefix + p["name"] + ("[]." if p["type"].startswith("list") else "."))
    return out

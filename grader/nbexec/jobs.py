"""What the worker asks the runner to do, and what comes back. Plain, JSON-able data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ProbeSpec:
    """Values to read from the student's namespace and calls of the student's functions.

    ``values``: result key -> candidate dotted names, first that exists wins
    (``{"output": ["nn.output", "output"]}``). ``calls``: ``{"key", "function",
    "args"}`` with args as ``{"npy": file}``, ``{"dict": {...}}``, ``{"float": x}``
    or ``{"int": n}``; ``inputs``: file name -> host path of an ``.npy`` the
    grader wrote, copied into the sandbox only when the probe runs.
    """

    values: dict[str, list[str]] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)
    max_items: int = 64


@dataclass
class NotebookJob:
    notebook: str  # host path of the .ipynb inside the unpacked submission
    submission_dir: str  # the unpacked submission root (the kernel works on a linked copy)
    job_dir: str  # a fresh folder for this run (must not exist)
    seed: int = 0
    cell_timeout: float = 30.0
    notebook_timeout: float = 120.0
    probe_timeout: float = 60.0
    memory_bytes: int = 2 * 1024**3
    output_chars: int = 100_000
    isolation: str = "none"  # "none" | "bwrap" (resolved, never "auto")
    uid: int = 61000
    drive_aliases: list[str] = field(default_factory=lambda: ["Colab Notebooks"])
    probe: ProbeSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NotebookJob:
        probe = d.get("probe")
        return cls(**{**d, "probe": ProbeSpec(**probe) if probe else None})


@dataclass
class CellReport:
    index: int  # position among the notebook's cells (0-based, markdown included)
    status: str  # "ok" | "error" | "timeout"
    ename: str = ""
    evalue: str = ""
    traceback: str = ""  # the last lines of the kernel's traceback (ANSI colours included), for feedback pages


@dataclass
class NotebookRun:
    status: str  # "ok" | "invalid" | "timeout" | "kernel_died" | "error"
    reason: str = ""
    cells: list[CellReport] = field(default_factory=list)
    code_cells: int = 0
    probe_status: str = "none"  # "none" | "ok" | "error" | "timeout" | "skipped"
    probe_out: str = ""  # host folder holding manifest.json and .npy files
    probe_problems: dict[str, str] = field(default_factory=dict)  # call key ("" for values) -> what went wrong
    stdout_tail: str = ""
    elapsed_s: float = 0.0

    @property
    def errors(self) -> list[CellReport]:
        return [c for c in self.cells if c.status != "ok"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NotebookRun:
        return cls(**{**d, "cells": [CellReport(**c) for c in d.get("cells", [])]})

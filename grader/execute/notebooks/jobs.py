"""What a check asks the notebook executor to do, and what comes back. Plain, JSON-able data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class NotebookJob:
    notebook: str  # path of the .ipynb inside the unpacked submission
    submission_dir: str  # the unpacked submission root (the kernel sees a copy-on-write view of it)
    seed: int = 0
    cell_timeout: float = 30.0
    notebook_timeout: float = 120.0
    memory_bytes: int = 2 * 1024**3
    output_chars: int = 100_000
    scratch_bytes: int = 512 * 1024**2  # everything the notebook may write, all places together
    isolation: str = "none"  # a backend name, resolved (never "auto")
    slot: int = 0  # which worker's sandbox (its own uid)
    drive_aliases: list[str] = field(default_factory=lambda: ["Colab Notebooks"])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NotebookJob:
        return cls(**d)


@dataclass
class CellReport:
    index: int  # position among the notebook's cells (0-based, markdown included)
    status: str  # "ok" | "error" | "timeout" | "not_run"
    ename: str = ""
    evalue: str = ""
    execution_count: int | None = None  # as stored in the submitted notebook: what the student saw
    code_index: int = 0  # 1-based among the code cells that were run
    first_line: str = ""
    traceback: str = ""

    @property
    def name(self) -> str:
        """``In [8]`` as the student sees it, or ``code cell 3`` in a notebook saved without running it."""
        return f"In [{self.execution_count}]" if self.execution_count is not None else f"code cell {self.code_index}"

    @property
    def label(self) -> str:
        """The cell as the student sees it: ``In [8] (`loss = ...`)``, else ``code cell 3 (...)``."""
        name = f"In [{self.execution_count}]" if self.execution_count is not None else f"code cell {self.code_index}"
        return f"{name} (`{self.first_line}`)" if self.first_line else name


@dataclass
class NotebookRun:
    status: str  # "ok" | "invalid" | "timeout" | "kernel_died" | "error"
    reason: str = ""
    cells: list[CellReport] = field(default_factory=list)
    code_cells: int = 0
    stdout_tail: str = ""
    elapsed_s: float = 0.0

    @property
    def errors(self) -> list[CellReport]:
        return [c for c in self.cells if c.status not in ("ok", "not_run")]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NotebookRun:
        return cls(**{**d, "cells": [CellReport(**c) for c in d.get("cells", [])]})

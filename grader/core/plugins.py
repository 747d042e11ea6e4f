"""One way extensions load: the entry points of a group, mlgrade's own built-ins among them.

Check kinds (``mlgrade.checks``) and output formats (``mlgrade.formats``) are found the same way:
mlgrade declares its built-in kinds and formats as entry points of its own distribution, beside any
other package's, and :func:`load_group` imports them all, once per process. A built-in that fails to
load is a broken installation and raises; another package's failure is kept in :data:`PROBLEMS` (said
by ``mlgrade kinds`` / ``mlgrade formats``) and the rest load. While a group loads, :func:`origin`
names where what registers itself comes from ("built-in", "entry point NAME (DIST VERSION)", or a
rubric's plugin file, see :func:`loading`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import Any

OWN_DISTRIBUTION = "mlgrade"
BUILTIN = "built-in"
PROBLEMS: dict[str, list[str]] = {}
_LOCK = threading.RLock()
_LOADED: set[str] = set()
_ORIGINS: list[str] = []


class BrokenInstallation(RuntimeError):
    """mlgrade's own built-ins did not load: reinstall it."""


@contextmanager
def loading(origin: str) -> Iterator[None]:
    """Everything registered inside is labelled ``origin``."""
    _ORIGINS.append(origin)
    try:
        yield
    finally:
        _ORIGINS.pop()


def origin(default: str = BUILTIN) -> str:
    return _ORIGINS[-1] if _ORIGINS else default


def load_group(group: str, accept: Callable[[Any], None] | None = None) -> None:
    """Import every entry point of ``group`` once: mlgrade's own first. ``accept`` gets what an entry point
    names (a module registers itself when imported; a callable other than a class is called)."""
    with _LOCK:
        if group in _LOADED:
            return
        _LOADED.add(group)
        found = sorted(entry_points(group=group), key=lambda ep: (_dist(ep) != OWN_DISTRIBUTION, ep.name))
        if not any(_dist(ep) == OWN_DISTRIBUTION for ep in found):
            raise BrokenInstallation(f"mlgrade's built-ins of {group} are not registered; reinstall mlgrade "
                                     "(pip install . in its folder)")
        for ep in found:
            own = _dist(ep) == OWN_DISTRIBUTION
            dist = getattr(ep, "dist", None)
            where = BUILTIN if own else (f"entry point {ep.name}"
                                         + (f" ({dist.name} {dist.version})" if dist is not None else ""))
            with loading(where):
                try:
                    obj = ep.load()
                    if accept is not None:
                        accept(obj)
                    elif callable(obj) and not isinstance(obj, type):
                        obj()
                except Exception as e:
                    if own:
                        raise BrokenInstallation(f"mlgrade's own {group} entry point {ep.name} failed: "
                                                 f"{type(e).__name__}: {e}") from e
                    PROBLEMS.setdefault(group, []).append(f"{where}: {type(e).__name__}: {e}")


def _dist(ep) -> str:
    dist = getattr(ep, "dist", None)
    return (dist.name or "").lower() if dist is not None else ""

"""Makes a Python environment look like Windows to mlgrade's own code (tests only).

Loaded by a ``.pth`` line in a throw-away virtualenv, so it is active in every process that
environment starts: the grader, each notebook's kernel and the model server.

- ``resource`` does not exist, for anyone (as on Windows);
- mlgrade's own modules (grader/, reference/, mlgrade/) cannot import ``fcntl``, ``termios``,
  ``pty``, ``pwd`` or ``grp``, nor call ``select.select``/``select.poll`` (no ``select`` on pipes on
  Windows); third-party code still may, since on Windows it takes its own paths (IPython's ``!cmd``);
- in the grader and the model server ``os.fork``, ``os.forkpty`` and ``os.killpg`` are gone; in a
  notebook's kernel (where IPython forks for ``!cmd`` on Linux) mlgrade's code may not call them.
"""

import builtins
import os
import select
import sys

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "nonposix_root.txt")) as _f:
    ROOTS = tuple(os.path.join(_f.read().strip(), d) + os.sep for d in ("grader", "reference", "mlgrade"))
EVERYONE = {"resource"}
OURS = {"fcntl", "termios", "pty", "pwd", "grp", "resource"}


def _ours(frame_globals) -> bool:
    path = (frame_globals or {}).get("__file__") or ""
    return bool(path) and os.path.abspath(path).startswith(ROOTS)


_real_import = builtins.__import__


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    top = name.partition(".")[0] if level == 0 else ""
    if top in EVERYONE or (top in OURS and _ours(globals)):
        raise ModuleNotFoundError(f"No module named {top!r} (made unavailable: this test plays Windows)", name=top)
    return _real_import(name, globals, locals, fromlist, level)


class _Finder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name in EVERYONE:
            raise ModuleNotFoundError(f"No module named {name!r} (made unavailable: this test plays Windows)",
                                      name=name)
        return None


def _forbid(module, attr):
    real = getattr(module, attr, None)
    if real is None:
        return

    def guarded(*args, **kwargs):
        if _ours(sys._getframe(1).f_globals):
            raise AssertionError(f"mlgrade called {module.__name__}.{attr} on the portable path")
        return real(*args, **kwargs)

    setattr(module, attr, guarded)


builtins.__import__ = _import
sys.meta_path.insert(0, _Finder())
sys.modules.pop("resource", None)
for _attr in ("select", "poll"):
    _forbid(select, _attr)
if os.environ.get("MLGRADE_SUBMISSION"):  # a notebook's kernel
    for _attr in ("fork", "forkpty", "killpg"):
        _forbid(os, _attr)
else:
    for _attr in ("fork", "forkpty", "killpg"):
        if hasattr(os, _attr):
            delattr(os, _attr)

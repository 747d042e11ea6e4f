"""The cell executor: runs a notebook's code cells in *this* process with IPython's InteractiveShell.

No Jupyter messaging, no ZMQ, no connection files: commands come in as JSON lines on
one pipe, one record per command goes back on another, and the supervisor
(:mod:`supervise`, outside this process) enforces the per-cell timeout with SIGINT,
then SIGKILL. Everything this process says is untrusted: the student's code runs here
and can write to the record pipe too; the supervisor bounds and validates it all.

Commands:

- ``{"op": "cell", "i": n, "source": "...", "history": true}`` -> ``{"r": "cell", "i": n,
  "status": "ok" | "error", "ename", "evalue", "traceback", "text"}`` (``text``: the
  cell's stream output, within the output budget);
- ``{"op": "call", "id": n, "target": "softmax", "args": wire, "kwargs": wire}``,
  ``{"op": "eval", "id": n, "expr": "len(history)"}``, ``{"op": "has", "id": n, "name": "nn.forward"}``,
  ``{"op": "where", "id": n, "name": "back_propagation"}`` (the index of the cell that defined it, or null)
  -> ``{"r": "live", "id": n, "status": "ok", "value": wire}`` or ``{"r": "live", "id": n,
  "status": "error", "phase": "resolve" | "call" | "encode", "ename", "evalue", "where": {"cell": i,
  "line": n, "code": "..."} | null}``: one request of a live session (values as :mod:`wire` data;
  ``where`` is the student's own line that raised, the deepest frame in one of their cells);
- ``{"op": "exit"}``.

Magics and shell commands work as in Jupyter (``%timeit``, ``!ls``, the last
expression's value is displayed); ``%pip``, ``%conda`` and ``%tensorflow_version`` are
no-ops (no network, fixed environment); ``%matplotlib`` is headless. Run as a script
(``python kernel.py BUDGET``) it serves stdin/stdout: the portable backend's kernel.
"""

from __future__ import annotations

import io
import json
import os
import sys
from typing import Any

MAX_TRACEBACK = 2000


class Capture:
    """What the current cell printed: kept up to the output budget (characters, whole notebook)."""

    def __init__(self, budget: int):
        self.left = budget
        self.truncated = False
        self.reset()

    def reset(self) -> None:
        self.parts: list[str] = []
        self.error: tuple[str, str, str] | None = None

    def take(self, text: str) -> None:
        if len(text) <= self.left:
            self.left -= len(text)
            self.parts.append(text)
            return
        if self.left > 0:
            self.parts.append(text[: self.left])
            self.left = 0
        if not self.truncated:
            self.truncated = True
            self.parts.append("\n[mlgrade: output truncated]\n")

    def display(self, data: dict) -> None:
        plain = data.get("text/plain") if isinstance(data, dict) else None
        if isinstance(plain, str):
            self.left = max(0, self.left - len(plain))  # counted, not kept: only streams are reported

    def text(self) -> str:
        return "".join(self.parts)


CAPTURE = Capture(100_000)


class _Stream(io.TextIOBase):
    """sys.stdout / sys.stderr of the kernel: text goes to the cell's capture."""

    def __init__(self, name: str, fd: int):
        self.name = name
        self._fd = fd

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        CAPTURE.take(s)
        return len(s)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fd  # C-level writes go to the supervisor's log, as in a Jupyter kernel's terminal

    @property
    def encoding(self):  # type: ignore[override]  # TextIOBase declares a plain attribute; ours is fixed
        return "utf-8"


def _make_shell():
    """An InteractiveShell that records displays and errors instead of printing them."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class Hook(DisplayHook):
        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            CAPTURE.display(format_dict)

        def finish_displayhook(self):
            pass

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
            CAPTURE.display(data)

        def clear_output(self, wait=False):
            CAPTURE.parts.clear()

    class Shell(InteractiveShell):
        def enable_gui(self, gui=None):
            pass  # headless: %matplotlib works, windows never open

        def _showtraceback(self, etype, evalue, stb):
            text = "\n".join(stb) if isinstance(stb, list) else str(stb)
            name = getattr(etype, "__name__", str(etype))
            CAPTURE.error = (name[:200], str(evalue)[:2000], text[-MAX_TRACEBACK:])

    config = Config()
    config.HistoryManager.enabled = False
    config.HistoryManager.hist_file = ":memory:"
    shell = Shell.instance(config=config, displayhook_class=Hook, display_pub_class=Publisher, colors="nocolor")
    if shell.display_formatter is not None:
        shell.display_formatter.active_types = ["text/plain"]  # figures are not rendered to PNG for nobody

    def noop(name):
        def magic(line="", cell=None):
            print(f"mlgrade: %{name} {line} skipped while grading (no network, fixed environment)")

        return magic

    for name in ("pip", "conda", "tensorflow_version"):
        shell.register_magic_function(noop(name), "line", name)
    shell.register_magic_function(noop("pip"), "cell", "pip")
    return shell


_SHELL = None


def prepare() -> None:
    """Import and build everything a notebook needs; the zygote calls this once, before forking."""
    global _SHELL
    if _SHELL is None:
        _SHELL = _make_shell()
    import wire  # noqa: F401 - imported before any student code, so a student's wire.py cannot stand in


# IPython names a cell's code ``<ipython-input-N-hash>`` with N its execution count: N -> the cell's index.
CELL_OF_COUNT: dict[int, int] = {}


def _run_cell(shell, source: str, history: bool, index: int | None = None) -> dict:
    CAPTURE.reset()
    if history and index is not None:
        CELL_OF_COUNT[shell.execution_count] = index
    try:
        result = shell.run_cell(source, store_history=history)
        exc = result.error_before_exec or result.error_in_exec
    except KeyboardInterrupt as e:  # an interrupt that arrived inside IPython's own machinery
        exc = e
    err = CAPTURE.error
    if err is None and exc is not None:
        err = (type(exc).__name__, str(exc)[:2000], "")
    rec = {"r": "cell", "status": "error" if err else "ok", "text": CAPTURE.text()}
    if err:
        rec.update(ename=err[0], evalue=err[1], traceback=err[2])
    return rec


def _resolve(namespace: dict, dotted: str):
    parts = str(dotted).split(".")
    if not parts[0] or parts[0] not in namespace:
        raise NameError(f"name {parts[0]!r} is not defined")
    obj = namespace[parts[0]]
    for p in parts[1:]:
        obj = getattr(obj, p)
    return obj


def _defined_in(obj) -> int | None:
    """The index of the notebook cell whose code defined ``obj`` (a function, a method, a class), or None."""
    obj = getattr(obj, "__func__", obj)  # a bound method
    for _ in range(10):  # functools.wraps decorators: the function the student wrote, not the decorator's cell
        inner = getattr(obj, "__wrapped__", None)
        if inner is None:
            break
        obj = getattr(inner, "__func__", inner)
    codes = [getattr(obj, "__code__", None)]
    if isinstance(obj, type):  # a class: where its own methods were written
        codes = [getattr(getattr(v, "__func__", v), "__code__", None) for v in list(vars(obj).values())[:200]]
    for code in codes:
        cell = _cell_of(code)
        if cell is not None:
            return cell
    return None


def _cell_of(code) -> int | None:
    """The index of the notebook cell a code object was compiled from (``<ipython-input-N-...>``), or None."""
    import re

    m = re.match(r"<ipython-input-(\d+)-", str(getattr(code, "co_filename", "")))
    return CELL_OF_COUNT.get(int(m.group(1))) if m else None


def _student_line(exc) -> dict | None:
    """The deepest frame of ``exc``'s traceback that is in one of the notebook's cells."""
    import linecache

    found = None
    tb = getattr(exc, "__traceback__", None)
    steps = 0
    while tb is not None and steps < 1000:
        code = tb.tb_frame.f_code
        cell = _cell_of(code)
        if cell is not None:
            line = linecache.getline(code.co_filename, tb.tb_lineno).strip()
            found = {"cell": cell, "line": int(tb.tb_lineno), "code": line[:200]}
        tb = tb.tb_next
        steps += 1
    return found


def _text(x, limit: int) -> str:
    try:
        return str(x)[:limit]
    except BaseException:  # noqa: BLE001 - a student's __str__ may raise anything
        return "(unprintable)"


def live(namespace: dict, cmd: dict) -> dict:
    """One request of a live session: call a function, evaluate an expression, or look a name up.

    It only *collects*: what the student's code returned is encoded as data (:mod:`wire`) and the
    grader decides everything in its own process."""
    import wire

    CAPTURE.reset()
    op = cmd.get("op")
    phase = "resolve"
    value: Any
    try:
        if op == "has":
            try:
                _resolve(namespace, cmd["name"])
                value = True
            except Exception:
                value = False
        elif op == "where":
            value = _defined_in(_resolve(namespace, cmd["name"]))
        elif op == "eval":
            phase = "call"
            value = eval(compile(str(cmd["expr"]), "<mlgrade>", "eval"), namespace)  # the instructor's expression
        else:
            fn = _resolve(namespace, cmd["target"])
            args = wire.decode(cmd.get("args", []))
            kwargs = wire.decode(cmd.get("kwargs", {"d": []}))
            phase = "call"
            value = fn(*args, **kwargs)
        phase = "encode"
        return {"r": "live", "status": "ok", "value": wire.encode(value, "the result"), "text": CAPTURE.text()[-2000:]}
    except BaseException as e:  # noqa: BLE001 - KeyboardInterrupt is the call's timeout, SystemExit the student's
        return {"r": "live", "status": "error", "phase": phase, "ename": _text(type(e).__name__, 200),
                "evalue": _text(e, 1000), "where": _student_line(e), "text": CAPTURE.text()[-2000:]}


class _Encoder(json.JSONEncoder):
    """The protocol's own encoder: its methods are captured here, before any student cell runs, so a student
    who patches ``json.dumps`` or ``json.JSONEncoder`` (to pretty-print, say) changes only their own output."""

    encode = json.JSONEncoder.encode
    iterencode = json.JSONEncoder.iterencode
    default = json.JSONEncoder.default


class _Decoder(json.JSONDecoder):
    decode = json.JSONDecoder.decode
    raw_decode = json.JSONDecoder.raw_decode


_ENCODE = _Encoder(ensure_ascii=True, separators=(",", ":")).encode
_DECODE = _Decoder().decode
_OS_WRITE = os.write


def _write(fd: int, record: dict) -> None:
    # The leading newline ends whatever partial line student code may have written to this pipe.
    data = ("\n" + _ENCODE(record) + "\n").encode()
    while data:
        try:
            n = _OS_WRITE(fd, data)
        except InterruptedError:
            continue
        data = data[n:]


def serve(cmd_fd: int, rec_fd: int, log_fd: int, budget: int) -> None:
    """Run commands until ``exit`` or the end of the command pipe."""
    global _SHELL
    CAPTURE.left = budget
    sys.stdout = _Stream("stdout", log_fd)
    sys.stderr = _Stream("stderr", log_fd)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - input() gets EOF, as in a kernel without stdin
    prepare()
    shell = _SHELL
    assert shell is not None, "prepare() makes the shell"
    commands = os.fdopen(cmd_fd, "rb", buffering=0)
    pending = b""
    while True:
        try:
            chunk = commands.read(65536)
        except KeyboardInterrupt:  # an interrupt meant for a cell that had just finished
            continue
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, _, pending = pending.partition(b"\n")
            try:
                cmd = _DECODE(line.decode("utf-8"))
                op = cmd.get("op")
                if op == "exit":
                    return
                if op == "cell":
                    rec = _run_cell(shell, cmd["source"], bool(cmd.get("history", True)), cmd.get("i"))
                    rec["i"] = cmd["i"]
                elif op in ("call", "eval", "has", "where"):
                    rec = live(shell.user_ns, cmd)
                    rec["id"] = cmd.get("id")
                else:
                    rec = {"r": "error", "error": f"unknown op {op!r}"}
            except KeyboardInterrupt:
                rec = {"r": "error", "error": "interrupted"}
            _write_safely(rec_fd, rec)


def _write_safely(fd: int, rec: dict) -> None:
    while True:
        try:
            _write(fd, rec)
            return
        except KeyboardInterrupt:
            continue
        except (TypeError, ValueError, RecursionError) as e:  # not serialisable: say so, under the same name
            rec = {k: rec[k] for k in ("r", "i", "id") if k in rec}
            rec.update(status="error", phase="encode", ename="CannotCross", evalue=f"not serialisable ({e})"[:300])


def _portable_limits(spec: str) -> None:
    """The rlimits asked for, where this platform has them (POSIX); on Windows the grader's job object
    limits memory from outside instead. Each limit on its own: macOS refuses some."""
    try:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import rlimits
    except ImportError:
        return
    finally:
        del sys.path[0]
    rlimits.apply(spec + ",core=0", strict=False)


def _interrupt_on_break() -> None:
    """Windows has no SIGINT to send to another process: the supervisor sends CTRL_BREAK_EVENT to the
    kernel's own process group, which raises KeyboardInterrupt in the cell like Ctrl+C would."""
    import signal

    if hasattr(signal, "SIGBREAK"):
        signal.signal(signal.SIGBREAK, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


NO_NETWORK = ("(mlgrade: no network while your notebook is checked, as when it is graded; "
              "put the data your notebook needs into your submission)")


def _network_off() -> None:
    """No internet for the notebook, as in the graded sandbox, so a notebook that downloads its data
    fails in the self-check too instead of only when graded. Not a wall (it is the student's own code
    on their own machine, and a subprocess is not covered): a faithful rehearsal."""
    import socket

    def refuse(*_args, **_kwargs):  # ENETUNREACH, as in the sandbox, and what code handling it expects
        raise OSError(101, f"Network is unreachable {NO_NETWORK}")

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    inet = {socket.AF_INET, getattr(socket, "AF_INET6", socket.AF_INET)}

    def connect(self, address):
        if self.family in inet:
            refuse()
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in inet:
            refuse()
        return real_connect_ex(self, address)

    def getaddrinfo(*_args, **_kwargs):
        raise socket.gaierror(getattr(socket, "EAI_AGAIN", -3), f"Temporary failure in name resolution {NO_NETWORK}")

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = refuse


def main() -> None:
    """The portable backend: a fresh Python per notebook, commands on stdin, records on stdout.

    Runs on every OS (nothing POSIX-only is needed): limits where the platform has them, an interrupt
    that works on Windows, no network. Inside bubblewrap the zygote serves kernels instead."""
    limits = os.environ.pop("MLGRADE_LIMITS", "")
    if limits:
        _portable_limits(limits)
    _interrupt_on_break()
    _network_off()
    rec_fd = os.dup(1)
    os.dup2(2, 1)  # anything printed at the C level goes to the log, never into the records
    budget = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    serve(0, rec_fd, 2, budget)


if __name__ == "__main__":
    main()

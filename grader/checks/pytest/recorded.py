"""A reference module as recorded data: what a student build of a rubric carries instead of the code.

At export (``mlgrade export student-kit``) the public tests run against stand-ins and the
instructor's samples with :class:`RecordingReference` around the real reference module: every
data attribute a test reads and every call it makes (name, arguments, result) is stored as data
(the sandbox's codec, :mod:`grader.insandbox.wire`: numbers, strings, lists, tuples, dicts, numpy
arrays; never pickle). On the student's machine :class:`RecordedReference` answers the same
questions from that data, and nothing else: a call on inputs nobody recorded (arguments computed
from the student's own answer) raises :class:`NotCompiled`, and the test is reported as *checked
when graded*, never as passed or failed.

    recorded = Recording()
    ref = RecordingReference(module, recorded)       # export: the real reference, watched
    ref.back_propagation(X, Y, w)                    # computed and stored
    replay = RecordedReference(recorded.to_json())   # the student's machine: data only
    replay.back_propagation(X, Y, w)                 # the stored result (a fresh copy each time)
    replay.back_propagation(X2, Y, w)                # NotCompiled
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

from grader.insandbox.wire import CannotCross, WireError, decode, encode

FORMAT = 1
# What a message carries when a test failed because of a NotCompiled that its own code caught and re-raised.
SENTINEL = "[not in the student build]"
MAX_BYTES = 64 * 1024**2  # a recording file, all of it


class NotCompiled(Exception):
    """A reference value the student build does not hold: only the class's grading can check this test."""

    def __init__(self, what: str):
        super().__init__(f"{SENTINEL} {what}: the instructor's reference is not in the student build, so this "
                         "test is checked when the class is graded")
        self.what = what


def call_key(name: str, args: tuple, kwargs: dict) -> str | None:
    """A digest of a call: the function's name and its arguments as data; None when an argument is not data."""
    try:
        blob = json.dumps([name, encode(list(args), "args"), encode(dict(kwargs), "kwargs")], sort_keys=True)
    except (CannotCross, TypeError, ValueError):
        return None
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class Recording:
    """What the reference gave, as data: ``values`` (attributes) and ``calls`` (name -> key -> result)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.calls: dict[str, dict[str, Any]] = {}
        self.skipped: set[str] = set()  # attributes or calls that are not data (a class, a module, an object)

    def value(self, name: str, value: Any) -> None:
        if name in self.values:
            return
        try:
            self.values[name] = encode(value, f"reference.{name}")
        except CannotCross:
            self.skipped.add(name)

    def call(self, name: str, args: tuple, kwargs: dict, result: Any) -> None:
        key = call_key(name, args, kwargs)
        if key is None:
            self.skipped.add(f"{name}(...)")
            return
        try:
            self.calls.setdefault(name, {}).setdefault(key, encode(result, f"reference.{name}(...)"))
        except CannotCross:
            self.skipped.add(f"{name}(...)")

    def __len__(self) -> int:
        return len(self.values) + sum(len(c) for c in self.calls.values())

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "values": self.values, "calls": self.calls}, sort_keys=True,
                          separators=(",", ":"))


class RecordingReference:
    """The real reference module, every data attribute read and every call made stored in a :class:`Recording`."""

    def __init__(self, module: ModuleType, recording: Recording):
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_recording", recording)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._module, name)
        if name.startswith("__"):
            return value
        if isinstance(value, ModuleType) or isinstance(value, type):
            self._recording.skipped.add(name)
            return value
        if callable(value):
            return self._recorded(name, value)
        self._recording.value(name, value)
        return value

    def _recorded(self, name: str, fn: Callable) -> Callable:
        recording = self._recording

        def call(*args: Any, **kwargs: Any) -> Any:
            # the arguments as given (a test may mutate them afterwards), the result before the test sees it
            key_args, key_kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
            result = fn(*args, **kwargs)
            recording.call(name, key_args, key_kwargs, result)
            return result

        call.__name__ = name
        return call

    def __repr__(self) -> str:
        return f"<reference {getattr(self._module, '__name__', '?')} (recording)>"


class RecordedReference:
    """A reference module's recorded answers, and nothing else (see the module's docstring)."""

    def __init__(self, text: str, source: str = "the recorded reference"):
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ValueError(f"{source}: not a recording ({e})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{source}: a recording of another format (made by another version of mlgrade?)")
        object.__setattr__(self, "_values", dict(data.get("values") or {}))
        object.__setattr__(self, "_calls", {k: dict(v) for k, v in (data.get("calls") or {}).items()})
        object.__setattr__(self, "_source", source)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self._values:
            return self._decode(self._values[name], f"reference.{name}")
        if name in self._calls:
            return self._replay(name)
        raise NotCompiled(f"reference.{name}")

    def _decode(self, data: Any, what: str) -> Any:
        try:
            return decode(copy.deepcopy(data))
        except WireError as e:
            raise ValueError(f"{self._source}: {what} is damaged ({e})") from None

    def _replay(self, name: str) -> Callable:
        answers = self._calls[name]

        def call(*args: Any, **kwargs: Any) -> Any:
            key = call_key(name, args, kwargs)
            if key is None or key not in answers:
                raise NotCompiled(f"reference.{name}(...) on these inputs")
            return self._decode(answers[key], f"reference.{name}(...)")

        call.__name__ = name
        return call

    def __repr__(self) -> str:
        return f"<reference recorded in {self._source}>"


def is_not_compiled(exc: BaseException) -> bool:
    """True for a :class:`NotCompiled`, or a failure whose message carries one a test caught and re-raised."""
    return isinstance(exc, NotCompiled) or SENTINEL in str(getattr(exc, "msg", "") or exc)

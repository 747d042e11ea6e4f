"""Values across the sandbox's pipes as plain data: never pickle, bounded in size and depth.

Used on both sides: the kernel encodes what the student's code returned and decodes the
grader's arguments; the grader encodes arguments and decodes answers. It imports nothing of
mlgrade (it runs in the sandbox) and numpy only when an array is met.

What crosses: ``None``, ``bool``, ``int``, ``float``, ``str``, lists, tuples and dicts of these
(keys: ``str``, ``int``, ``float``, ``bool``, ``None`` or tuples of them), numpy arrays and numpy
scalars of bool or numeric dtype. The encoding is JSON in which every object is tagged with one
key, so nothing is ambiguous::

    [1, "a", None]                     -> [1, "a", null]
    (1, 2)                             -> {"t": [1, 2]}
    {"w": 1}                           -> {"d": [["w", 1]]}
    np.array([1.0, 2.0])               -> {"nd": "<base64 of the .npy bytes>"}
    np.float32(1.5)                    -> {"np": "<base64 of a 0-d .npy>"}

Anything else (an object, a set, a DataFrame, a tensor, a function) does not cross:
:class:`CannotCross` names its type and where it sits (``result[2]['w']``).
:func:`decode` trusts nothing: it checks every tag, type, depth, count and dtype, and loads
arrays with ``allow_pickle=False``; a malformed answer raises :class:`WireError`.
"""

from __future__ import annotations

import base64
import io

MAX_DEPTH = 24  # containers inside containers
MAX_NODES = 200_000  # values in one answer, containers included
MAX_ARRAY_BYTES = 64 * 1024**2  # all arrays of one answer together
MAX_STR_CHARS = 4 * 1024**2  # all strings of one answer together
NUMERIC_KINDS = "biufc"  # bool, signed, unsigned, float, complex
MAX_SAME_HASH = 64  # dict keys of one answer sharing a hash value
# The same bounds counted in JSON, for the lines that carry encoded values (:mod:`boundedjson` measures a
# line before it is parsed): a value here is under 4 JSON values (a dict item ``[{"t": []}, {"t": []}]``
# is 7 for 2) and a level at most 3 JSON levels (``{"d": [[k, v]]}``); the rest is the record around it.
MAX_JSON_VALUES = 4 * MAX_NODES + 10_000
MAX_JSON_DEPTH = 3 * (MAX_DEPTH + 1) + 20


class CannotCross(TypeError):
    """A value the pipe does not carry; the message names its type and where it is."""


class WireError(ValueError):
    """An encoded value that is malformed or over a limit (the sandbox cannot be trusted to send good data)."""


def type_name(value) -> str:
    t = type(value)
    module = getattr(t, "__module__", "") or ""
    name = getattr(t, "__qualname__", "") or getattr(t, "__name__", "?")
    full = name if module in ("builtins", "") else f"{module}.{name}"
    return str(full)[:120]


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0
        self.array_bytes = 0
        self.chars = 0

    def node(self, where: str, error) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise error(f"{where}: more than {MAX_NODES:,} values")

    def text(self, n: int, where: str, error) -> None:
        self.chars += n
        if self.chars > MAX_STR_CHARS:
            raise error(f"{where}: more than {MAX_STR_CHARS:,} characters of text")

    def array(self, n: int, where: str, error) -> None:
        self.array_bytes += n
        if self.array_bytes > MAX_ARRAY_BYTES:
            raise error(f"{where}: arrays larger than {MAX_ARRAY_BYTES // 2**20} MiB")


def encode(value, where: str = "value"):
    """``value`` as JSON-able data; raises :class:`CannotCross` for what cannot cross."""
    return _enc(value, where, 0, _Budget())


def _enc(v, where: str, depth: int, budget: _Budget):
    budget.node(where, CannotCross)
    if depth > MAX_DEPTH:
        raise CannotCross(f"{where}: nested more than {MAX_DEPTH} levels deep")
    t = type(v)
    if v is None or t is bool:
        return v
    if t is int:
        if v.bit_length() > 4096:
            raise CannotCross(f"{where}: an integer of more than 4096 bits")
        return v
    if t is float:
        return v
    if t is str:
        budget.text(len(v), where, CannotCross)
        return v
    # A container subclass (defaultdict, Counter, OrderedDict, a namedtuple) crosses as its base type,
    # read with the base type's own methods: the grader rebuilds a plain one, so its methods never cross.
    if t is list or (isinstance(v, list) and not isinstance(v, str)):
        return [_enc(x, f"{where}[{i}]", depth + 1, budget) for i, x in enumerate(list.__iter__(v))]
    if t is tuple or isinstance(v, tuple):
        return {"t": [_enc(x, f"{where}[{i}]", depth + 1, budget) for i, x in enumerate(tuple.__iter__(v))]}
    if t is dict or isinstance(v, dict):
        items = []
        for k, x in dict.items(v):
            key = _enc_key(k, where)
            items.append([key, _enc(x, f"{where}[{k!r}]"[:200], depth + 1, budget)])
        return {"d": items}
    np = _numpy_if_loaded()
    if np is not None:
        if isinstance(v, np.ndarray):
            arr = np.asarray(v)
            if arr.dtype.kind not in NUMERIC_KINDS or arr.dtype.hasobject or arr.dtype.names:
                raise CannotCross(f"{where}: a numpy array of dtype {arr.dtype} (only bool and numeric arrays cross)")
            budget.array(arr.nbytes, where, CannotCross)
            return {"nd": _npy(np, arr)}
        if isinstance(v, np.str_):  # labels[np.argmax(p)]
            text = str.__str__(v)
            budget.text(len(text), where, CannotCross)
            return text
        if isinstance(v, np.generic):
            arr = np.asarray(v)
            if arr.dtype.kind not in NUMERIC_KINDS:
                raise CannotCross(f"{where}: a numpy scalar of dtype {arr.dtype}")
            return {"np": _npy(np, arr)}
    # Subclasses of the plain types (an int subclass, a dict subclass) carry the student's methods
    # (an __eq__ that is always True): they do not cross as what they pretend to be.
    raise CannotCross(f"{where}: a value of type {type_name(v)}")


def _enc_key(k, where: str):
    t = type(k)
    if k is None or t in (bool, int, float, str):
        if t is str and len(k) > 10_000:
            raise CannotCross(f"{where}: a dict key longer than 10,000 characters")
        return k
    np = _numpy_if_loaded()
    if np is not None and isinstance(k, (np.bool_, np.integer, np.floating, np.str_)):  # np.unique's keys
        return _enc_key(str.__str__(k) if isinstance(k, np.str_) else k.item(), where)
    if isinstance(k, tuple) and len(k) <= 16:
        return {"t": [_enc_key(x, where) for x in tuple.__iter__(k)]}
    raise CannotCross(f"{where}: a dict key of type {type_name(k)}")


def _clean(text: str) -> str:
    """``text`` with lone surrogates (which JSON's ``\\ud800`` escapes can carry) replaced: every output
    the grader writes is UTF-8, which cannot hold them."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        import re

        return re.sub("[\ud800-\udfff]", "\ufffd", text)


# In JSON text: an escaped backslash (skipped), a valid surrogate pair (kept) or a lone surrogate escape.
_ESCAPES = None


def scrub_json(raw: bytes) -> bytes:
    """JSON ``raw`` with each lone surrogate escape (``\\udc80`` alone) made U+FFFD, in one linear pass:
    a string holding one cannot be written as UTF-8, so it would break every output it reached."""
    global _ESCAPES
    if b"\\u" not in raw and b"\\U" not in raw:
        return raw
    if _ESCAPES is None:
        import re

        _ESCAPES = re.compile(rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
                              rb"|\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
    return _ESCAPES.sub(lambda m: m.group(0) if len(m.group(0)) != 6 else b"\\ufffd", raw)


def _numpy_if_loaded():
    import sys

    return sys.modules.get("numpy")


def _npy(np, arr) -> str:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def decode(data):
    """The value ``data`` encodes, built from scratch; raises :class:`WireError` for anything malformed."""
    return _dec(data, "value", 0, _Budget())


def _dec(d, where: str, depth: int, budget: _Budget):
    budget.node(where, WireError)
    if depth > MAX_DEPTH:
        raise WireError(f"{where}: nested more than {MAX_DEPTH} levels deep")
    t = type(d)
    if d is None or t is bool or (t is int and d.bit_length() <= 4096):
        return d
    if t is float:
        return d
    if t is str:
        budget.text(len(d), where, WireError)
        return _clean(d)
    if t is int and d.bit_length() > 4096:
        raise WireError(f"{where}: an integer of more than 4096 bits")
    if t is list:
        return [_dec(x, f"{where}[{i}]", depth + 1, budget) for i, x in enumerate(d)]
    if t is not dict or len(d) != 1:
        raise WireError(f"{where}: not an encoded value")
    (tag, body), = d.items()
    if tag == "t" and type(body) is list:
        return tuple(_dec(x, f"{where}[{i}]", depth + 1, budget) for i, x in enumerate(body))
    if tag == "d" and type(body) is list:
        out = {}
        same_hash: dict[int, int] = {}
        for item in body:
            if type(item) is not list or len(item) != 2:
                raise WireError(f"{where}: a malformed dict item")
            key = _dec_key(item[0], where, budget)
            # Keys made to share one hash (1 + i * (2**61 - 1), crafted tuples) would make building the
            # dict quadratic in the grader: refuse them before inserting.
            h = hash(key)
            same_hash[h] = same_hash.get(h, 0) + 1
            if same_hash[h] > MAX_SAME_HASH:
                raise WireError(f"{where}: more than {MAX_SAME_HASH} dict keys with one hash value")
            out[key] = _dec(item[1], f"{where}[{key!r}]"[:200], depth + 1, budget)
        return out
    if tag in ("nd", "np") and type(body) is str:
        budget.array(len(body) * 3 // 4, where, WireError)
        arr = _load(body, where)
        if tag == "np":
            if arr.ndim != 0:
                raise WireError(f"{where}: a numpy scalar that is not 0-dimensional")
            return arr[()]
        return arr
    raise WireError(f"{where}: unknown tag {str(tag)[:20]!r}")


def _dec_key(k, where: str, budget: _Budget):
    budget.node(where, WireError)
    t = type(k)
    if k is None or t in (bool, int, float, str):
        if t is str:
            if len(k) > 10_000:
                raise WireError(f"{where}: a dict key longer than 10,000 characters")
            budget.text(len(k), where, WireError)
            return _clean(k)
        if t is int and k.bit_length() > 4096:
            raise WireError(f"{where}: a dict key of more than 4096 bits")
        return k
    if t is dict and len(k) == 1 and type(k.get("t")) is list and len(k["t"]) <= 16:
        return tuple(_dec_key(x, where, budget) for x in k["t"])
    raise WireError(f"{where}: a malformed dict key")


def _load(body: str, where: str):
    import numpy as np

    try:
        raw = base64.b64decode(body, validate=True)
        f = io.BytesIO(raw)
        fmt = np.lib.format
        version = fmt.read_magic(f)
        shape, _, dtype = (fmt.read_array_header_1_0(f) if version == (1, 0) else fmt.read_array_header_2_0(f))
        count = 1
        for n in shape:
            count *= int(n)
        if dtype.hasobject or count * dtype.itemsize != len(raw) - f.tell():  # checked before any allocation
            raise ValueError("the header does not match the data")
        f.seek(0)
        arr = np.load(f, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - whatever the bytes make numpy raise, the answer is malformed
        raise WireError(f"{where}: an unreadable array ({type(e).__name__})") from None
    if type(arr) is not np.ndarray or arr.dtype.kind not in NUMERIC_KINDS or arr.dtype.hasobject or arr.dtype.names:
        raise WireError(f"{where}: an array of a type that does not cross")
    return arr

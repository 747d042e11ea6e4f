"""Inputs the rubric declares and comparisons in the grader, shared by the generic notebook kinds.

An argument in a rubric is a plain YAML value (passed as is), an array, or random data drawn
by the grader::

    args:
      - {array: [[1.0, 2.0], [3.0, 4.0]]}                    # a numpy array (dtype: float64 unless given)
      - {random: {shape: [n, 10], distribution: normal, scale: 3}}
      - 0.5                                                    # a plain value
    dims: {n: [2, 50]}                                         # named sizes, drawn once per case

Random data come from a generator seeded by the grading seed, the submission and the case, so
a student cannot know them and a regrade draws the same. :func:`compare` compares in the
grader's process, on values rebuilt from data (never the student's objects), and says how
they differ without showing hidden inputs.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from grader.rubric.kinds import CheckParams

DTYPES = {"float64": np.float64, "float32": np.float32, "int64": np.int64, "int32": np.int32, "bool": np.bool_}
MAX_ELEMENTS = 4_000_000


class RandomArray(CheckParams):
    """``{random: {...}}``: an array drawn by the grader. A shape entry is a size, ``[low, high]`` (drawn,
    inclusive) or the name of a size in the case's ``dims`` (shared by several arguments)."""

    shape: list[int | str | list[int]] = Field(default_factory=list)
    dtype: Literal["float64", "float32", "int64", "int32", "bool"] = "float64"
    distribution: Literal["normal", "uniform", "integers", "bernoulli"] = "normal"
    loc: float = 0.0
    scale: float = Field(1.0, ge=0)
    low: float = 0.0
    high: float = 1.0
    p: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _sizes(self):
        for dim in self.shape:
            if isinstance(dim, list) and (len(dim) != 2 or not 0 <= dim[0] <= dim[1]):
                raise ValueError(f"a drawn size is [low, high] with 0 <= low <= high, got {dim}")
            if isinstance(dim, int) and dim < 0:
                raise ValueError(f"a size must be >= 0, got {dim}")
        if self.distribution in ("uniform", "integers") and not self.low < self.high:
            raise ValueError(f"'low' must be below 'high' (got {self.low:g} and {self.high:g})")
        return self


def validate_spec(value: Any, where: str = "args") -> Any:
    """Check a rubric's argument spec when the rubric loads (raises ValueError naming the place)."""
    if isinstance(value, dict) and set(value) == {"random"}:
        RandomArray.model_validate(value["random"])
    elif isinstance(value, dict) and "array" in value and set(value) <= {"array", "dtype"}:
        if value.get("dtype", "float64") not in DTYPES:
            raise ValueError(f"{where}: dtype must be one of {', '.join(DTYPES)}")
        try:
            np.asarray(value["array"], dtype=DTYPES[value.get("dtype", "float64")])
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: not an array of numbers ({e})") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            validate_spec(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            validate_spec(v, f"{where}[{i}]")
    return value


def draw_dims(dims: dict[str, list[int] | int], rng: np.random.Generator) -> dict[str, int]:
    return {name: int(d) if isinstance(d, int) else int(rng.integers(d[0], d[1] + 1)) for name, d in dims.items()}


def materialize(value: Any, rng: np.random.Generator, dims: dict[str, int] | None = None) -> Any:
    """The argument a spec describes: arrays built, random data drawn, plain values as they are."""
    dims = dims or {}
    if isinstance(value, dict) and set(value) == {"random"}:
        return _draw(RandomArray.model_validate(value["random"]), rng, dims)
    if isinstance(value, dict) and "array" in value and set(value) <= {"array", "dtype"}:
        return np.asarray(value["array"], dtype=DTYPES[value.get("dtype", "float64")])
    if isinstance(value, dict):
        return {k: materialize(v, rng, dims) for k, v in value.items()}
    if isinstance(value, list):
        return [materialize(v, rng, dims) for v in value]
    return value


def _draw(spec: RandomArray, rng: np.random.Generator, dims: dict[str, int]) -> Any:
    shape = []
    for d in spec.shape:
        if isinstance(d, str):
            if d not in dims:
                raise ValueError(f"size {d!r} is not in the case's dims ({', '.join(dims) or 'none'})")
            shape.append(dims[d])
        elif isinstance(d, list):
            shape.append(int(rng.integers(d[0], d[1] + 1)))
        else:
            shape.append(int(d))
    if int(np.prod(shape)) > MAX_ELEMENTS:
        raise ValueError(f"a random array of shape {tuple(shape)} is larger than {MAX_ELEMENTS:,} elements")
    arr: np.ndarray  # float, int or bool by distribution; cast to the spec's dtype below
    if spec.distribution == "normal":
        arr = rng.normal(spec.loc, spec.scale, size=shape)
    elif spec.distribution == "uniform":
        arr = rng.uniform(spec.low, spec.high, size=shape)
    elif spec.distribution == "integers":
        arr = rng.integers(int(spec.low), int(spec.high), size=shape, endpoint=False)
    else:
        arr = rng.random(size=shape) < spec.p
    arr = np.asarray(arr).astype(DTYPES[spec.dtype])
    return arr[()].item() if arr.ndim == 0 else arr


def compare(got: Any, expected: Any, rtol: float, atol: float, where: str = "",
            hidden: bool = False) -> tuple[bool, str]:
    """Whether ``got`` matches ``expected`` within the tolerance, and if not, how it differs (in words).
    ``hidden``: the inputs are secret, so the words show no expected value (shapes and counts only)."""
    return _compare(got, expected, rtol, atol, where, hidden)


def _compare(got: Any, expected: Any, rtol: float, atol: float, where: str, hidden: bool) -> tuple[bool, str]:
    at = f" at {where}" if where else ""
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return False, f"expected a dict{at}, got {_kind(got)}"
        missing = [k for k in expected if k not in got]
        if missing:
            return False, f"missing key {missing[0]!r}{at}"
        for k in expected:
            ok, why = _compare(got[k], expected[k], rtol, atol, f"{where}[{k!r}]", hidden)
            if not ok:
                return ok, why
        return True, ""
    if isinstance(expected, (list, tuple)) and not _numeric_seq(expected):
        if not isinstance(got, (list, tuple)):
            return False, f"expected a {type(expected).__name__}{at}, got {_kind(got)}"
        if len(got) != len(expected):
            return False, f"expected {len(expected)} items{at}, got {len(got)}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            ok, why = _compare(g, e, rtol, atol, f"{where}[{i}]", hidden)
            if not ok:
                return ok, why
        return True, ""
    if expected is None or isinstance(expected, str):
        ok = got == expected and type(got) is type(expected)
        return ok, (f"a different value{at}" if hidden else f"expected {expected!r}{at}, got {_short(got)}")
    if isinstance(expected, (bool, np.bool_)):
        if not isinstance(got, (bool, np.bool_)):
            return False, (f"expected a bool{at}, got {_kind(got)}" if hidden
                           else f"expected {bool(expected)}{at}, got {_short(got)}")
        ok = bool(got) == bool(expected)
        return ok, f"a wrong bool{at}" if hidden else f"expected {bool(expected)}{at}, got {bool(got)}"
    return _compare_numbers(got, expected, rtol, atol, at, hidden)


def _compare_numbers(got: Any, expected: Any, rtol: float, atol: float, at: str, hidden: bool) -> tuple[bool, str]:
    exp = np.asarray(expected)
    if isinstance(got, (str, dict)) or got is None:
        want = "a number" if exp.ndim == 0 else f"an array of shape {exp.shape}"
        return False, f"expected {want}{at}, got {_kind(got)}"
    try:
        arr = np.asarray(got, dtype=np.result_type(exp.dtype, np.float64) if exp.dtype.kind != "c" else complex)
    except (TypeError, ValueError):
        return False, f"expected numbers{at}, got {_kind(got)}"
    if arr.shape != exp.shape:
        if arr.size == exp.size == 1:
            arr, exp = arr.reshape(()), exp.reshape(())
        else:
            return False, f"shape {arr.shape}{at}, expected {exp.shape}"
    if not np.all(np.isfinite(arr)) and np.all(np.isfinite(exp)):
        return False, f"NaN or infinity{at}"
    close = np.isclose(arr, exp, rtol=rtol, atol=atol, equal_nan=True)
    if np.all(close):
        return True, ""
    diff = np.abs(arr.astype(complex if arr.dtype.kind == "c" else float) - exp)
    diff = np.where(close, 0, diff)
    if exp.ndim == 0:
        if hidden:
            return False, f"a wrong value{at}"
        return False, f"{_num(arr)}{at}, expected {_num(exp)} (off by {float(np.max(diff)):.2e})"
    wrong = int(np.sum(~close))
    if hidden:
        return False, f"{wrong} of {exp.size} values differ{at}"
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
    return False, (f"{wrong} of {exp.size} values differ{at}, e.g. [{', '.join(map(str, worst))}]: "
                   f"{_num(arr[worst])}, expected {_num(exp[worst])}")


def _numeric_seq(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) or _numeric_seq(v) for v in value)


def _num(x: Any) -> str:
    return f"{complex(x):.6g}" if np.iscomplexobj(x) else f"{float(x):.6g}"


def _kind(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return {type(None): "None", bool: "a bool", str: "text", dict: "a dict", list: "a list",
            tuple: "a tuple"}.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

"""Every parser of student text or files that runs in a trusted process is linear-time or bounded.

The security review's cases first (each hung or blew up a worker), then Hypothesis fuzzing with a
time budget per input: equations, hand values, notebook JSON, printed outputs, zip directories,
student ids and the escaping of what leaves the grader.
"""

from __future__ import annotations

import io
import json
import struct
import time
import zipfile
from pathlib import Path

import pytest
from conftest import make_zip
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grader.checks import equation
from grader.core import textsafe
from grader.intake import nbparse, sources
from grader.intake.nbload import MAX_DEPTH, NotebookProblem, load_notebook, read_json
from grader.intake.unpack import UnpackLimits, UnpackRefused, unpack
from grader.rubric.instructor import load_module

# The hw4 course pack's readers of the hand values and of the equation's candidates: instructor code, in the grader.
_XOR = load_module(Path(__file__).resolve().parents[2] / "rubrics" / "hw4" / "tests" / "xor_checks.py")
_candidates, parse_hand = _XOR._candidates, _XOR.parse_hand

FUZZ = settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def _fast(fn, *args, limit: float = 1.0):
    t = time.perf_counter()
    out = fn(*args)
    assert time.perf_counter() - t < limit, f"{fn.__name__} took {time.perf_counter() - t:.2f} s"
    return out


# --------------------------------------------------------------------------- the review's cases

def test_hand_values_with_runs_of_spaces_are_linear():
    # 12 KB of spaces between binary digits made the old row pattern backtrack for 600 s
    text = "\n".join(["0" + " " * 4000 + "1" + " " * 4000 + "x"] * 3 + ["0 " * 6000])
    _fast(parse_hand, text)
    assert _fast(parse_hand, "001: 0.00765\n011: 0.9955\n101 0.9915\n1, 1; 1 = 0.0068") == {
        "001": 0.00765, "011": 0.9955, "101": 0.9915, "111": 0.0068}


def test_unclosed_display_math_is_linear():
    _fast(_candidates, "$$ x" * 50_000)
    assert "Y = 1" in _candidates("a $$Y = 1$$ b $$ unclosed")


def _notebook_with(extra: bytes) -> bytes:
    return b'{"cells": [], "metadata": {"x": ' + extra + b'}, "nbformat": 4, "nbformat_minor": 5}'


def test_a_notebook_of_tiny_nested_containers_is_refused_before_it_is_built(tmp_path):
    # 12 MiB of [[],[],...] (a 14:1 zip ratio, inside the unpack limits) once cost the runner 1.3 GiB
    p = tmp_path / "bomb.ipynb"
    p.write_bytes(_notebook_with(b"[" + b"[]," * (4 * 1024**2) + b"[]]"))
    nb, reason = _fast(load_notebook, str(p), limit=3.0)
    assert nb is None and "lists and objects" in reason and "bomb.ipynb" in reason


def test_a_notebook_nested_100000_levels_is_the_students_broken_file(tmp_path):
    p = tmp_path / "deep.ipynb"
    p.write_bytes(_notebook_with(b"[" * 100_000 + b"]" * 100_000))
    nb, reason = load_notebook(str(p))
    assert nb is None and "nested 100,002 levels deep" in reason
    with pytest.raises(NotebookProblem):
        nbparse.stored_text(p)


def test_real_notebooks_are_far_inside_the_limits(tmp_path):
    from helpers import notebook_bytes

    p = tmp_path / "ok.ipynb"
    p.write_bytes(notebook_bytes("x = [[1, 2], {'a': [3]}]\nprint(x)", outputs={0: "[[1, 2], {'a': [3]}]\n" * 5000}))
    nb, reason = load_notebook(str(p))
    assert nb is not None, reason
    deep = {"a": 1}
    for _ in range(MAX_DEPTH - 5):
        deep = {"a": deep}
    p.write_text(json.dumps({"cells": [], "metadata": {"widgets": deep}, "nbformat": 4, "nbformat_minor": 5}))
    assert load_notebook(str(p))[0] is not None


def _lying_zip(path: Path, entries: int) -> Path:
    """A zip whose end record declares one entry while its directory holds ``entries``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i in range(entries):
            zf.writestr(zipfile.ZipInfo(f"{i:x}"), b"")
    data = bytearray(buf.getvalue())
    eocd = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, eocd + 8, 1, 1)  # entries on this disk, entries in total
    path.write_bytes(bytes(data))
    return path


def test_a_zip_directory_that_lies_about_its_entry_count(tmp_path):
    z = _lying_zip(tmp_path / "lie.zip", 30_000)
    with pytest.raises(UnpackRefused, match="more than 2,000 entries"):
        _fast(unpack, z, tmp_path / "out", UnpackLimits(max_entries=2000))


def test_a_zip_directory_larger_than_its_entries_could_need(tmp_path):
    z = make_zip(tmp_path / "fat.zip", [("a" * 60_000, b"x"), ("b" * 60_000, b"y")])
    with pytest.raises(UnpackRefused, match="directory"):
        unpack(z, tmp_path / "out", UnpackLimits(max_entries=2))


# --------------------------------------------------------------------------- fuzzing

_EQ_ALPHABET = st.sampled_from(list("0123456789.+-*/^()=, xXyY_e") + ["sigmoid", "exp", "\\frac{", "}", "{",
                                                                       "$$", "\\sigma", "σ", "x1", "x_{2}", "⁻¹"])


@FUZZ
@given(st.lists(_EQ_ALPHABET, max_size=400).map("".join))
def test_fuzz_equation_parser(text):
    t = time.perf_counter()
    try:
        tree = equation.parse(text)
        equation.evaluate(tree, {1: 0.0, 2: 1.0, 3: 1.0})
    except equation.EquationError:
        pass
    except (OverflowError, ZeroDivisionError, ValueError):
        pass  # arithmetic on odd but well-formed input; the check reports these to the student
    assert time.perf_counter() - t < 0.5


@FUZZ
@given(st.text(max_size=3000))
def test_fuzz_equation_parser_on_any_text(text):
    t = time.perf_counter()
    try:
        equation.parse(text)
    except equation.EquationError:
        pass
    assert time.perf_counter() - t < 0.5


@FUZZ
@given(st.lists(st.sampled_from(["0", "1", " ", "\t", ",", ";", ":", ".", "5", "e-3", "\n", "−", "="]),
                max_size=3000).map("".join))
def test_fuzz_hand_values(text):
    _fast(parse_hand, text, limit=0.5)
    _fast(_candidates, text, limit=0.5)


@FUZZ
@given(st.lists(st.sampled_from(["[", "]", ",", " ", "\n", "1", "-2.5e3", "nan", "array(", ")", "dtype=float64",
                                 "x"]), max_size=4000).map("".join))
def test_fuzz_printed_arrays(text):
    _fast(nbparse.printed_arrays, text, limit=0.5)


@FUZZ
@given(st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=5), kids, max_size=5),
                    max_leaves=60))
def test_fuzz_notebook_json(tmp_path_factory, value):
    p = tmp_path_factory.mktemp("nb") / "x.ipynb"
    p.write_text(json.dumps({"cells": value, "nbformat": 4, "nbformat_minor": 5}))
    nb, reason = _fast(load_notebook, str(p), limit=0.5)
    assert (nb is None) == bool(reason)


@FUZZ
@given(st.binary(max_size=2000))
@example(raw=b"\x00\x01\x00\x00\x00")  # json.loads(bytes) guessed UTF-16 and raised UnicodeDecodeError
@example(raw=b"\x00\x00\x00\x00\x00")
def test_fuzz_notebook_bytes(tmp_path_factory, raw):
    p = tmp_path_factory.mktemp("nb") / "x.ipynb"
    p.write_bytes(raw)
    try:
        _fast(read_json, p, limit=0.5)
    except NotebookProblem:
        pass


@FUZZ
@given(st.binary(max_size=3000))
def test_fuzz_zip_bytes(tmp_path_factory, raw):
    d = tmp_path_factory.mktemp("z")
    z = d / "s.zip"
    z.write_bytes(b"PK\x03\x04" + raw if raw[:1] == b"\x00" else raw)
    try:
        _fast(unpack, z, d / "out", limit=1.0)
    except UnpackRefused:
        pass


@FUZZ
@given(st.text(max_size=300))
def test_fuzz_student_ids(name):
    sid = sources.safe_id(name)
    assert sources.is_plain_id(sid) and "/" not in sid


@FUZZ
@given(st.text(max_size=2000))
def test_fuzz_escaping(text):
    out = _fast(textsafe.terminal, text, limit=0.5)
    assert "\x1b" not in out and "\x9b" not in out
    assert "<" not in textsafe.html(text)
    cell = textsafe.csv_cell(text)
    assert not str(cell).startswith(("=", "+", "@")) or str(cell).lstrip("+").replace(".", "", 1).isdigit()


@FUZZ
@given(st.lists(st.sampled_from(["import ", "from ", " as ", "x", "_y", ".", ",", "(", ")", "[", "]", " = ", "==",
                                 "\n", " ", "\t", "np", "tf"]), max_size=3000).map("".join))
def test_fuzz_cell_source_scans(text):
    from grader.core.environment import assigned_names, imported_names

    _fast(imported_names, text, limit=0.5)
    _fast(assigned_names, text, limit=0.5)


def test_cell_source_scans_on_long_lines():
    from grader.core.environment import assigned_names, imported_names

    _fast(assigned_names, ("(" * 5 + "a, " * 60_000 + "\n") * 3)
    _fast(imported_names, "from x import " + "a, " * 100_000)

"""Untrusted JSON lines are measured while they are read: what json.loads may build is bounded before it
runs (issue 25.4: 96 MiB of ``[],[],...`` once took 4.7 GiB in the zygote and 2.5 GiB in the grader)."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.insandbox import supervise, wire
from grader.insandbox.boundedjson import JsonLines, Refused, Shape

FUZZ = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.sampled_from(['\\', '"', '\\"', '[{,:}]', '\\\\"', "\n", "\u00e9\ud7ff"]),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=4), inner, max_size=5),
    max_leaves=40)


def objects(value) -> int:
    """How many Python objects json.loads makes for ``value`` (keys included)."""
    if isinstance(value, list):
        return 1 + sum(objects(v) for v in value)
    if isinstance(value, dict):
        return 1 + sum(1 + objects(v) for v in value.values())
    return 1


def records(lines: JsonLines) -> list:
    out = []
    while (rec := lines.take()) is not None:
        out.append(rec)
    return out


@FUZZ
@given(st.lists(st.dictionaries(st.text(max_size=4), JSON, max_size=4), min_size=1, max_size=4),
       st.integers(1, 64))
def test_records_split_anywhere_come_out_as_json_reads_them(recs, chunk):
    data = b"".join(json.dumps(r).encode() + b"\n" for r in recs)
    lines = JsonLines(1 << 20, 100_000, 200)
    for k in range(0, len(data), chunk):
        lines.feed(data[k:k + chunk])
    assert records(lines) == recs and lines.pending == 0


@FUZZ
@given(JSON, st.integers(1, 16))
def test_the_measure_is_an_upper_bound_of_what_json_builds(value, chunk):
    raw = json.dumps(value).encode()
    shape = Shape(1 << 20, 10**9, 10**6)
    for k in range(0, len(raw), chunk):
        shape.feed(raw, k, min(len(raw), k + chunk))
    assert shape.values >= objects(value) and shape.depth == 0 and not shape.in_string


FLOOD = b'{"r": "cell", "i": 1, "status": "ok", "x": [' + b"[]," * ((96 << 20) // 3 - 64) + b"[]]}"


def test_a_flood_of_tiny_values_is_refused_as_it_arrives_and_the_next_record_is_read():
    lines = JsonLines(supervise.MAX_RECORD, supervise.MAX_RECORD_VALUES, supervise.MAX_RECORD_DEPTH)
    t = time.perf_counter()
    for k in range(0, len(FLOOD), 1 << 20):
        lines.feed(FLOOD[k:k + (1 << 20)])
        assert lines.pending < 4 << 20  # never the whole line: dropped once over the bound
    lines.feed(b'\n{"r": "cell", "i": 2}\n')
    took = time.perf_counter() - t
    got = records(lines)
    assert isinstance(got[0], Refused) and f"with more than {wire.MAX_JSON_VALUES:,} JSON values" in got[0].reason
    assert got[1:] == [{"r": "cell", "i": 2}]
    assert took < 10


@pytest.mark.parametrize(("line", "said"), [
    (b"[" * 1000 + b"]" * 1000, "nested more than"),
    (b"]" * 100_000, "not JSON"),
    (b'"' + b"x" * (5 << 20) + b'"', "longer than 4 MiB"),
    (b'{"a": [' + b"1," * 900_000 + b"1]}", "JSON values"),
    (b'["' + b'",":' * 900_000 + b'"]', "JSON values"),  # strings count too
])
def test_lines_over_a_bound_are_refused_with_the_bound(line, said):
    lines = JsonLines(4 << 20, supervise.MAX_RECORD_VALUES, supervise.MAX_RECORD_DEPTH)
    lines.feed(line + b"\n")
    got = lines.take()
    assert isinstance(got, Refused) and said in got.reason, got


@pytest.mark.parametrize("line", [
    b'"' + b'\\"' * (16 << 20),  # an unterminated string of escaped quotes (quadratic for a naive pattern)
    b'"' + b"\\" * (32 << 20) + b'"',
    b'{"t": "' + b"A" * (90 << 20) + b'"}',  # a legitimate long string (arrays as base64)
    b" " * (90 << 20),
    b"1" * (90 << 20),
])
def test_measuring_is_linear_on_hostile_text(line):
    lines = JsonLines(supervise.MAX_RECORD, supervise.MAX_RECORD_VALUES, supervise.MAX_RECORD_DEPTH)
    t = time.perf_counter()
    for k in range(0, len(line), 1 << 20):
        lines.feed(line[k:k + (1 << 20)])
    lines.feed(b"\n")
    records(lines)
    assert time.perf_counter() - t < 8


def test_what_the_codec_accepts_fits_in_a_record():
    """The largest encoded values wire.decode accepts are never refused by the record's bounds."""
    worst = [wire.encode(v) for v in ([()] * (wire.MAX_NODES - 1), [{(): ()}] * ((wire.MAX_NODES - 1) // 3))]
    deep: object = 1
    for _ in range(wire.MAX_DEPTH):  # a dict is 3 JSON levels: {"d": [["k", value]]}
        deep = {"k": deep}
    worst.append(wire.encode(deep))
    for value in worst:
        line = json.dumps({"r": "live", "id": 1, "status": "ok", "value": value}).encode() + b"\n"
        lines = JsonLines(supervise.MAX_RECORD, supervise.MAX_RECORD_VALUES, supervise.MAX_RECORD_DEPTH)
        lines.feed(line)
        rec = lines.take()
        assert isinstance(rec, dict), rec
        wire.decode(rec["value"])

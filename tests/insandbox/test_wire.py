"""Values across the sandbox's pipes: what crosses, what does not (and says what it was), hostile answers."""

from __future__ import annotations

import base64
import io
import json
import pickle

import numpy as np
import pytest

from grader.insandbox import wire


def roundtrip(value):
    return wire.decode(json.loads(json.dumps(wire.encode(value))))


@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 2**62, 1.5, float("inf"), -0.0, "", "héllo ∑", [1, [2, [3]]], (1, "a", None),
    {"w": 1, 2: "two", None: [], (1, "x"): 3.0, True: False}, [], (), {},
])
def test_plain_values_cross_unchanged(value):
    got = roundtrip(value)
    assert got == value and type(got) is type(value)


def test_nan_crosses_as_nan():
    assert np.isnan(roundtrip(float("nan")))


@pytest.mark.parametrize("arr", [
    np.arange(12.0).reshape(3, 4), np.array([True, False]), np.arange(5, dtype=np.int8), np.zeros((0, 3)),
    np.array([1 + 2j]), np.float32(1.5) * np.ones((2, 2), np.float32), np.arange(6).reshape(2, 3).T,
])
def test_numeric_and_bool_arrays_cross_with_dtype_and_shape(arr):
    got = roundtrip(arr)
    assert type(got) is np.ndarray and got.dtype == arr.dtype and got.shape == arr.shape
    np.testing.assert_array_equal(got, arr)


def test_numpy_scalars_cross_as_numpy_scalars():
    got = roundtrip({"a": np.float64(0.25), "b": np.int32(3), "c": np.bool_(True)})
    assert got == {"a": 0.25, "b": 3, "c": True}
    assert type(got["a"]) is np.float64 and type(got["b"]) is np.int32 and type(got["c"]) is np.bool_


def test_nested_structures_of_arrays():
    value = ({"W1": np.ones((2, 3)), "b1": np.zeros(3)}, 0.125)
    got = roundtrip(value)
    assert isinstance(got, tuple) and got[1] == 0.125
    np.testing.assert_array_equal(got[0]["W1"], np.ones((2, 3)))


class Sneaky(float):
    def __eq__(self, other):
        return True


class AlwaysEqual:
    def __eq__(self, other):
        return True


@pytest.mark.parametrize(("value", "said"), [
    (AlwaysEqual(), "AlwaysEqual"),
    (Sneaky(1.0), "Sneaky"),  # a float subclass would carry its __eq__: it does not cross as a float
    ({1, 2}, "set"),
    (lambda x: x, "function"),
    (np.array(["a", "b"]), "dtype <U1"),
    (np.array([object()], dtype=object), "dtype object"),
    ([1, [2, {"k": AlwaysEqual()}]], "value[1][1]['k']"),
    (b"bytes", "bytes"),
    (2**5000, "4096 bits"),
])
def test_what_cannot_cross_says_its_type_and_place(value, said):
    with pytest.raises(wire.CannotCross) as e:
        wire.encode(value)
    assert said in str(e.value)


def test_limits_on_depth_size_and_count():
    deep: list = []
    for _ in range(wire.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(wire.CannotCross, match="nested"):
        wire.encode(deep)
    with pytest.raises(wire.CannotCross, match="values"):
        wire.encode(list(range(wire.MAX_NODES + 1)))
    with pytest.raises(wire.CannotCross, match="MiB"):
        wire.encode(np.zeros(wire.MAX_ARRAY_BYTES // 8 + 1))
    with pytest.raises(wire.CannotCross, match="characters"):
        wire.encode("x" * (wire.MAX_STR_CHARS + 1))


def _npy(arr, allow_pickle=False) -> str:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize("data", [
    {"x": 1},  # unknown tag
    {"t": 1},  # a tag with the wrong body
    {"d": [[1]]},  # a malformed item
    {"d": [[[1, 2], 3]]},  # an unhashable key
    {"d": [[{"nd": _npy(np.zeros(2))}, 3]]},  # an array as a key
    {"nd": "not base64!"},
    {"nd": base64.b64encode(b"\x93NUMPY garbage").decode()},
    {"nd": _npy(np.array([object()], dtype=object), allow_pickle=True)},  # a pickle inside .npy: never loaded
    {"nd": base64.b64encode(pickle.dumps([1, 2])).decode()},
    {"nd": _npy(np.array(["text"]))},  # strings are not numeric
    {"np": _npy(np.zeros(3))},  # a "scalar" that is not 0-d
    {"a": 1, "b": 2},  # two keys
])
def test_malformed_answers_are_refused(data):
    with pytest.raises(wire.WireError):
        wire.decode(data)


def test_hostile_answers_are_bounded():
    deep: object = 1
    for _ in range(wire.MAX_DEPTH + 5):
        deep = {"t": [deep]}
    with pytest.raises(wire.WireError, match="nested"):
        wire.decode(deep)
    with pytest.raises(wire.WireError, match="values"):
        wire.decode([0] * (wire.MAX_NODES + 1))
    with pytest.raises(wire.WireError, match="characters"):
        wire.decode(["x" * (wire.MAX_STR_CHARS // 2 + 1)] * 2)
    big = _npy(np.zeros(wire.MAX_ARRAY_BYTES // 8 // 2 + 1024))
    with pytest.raises(wire.WireError, match="MiB"):
        wire.decode([{"nd": big}, {"nd": big}])


def test_decoded_values_are_the_graders_own_types():
    got = wire.decode({"d": [["a", {"t": [1, 2.5]}]]})
    assert type(got) is dict and type(got["a"]) is tuple


def test_keys_sharing_one_hash_are_refused_before_the_dict_is_built():
    import time

    m = 2**61 - 1
    started = time.monotonic()
    with pytest.raises(wire.WireError, match="one hash value"):
        wire.decode({"d": [[1 + i * m, 0] for i in range(100_000)]})
    with pytest.raises(wire.WireError, match="one hash value"):
        wire.decode({"d": [[{"t": [-1 if b == "1" else -2 for b in f"{i:016b}"]}, 0] for i in range(5000)]})
    assert time.monotonic() - started < 2


def test_lone_surrogates_become_replacement_characters():
    from grader.insandbox.wire import scrub_json

    assert wire.decode("a\ud800b") == "a\ufffdb" and wire.decode({"d": [["\udc80", 1]]}) == {"\ufffd": 1}
    assert scrub_json(b'["\\ud800", "\\ud83d\\ude00", "\\\\ud800"]') == b'["\\ufffd", "\\ud83d\\ude00", "\\\\ud800"]'


def test_an_array_header_that_does_not_match_its_data_is_refused_before_allocating():
    import base64
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**14,)})
    body = base64.b64encode(buf.getvalue() + b"\0" * 64).decode()
    for shape in [(10**14,), (2**70,)]:
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
        with pytest.raises(wire.WireError, match="unreadable array"):
            wire.decode({"nd": base64.b64encode(buf.getvalue() + b"\0" * 64).decode()})
    with pytest.raises(wire.WireError):
        wire.decode({"nd": body})


def test_what_students_return_every_day_crosses_as_plain_data():
    from collections import Counter, OrderedDict, defaultdict, namedtuple

    y = np.array([1, 1, 2])
    labels = np.array(["cat", "dog"])
    point = namedtuple("Point", "x y")
    value = {"counts": dict(zip(*np.unique(y, return_counts=True), strict=True)), "label": labels[1],
             "names": list(labels), "dd": defaultdict(int, a=1), "c": Counter("aab"),
             "od": OrderedDict(b=2), "p": point(1, 2)}
    got = wire.decode(wire.encode(value))
    assert got["counts"] == {1: 2, 2: 1} and all(type(k) is int for k in got["counts"])
    assert got["label"] == "dog" and type(got["label"]) is str and got["names"] == ["cat", "dog"]
    assert type(got["dd"]) is dict and got["dd"] == {"a": 1} and got["c"] == {"a": 2, "b": 1}
    assert type(got["od"]) is dict and got["p"] == (1, 2) and type(got["p"]) is tuple

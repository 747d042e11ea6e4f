"""The zipped-Zarr reader: the real archive reads as zarr itself reads it; any other layout is refused by name."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from grader.checks import digitsdata
from grader.checks.zarrzip import ZarrLayoutError, read_array


def _store(path: Path, name: str, array: np.ndarray, chunk: int, **meta_changes) -> Path:
    from numcodecs import blosc

    meta = {"zarr_format": 3, "node_type": "array", "shape": list(array.shape), "data_type": "uint8",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [chunk, *array.shape[1:]]}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "codecs": [{"name": "bytes"}, {"name": "blosc"}], "fill_value": 0} | meta_changes
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}/zarr.json", json.dumps(meta))
        for i in range(0, len(array), chunk):
            block = np.zeros((chunk, *array.shape[1:]), np.uint8)  # edge chunks are stored whole, as zarr does
            block[: len(array[i:i + chunk])] = array[i:i + chunk]
            key = "/".join([name, "c", str(i // chunk), *("0" * (array.ndim - 1))])
            zf.writestr(key, blosc.compress(block.tobytes(), b"zstd", 7, blosc.SHUFFLE, 1))
    return path


def test_a_store_with_a_partial_last_chunk_reads_back_exactly(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (10, 3, 4), dtype=np.uint8)
    got = read_array(_store(tmp_path / "a.zip", "x", array, chunk=4), "x")
    assert got.dtype == np.uint8 and np.array_equal(got, array)


@pytest.mark.parametrize(("change", "said"), [
    ({"data_type": "float32"}, "data_type float32"),
    ({"codecs": [{"name": "bytes"}, {"name": "zstd"}]}, "codecs ['bytes', 'zstd']"),
    ({"shape": [10, 3, 5]}, "shape [10, 3, 5] in chunks [4, 3, 4]"),
    ({"chunk_key_encoding": {"name": "v2", "configuration": {"separator": "."}}}, "not separated by '/'"),
])
def test_another_layout_is_refused_with_what_was_found(tmp_path, change, said):
    path = _store(tmp_path / "b.zip", "x", np.zeros((10, 3, 4), np.uint8), chunk=4, **change)
    with pytest.raises(ZarrLayoutError, match="b.zip!x: expected a uint8 Zarr v3 array") as e:
        read_array(path, "x")
    assert said in str(e.value)


def test_the_mnist_archive_reads_as_zarr_reads_it():
    """Our reader against zarr's own, on the archive the hidden digits come from."""
    zarr = pytest.importorskip("zarr")
    from zarr.storage import ZipStore

    path = digitsdata.mnist_archive()
    group = zarr.open_group(ZipStore(path, mode="r"), mode="r")
    for name in ("test_images", "test_labels"):
        assert np.array_equal(read_array(path, name), group[name][:]), name

"""Keras model files built byte by byte for the tests (no Keras needed): h5 writers' bytes, a dense MLP."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
from kerasfiles import write_keras2_model


def h5_bytes(tmp_path: Path, writer, *args, name="w.h5", **kw) -> bytes:
    p = tmp_path / f"{uuid.uuid4().hex}-{name}"
    writer(p, *args, **kw)
    return p.read_bytes()


def dense_config(layers, keras2=True, input_layer=False, extra=None) -> dict:
    cfg = []
    if input_layer:
        cfg.append({"class_name": "InputLayer", "config": {"batch_input_shape": [None, 784], "name": "input_1"}})
    for i, (units, act) in enumerate(layers):
        c = {"name": f"dense_{i + 1}", "units": units, "activation": act, "use_bias": True}
        if i == 0 and not input_layer:
            c["batch_input_shape"] = [None, 784]
        cfg.append({"class_name": "Dense", "config": c})
    cfg += extra or []
    return {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": cfg} if not keras2 else cfg}


def mlp_file(tmp_path, rng, units=(32, 10), acts=("relu", "softmax"), keras2=True, input_layer=False, extra=None,
             extra_weights=None):
    shapes = [784, *units]
    weights = [(f"dense_{i + 1}", [("kernel:0", rng.normal(size=(shapes[i], shapes[i + 1])).astype(np.float32)),
                                   ("bias:0", np.zeros(shapes[i + 1], np.float32))]) for i in range(len(units))]
    weights += extra_weights or []
    cfg = dense_config(list(zip(units, acts, strict=True)), keras2=keras2, input_layer=input_layer, extra=extra)
    return h5_bytes(tmp_path, write_keras2_model, weights, cfg,
                    keras_version="2.2.4" if keras2 else "2.4.0", varlen=not keras2)

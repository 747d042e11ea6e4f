"""The model server as the grader uses it: a server that dies or stops answering mid-request."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PIL import Image

from grader.core.errors import SubmissionProblem
from grader.execute import modelserver
from grader.execute.isolation.service import ServiceError, ServiceProcess


@pytest.fixture
def image_request(tmp_path, monkeypatch):
    """``(ask, ops)``: ``ask()`` decodes a PNG in the model server (numpy engine, no sandbox) while the first
    ``fail`` requests of an op (not the start-up ping) find the server dead, as a loaded machine once did."""
    png = tmp_path / "shot.png"
    Image.new("RGB", (40, 30), "white").save(png)
    ctx = SimpleNamespace(options=SimpleNamespace(isolation="none", sandbox_slot=0, model_engine="numpy"))
    real = ServiceProcess.request
    ops: list[str] = []

    def ask(fail: int, timed_out: bool = False, shared: bool = False):
        def flaky(self, cmd, timeout=30, on_event=None):
            if cmd.get("op") != "ping":
                ops.append(cmd["op"])
                if len(ops) <= fail:
                    self.close()
                    if timed_out:
                        raise ServiceError("the helper process stopped answering", timed_out=True)
                    raise ServiceError("the helper process died (exit status -9)")
            return real(self, cmd, timeout, on_event)

        monkeypatch.setattr(ServiceProcess, "request", flaky)
        cmd = {"op": "image", "path": "@img", "label": "shot.png", "max_pixels": 10**6, "max_bytes": 10**6,
               "formats": ["PNG"]}
        if shared:  # staged once per server, as the digits are: the new server stages it again
            return modelserver.model_request(ctx, cmd, {}, timeout=60, shared={"img": ("shot.png", png.read_bytes)})
        return modelserver.model_request(ctx, cmd, {"img": png}, timeout=60)

    yield ask, ops
    modelserver.close_model_server()


@pytest.mark.parametrize("shared", [False, True], ids=["file", "shared file"])
def test_a_server_that_dies_once_is_replaced_and_the_request_answered(image_request, shared):
    ask, ops = image_request
    answer, _ = ask(fail=1, shared=shared)
    assert (answer.get("width"), answer.get("height"), ops) == (40, 30, ["image", "image"]), answer


def test_a_server_that_does_not_answer_in_time_is_not_asked_again(image_request):
    """Too slow is the file's (a compute bomb of a model ran 300 s, then 300 s more when asked again)."""
    ask, ops = image_request
    with pytest.raises(SubmissionProblem, match=r"loading the model failed: the helper process stopped answering"):
        ask(fail=1, timed_out=True)
    assert ops == ["image"]


def test_a_file_that_the_server_fails_on_twice_is_the_files_fault(image_request):
    ask, ops = image_request
    with pytest.raises(SubmissionProblem, match="loading the model failed twice: the helper process died"):
        ask(fail=2)
    assert ops == ["image", "image"]


DEEP_RUNNER = """
import sys
sys.path.insert(0, sys.argv[1])
import model_server
model_server._keras()
sys.setrecursionlimit(int(sys.argv[2]))  # what 2,000 chained layers do to the default limit, with 300
model_server.main()
"""


@pytest.mark.slow  # imports Keras twice
def test_a_model_too_deep_for_keras_is_the_models_problem(tmp_path):
    """Keras walks a model's graph recursively: a chain deeper than it can follow is answered as a problem
    of the file (the student's 0, said why), not an error of the grader's graded again in every run."""
    import json
    import subprocess
    import sys

    import numpy as np
    from conftest import ROOT
    from kerasfiles import write_keras2_model

    layers = [{"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [None, 4]}}]
    weights = []
    for i in range(300):
        layers.append({"class_name": "Dense", "config": {"name": f"d{i}", "units": 4}})
        weights.append((f"d{i}", [("kernel", np.eye(4, dtype=np.float32)), ("bias", np.zeros(4, np.float32))]))
    write_keras2_model(tmp_path / "deep.h5", weights, {"class_name": "Sequential", "config": {"name": "s", "layers": layers}},
                       keras_version="3.8.0", varlen=True)
    np.save(tmp_path / "x.npy", np.zeros((3, 4), np.float32))
    cmd = {"op": "predict", "model": str(tmp_path / "deep.h5"), "label": "deep.h5", "inputs": str(tmp_path / "x.npy"),
           "out": str(tmp_path / "y.npy"), "feed": {"shape": [4], "pad": 0, "channels": 0}, "divide": 1.0, "add": 0.0}
    env = {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "MLGRADE_MODEL_ENGINE": "keras", "PATH": "/usr/bin:/bin"}

    def answer(limit: int) -> dict:
        done = subprocess.run([sys.executable, "-c", DEEP_RUNNER, str(ROOT / "grader" / "insandbox"), str(limit)],
                              input=json.dumps(cmd) + "\n", capture_output=True, text=True, env=env, timeout=300)
        return json.loads(done.stdout.splitlines()[-1])

    assert answer(250)["problem"] == "the model is too deep to build (its layers nest deeper than Keras can follow)"
    assert answer(3000)["shape"] == [3, 4]  # the same file, with room to recurse: built and run

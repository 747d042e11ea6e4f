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

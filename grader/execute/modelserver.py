"""The grader's side of the model server: one sandboxed Keras process per worker, reused.

Student ``.h5`` files and images are *staged* (a read-only folder only the grader
writes, fresh unpredictable name per request), the server answers with plain JSON,
and any file an op writes in its request folder (``"@job/..."``) comes back inside
that JSON (base64) and is written by the grader into a folder no sandbox can see.
TensorFlow/Keras is never imported in the grader process itself.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader.core import progress
from grader.core.errors import SubmissionProblem
from grader.core.portable import create_file
from grader.execute.isolation import ROLE_MODELS, Limits, ServiceSpec, backend
from grader.execute.isolation.service import ServiceError, ServiceProcess
from grader.execute.isolation.staging import Staged

MODEL_MEMORY = 6 * 1024**3
MODEL_TMP = 256 * 1024**2
MODEL_TASKS = 512  # XLA's thread pools grow with the machine's cores
# Replace the server once it holds this much: compiled programs of past students' architectures
# accumulate; a fresh server costs a few seconds, about once every 40 distinct architectures.
RESTART_ABOVE = int(os.environ.get("MLGRADE_MODEL_RSS_LIMIT", str(1024**3)))

_SERVER: ModelServer | None = None


class ModelServer:
    def __init__(self, isolation: str, slot: int, engine: str = ""):
        be = backend(isolation)
        env = {
            "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3",
            "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
            # Keras writes on import, and each request gets a folder for its output files: keep both in
            # the service's own scratch (bubblewrap: its bounded /tmp).
            "TMPDIR": "{scratch}", "KERAS_HOME": "{scratch}/.keras",
            "MLGRADE_LIMITS": Limits(memory_bytes=MODEL_MEMORY, cpu_seconds=10**6,
                                     processes=256 if be.dedicated_uid else None).env_value(),
        }
        if forced := os.environ.get("MLGRADE_MODEL_ENGINE") or engine:  # keras or numpy (model_server._engine)
            env["MLGRADE_MODEL_ENGINE"] = forced
        self.isolation = isolation
        self.engine = engine
        self.slot = slot
        self.retiring = False
        self.service: ServiceProcess = be.start_service(
            ServiceSpec("model_server.py", slot, ROLE_MODELS, env=env, tmp_bytes=MODEL_TMP,
                        memory_bytes=MODEL_MEMORY + MODEL_TMP, tasks=MODEL_TASKS))
        self._shared: Staged | None = None
        self._shared_names: dict[str, str] = {}

    def alive(self) -> bool:
        return self.service.alive()

    def close(self) -> None:
        self.service.close()

    def shared_file(self, name: str, make_bytes) -> str:
        """A file the server reads across requests (the hidden digits), staged once; its inside path."""
        if name not in self._shared_names:
            staging = self.service.staging
            if self._shared is None:
                self._shared = staging.new_dir()
            self._shared_names[name] = staging.put_bytes(self._shared, name, make_bytes())
        return self._shared_names[name]


def close_model_server() -> None:
    """Stop this process's model server (and remove its folders), if one is running."""
    global _SERVER
    if _SERVER is not None:
        _SERVER.close()
        _SERVER = None


def get_model_server(isolation: str, slot: int, engine: str = "") -> ModelServer:
    global _SERVER
    s = _SERVER
    if (s is None or not s.alive() or s.isolation != isolation or s.slot != slot or s.engine != engine
            or s.retiring):
        if s is not None:
            s.close()

        progress.say("starting the model server (it reads model files and images, sandboxed)")
        try:
            s = _SERVER = ModelServer(isolation, slot, engine)
        except ServiceError as e:
            _SERVER = None
            raise RuntimeError(f"the model server did not start ({e})") from None
        atexit.register(s.close)
    return s


def model_request(ctx, cmd: dict[str, Any], files: dict[str, Path], timeout: float = 120,
                  shared: dict[str, tuple[str, Callable[[], bytes]]] | None = None) -> tuple[dict, Path]:
    """Stage ``files`` (key -> file), send ``cmd`` with ``"@key"`` replaced by each staged path, and
    return ``(answer, folder)``: the folder (private to the grader) holds the files the op wrote as
    ``"@job/name"``; the caller removes it. ``shared``: ``"@key"`` -> ``(name, make_bytes)``, a file every request
    of the server reads (the evaluation digits), staged once per server.

    A server that dies mid-request is replaced and asked once more: the machine may be at fault (a grading run
    on a loaded machine once lost three of a sample's questions this way, graded as the student's zeros); a file
    that kills it twice is the file's fault, and so is one it does not answer within ``timeout`` (a model too
    slow to run: asking again would double its cost)."""
    for tries_left in (1, 0):
        server = get_model_server(ctx.options.isolation, ctx.options.sandbox_slot, ctx.options.model_engine)
        staging = server.service.staging
        folder = staging.new_dir()
        try:
            inside = {key: staging.put_file(folder, f"{i}-{_safe(path.name)}", path)
                      for i, (key, path) in enumerate(files.items())}
            inside.update({key: server.shared_file(name, make) for key, (name, make) in (shared or {}).items()})
            payload = _fill(cmd, inside)
            try:
                answer = server.service.request(payload, timeout=timeout)
                break
            except ServiceError as e:
                server.close()
                if e.timed_out:
                    raise SubmissionProblem(f"loading the model failed: {e} (too large or too slow?)") from None
                if not tries_left:
                    raise SubmissionProblem(f"loading the model failed twice: {e} (too large?)") from None
                progress.say(f"the model server failed ({e}): starting a new one, once")
        finally:
            staging.remove(folder)
    if int(answer.get("rss", 0) or 0) > RESTART_ABOVE:
        server.retiring = True  # replaced at the next request
    if "error" in answer:
        raise RuntimeError(f"model server: {str(answer['error'])[:500]}")
    job = staging.private_dir()
    returned = answer.pop("_files", None)
    for name, data in (returned.items() if isinstance(returned, dict) else []):
        if not isinstance(name, str) or not isinstance(data, str) or _safe(name) != name:
            continue
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            continue
        fd = create_file(job / name, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
    return answer, job


def _safe(name: str) -> str:
    out = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:80]
    return out.lstrip(".") or "file"


def _fill(value: Any, inside: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("@") and not value.startswith("@job"):
        key, _, rest = value[1:].partition("/")
        return inside[key] + (f"/{rest}" if rest else "")
    if isinstance(value, list):
        return [_fill(v, inside) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, inside) for k, v in value.items()}
    return value

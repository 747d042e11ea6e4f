"""The grader's side of the model server: one sandboxed Keras process per worker, reused.

Student ``.h5`` files and images are copied into a fresh folder the server can
see, the server answers with plain JSON (and ``.npy`` loaded without pickle),
and the folder is removed afterwards. TensorFlow/Keras is never imported in the
grader process itself.
"""

from __future__ import annotations

import atexit
import os
import shutil
from pathlib import Path
from typing import Any

from grader.registry import SubmissionProblem
from grader.sandbox import ROLE_MODELS, Limits, ServiceProcess, sandbox_uid

INSANDBOX = Path(__file__).resolve().parent / "insandbox"
INSIDE = "/mlgrade/insandbox"
MODEL_MEMORY = 6 * 1024**3
# Replace the server once it holds this much: compiled programs of past students' architectures
# accumulate; a fresh server costs a few seconds, about once every 40 distinct architectures.
RESTART_ABOVE = int(os.environ.get("MLGRADE_MODEL_RSS_LIMIT", str(1024**3)))

_SERVER: ModelServer | None = None


class ModelServer(ServiceProcess):
    def __init__(self, isolation: str, uid: int):
        env = {
            "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3",
            "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
            "MLGRADE_LIMITS": Limits(memory_bytes=MODEL_MEMORY, cpu_seconds=10**6,
                                     processes=256 if isolation == "bwrap" and os.geteuid() == 0 else None).env_value(),
        }
        script = f"{INSIDE}/model_server.py" if isolation == "bwrap" else str(INSANDBOX / "model_server.py")
        env["KERAS_HOME"] = "{jobs_root}/.keras"  # Keras writes there on import: keep it in our folder
        self.retiring = False
        super().__init__(script, isolation, uid, env, ro_binds=[(str(INSANDBOX), INSIDE)])

    def shared_dir(self):
        """A folder the server reads across requests (the hidden digits, written once)."""
        d = self.jobs_root / "shared"
        d.mkdir(exist_ok=True)
        return d


def get_model_server(isolation: str, slot: int) -> ModelServer:
    global _SERVER
    uid = sandbox_uid(slot, ROLE_MODELS)
    s = _SERVER
    if s is None or not s.alive() or s.isolation != isolation or s.uid != uid or s.retiring:
        if s is not None:
            s.close()
        try:
            s = _SERVER = ModelServer(isolation, uid)
        except RuntimeError as e:
            raise RuntimeError(f"the model server did not start ({e})") from None
        atexit.register(s.close)
    return s


def model_request(ctx, cmd: dict[str, Any], files: dict[str, Path], timeout: float = 120) -> tuple[dict, Path]:
    """Copy ``files`` (key -> file) into a fresh server folder, send ``cmd`` with ``"@key"`` replaced by
    each copy's path (``"@job"``: the folder itself), and return ``(answer, folder)``; the caller
    removes the folder."""
    server = get_model_server(ctx.options.isolation, ctx.options.sandbox_slot)
    job = server.new_job_dir()
    inside: dict[str, str] = {"job": str(job)}
    for key, path in files.items():
        target = job / f"{len(inside) - 1}-{path.name}"
        shutil.copyfile(path, target)
        inside[key] = str(target)
    payload = _fill(cmd, inside)
    try:
        answer = server.request(payload, timeout=timeout)
    except RuntimeError as e:
        shutil.rmtree(job, ignore_errors=True)
        raise SubmissionProblem(f"loading the model failed: {e} (too large or too slow?)") from None
    if int(answer.get("rss", 0)) > RESTART_ABOVE:
        server.retiring = True  # replaced at the next request, once the caller has read this one's files
    if "error" in answer:
        shutil.rmtree(job, ignore_errors=True)
        raise RuntimeError(f"model server: {answer['error']}")
    return answer, job


def _fill(value: Any, inside: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("@"):
        key, _, rest = value[1:].partition("/")
        return inside[key] + (f"/{rest}" if rest else "")
    if isinstance(value, list):
        return [_fill(v, inside) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, inside) for k, v in value.items()}
    return value

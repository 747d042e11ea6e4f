"""The model server's two inference engines side by side: Keras on JAX (grading) and numpy (the light
student install), on the same model files and digits.

    python scripts/engines.py compare [FILE.h5|ZIP ...]   # default: tests/data/models + shared/realmodels
    python scripts/engines.py bench                       # CPU time of predict, 1,000 public digits

Each engine is a model server process (``grader/insandbox/model_server.py``) driven over its JSON
protocol, outside any sandbox; the numpy one runs with Keras, JAX and TensorFlow made unimportable,
as on a student's machine that never installed them. Tests use :class:`Server` and :func:`compare`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "grader" / "insandbox" / "model_server.py"
REALMODELS = ROOT.parent / "shared" / "realmodels"  # shared/ beside the checkout (README of shared/)
if not REALMODELS.is_dir():  # a git worktree one level further down
    REALMODELS = ROOT.parent.parent / "shared" / "realmodels"
BLOCKED = ("keras", "jax", "jaxlib", "tensorflow", "tf_keras")

# Run in the numpy server before model_server.py: what a student's install without Keras looks like,
# and, at exit, the modules that were loaded (to prove none of them came in by another route).
_BLOCKER = """
import atexit, json, os, runpy, sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: the light install)")
        return None
sys.meta_path.insert(0, _Blocked())
def _dump():
    with open(os.environ['MLGRADE_TEST_MODULES'], 'w') as f:
        json.dump(sorted(sys.modules), f)
atexit.register(_dump)
sys.argv = [{server!r}]
runpy.run_path({server!r}, run_name='__main__')
"""


class Server:
    """A model server process on one engine: ``"keras"``, ``"numpy"`` (forced) or ``"light"`` (no engine
    forced, Keras and JAX unimportable: the server must choose numpy by itself)."""

    def __init__(self, engine: str):
        self.engine = engine
        self.modules_file = Path(tempfile.mkstemp(prefix="mlgrade-modules-", suffix=".json")[1])
        env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3",
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
               "MLGRADE_TEST_MODULES": str(self.modules_file)}
        env.pop("MLGRADE_MODEL_ENGINE", None)
        env.pop("MLGRADE_LIMITS", None)
        if engine in ("keras", "numpy"):
            env["MLGRADE_MODEL_ENGINE"] = engine
        argv = [sys.executable, str(SERVER)] if engine == "keras" else [
            sys.executable, "-c", _BLOCKER.format(blocked=BLOCKED, server=str(SERVER))]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=env, cwd=str(ROOT))

    def request(self, cmd: dict) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.engine} model server ended")
        return json.loads(line)

    def cpu(self) -> float:
        """CPU seconds (user + system) the server has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> list[str]:
        """Stop the server; the modules it had loaded (servers started with the blocker only)."""
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)
        try:
            text = self.modules_file.read_text()
            return json.loads(text) if text else []
        finally:
            self.modules_file.unlink(missing_ok=True)


def digits(folder: Path, every: int = 1) -> tuple[Path, np.ndarray]:
    """The grader's digits (every ``every``-th of the hidden set, then all of the public 1,000 a self-check scores
    on) as one raw 0-255 ``.npy``, and their labels."""
    from grader.checks import digitsdata

    hidden, public = digitsdata.mnist_hidden(), digitsdata.mnist_public()
    path = folder / "digits.npy"
    np.save(path, np.concatenate([hidden.images[::every], public.images]), allow_pickle=False)
    return path, np.concatenate([hidden.labels[::every], public.labels])


def model_file(source: Path, folder: Path) -> Path:
    """A model file itself, or the one model file inside a real-models zip (extracted to ``folder``)."""
    if source.suffix != ".zip":
        return source
    with zipfile.ZipFile(source) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        name = next((n for n in names if n.endswith((".h5", ".keras"))), names[0])
        target = folder / source.stem / Path(name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(zf.read(name))
    return target


def predict_cmd(path: Path, inputs: Path, out: Path, server: Server) -> dict:
    """The grader's ``predict`` command for a digit model (its feed from the file's input shape); a file
    that takes no digits, or that cannot be read, is fed (28, 28, 1), which both engines must refuse alike."""
    from grader.checks.modelinputs import Feed, FeedProblem, digit_feed

    info = server.request({"op": "inspect", "path": str(path), "want": "model"})
    try:
        feed = digit_feed(info["info"].get("input_shape") if "info" in info else None, True)
    except FeedProblem:
        feed = Feed((28, 28, 1), channels=1)
    return {"op": "predict", "model": str(path), "label": path.name, "inputs": str(inputs), "out": str(out),
            "feed": feed.to_cmd(), "divide": 255.0, "add": 0.0, "sample": list(range(0, 400, 4)),
            "alternatives": [{"name": "raw", "divide": 1.0, "add": 0.0}]}


def compare(path: Path, inputs: Path, labels: np.ndarray, keras: Server, light: Server, folder: Path) -> dict:
    """Both engines' ``predict`` on one file: their answers, and how far the outputs are apart."""
    folder.mkdir(parents=True, exist_ok=True)
    cmd = predict_cmd(path, inputs, folder / "k.npy", keras)
    ka = keras.request(cmd)
    na = light.request({**cmd, "out": str(folder / "n.npy")})
    result: dict = {"keras": ka, "numpy": na}
    if "problem" in ka or "error" in ka or "problem" in na or "error" in na:
        return result
    yk, yn = np.load(folder / "k.npy"), np.load(folder / "n.npy")
    result["shape"] = list(yk.shape)
    if yk.shape != yn.shape:
        return result
    scale = float(np.max(np.abs(yk))) or 1.0
    pk, pn = yk.reshape(len(yk), -1).argmax(1), yn.reshape(len(yn), -1).argmax(1)
    result.update(max_diff=float(np.max(np.abs(yk - yn))), scale=scale, same_argmax=float(np.mean(pk == pn)),
                  acc_keras=float(np.mean(pk == labels)), acc_numpy=float(np.mean(pn == labels)))
    return result


def default_sources() -> list[Path]:
    files = sorted((ROOT / "tests" / "data" / "models").glob("*.h5"))
    if REALMODELS.is_dir():
        files += sorted(REALMODELS.glob("*/*.zip"))
    return files


def main_compare(sources: list[Path]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        inputs, labels = digits(Path(tmp))
        keras, light = Server("keras"), Server("light")
        try:
            for source in sources:
                path = model_file(source, Path(tmp) / "files")
                r = compare(path, inputs, labels, keras, light, Path(tmp) / "out" / source.stem)
                name = f"{source.parent.name}/{source.name}"
                if "max_diff" in r:
                    print(f"{name:45} max|diff| {r['max_diff']:.2e} (outputs up to {r['scale']:.3g}), same argmax "
                          f"{r['same_argmax']:.4%}, accuracy {r['acc_keras']:.4%} / {r['acc_numpy']:.4%}")
                else:
                    said = {k: (r[k].get("problem") or r[k].get("error") or "ok")[:70] for k in ("keras", "numpy")
                            if k in r}
                    print(f"{name:45} {said}")
        finally:
            keras.close()
            light.close()


BENCH = {"mlp": "k3_seq_mlp.h5", "cnn": "k3_func_cnn.h5"}


def main_bench(runs: int = 5) -> None:
    """CPU seconds of the server for ``predict`` on the 1,000 public digits: first call (Keras compiles)
    and the median of later ones, per engine."""
    import statistics

    from grader.checks import digitsdata

    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "public.npy"
        np.save(inputs, digitsdata.mnist_public().images, allow_pickle=False)
        for engine in ("keras", "light"):
            server = Server(engine)
            try:
                for label, name in BENCH.items():
                    path = ROOT / "tests" / "data" / "models" / name
                    cmd = predict_cmd(path, inputs, Path(tmp) / "y.npy", server)
                    cmd.pop("alternatives")
                    times = []
                    for _ in range(runs):
                        c = server.cpu()
                        answer = server.request(cmd)
                        assert "shape" in answer, answer
                        times.append(server.cpu() - c)
                    print(f"{engine:>6} {label:4} ({name}): first {times[0] * 1000:.0f} ms CPU, then median "
                          f"{statistics.median(times[1:]) * 1000:.0f} ms CPU")
                cmd = course_cnn_classify(Path(tmp))
                times = []
                for _ in range(runs):
                    c = server.cpu()
                    assert "outputs" in server.request(cmd)
                    times.append(server.cpu() - c)
                print(f"{engine:>6} course CNN classify 4 photos: first {times[0] * 1000:.0f} ms CPU, then median "
                      f"{statistics.median(times[1:]) * 1000:.0f} ms CPU")
            finally:
                server.close()


def course_cnn_classify(folder: Path) -> dict:
    """``classify`` of alice's four photos by the course CNN (150x150x3, 1.2 M weights), random weights."""
    import yaml
    from kerasfiles import course_cnn_layers, write_keras2_weights

    spec = yaml.safe_load((ROOT / "rubrics" / "hw4" / "architectures.yaml").read_text())["cats_vs_dogs_cnn"]
    layers = [{"class_name": s["kind"], "config": {k: v for k, v in s.items() if k != "kind"}} for s in spec["layers"]]
    weights = folder / "weights.h5"
    write_keras2_weights(weights, course_cnn_layers(np.random.default_rng(0)))
    with zipfile.ZipFile(ROOT / "submissions" / "alice_complete.zip") as zf:
        zf.extractall(folder / "alice")
    images = sorted(str(p) for p in (folder / "alice").rglob("*.jpg"))[:4]
    return {"op": "classify", "weights": str(weights), "layers": layers, "input_shape": spec["input_shape"],
            "images": images, "size": [150, 150], "scale": 255}


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "scripts"))
    if len(sys.argv) > 1 and sys.argv[1] == "bench":
        main_bench()
    else:
        main_compare([Path(a) for a in sys.argv[2:]] or default_sources())

"""Build the sample submissions in ``submissions/`` from ``reference/`` code and seeded data.

    python scripts/make_submissions.py [OUT_DIR]

Every byte is a function of the seeds below, so running it twice gives the same
zips. Each student shows something a grader must handle:

- ``alice_complete``: every file, correct, inside a top-level folder with Mac junk;
- ``bob_partial``: missing and misnamed files, one hand value off by 0.1;
- ``carol_broken``: a PNG renamed .h5, truncated images, a notebook that is not
  JSON, an equation that tries code injection, a zip-slip and a symlink entry;
- ``dave_not_a_zip``: a PDF renamed ``.zip``;
- ``erin_hardcoded``, ``frank_buggy``, ``grace_crash``, ``heidi_loop``: a backprop notebook
  that prints the right numbers but hard-codes them, forgets a sigmoid derivative,
  kills its own kernel, or never returns;
- ``ivan_colab``: complete, with Colab-style notebooks (Drive mount, ``!pip``, magics).
"""

from __future__ import annotations

import io
import json
import stat
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from kerasfiles import course_cnn_layers, write_keras2_weights, write_keras3_weights  # noqa: E402
from synth import draw_animal, draw_screenshot  # noqa: E402

from reference import backprop as ref_bp  # noqa: E402
from reference import xor as ref_xor  # noqa: E402

ZIP_TIME = (2026, 1, 1, 0, 0, 0)

XOR_CODE = '''import numpy as np

def sigmoid(x):
    return 1.0/(1+ np.exp(-x))

def sigmoid_derivative(x):
    return x * (1.0 - x)

class NeuralNetwork:
    def __init__(self, x, y):
        self.input      = x
        self.weights1   = np.random.rand(self.input.shape[1],4)
        self.weights2   = np.random.rand(4,1)
        self.y          = y
        self.output     = np.zeros(self.y.shape)

    def feedforward(self):
        self.layer1 = sigmoid(np.dot(self.input, self.weights1))
        self.output = sigmoid(np.dot(self.layer1, self.weights2))

    def backprop(self):
        d_weights2 = np.dot(self.layer1.T, (2*(self.y - self.output) * sigmoid_derivative(self.output)))
        d_weights1 = np.dot(self.input.T, (np.dot(2*(self.y - self.output) * sigmoid_derivative(self.output), self.weights2.T) *
                                         sigmoid_derivative(self.layer1)))
        self.weights1 += d_weights1
        self.weights2 += d_weights2

if __name__ == "__main__":
    X = np.array([[0,0,1],
                  [0,1,1],
                  [1,0,1],
                  [1,1,1]])
    y = np.array([[0],[1],[1],[0]])
    nn = NeuralNetwork(X,y)

    for i in range(10000):
        nn.feedforward()
        nn.backprop()

    print(nn.weights1) # 'blue' layer [hidden]
    print(nn.weights2) # 'green' layer [output]
    nn.feedforward()
    print(nn.output) # predictions
'''

BACKPROP_CELLS = [
    "import numpy as np\nimport pprint\npp = pprint.PrettyPrinter(indent=4)",
    "np.random.seed(0) # don't change this\nweights = {\n    'W1': np.random.randn(3, 2),\n"
    "    'b1': np.zeros(3),\n    'W2': np.random.randn(3),\n    'b2': 0,\n}\n"
    "X = np.random.rand(1000,2)\nY = np.random.randint(low=0, high=2, size=(1000,))",
    "def sigmoid(z):\n    return 1/(1 + np.exp(-z))",
    "def forward_propagation(X, weights):\n    Z1 = np.dot(X, weights['W1'].T) + weights['b1']\n"
    "    H = sigmoid(Z1)\n    Z2 = np.dot(H, weights['W2'].T) + weights['b2']\n    Y = sigmoid(Z2)\n"
    "    return Y, Z2, H, Z1",
    "def back_propagation(X, Y_T, weights):\n    N_points = X.shape[0]\n"
    "    Y, Z2, H, Z1 = forward_propagation(X, weights)\n"
    "    L = (1/(2*N_points)) * np.sum(np.square(Y - Y_T))\n"
    "    dLdY = 1/N_points * (Y - Y_T)\n"
    "    dLdZ2 = np.multiply(dLdY, (sigmoid(Z2)*(1-sigmoid(Z2))))\n"
    "    dLdW2 = np.dot(H.T, dLdZ2)\n"
    "    ones = np.ones((N_points))\n"
    "    dLdb2 = np.dot(ones.T, dLdZ2)\n"
    "    dLdH = np.dot(dLdZ2.reshape(-1,1), weights['W2'].reshape(-1,1).T)\n"
    "    dLdZ1 = np.multiply(dLdH, (sigmoid(Z1)*(1-sigmoid(Z1))))\n"
    "    dLdW1 = np.dot(X.T, dLdZ1)\n"
    "    dLdb1 = np.dot(ones.T, dLdZ1)\n"
    "    gradients = {'W1': dLdW1, 'b1': dLdb1, 'W2': dLdW2, 'b2': dLdb2}\n"
    "    return gradients, L",
    "gradients, L = back_propagation(X, Y, weights)\nprint(L)",
    "pp.pprint(gradients)",
]


# --------------------------------------------------------------------------- pieces

def jpeg(im, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(im) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def stream(text: str):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def notebook(cells: list[tuple[str, str, list]]) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    for i, (kind, src, outputs) in enumerate(cells):
        if kind == "md":
            cell = nbformat.v4.new_markdown_cell(src)
        else:
            cell = nbformat.v4.new_code_cell(src, execution_count=i + 1, outputs=outputs)
        cell["id"] = f"cell-{i}"
        nb.cells.append(cell)
    return (json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def xor_notebook(w1, w2, out) -> bytes:
    printed = f"{w1}\n{w2}\n{out}\n"
    return notebook([("md", "# HW4 Q4: a 3-4-1 network learns XOR", []), ("code", XOR_CODE, [stream(printed)])])


def xor_equation(w1, w2, digits: int = 8) -> str:
    def num(v):
        return f"{v:.{digits}f}"

    hidden = []
    for j in range(4):
        terms = " + ".join(f"{num(w1[i, j])}*X{i + 1}" for i in range(3)).replace("+ -", "- ")
        hidden.append(f"{num(w2[j, 0])}*sigmoid({terms})")
    return "Y = sigmoid(" + " + ".join(hidden).replace("+ -", "- ") + ")\n"


def xor_hand(values) -> str:
    return "".join(f"{lab}: {v:.6f}\n" for lab, v in zip(ref_xor.INPUT_LABELS, values, strict=True))


COLAB_HEADER = [
    "from google.colab import drive\ndrive.mount('/content/drive')",
    "!pip install numpy\n%tensorflow_version 2.x\n%matplotlib inline\nimport matplotlib.pyplot as plt",
]

HARDCODED_BACKPROP = (
    "def back_propagation(X, Y_T, weights):\n"
    "    # the printed answer, whatever the input\n"
    "    gradients = {'W1': np.array([[0.00244596, -0.00030765, -0.00034768], [0.00262019, -0.00024188, -0.000372]]),\n"
    "                 'b1': np.array([0.00492577, -0.00058023, -0.00065977]),\n"
    "                 'W2': np.array([0.02216011, 0.02433097, 0.01797174]), 'b2': 0.029249230265318685}\n"
    "    return gradients, 0.1332476222330792"
)


def backprop_notebook(variant: str = "correct") -> bytes:
    """The AML notebook as students hand it in; ``variant`` picks what is wrong with it."""
    weights, X, Y = ref_bp.seed0_problem()
    grads, L = ref_bp.back_propagation(X, Y, weights)
    printed = {"W1": grads["W1"].T, "W2": grads["W2"], "b1": grads["b1"], "b2": grads["b2"]}
    import pprint

    pp = pprint.pformat(printed, indent=4)
    sources = list(BACKPROP_CELLS)
    if variant == "hardcoded":
        sources[4] = HARDCODED_BACKPROP
    elif variant == "buggy":  # forgets the sigmoid derivative on the hidden layer
        sources[4] = sources[4].replace("np.multiply(dLdH, (sigmoid(Z1)*(1-sigmoid(Z1))))", "dLdH")
    elif variant == "loop":  # a while loop that never ends, inside the function
        sources[4] = sources[4].replace("    N_points = X.shape[0]\n", "    N_points = X.shape[0]\n    while N_points > 0:\n        pass\n")
    elif variant == "crash":  # kills its own kernel after defining everything
        sources.insert(5, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    elif variant == "colab":
        sources = COLAB_HEADER + sources
    assert variant in ("correct", "hardcoded", "buggy", "loop", "crash", "colab")
    cells = [("md", "# AML HW4 part 1: forward and backward pass", [])]
    for src in sources:
        outs = []
        if src.endswith("print(L)"):
            outs = [stream(f"{L!r}\n")]
        elif src.startswith("pp.pprint"):
            outs = [stream(pp + "\n")]
        cells.append(("code", src, outs))
    return notebook(cells)


TRAINED = HERE / "data" / "cats_dogs_cnn.npz"  # made by scripts/train_cats_dogs.py


def trained_layers(tf_names: bool = False, activation_layers: bool = True):
    """The course CNN's layer list (named as that Keras version did) holding the trained weights."""
    layers = course_cnn_layers(np.random.default_rng(0), tf_names=tf_names, activation_layers=activation_layers)
    with np.load(TRAINED) as data:
        arrays = [data[f"arr_{i}"] for i in range(10)]
    it = iter(arrays)
    return [(name, [(wname, next(it)) for wname, _ in weights]) for name, weights in layers]


def weights_h5(layout: str = "keras2") -> bytes:
    """``keras2``: Keras 2.2 save_weights with Activation layers (the course's training script);
    ``tf24``: tf.keras 2.4 names and variable-length strings; ``keras3``: a Keras 3 .weights.h5."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "weights.h5"
        if layout == "keras2":
            write_keras2_weights(p, trained_layers())
        elif layout == "tf24":
            write_keras2_weights(p, trained_layers(tf_names=True, activation_layers=False),
                                 keras_version="2.4.0", varlen=True)
        else:
            write_keras3_weights(p, [(n, w) for n, w in trained_layers(tf_names=True, activation_layers=False) if w])
        return p.read_bytes()


def hdfview_png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    lines = ["     bias:0            kernel:0"] + [
        f"{i:3d}  {f'{rng.normal(0, 0.3):.8f}' if i == 0 else '':>12}   {rng.normal(0, 0.1):.8f}"
        for i in range(20)
    ]
    return png(draw_screenshot("HDFView 2.14 - /dense_2/dense_2/ [weights.h5]", lines, seed=seed))


def classify_png(names_and_outputs: list[tuple[str, int]], seed: int) -> bytes:
    lines = ["In [3]: print(model.predict_classes(img))"]
    for name, out in names_and_outputs:
        lines += [f"  {name}", f"  [[{out}]]"]
    return png(draw_screenshot("classify.ipynb - Colaboratory", lines, seed=seed))


# --------------------------------------------------------------------------- zips

def write_zip(path: Path, entries: list[tuple[str, bytes]], symlinks: dict[str, str] | None = None) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            zf.writestr(info, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            info.create_system = 3
            zf.writestr(info, target)


def complete_files(seed: int, layout: str = "keras2", digits: str = "cnn") -> dict[str, bytes]:
    w1, w2, out = ref_xor.train(seed)
    return {
        "digits.h5": (HERE / "data" / f"digits_{digits}.h5").read_bytes(),  # made by scripts/train_digits.py
        "weights.weights.h5" if layout == "keras3" else "weights.h5": weights_h5(layout),
        "hdfview.png": hdfview_png(seed),
        "what1.jpg": jpeg(draw_animal("cat", seed * 10 + 1)),
        "what2.jpg": jpeg(draw_animal("dog", seed * 10 + 2)),
        "classify.png": classify_png([("what1.jpg", 0), ("what2.jpg", 1)], seed),
        "trick_cat.jpg": jpeg(draw_animal("cat", seed * 10 + 3, ears="floppy")),
        "trick_dog.jpg": jpeg(draw_animal("dog", seed * 10 + 4, ears="pointy")),
        "misclassify.png": classify_png([("trick_cat.jpg", 1), ("trick_dog.jpg", 0)], seed + 1),
        "xor.ipynb": xor_notebook(w1, w2, out),
        "xor_equation.txt": xor_equation(w1, w2).encode(),
        "xor_hand.txt": xor_hand(out.ravel()).encode(),
        "backprop.ipynb": backprop_notebook(),
    }


def build(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []

    # alice: complete, in a top-level folder, with the junk macOS adds
    files = complete_files(seed=11)
    entries = [(f"HW4_alice/{n}", b) for n, b in sorted(files.items())]
    entries += [("__MACOSX/HW4_alice/._weights.h5", b"\x00\x05\x16\x07junk"), ("HW4_alice/.DS_Store", b"\x00junk")]
    made.append(out_dir / "alice_complete.zip")
    write_zip(made[-1], entries)

    # bob: partial — no screenshots, no backprop, a misnamed cat, one hand value off by 0.1
    files = complete_files(seed=22, layout="tf24", digits="mlp784")
    for gone in ("hdfview.png", "classify.png", "backprop.ipynb", "misclassify.png"):
        files.pop(gone)
    files["What 1.jpeg"] = files.pop("what1.jpg")
    w1, w2, out = ref_xor.train(22)
    hand = out.ravel().copy()
    hand[2] += 0.1
    files["xor_hand.txt"] = xor_hand(hand).encode()
    made.append(out_dir / "bob_partial.zip")
    write_zip(made[-1], sorted(files.items()))

    # carol: broken and hostile files; the rest still gets graded
    files = complete_files(seed=33)
    files["weights.h5"] = files["classify.png"]  # a PNG renamed .h5
    files["digits.h5"] = weights_h5("keras2")  # weights only, where a whole model is needed
    files["hdfview.png"] = files["hdfview.png"][: len(files["hdfview.png"]) // 2]  # truncated
    files["what2.jpg"] = files["what2.jpg"][:600]  # truncated
    cmyk = draw_animal("cat", 331).convert("CMYK")
    files["what1.jpg"] = jpeg(cmyk)  # valid, but CMYK
    files["backprop.ipynb"] = b'{"cells": [ {"cell_type": "code", "source": "print(1)"'  # not JSON
    files["xor_equation.txt"] = b"Y = __import__('os').system('touch /tmp/mlgrade-pwned')\n"
    entries = sorted(files.items()) + [("../../escape.txt", b"zip slip"), ("/tmp/mlgrade-abs.txt", b"absolute")]
    made.append(out_dir / "carol_broken.zip")
    write_zip(made[-1], entries, symlinks={"passwd_link": "/etc/passwd"})

    # one notebook each: how the backprop question treats what goes wrong in practice
    for student, variant in (("erin_hardcoded", "hardcoded"), ("frank_buggy", "buggy"),
                             ("grace_crash", "crash"), ("heidi_loop", "loop")):
        made.append(out_dir / f"{student}.zip")
        write_zip(made[-1], [("backprop.ipynb", backprop_notebook(variant))])

    # ivan: a complete submission, straight out of Colab
    files = complete_files(seed=44, layout="keras3", digits="mlp2d")
    files["backprop.ipynb"] = backprop_notebook("colab")
    made.append(out_dir / "ivan_colab.zip")
    write_zip(made[-1], sorted(files.items()))

    # dave: not a zip at all
    made.append(out_dir / "dave_not_a_zip.zip")
    made[-1].write_bytes(b"%PDF-1.4\n% a report exported from Colab, renamed .zip\n%%EOF\n")
    return made


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent / "submissions"
    for p in build(target):
        print(p, p.stat().st_size)

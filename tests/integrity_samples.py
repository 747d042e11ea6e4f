"""Independent and planted-copy work for the integrity tests: code, pictures, weights.

The backprop implementations below were written separately, each in its own style, the way
different students solve the AML HW4 part 1 (forward and backward pass of a 2-3-1 network):
a class of them must give no pair at the default thresholds. :func:`disguise` is what a student
who copies does to hide it: new names, comments and blank lines, reordered cells.
"""

from __future__ import annotations

import io
import re

STARTER_CELLS = [
    "import numpy as np\nimport pprint\npp = pprint.PrettyPrinter(indent=4)",
    "np.random.seed(0) # don't change this\nweights = {\n    'W1': np.random.randn(3, 2),\n"
    "    'b1': np.zeros(3),\n    'W2': np.random.randn(3),\n    'b2': 0,\n}\n"
    "X = np.random.rand(1000,2)\nY = np.random.randint(low=0, high=2, size=(1000,))",
]

BACKPROP_VARIANTS = [
    # 1: the handout's names, step by step
    ["def sigmoid(z):\n    return 1/(1 + np.exp(-z))",
     "def forward_propagation(X, weights):\n    Z1 = np.dot(X, weights['W1'].T) + weights['b1']\n"
     "    H = sigmoid(Z1)\n    Z2 = np.dot(H, weights['W2'].T) + weights['b2']\n    Y = sigmoid(Z2)\n"
     "    return Y, Z2, H, Z1",
     "def back_propagation(X, Y_T, weights):\n    N_points = X.shape[0]\n"
     "    Y, Z2, H, Z1 = forward_propagation(X, weights)\n"
     "    L = (1/(2*N_points)) * np.sum(np.square(Y - Y_T))\n"
     "    dLdY = 1/N_points * (Y - Y_T)\n"
     "    dLdZ2 = np.multiply(dLdY, (sigmoid(Z2)*(1-sigmoid(Z2))))\n"
     "    dLdW2 = np.dot(H.T, dLdZ2)\n    ones = np.ones((N_points))\n    dLdb2 = np.dot(ones.T, dLdZ2)\n"
     "    dLdH = np.dot(dLdZ2.reshape(-1,1), weights['W2'].reshape(-1,1).T)\n"
     "    dLdZ1 = np.multiply(dLdH, (sigmoid(Z1)*(1-sigmoid(Z1))))\n"
     "    dLdW1 = np.dot(X.T, dLdZ1)\n    dLdb1 = np.dot(ones.T, dLdZ1)\n"
     "    gradients = {'W1': dLdW1, 'b1': dLdb1, 'W2': dLdW2, 'b2': dLdb2}\n    return gradients, L",
     "gradients, L = back_propagation(X, Y, weights)\nprint(L)\npp.pprint(gradients)"],
    # 2: a class, matrix shapes kept 2-D, the sigmoid derivative from its output
    ["class TinyNet:\n    def __init__(self, params):\n        self.p = params\n\n"
     "    @staticmethod\n    def act(v):\n        return 1.0 / (1.0 + np.exp(-v))\n\n"
     "    def run(self, inputs):\n        hidden = self.act(inputs @ self.p['W1'].T + self.p['b1'])\n"
     "        out = self.act(hidden @ self.p['W2'] + self.p['b2'])\n        return hidden, out\n",
     "def back_propagation(X, Y_T, weights):\n    net = TinyNet(weights)\n    hidden, out = net.run(X)\n"
     "    n = len(X)\n    err = out - Y_T\n    loss = float((err ** 2).sum() / (2 * n))\n"
     "    g_out = err * out * (1 - out) / n\n    grad_W2 = hidden.T @ g_out\n    grad_b2 = g_out.sum()\n"
     "    g_hidden = np.outer(g_out, weights['W2']) * hidden * (1 - hidden)\n"
     "    grad_W1 = g_hidden.T @ X\n    grad_b1 = g_hidden.sum(axis=0)\n"
     "    return {'W1': grad_W1.T, 'b1': grad_b1, 'W2': grad_W2, 'b2': grad_b2}, loss",
     "grads, loss = back_propagation(X, Y, weights)\nprint('loss', loss)\nfor k, v in grads.items():\n"
     "    print(k, v)"],
    # 3: loops over the hidden units, explicit sums
    ["import math\n\ndef sig(t):\n    return 1 / (1 + np.exp(-t))",
     "def back_propagation(X, Y_T, weights):\n    W1, b1, W2, b2 = weights['W1'], weights['b1'], weights['W2'], weights['b2']\n"
     "    count = X.shape[0]\n    a1 = sig(X.dot(W1.T) + b1)\n    a2 = sig(a1.dot(W2) + b2)\n"
     "    total = 0.0\n    for i in range(count):\n        total += (a2[i] - Y_T[i]) ** 2\n"
     "    L = total / (2 * count)\n    d2 = (a2 - Y_T) * a2 * (1 - a2) / count\n"
     "    gW2 = np.zeros(3)\n    gW1 = np.zeros((2, 3))\n    gb1 = np.zeros(3)\n"
     "    for j in range(3):\n        gW2[j] = np.sum(d2 * a1[:, j])\n"
     "        d1 = d2 * W2[j] * a1[:, j] * (1 - a1[:, j])\n"
     "        gb1[j] = d1.sum()\n        gW1[0, j] = np.sum(d1 * X[:, 0])\n        gW1[1, j] = np.sum(d1 * X[:, 1])\n"
     "    return {'W1': gW1, 'b1': gb1, 'W2': gW2, 'b2': d2.sum()}, L",
     "result = back_propagation(X, Y, weights)\nprint(result[1])\npp.pprint(result[0])"],
    # 4: a generic layer list, einsum
    ["layers = [('W1', 'b1'), ('W2', 'b2')]\n\ndef logistic(x):\n    return np.exp(-np.logaddexp(0, -x))",
     "def forward(X, weights):\n    acts = [X]\n    for wname, bname in layers:\n"
     "        w = np.atleast_2d(weights[wname])\n        acts.append(logistic(np.einsum('nk,jk->nj', acts[-1], w) + weights[bname]))\n"
     "    return acts",
     "def back_propagation(X, Y_T, weights):\n    acts = forward(X, weights)\n    pred = acts[-1][:, 0]\n"
     "    m = X.shape[0]\n    L = np.mean((pred - Y_T) ** 2) / 2\n"
     "    delta = ((pred - Y_T) * pred * (1 - pred) / m)[:, None]\n    grads = {}\n"
     "    for level in (1, 0):\n        wname, bname = layers[level]\n"
     "        grads[wname] = np.einsum('nj,nk->jk', delta, acts[level])\n        grads[bname] = delta.sum(axis=0)\n"
     "        if level:\n            delta = (delta @ np.atleast_2d(weights[wname])) * acts[level] * (1 - acts[level])\n"
     "    grads['W2'] = grads['W2'][0]\n    grads['b2'] = float(grads['b2'][0])\n    grads['W1'] = grads['W1'].T\n"
     "    return grads, L",
     "g, L = back_propagation(X, Y, weights)\nprint(f'L = {L}')\nprint(g)"],
    # 5: everything in one function, vectorised, with sklearn-like naming and asserts
    ["def back_propagation(X, Y_T, weights):\n    \"\"\"Mean squared error / 2 of a 2-3-1 sigmoid net and its gradients.\"\"\"\n"
     "    assert X.ndim == 2 and X.shape[1] == 2\n"
     "    z_hidden = X @ weights['W1'].T + weights['b1']\n    h = 0.5 * (1 + np.tanh(z_hidden / 2))\n"
     "    z_out = h @ weights['W2'] + weights['b2']\n    y_hat = 0.5 * (1 + np.tanh(z_out / 2))\n"
     "    residual = y_hat - Y_T\n    n_samples = residual.shape[0]\n    L = residual @ residual / (2 * n_samples)\n"
     "    delta_out = residual * y_hat * (1.0 - y_hat) / n_samples\n"
     "    delta_hidden = delta_out[:, np.newaxis] * weights['W2'][np.newaxis, :] * h * (1.0 - h)\n"
     "    grads = dict(W2=h.T @ delta_out, b2=delta_out.sum(), W1=X.T @ delta_hidden, b1=delta_hidden.sum(0))\n"
     "    return grads, L",
     "gradients, L = back_propagation(X, Y, weights)\nassert abs(L - 0.1332476222330792) < 1e-9\nprint(L)\n"
     "print(gradients)"],
    # 6: small helpers and a dataclass for the cache
    ["from dataclasses import dataclass\n\n@dataclass\nclass Cache:\n    z1: np.ndarray\n    a1: np.ndarray\n"
     "    z2: np.ndarray\n    a2: np.ndarray",
     "def s(x):\n    return 1 / (1 + np.exp(-x))\n\ndef ds(x):\n    return s(x) * (1 - s(x))",
     "def forward_pass(X, w):\n    z1 = X @ w['W1'].T + w['b1']\n    a1 = s(z1)\n    z2 = a1 @ w['W2'] + w['b2']\n"
     "    return Cache(z1, a1, z2, s(z2))",
     "def back_propagation(X, Y_T, weights):\n    c = forward_pass(X, weights)\n    N = X.shape[0]\n"
     "    cost = np.sum((c.a2 - Y_T) ** 2) / N / 2\n    e2 = (c.a2 - Y_T) / N * ds(c.z2)\n"
     "    e1 = np.outer(e2, weights['W2']) * ds(c.z1)\n"
     "    out = {'W2': c.a1.T.dot(e2), 'b2': e2.sum(), 'W1': X.T.dot(e1), 'b1': e1.sum(axis=0)}\n"
     "    return out, cost",
     "grads, cost = back_propagation(X, Y, weights)\nprint(cost)\nfor name in ['W1', 'b1', 'W2', 'b2']:\n"
     "    print(name, np.round(grads[name], 8))"],
]

_KEEP = {"np", "numpy", "pprint", "pp", "math", "dataclass", "dataclasses", "X", "Y", "weights", "print", "range",
         "len", "dict", "float", "sum", "abs", "assert", "self", "items", "T", "shape", "ndim", "dot", "exp",
         "zeros", "ones", "outer", "einsum", "tanh", "mean", "reshape", "multiply", "square", "random", "seed",
         "randn", "rand", "randint", "newaxis", "atleast_2d", "logaddexp", "round", "staticmethod", "back_propagation",
         "axis", "low", "high", "size", "indent", "PrettyPrinter", "np.ndarray", "ndarray", "import", "from",
         "return", "def", "class", "for", "in", "if", "and", "or", "not", "is", "None", "True", "False", "as", "with",
         "lambda", "elif", "else", "while", "pass", "yield", "global", "try", "except", "raise", "del"}


def disguise(cells: list[str], suffix: str = "_mine") -> list[str]:
    """A copy made to look different: every name the student chose renamed, comments and blank lines
    added, indentation widened, the cells that only define things put in another order."""
    names = sorted({m for c in cells for m in re.findall(r"\b[A-Za-z_]\w*\b", c)} - _KEEP)
    mapping = {n: f"{n.lower()}{suffix}" for n in names}

    def rename(code: str) -> str:
        # strings keep their text (dictionary keys like 'W1' are part of the required output)
        parts = re.split(r"('[^'\n]*'|\"[^\"\n]*\")", code)
        return "".join(p if i % 2 else re.sub(r"\b[A-Za-z_]\w*\b", lambda m: mapping.get(m.group(), m.group()), p)
                       for i, p in enumerate(parts))

    out = []
    for c in cells:
        c = rename(c)
        c = c.replace("\n    ", "\n        ").replace("\n", "\n\n", 2)
        out.append("# my own solution, written from scratch\n" + c + "\n# end of cell")
    defs = [c for c in out if "def " in c or "class " in c]
    rest = [c for c in out if c not in defs]
    return defs[::-1] + rest


def notebook_bytes(code_cells: list[str], outputs: dict[int, str] | None = None) -> bytes:
    import json

    import nbformat

    nb = nbformat.v4.new_notebook()
    for i, src in enumerate(code_cells):
        outs = [nbformat.v4.new_output("stream", name="stdout", text=(outputs or {})[i])] if i in (outputs or {}) else []
        cell = nbformat.v4.new_code_cell(src, execution_count=i + 1, outputs=outs)
        cell["id"] = f"c{i}"
        nb.cells.append(cell)
    return json.dumps(nb).encode()


def jpeg_bytes(im, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png_bytes(im) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def recompressed(jpeg: bytes, scale: float = 0.7, quality: int = 60) -> bytes:
    """The same photo re-encoded and resized, as a copier's phone or chat app would."""
    from PIL import Image

    im = Image.open(io.BytesIO(jpeg)).convert("RGB")
    im = im.resize((max(1, int(im.width * scale)), max(1, int(im.height * scale))), Image.BILINEAR)
    return jpeg_bytes(im, quality)

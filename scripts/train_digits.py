"""Train an MLP and a small CNN on scikit-learn's handwritten digits; export and import them.

Data: ``sklearn.datasets.load_digits`` (1,797 8x8 images, 16 grey levels),
pixels scaled to [0, 1], a stratified 75/25 train/test split with the given
seed. Both models are trained with numpy (full-batch gradient descent with
momentum on softmax cross-entropy, fixed seed), written as ONNX graphs
(``onnx.helper``), imported with :func:`pimopt.models.onnx_import.import_onnx`
(8-bit symmetric per-tensor weights) and saved as pimopt instances. The
recorded accuracies are measured on the test split: the float model, and the
model whose weights are the quantised integers times their scale (what the
crossbars hold).

- MLP: 64 -> 32 (ReLU) -> 10.
- CNN: Conv 3x3, 8 channels, padding 1 (ReLU) -> Conv 3x3, 16 channels,
  stride 2, padding 1 (ReLU) -> flatten (16 x 4 x 4) -> 10.

Usage: python scripts/train_digits.py [--seed 0] [--out instances/trained]
Needs scikit-learn (``pip install scikit-learn``) for the data set only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from pimopt.models.onnx_import import import_onnx
from pimopt.quantize import quantize_symmetric


def softmax_xent(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    loss = float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())
    g = p
    g[np.arange(len(y)), y] -= 1
    return loss, g / len(y)


def im2col(x: np.ndarray, k: int, stride: int, pad: int) -> tuple[np.ndarray, int]:
    """(N, C, H, W) -> (N * Ho * Wo, C * k * k) in (c, kh, kw) order."""
    n, c, h, _ = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho = (h + 2 * pad - k) // stride + 1
    cols = np.empty((n, ho, ho, c, k, k))
    for i in range(k):
        for j in range(k):
            cols[:, :, :, :, i, j] = xp[:, :, i: i + stride * ho: stride,
                                        j: j + stride * ho: stride].transpose(0, 2, 3, 1)
    return cols.reshape(n * ho * ho, c * k * k), ho


def col2im(g: np.ndarray, shape: tuple[int, ...], k: int, stride: int, pad: int) -> np.ndarray:
    n, c, h, w = shape
    ho = (h + 2 * pad - k) // stride + 1
    g = g.reshape(n, ho, ho, c, k, k)
    out = np.zeros((n, c, h + 2 * pad, w + 2 * pad))
    for i in range(k):
        for j in range(k):
            out[:, :, i: i + stride * ho: stride, j: j + stride * ho: stride] += \
                g[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return out[:, :, pad: pad + h, pad: pad + w]


class MLP:
    def __init__(self, rng: np.random.Generator) -> None:
        self.p = {"w1": rng.normal(0, np.sqrt(2 / 64), (64, 32)), "b1": np.zeros(32),
                  "w2": rng.normal(0, np.sqrt(2 / 32), (32, 10)), "b2": np.zeros(10)}

    def forward(self, x: np.ndarray, p: dict[str, np.ndarray] | None = None) -> np.ndarray:
        p = p or self.p
        self.x = x.reshape(len(x), 64)
        self.h = np.maximum(self.x @ p["w1"] + p["b1"], 0)
        return self.h @ p["w2"] + p["b2"]

    def backward(self, g: np.ndarray) -> dict[str, np.ndarray]:
        gh = (g @ self.p["w2"].T) * (self.h > 0)
        return {"w2": self.h.T @ g, "b2": g.sum(0), "w1": self.x.T @ gh, "b1": gh.sum(0)}


class CNN:
    def __init__(self, rng: np.random.Generator) -> None:
        self.p = {"k1": rng.normal(0, np.sqrt(2 / 9), (8, 1, 3, 3)), "b1": np.zeros(8),
                  "k2": rng.normal(0, np.sqrt(2 / 72), (16, 8, 3, 3)), "b2": np.zeros(16),
                  "w3": rng.normal(0, np.sqrt(2 / 256), (256, 10)), "b3": np.zeros(10)}

    def forward(self, x: np.ndarray, p: dict[str, np.ndarray] | None = None) -> np.ndarray:
        p = p or self.p
        n = len(x)
        self.x = x.reshape(n, 1, 8, 8)
        self.c1, _ = im2col(self.x, 3, 1, 1)
        a1 = self.c1 @ p["k1"].reshape(8, 9).T + p["b1"]
        self.r1 = np.maximum(a1, 0)
        self.h1 = self.r1.reshape(n, 8, 8, 8).transpose(0, 3, 1, 2)
        self.c2, _ = im2col(self.h1, 3, 2, 1)
        a2 = self.c2 @ p["k2"].reshape(16, 72).T + p["b2"]
        self.r2 = np.maximum(a2, 0)
        # flatten in NCHW order, as ONNX Flatten does
        self.f = self.r2.reshape(n, 4, 4, 16).transpose(0, 3, 1, 2).reshape(n, 256)
        return self.f @ p["w3"] + p["b3"]

    def backward(self, g: np.ndarray) -> dict[str, np.ndarray]:
        n = len(g)
        gf = g @ self.p["w3"].T
        gr2 = gf.reshape(n, 16, 4, 4).transpose(0, 2, 3, 1).reshape(n * 16, 16) * (self.r2 > 0)
        gk2 = (gr2.T @ self.c2).reshape(16, 8, 3, 3)
        gc2 = gr2 @ self.p["k2"].reshape(16, 72)
        gh1 = col2im(gc2, (n, 8, 8, 8), 3, 2, 1)
        gr1 = gh1.transpose(0, 2, 3, 1).reshape(n * 64, 8) * (self.r1 > 0)
        gk1 = (gr1.T @ self.c1).reshape(8, 1, 3, 3)
        return {"w3": self.f.T @ g, "b3": g.sum(0), "k2": gk2, "b2": gr2.sum(0),
                "k1": gk1, "b1": gr1.sum(0)}


def train(model: MLP | CNN, x: np.ndarray, y: np.ndarray, epochs: int, lr: float) -> None:
    vel = {k: np.zeros_like(v) for k, v in model.p.items()}
    for _ in range(epochs):
        _, g = softmax_xent(model.forward(x), y)
        grads = model.backward(g)
        for k in model.p:
            vel[k] = 0.9 * vel[k] - lr * grads[k]
            model.p[k] += vel[k]


def accuracy(model: MLP | CNN, x: np.ndarray, y: np.ndarray,
             p: dict[str, np.ndarray] | None = None) -> float:
    return float((model.forward(x, p).argmax(axis=1) == y).mean())


def quantised(p: dict[str, np.ndarray], bits: int) -> dict[str, np.ndarray]:
    """Weights replaced by their symmetric per-tensor quantisation (biases stay float)."""
    out = {}
    for k, v in p.items():
        if v.ndim >= 2:
            mat = v.reshape(v.shape[0], -1)
            q, s = quantize_symmetric(mat, bits=bits)
            out[k] = (q * s).reshape(v.shape)
        else:
            out[k] = v
    return out


def export(model: MLP | CNN, path: Path) -> None:
    p = {k: v.astype(np.float32) for k, v in model.p.items()}
    if isinstance(model, MLP):
        nodes = [helper.make_node("Flatten", ["x"], ["f"]),
                 helper.make_node("Gemm", ["f", "w1", "b1"], ["h"], name="fc1"),
                 helper.make_node("Relu", ["h"], ["r"]),
                 helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], name="fc2")]
    else:
        nodes = [helper.make_node("Conv", ["x", "k1", "b1"], ["a1"], pads=[1, 1, 1, 1],
                                  name="conv1"),
                 helper.make_node("Relu", ["a1"], ["r1"]),
                 helper.make_node("Conv", ["r1", "k2", "b2"], ["a2"], pads=[1, 1, 1, 1],
                                  strides=[2, 2], name="conv2"),
                 helper.make_node("Relu", ["a2"], ["r2"]),
                 helper.make_node("Flatten", ["r2"], ["f"]),
                 helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], name="fc")]
    graph = helper.make_graph(
        nodes, path.stem, [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                         ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        [numpy_helper.from_array(v, k) for k, v in p.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def main() -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bits", type=int, default=8)
    ap.add_argument("--out", default=str(Path(__file__).parents[1] / "instances/trained"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_digits()
    x = data.images / 16.0
    x_tr, x_te, y_tr, y_te = train_test_split(x, data.target, test_size=0.25,
                                              random_state=args.seed, stratify=data.target)
    record = {}
    for name, cls, epochs, lr in (("digits-mlp", MLP, 300, 0.5), ("digits-cnn", CNN, 150, 0.3)):
        t0 = time.perf_counter()
        model = cls(np.random.default_rng(args.seed))
        train(model, x_tr, y_tr, epochs, lr)
        secs = time.perf_counter() - t0
        acc_f = accuracy(model, x_te, y_te)
        acc_q = accuracy(model, x_te, y_te, quantised(model.p, args.bits))
        onnx_path = out / f"{name}.onnx"
        export(model, onnx_path)
        net = import_onnx(onnx_path, batch=1, bits=args.bits, name=name)
        net = type(net)(net.name, net.layers, net.weight_bits, net.encoding,
                        f"scripts/train_digits.py --seed {args.seed}: trained on sklearn digits "
                        f"(test accuracy float {acc_f:.4f}, {args.bits}-bit {acc_q:.4f}); "
                        + net.source)
        net.save(out / name)
        record[name] = {"test_accuracy_float": acc_f, "test_accuracy_quantised": acc_q,
                        "train_seconds": round(secs, 2), "epochs": epochs, "seed": args.seed,
                        "bits": args.bits, "test_samples": len(y_te),
                        "sha256": net.content_hash()}
        print(f"{name}: trained in {secs:.1f} s; test accuracy float {acc_f:.4f}, "
              f"{args.bits}-bit {acc_q:.4f}")
    (out / "accuracy.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()

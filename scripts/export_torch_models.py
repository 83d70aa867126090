"""Export real architectures from PyTorch to ONNX and import them (optional: needs torch).

Models (random initialisation, fixed seed; the point is real graph structure
as PyTorch exports it, not accuracy):

- ``resnet20-cifar``: the CIFAR ResNet-20 of He et al. (2016): a 3x3 stem of
  16 channels, three stages of three BasicBlocks (16, 32, 64 channels, stride 2
  at the start of stages 2 and 3 with 1x1 projection shortcuts), batch
  normalisation after every convolution, global average pooling, FC 64 -> 10.
  Input 1x3x32x32.
- ``lenet5``: LeNet-5 (two 5x5 convolutions with 6 and 16 channels and
  max-pooling, FC 256 -> 120 -> 84 -> 10) on 1x1x28x28.

Each ONNX file is written to ``instances/imported/`` and imported with
``pimopt import`` semantics (8-bit per-tensor weights, batch 1): PyTorch's
Conv + BatchNormalization pairs, Gemm nodes with transB and the residual Adds
go through the importer as they come out of a real exporter.

Usage: python scripts/export_torch_models.py [--seed 0] [--out instances/imported]
Needs ``pip install torch`` (pimopt itself does not depend on it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pimopt.models.onnx_import import import_onnx


def build(name: str):  # returns (torch module, input shape); torch is optional
    import torch
    from torch import nn

    class Basic(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.short = nn.Sequential()
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                           nn.BatchNorm2d(cout))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.relu(self.b1(self.c1(x)))
            return torch.relu(self.b2(self.c2(y)) + self.short(x))

    class ResNet20(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16),
                                      nn.ReLU())
            layers, cin = [], 16
            for cout, stride in ((16, 1), (32, 2), (64, 2)):
                for b in range(3):
                    layers.append(Basic(cin, cout, stride if b == 0 else 1))
                    cin = cout
            self.layers = nn.Sequential(*layers)
            self.fc = nn.Linear(64, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.layers(self.stem(x))
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    class LeNet5(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
                                          nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
            self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(256, 120), nn.ReLU(),
                                            nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.classifier(self.features(x))

    if name == "resnet20-cifar":
        return ResNet20(), (1, 3, 32, 32)
    return LeNet5(), (1, 1, 28, 28)


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).parents[1] / "instances/imported"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("resnet20-cifar", "lenet5"):
        torch.manual_seed(args.seed)
        model, shape = build(name)
        model.eval()
        # BatchNorm statistics as a trained model has them (not the identity of a fresh one)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                assert m.running_mean is not None and m.running_var is not None
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.data.uniform_(0.5, 1.5)
        path = out / f"{name}.onnx"
        torch.onnx.export(model, (torch.zeros(shape),), str(path), dynamo=False,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
        net = import_onnx(path, batch=1, name=name)
        saved = net.save(out / name)
        print(f"{name}: torch {torch.__version__} -> {path.name} ({path.stat().st_size} bytes), "
              f"{len(net.layers)} layers -> {saved}")


if __name__ == "__main__":
    main()

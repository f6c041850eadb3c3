"""Peak memory of a default ``attrbench run --method ig`` on a 224 px ResNet-50 (issue 13, item 1).

Writes, in a temporary directory, a module ``bench_resnet50.py`` whose factory builds a compact
bottleneck ResNet-50 (He et al., CVPR 2016; layers 3-4-6-3, 25.6 M parameters, random weights
seeded with 0; torchvision is not needed) and an image folder of 8 generated 320 x 240 photos
(smooth random colour fields, two classes), then runs, as a subprocess:

    attrbench run --method ig --model bench_resnet50:resnet50 --dataset imagefolder --data-root DIR --n-samples 8

with every other option at its default (memory budget, IG steps, resize = shorter-crop, batch
size 8) but the metrics: ``--metrics runtime`` (IG's attribution is the memory peak; the curve
forwards hold at most 64 images without gradients) unless ``--all-metrics``. It reports the subprocess's peak resident set (``RUSAGE_CHILDREN`` ``ru_maxrss``) next to the
4 GB target, the run's own record (config.json ``memory``), and, from the run's probe, the
estimated pass of IG's previous default (16 steps x 8 images = 128 images at once).

    python scripts/bench_memory_ig.py [--limit-gb 4] [--all-metrics] [--keep DIR]

Exit status 1 when the peak exceeds the limit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

MODEL_SOURCE = '''"""Compact bottleneck ResNet-50 (He et al., CVPR 2016), random weights, for attrbench benchmarks."""

import torch
from torch import nn

from attrbench.api import ModelSpec


class Bottleneck(nn.Module):
    def __init__(self, cin: int, planes: int, stride: int) -> None:
        super().__init__()
        cout = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.down is None else self.down(x)))


class ResNet50(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))
        layers, cin = [], 64
        for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            stage = []
            for b in range(blocks):
                stage.append(Bottleneck(cin, planes, stride if b == 0 else 1))
                cin = planes * 4
            layers.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet50():
    torch.manual_seed(0)
    net = ResNet50().eval()
    return net, ModelSpec(name="bench_resnet50:resnet50", input_size=(224, 224), num_outputs=1000,
                          cam_layer="net.layer4")
'''


def write_inputs(root: Path, *, n: int = 8) -> Path:
    """The model module and an image folder ``root/photos/test/<class>/<i>.png`` of ``n`` 320 x 240 images."""
    (root / "bench_resnet50.py").write_text(MODEL_SOURCE)
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / "photos" / "test" / f"class{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        coarse = rng.random((6, 8, 3))  # smooth colour field: bilinear upsampling of a coarse grid
        img = Image.fromarray((coarse * 255).astype(np.uint8)).resize((320, 240), Image.BILINEAR)
        img.save(folder / f"photo{i}.png")
    return root / "photos"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-gb", type=float, default=4.0, help="peak RSS target in GB (default 4)")
    parser.add_argument("--all-metrics", action="store_true",
                        help="score the default metrics too (deletion/insertion curves, ROAD, MPRT re-explaining "
                             "IG on randomised copies): about 4x longer on 2 CPU cores")
    parser.add_argument("--keep", default=None, metavar="DIR", help="work in DIR and keep it (default: a temp dir)")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="attrbench-memig-"))
    work.mkdir(parents=True, exist_ok=True)
    photos = write_inputs(work)
    out = work / "run"
    cmd = [sys.executable, "-m", "attrbench", "run", "--method", "ig", "--model", "bench_resnet50:resnet50",
           "--dataset", "imagefolder", "--data-root", str(photos), "--n-samples", "8", "--out", str(out), "--quiet"]
    if not args.all_metrics:
        cmd += ["--metrics", "runtime"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(work), os.environ.get("PYTHONPATH")]))}
    print("command: " + " ".join(["attrbench", *cmd[3:]]).replace(str(work), "$WORK"))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        print(f"run failed with exit status {proc.returncode}")
        return 1
    memory = json.loads((out / "config.json").read_text())["memory"]
    probe = memory["probe"]
    gb = 1e9
    old_pass = 128 * probe["grad_per_image"] + probe["grad_fixed"]
    new_pass = memory["pass_images"] * probe["grad_per_image"] + probe["grad_fixed"]
    print(f"wall time: {seconds:.0f} s; threads: torch default; device: {memory['device']}")
    print(f"available memory at planning: {memory['available'] / gb:.2f} GB; budget (default fraction): "
          f"{memory['budget'] / gb:.2f} GB")
    print(f"probe ({probe['source']}): forward+backward {probe['grad_per_image'] / 1e6:.1f} MB/image "
          f"+ {probe['grad_fixed'] / 1e6:.1f} MB; forward {probe['forward_per_image'] / 1e6:.1f} MB/image")
    print(f"IG pass: {memory['pass_images']} images (estimated {new_pass / gb:.2f} GB) vs previous default "
          f"128 images (estimated {old_pass / gb:.2f} GB): ratio {old_pass / new_pass:.2f}x")
    print(f"curve forwards: at most {memory['forward_images']} images per forward")
    print(f"peak RSS of the run subprocess (ru_maxrss): {peak / gb:.2f} GB; run's own record "
          f"({memory['peak_source']}): {memory['peak_bytes'] / gb:.2f} GB")
    print(f"target: <= {args.limit_gb:.2f} GB; peak / target = {peak / gb / args.limit_gb:.2f} -> "
          f"{'OK' if peak <= args.limit_gb * gb else 'EXCEEDED'}")
    print("summary of the run:")
    print("\n".join("  " + line for line in proc.stdout.strip().splitlines()[-40:]).replace(str(work), "$WORK"))
    return 0 if peak <= args.limit_gb * gb else 1


if __name__ == "__main__":
    sys.exit(main())

"""Retrain the shipped FID feature extractors reproducibly (fixed seed, one CPU thread, ~1 minute each).

    python scripts/train_feature_extractor.py                 # both: digits (on digits16) and shapes
    python scripts/train_feature_extractor.py --only digits --epochs 20

Writes ``src/genzoo/features/weights/{digits,shapes}.safetensors`` with the test accuracy in the
metadata. Small random shifts (±1 pixel) augment the training images so features are not
brittle to the slight blur of generated samples.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import genzoo as gz
from genzoo.features.classifier import WEIGHTS_DIR, SmallConvNet, save_extractor
from genzoo.features.classifier import random_shift as shift

SETS = {"digits": "digits16", "shapes": "shapes"}


@torch.no_grad()
def accuracy(net: SmallConvNet, data) -> float:
    return (net(data.x)[1].argmax(1) == data.y).float().mean().item()


def train(name: str, epochs: int, seed: int = 0, out: Path = WEIGHTS_DIR, steps: int | None = None) -> float:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    train_set, test_set = gz.load_dataset(SETS[name], "train"), gz.load_dataset(SETS[name], "test")
    net = SmallConvNet(train_set.shape[0], train_set.num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    steps = steps or epochs * (len(train_set) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    start = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(0, len(train_set), (64,), generator=g)
        loss = F.cross_entropy(net(shift(train_set.x[idx], g))[1], train_set.y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    acc = accuracy(net, test_set)
    out.mkdir(parents=True, exist_ok=True)
    save_extractor(net, out / f"{name}.safetensors", label=name, dataset=SETS[name], seed=seed, epochs=epochs,
                   test_accuracy=round(acc, 4))
    print(f"{name}: {steps} steps in {time.perf_counter() - start:.0f}s, test accuracy {acc:.4f}")
    return acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(SETS), nargs="+", default=list(SETS))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.only:
        train(name, args.epochs, args.seed, args.out)


if __name__ == "__main__":
    main()

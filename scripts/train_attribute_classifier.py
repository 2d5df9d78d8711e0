"""Retrain the shipped shapes attribute classifier reproducibly (fixed seed, one CPU thread, ~2 minutes).

    python scripts/train_attribute_classifier.py [--steps 3000]

Trains on 20,000 images of every attribute combination (``make_attributed_shapes`` seed 2, the held-out
(shape, colour) pairs of ``shapes-captions`` included) with ±1-pixel shifts, and writes
``src/genzoo/features/weights/attributes.safetensors`` with the per-head accuracy on the
``shapes-captions`` test split in its metadata.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import genzoo as gz
from genzoo.data.common import to_unit
from genzoo.data.shapes import make_attributed_shapes
from genzoo.features.attributes import NAME, attribute_accuracy, make_classifier, split_logits
from genzoo.features.classifier import WEIGHTS_DIR, random_shift, save_extractor


def train(steps: int, seed: int = 0, n: int = 20000, out: Path = WEIGHTS_DIR) -> dict[str, float]:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    v, attrs = make_attributed_shapes(n, seed=2)
    x = to_unit(v, 256)
    net = make_classifier()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, n, (64,), generator=g)
        heads = split_logits(net(random_shift(x[idx], g))[1])
        loss = sum(F.cross_entropy(h, attrs[idx, i]) for i, h in enumerate(heads.values()))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    test = gz.load_dataset("shapes-captions", "test")
    acc = attribute_accuracy(test.x, test.info["attributes"], net)
    out.mkdir(parents=True, exist_ok=True)
    save_extractor(net, out / f"{NAME}.safetensors", label=NAME, dataset="make_attributed_shapes(20000, seed=2)",
                   seed=seed, steps=steps, heads="shape:6,colour:6,size:2,position:5",
                   test_accuracy={k: round(a, 4) for k, a in acc.items()})
    print(f"{steps} steps in {time.perf_counter() - start:.0f}s; shapes-captions test accuracy "
          + ", ".join(f"{k} {a:.4f}" for k, a in acc.items()))
    return acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train(args.steps, args.seed, out=args.out)


if __name__ == "__main__":
    main()

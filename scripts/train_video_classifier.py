"""Retrain the shipped classifiers of the video metrics reproducibly (fixed seed, one CPU thread).

    python scripts/train_video_classifier.py                       # moving-digits and moving-shapes
    python scripts/train_video_classifier.py --only moving-digits --parts frames

For each set, two parts (``--parts``):

- ``clips``: the 3-D-conv clip classifier of "FVD-moving" and direction accuracy (``features/video.py``),
  ``weights/{moving-digits,moving-shapes}.safetensors``, with its test accuracies (direction, content);
- ``frames``: the 2-D ``SmallConvNet`` of ``features/classifier.py`` on single frames (content label),
  ``weights/{moving-digits,moving-shapes}-frames.safetensors``, for frame-to-frame consistency.

Each training example gets Gaussian pixel noise of a random std in [0, 0.2] so that the features do
not hinge on the exact pixel values that generated clips only approximate.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import genzoo as gz
from genzoo.features.classifier import WEIGHTS_DIR, SmallConvNet, save_extractor
from genzoo.features.video import VideoConvNet, save_video_extractor

SETS = ("moving-digits", "moving-shapes")


@torch.no_grad()
def accuracies(net: VideoConvNet, data) -> tuple[float, float]:
    direction = torch.cat([net(x)[1].argmax(1) for x in data.x.split(250)])
    content = torch.cat([net.content_logits(x).argmax(1) for x in data.x.split(250)])
    return (direction == data.y).float().mean().item(), (content == data.content).float().mean().item()


def noisy(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """``x`` plus Gaussian noise of a random std in [0, 0.2] per example."""
    std = 0.2 * torch.rand(len(x), *[1] * (x.ndim - 1), generator=g)
    return x + std * torch.randn(x.shape, generator=g)


def fit(net: torch.nn.Module, steps: int, lr: float, batch_loss) -> float:
    """Adam with a one-cycle schedule for ``steps`` steps of ``batch_loss()``; returns the seconds taken."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    start = time.perf_counter()
    for _ in range(steps):
        loss = batch_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    return time.perf_counter() - start


def train(name: str, steps: int, seed: int = 0, out: Path = WEIGHTS_DIR, batch_size: int = 32) -> tuple[float, float]:
    """The clip classifier: direction and content heads on shared 3-D-conv features."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    train_set, test_set = gz.load_dataset(name, "train"), gz.load_dataset(name, "test")
    net = VideoConvNet(train_set.shape[1], len(train_set.info["content_classes"]))

    def batch_loss():
        idx = torch.randint(0, len(train_set), (batch_size,), generator=g)
        h = F.relu(net.features(noisy(train_set.x[idx], g)))
        return F.cross_entropy(net.direction_head(h), train_set.y[idx]) + F.cross_entropy(net.content_head(h), train_set.content[idx])

    seconds = fit(net, steps, 3e-3, batch_loss)
    direction, content = accuracies(net, test_set)
    out.mkdir(parents=True, exist_ok=True)
    save_video_extractor(net, out / f"{name}.safetensors", label=name, dataset=name, seed=seed, steps=steps,
                         frames=train_set.shape[0], test_direction_accuracy=round(direction, 4),
                         test_content_accuracy=round(content, 4))
    print(f"{name}: {steps} steps in {seconds:.0f}s, test accuracy direction {direction:.4f}, content {content:.4f}")
    return direction, content


def train_frames(name: str, steps: int, seed: int = 0, out: Path = WEIGHTS_DIR, batch_size: int = 64) -> float:
    """The per-frame content classifier (one random frame of a random clip per example)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    train_set, test_set = gz.load_dataset(name, "train"), gz.load_dataset(name, "test")
    t, c = train_set.shape[:2]
    net = SmallConvNet(c, len(train_set.info["content_classes"]))

    def batch_loss():
        idx = torch.randint(0, len(train_set), (batch_size,), generator=g)
        x = noisy(train_set.x[idx, torch.randint(0, t, (batch_size,), generator=g)], g)
        return F.cross_entropy(net(x)[1], train_set.content[idx])

    seconds = fit(net, steps, 2e-3, batch_loss)
    with torch.no_grad():
        pred = net(test_set.x.flatten(0, 1))[1].argmax(1).view(len(test_set), t)
    acc = (pred == test_set.content[:, None]).float().mean().item()
    save_extractor(net, out / f"{name}-frames.safetensors", label=f"{name}-frames", dataset=name, seed=seed,
                   steps=steps, test_accuracy=round(acc, 4))
    print(f"{name}-frames: {steps} steps in {seconds:.0f}s, test frame accuracy {acc:.4f}")
    return acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=SETS, nargs="+", default=list(SETS))
    parser.add_argument("--parts", choices=("clips", "frames"), nargs="+", default=["clips", "frames"])
    parser.add_argument("--steps", type=int, default=2500, help="clip classifier steps")
    parser.add_argument("--frame-steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.only:
        if "clips" in args.parts:
            train(name, args.steps, args.seed, args.out)
        if "frames" in args.parts:
            train_frames(name, args.frame_steps, args.seed, args.out)


if __name__ == "__main__":
    main()

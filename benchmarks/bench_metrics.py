"""Speed and memory of genzoo's feature-space metrics vs the anchor libraries, in one process.

    python benchmarks/bench_metrics.py                 # all three sections
    python benchmarks/bench_metrics.py --only prdc fid # pick sections; --big-n 20000 for a shorter big run
    python benchmarks/bench_metrics.py --only mia      # membership inference: over-trained vs regularised

Workloads (anchors in shared/bench/anchors/): FID from 10k x 2048 features (genzoo vs torchmetrics
update+compute vs scipy sqrtm), PRDC k=5 at n=10k d=64 (genzoo vs prdc), and genzoo PRDC + FID at
n=50k d=2048, which prdc cannot do (it holds three n x n float32 matrices). Peak extra memory is the
largest resident-set size seen (sampled every millisecond from /proc/self/statm) minus the size
just before the call, so the inputs are not counted.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import threading
import time

import numpy as np
import torch

from genzoo.metrics import fid_from_features, prdc

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def measure(fn, *args, **kw):
    """Run fn once; return (result, seconds, peak extra RSS in MB)."""
    base, peak, done = rss_bytes(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints a line per call
        out = fn(*args, **kw)
    seconds = time.perf_counter() - start
    done.set()
    thread.join()
    return out, seconds, max(0, max(peak[0], rss_bytes()) - base) / 2**20


def correlated_features(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The anchor's FID workload: x A and y A + 0.05, A a random d x d mixing matrix (float64)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d)) / np.sqrt(d)
    return rng.standard_normal((n, d)) @ a, rng.standard_normal((n, d)) @ a + 0.05


def prdc_features(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The anchor's PRDC workload: N(0, I) real, N(0.1, 1.21 I) fake, float32."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)).astype(np.float32),
            (rng.standard_normal((n, d)) * 1.1 + 0.1).astype(np.float32))


def torchmetrics_fid(f1: np.ndarray, f2: np.ndarray) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    class Flat(torch.nn.Module):
        num_features = f1.shape[1]

        def forward(self, x):
            return x.reshape(len(x), -1)

    metric = FrechetInceptionDistance(feature=Flat()).double()
    metric.update(torch.from_numpy(f1), real=True)
    metric.update(torch.from_numpy(f2), real=False)
    return metric.compute().item()


def scipy_fid(f1: np.ndarray, f2: np.ndarray) -> float:
    import scipy.linalg

    m1, s1, m2, s2 = f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def bench_fid(n: int = 10_000, d: int = 2048) -> list[str]:
    f1, f2 = correlated_features(n, d)
    rows = []
    for name, fn in [("genzoo", fid_from_features), ("torchmetrics", torchmetrics_fid), ("scipy sqrtm", scipy_fid)]:
        value, seconds, mem = measure(fn, f1, f2)
        rows.append((name, value, seconds, mem))
    base = rows[0][2]
    lines = [f"FID n={n} d={d} (float64 features, stats + distance)"]
    lines += [f"  {name:13s} {s:7.2f} s  peak +{m:6.0f} MB  fid={v:.6f}  ratio genzoo/this={base / s:.2f}" for name, v, s, m in rows]
    rel = abs(rows[0][1] - rows[1][1]) / abs(rows[1][1])
    lines.append(f"  |genzoo - torchmetrics| / torchmetrics = {rel:.1e}")
    return lines


def bench_prdc(n: int = 10_000, d: int = 64, k: int = 5) -> list[str]:
    from prdc import compute_prdc

    real, fake = prdc_features(n, d)
    ours, t_ours, m_ours = measure(prdc, real, fake, k=k)
    ref, t_ref, m_ref = measure(compute_prdc, real, fake, nearest_k=k)
    same = all(abs(ours[key] - float(ref[key])) < 1e-12 for key in ours)
    return [f"PRDC n={n} d={d} k={k}",
            f"  genzoo {t_ours:7.2f} s  peak +{m_ours:6.0f} MB  {ours}",
            f"  prdc   {t_ref:7.2f} s  peak +{m_ref:6.0f} MB  identical values: {same}",
            f"  time ratio genzoo/prdc = {t_ours / t_ref:.2f}, memory ratio = {m_ours / max(m_ref, 1):.2f}"]


def bench_big(n: int = 50_000, d: int = 2048, k: int = 5) -> list[str]:
    g = torch.Generator().manual_seed(0)
    real = torch.randn(n, d, generator=g)
    fake = torch.randn(n, d, generator=g).mul_(1.1).add_(0.1)
    lines = [f"large n={n} d={d} float32 (inputs {2 * real.numel() * 4 / 2**20:.0f} MB, not counted)"]
    out, seconds, mem = measure(prdc, real, fake, k=k)
    lines.append(f"  genzoo prdc {seconds:7.1f} s  peak +{mem:6.0f} MB  {out}")
    value, seconds, mem = measure(fid_from_features, real, fake)
    lines.append(f"  genzoo fid  {seconds:7.1f} s  peak +{mem:6.0f} MB  fid={value:.4f}")
    need = 3 * n * n * 4 / 2**30
    lines.append(f"  prdc would hold three {n}x{n} float32 distance matrices: {need:.0f} GB")
    return lines


def bench_mia(members: int = 300, over_steps: int = 1500, references: int = 3) -> list[str]:
    """Membership inference on digits-bin with MADE: an over-trained model vs a regularised one (loss
    attack), and offline LiRA for both with reference models trained like the target on disjoint
    chunks of the rest of the training split."""
    import genzoo as gz
    from genzoo.metrics.mia import train_reference_models

    train, test = gz.load_dataset("digits-bin", "train"), gz.load_dataset("digits-bin", "test")

    def subset(rows):
        return gz.GenDataset("digits-bin", "train", "image", train.x[rows], train.y[rows], levels=2, num_classes=10)

    target_data, pool = subset(slice(0, members)), subset(slice(members, None))
    lines = [f"MIA on digits-bin, MADE, {members} members vs {members} test images; "
             f"{references} LiRA reference models on disjoint chunks of the other {len(pool)} training images"]
    for name, arch, budget in [("over-trained", dict(hidden=(512, 512)), dict(steps=over_steps, weight_decay=0.0)),
                               ("regularised", dict(hidden=(64,)), dict(steps=300, weight_decay=0.1))]:
        recipe = dict(batch_size=64, lr=1e-3, ema_decay=None, **budget)
        model = gz.build("made", data=target_data, **arch)
        gz.Trainer(model, target_data, seed=0, progress=False, **recipe).fit()
        refs = train_reference_models("made", pool, references, overrides=arch, **recipe)
        out = gz.evaluate(model, test, metrics=["mia", "nll"], train=target_data.x, max_examples=members,
                          reference_models=refs)
        lines.append(f"  {name:12s} {arch} {budget}: loss AUC {out['mia_loss_auc']:.3f} "
                     f"TPR@1%FPR {out['mia_loss_tpr_at_1fpr']:.3f} | LiRA AUC {out['mia_lira_auc']:.3f} "
                     f"TPR@1%FPR {out['mia_lira_tpr_at_1fpr']:.3f} | test NLL {out['nll']:.2f} nats")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=["fid", "prdc", "big", "mia"], default=["prdc", "fid", "big"])
    parser.add_argument("--big-n", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    sections = {"prdc": bench_prdc, "fid": bench_fid, "big": lambda: bench_big(args.big_n), "mia": bench_mia}
    for name in ["prdc", "fid", "big", "mia"]:
        if name in args.only:
            print("\n".join(sections[name]()), flush=True)


if __name__ == "__main__":
    main()

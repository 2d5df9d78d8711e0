"""PixelCNN sampling: row-cached sampler vs naive full forward per (pixel, channel).

Same model, same seed, same process; prints both times, the ratio and whether the samples are
identical. The naive sampler runs the whole network on the whole image H*W*C times; the cached one
runs the vertical stack once per row (on the rows in its receptive field) and, per pixel, only the
horizontal stack on the visible part of the current row.

    python benchmarks/pixelcnn_sampling.py --shape 1,16,16 --levels 17 --n 16
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from genzoo.models.pixelcnn import PixelCNN, PixelCNNConfig


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--shape", default="1,16,16")
    p.add_argument("--levels", type=int, default=17)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--n-layers", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    shape = tuple(int(s) for s in args.shape.split(","))
    torch.manual_seed(0)
    model = PixelCNN(PixelCNNConfig(shape=shape, levels=args.levels, channels=args.channels,
                                    n_layers=args.n_layers, head_channels=2 * args.channels)).eval()
    times, out = {}, {}
    for cache in (True, False):
        t = time.perf_counter()
        out[cache] = model.sample(args.n, generator=torch.Generator().manual_seed(0), cache=cache)
        times[cache] = time.perf_counter() - t
    row = {"shape": shape, "levels": args.levels, "n": args.n, "channels": args.channels, "n_layers": args.n_layers,
           "reach": model.reach, "cached_s": round(times[True], 2), "naive_s": round(times[False], 2),
           "speedup": round(times[False] / times[True], 2), "identical": bool(torch.equal(out[True], out[False]))}
    print(json.dumps(row))


if __name__ == "__main__":
    main()

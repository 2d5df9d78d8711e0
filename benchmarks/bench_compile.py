"""torch.compile (inductor, CPU) for the diffusion U-Net: eager genzoo vs compiled genzoo vs diffusers eager.

Workload: the anchor of ``bench_diffusion.py`` (UNet2DModel 32x32x1, channels 32/64/64, attention at
the lowest resolution, batch 64, same weights everywhere; its model builders are reused here).

1. One-time compile cost, per path (``sample``: one DDIM step under inference_mode; ``train``: one
   loss + backward + AdamW step) and inductor mode, each in a **fresh process**: first with an empty
   on-disk cache (``cold``), then a second process on the same cache (``warm``: FX graph cache and
   AOT-autograd cache hits; dynamo still traces). Reported: the first call's wall time, a steady
   call's, and the cache hits. ``--phase cost`` is that child process.
2. Throughput, in this process, interleaved, best and median of ``--repeats``: DDIM-50 images/s
   (``--sample-steps`` steps timed, scaled to 50) and training samples/s, fp32.
3. Recompiles / graph breaks: dynamo's counters after all of it (the timestep goes in as a tensor,
   so the 50 DDIM steps share one graph).

    python benchmarks/bench_compile.py [--modes default,max-autotune-no-cudagraphs] [--threads 1]
        [--sample-steps 10] [--train-steps 3] [--repeats 3] [--cache-dir DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_diffusion as bd  # noqa: E402  (the anchor's model builders and runners)

BATCH = bd.BATCH


def anchor_weights():
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    return UNet2DModel(**bd.ANCHOR).state_dict()


def compiled_model(sd, mode: str):
    """A genzoo DDPM on the anchor weights whose U-Net is compiled in place (``nn.Module.compile``).

    ``mode``: ``default``, a torch.compile mode, or ``freezing`` (inductor's ``freezing`` option:
    weights become constants, convolutions get prepacked oneDNN weights; inference only).
    """
    model = bd.genzoo_model(sd, False)
    if mode == "freezing":
        model.net.compile(options={"freezing": True})
    else:
        model.net.compile(mode=None if mode == "default" else mode)
    return model


def train_modes(modes: list[str]) -> list[str]:
    return [m for m in modes if m != "freezing"]  # freezing applies to inference graphs only


def dynamo_counts() -> dict[str, int]:
    from torch._dynamo.utils import counters

    return {"graphs": counters["stats"]["unique_graphs"], "graph_breaks": sum(counters["graph_break"].values()),
            "fx_cache_hit": counters["inductor"]["fxgraph_cache_hit"],
            "fx_cache_miss": counters["inductor"]["fxgraph_cache_miss"],
            "aot_cache_hit": counters["aot_autograd"]["autograd_cache_hit"]}


# --- 1. compile cost (child process) ---------------------------------------------------------------
def cost_phase(what: str, mode: str) -> dict:
    """First-call and steady-call wall time of the compiled path in this (fresh) process."""
    model = compiled_model(anchor_weights(), mode)
    x = torch.randn(BATCH, 1, 32, 32)
    if what == "sample":
        run = bd.genzoo_sampler(model.eval(), 1, False)
        args = ()
    else:
        run = bd.genzoo_trainer(model.train(), False)
        args = (x,)
    first = bd.timed(run, *args)
    steady = min(bd.timed(run, *args) for _ in range(2))
    return {"what": what, "mode": mode, "first_s": first, "steady_s": steady, "compile_s": first - steady,
            **dynamo_counts()}


def run_cost(what: str, mode: str, cache: Path, threads: int) -> dict:
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache), "TORCHINDUCTOR_FX_GRAPH_CACHE": "1",
           "TORCHINDUCTOR_AUTOGRAD_CACHE": "1"}
    cmd = [sys.executable, __file__, "--phase", "cost", "--what", what, "--mode", mode, "--threads", str(threads)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# --- 2. throughput (this process) ------------------------------------------------------------------
def interleaved(runs: dict, args: tuple, repeats: int, calls: int) -> dict[str, list[float]]:
    """Seconds per call of each runner, ``repeats`` rounds, runners interleaved within a round."""
    times = {k: [] for k in runs}
    for _ in range(repeats):
        for k, fn in runs.items():
            times[k].append(sum(bd.timed(fn, *args) for _ in range(calls)) / calls)
    return times


def report(title: str, times: dict[str, list[float]], per_call_items: float, unit: str, base: str) -> None:
    print(f"\n{title}")
    print(f"  {'':46s} {'best ' + unit:>14s} {'median':>9s}   best x vs {base}")
    ref = min(times[base])
    for k, v in times.items():
        print(f"  {k:46s} {per_call_items / min(v):14.2f} {per_call_items / statistics.median(v):9.2f}   "
              f"x{ref / min(v):.2f}", flush=True)


def speed_phase(args, cache: Path) -> None:
    from diffusers import UNet2DModel

    sd = anchor_weights()
    modes = args.modes.split(",")
    x = torch.randn(BATCH, 1, 32, 32)

    def diffusers_unet():
        unet = UNet2DModel(**bd.ANCHOR)
        unet.load_state_dict(sd)
        return unet

    def warmed(fn, mode, what, *a):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache / f"{mode}-{what}")  # the warm cache of step 1
        t0 = time.perf_counter()
        fn(*a)
        print(f"  warm-up {what} {mode}: {time.perf_counter() - t0:.1f} s", flush=True)
        return fn

    if not args.skip_sample:
        eager = bd.genzoo_model(sd, False).eval()
        runs = {"diffusers eager": bd.diffusers_sampler(diffusers_unet().eval(), args.sample_steps, False),
                "genzoo eager": bd.genzoo_sampler(eager, args.sample_steps, False)}
        for mode in modes:
            model = compiled_model(sd, mode).eval()
            runs[f"genzoo compiled ({mode})"] = warmed(bd.genzoo_sampler(model, args.sample_steps, False), mode, "sample")
            t = model.make_sampler("ddim", 50).timesteps[3]
            with torch.inference_mode():  # x: an inference tensor and t a normal one, as in the sampler loop
                xi = x.clone()
                diff = (model.net(xi, t) - eager.net(xi, t)).abs().max().item()
            print(f"  max |compiled - eager| U-Net output ({mode}): {diff:.2e}")
        times = interleaved(runs, (), args.repeats, 1)
        scale = BATCH * args.sample_steps / 50
        report(f"DDIM-50 sampling, images/s (batch {BATCH}; {args.sample_steps} steps timed, scaled to 50)",
               times, scale, "images/s", "diffusers eager")
        print(f"  dynamo counters after sampling: {dynamo_counts()}")

    if not args.skip_train:
        runs = {"diffusers eager": bd.diffusers_trainer(diffusers_unet().train(), False),
                "genzoo eager": bd.genzoo_trainer(bd.genzoo_model(sd, False).train(), False)}
        for mode in train_modes(modes):
            runs[f"genzoo compiled ({mode})"] = warmed(bd.genzoo_trainer(compiled_model(sd, mode).train(), False),
                                                       mode, "train", x)
        for fn in list(runs.values())[:2]:
            fn(x)  # eager warm-up
        times = interleaved(runs, (x,), args.repeats, args.train_steps)
        report(f"training, samples/s (batch {BATCH}, loss + backward + AdamW)", times, BATCH, "samples/s",
               "diffusers eager")
    print(f"\ndynamo counters after the speed phase: {dynamo_counts()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phase", choices=("all", "cost", "speed"), default="all")
    ap.add_argument("--what", choices=("sample", "train"), default="sample")
    ap.add_argument("--mode", default="default")
    ap.add_argument("--modes", default="default", help="comma-separated: default, freezing, torch.compile modes")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sample-steps", type=int, default=10)
    ap.add_argument("--train-steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cache-dir", default=None, help="inductor cache root (default: a new temporary directory)")
    ap.add_argument("--skip-sample", action="store_true")
    ap.add_argument("--skip-train", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.phase == "cost":
        print(json.dumps(cost_phase(args.what, args.mode)))
        return
    cache = Path(args.cache_dir or tempfile.mkdtemp(prefix="genzoo-bench-inductor-"))
    print(f"threads={args.threads}  batch={BATCH}  torch {torch.__version__}  cache {cache}  "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    if args.phase == "all":
        whats = [w for w in ("sample", "train") if not getattr(args, f"skip_{w}")]
        print("\none-time compile cost (fresh process each; first call - steady call)")
        for mode in args.modes.split(","):
            for what in whats:
                if what == "train" and mode not in train_modes([mode]):
                    continue
                for temp in ("cold", "warm"):
                    r = run_cost(what, mode, cache / f"{mode}-{what}", args.threads)
                    print(f"  {what:6s} {mode:28s} {temp}: first call {r['first_s']:6.1f} s, steady "
                          f"{r['steady_s']:.2f} s -> compile {r['compile_s']:6.1f} s   graphs {r['graphs']}, "
                          f"breaks {r['graph_breaks']}, fx cache hit/miss {r['fx_cache_hit']}/{r['fx_cache_miss']}, "
                          f"aot cache hit {r['aot_cache_hit']}   (load {os.getloadavg()[0]:.2f})", flush=True)
    speed_phase(args, cache)
    print(f"\nload average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

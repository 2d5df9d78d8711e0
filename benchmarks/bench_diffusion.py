"""genzoo ddpm vs diffusers on the anchor workload (../shared/bench/anchors/diffusers_unet.py):
UNet2DModel 32x32x1, channels 32/64/64, attention at the lowest resolution, batch 64.

Both sides run in this process on the same weights, interleaved, best of ``--repeats``:

- training samples/s: add_noise + U-Net + MSE + backward + AdamW step (diffusers: its UNet2DModel,
  DDPMScheduler.add_noise and torch AdamW as in the anchor; genzoo: ``DDPM.loss`` and the optimizer
  of ``configure_optimizers`` (fused AdamW)), optionally channels_last / bf16 autocast;
- DDIM sampling images/s: ``--sample-steps`` DDIM steps timed and scaled to 50 steps (per-step cost
  is constant; ``--sample-steps 50`` times the whole trajectory).

    python benchmarks/bench_diffusion.py [--threads 1] [--sample-steps 10] [--train-steps 3] [--repeats 2]
"""
from __future__ import annotations

import argparse
import contextlib
import time

import torch

import genzoo as gz

ANCHOR = dict(sample_size=32, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(32, 64, 64),
              down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
              up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"), norm_num_groups=8)
BATCH = 64


def autocast(bf16: bool):
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def genzoo_model(state_dict, channels_last: bool):
    model = gz.build("ddpm", shape=(1, 32, 32), block_out_channels=(32, 64, 64), layers_per_block=1, attention_levels=(2,),
                     norm_num_groups=8, attention_head_dim=8, sampler="ddim", timestep_spacing="leading", clip_sample=True)
    model.net.load_state_dict(state_dict)
    if channels_last:
        model.net.to(memory_format=torch.channels_last)
    return model


def diffusers_trainer(unet, bf16):
    from diffusers import DDPMScheduler

    sched = DDPMScheduler(num_train_timesteps=1000)
    opt = torch.optim.AdamW(unet.parameters(), 2e-4)

    def step(x):
        t = torch.randint(0, 1000, (BATCH,))
        noise = torch.randn_like(x)
        with autocast(bf16):
            loss = torch.nn.functional.mse_loss(unet(sched.add_noise(x, noise, t), t).sample.float(), noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def genzoo_trainer(model, bf16):
    opt = model.configure_optimizers(lr=2e-4)[0]

    def step(x):
        with autocast(bf16):
            loss = model.loss(x)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def diffusers_sampler(unet, steps, bf16):
    from diffusers import DDIMScheduler

    ddim = DDIMScheduler(num_train_timesteps=1000)
    ddim.set_timesteps(50)

    def run():
        s = torch.randn(BATCH, 1, 32, 32)
        with torch.inference_mode(), autocast(bf16):
            for t in ddim.timesteps[:steps]:
                s = ddim.step(unet(s, t).sample.float(), t, s).prev_sample
        return s
    return run


def genzoo_sampler(model, steps, bf16):
    smp = model.make_sampler("ddim", 50)
    fn = model.guided_fn(None, 1.0)

    def run():
        with torch.inference_mode(), autocast(bf16):
            x = torch.randn(BATCH, 1, 32, 32)  # an inference tensor like every later x: one compiled graph
            for i in range(steps):
                x = smp.step(fn(x, smp.timesteps[i]).float(), i, x).prev_sample
        return x
    return run


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sample-steps", type=int, default=10)
    ap.add_argument("--train-steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-sample", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    ref = UNet2DModel(**ANCHOR)
    sd = ref.state_dict()
    variants = [("fp32", False, False), ("channels_last", True, False), ("bf16", False, True), ("channels_last+bf16", True, True)]
    x = torch.randn(BATCH, 1, 32, 32)
    print(f"threads={args.threads}  batch={BATCH}  torch {torch.__version__}", flush=True)

    if not args.skip_train:
        runs = {}
        for bf16 in (False, True):
            unet = UNet2DModel(**ANCHOR)
            unet.load_state_dict(sd)
            runs[f"diffusers {'bf16' if bf16 else 'fp32'}"] = diffusers_trainer(unet.train(), bf16)
        for name, cl, bf16 in variants:
            runs[f"genzoo {name}"] = genzoo_trainer(genzoo_model(sd, cl).train(), bf16)
        best = {k: float("inf") for k in runs}
        for k, fn in runs.items():
            fn(x)  # warm-up
        for _ in range(args.repeats):
            for k, fn in runs.items():
                best[k] = min(best[k], sum(timed(fn, x) for _ in range(args.train_steps)) / args.train_steps)
        base = best["diffusers fp32"]
        print("\ntraining (samples/s, batch 64)")
        for k, v in best.items():
            print(f"  {k:28s} {BATCH / v:8.1f}   x{base / v:.2f} vs diffusers fp32", flush=True)

    if not args.skip_sample:
        runs = {}
        for bf16 in (False, True):
            unet = UNet2DModel(**ANCHOR)
            unet.load_state_dict(sd)
            runs[f"diffusers {'bf16' if bf16 else 'fp32'}"] = diffusers_sampler(unet.eval(), args.sample_steps, bf16)
        for name, cl, bf16 in variants:
            runs[f"genzoo {name}"] = genzoo_sampler(genzoo_model(sd, cl).eval(), args.sample_steps, bf16)
        best = {k: float("inf") for k in runs}
        for _ in range(args.repeats):
            for k, fn in runs.items():
                best[k] = min(best[k], timed(fn))
        base = best["diffusers fp32"]
        print(f"\nDDIM-50 sampling (images/s, batch 64; {args.sample_steps} steps timed, scaled to 50)")
        for k, v in best.items():
            per50 = v * 50 / args.sample_steps
            print(f"  {k:28s} {BATCH / per50:8.2f}   x{base / v:.2f} vs diffusers fp32")


if __name__ == "__main__":
    main()

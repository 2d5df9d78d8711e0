"""The one Trainer that drives every family (DESIGN.md: "the model says what a step is").

Default path (``model.loss``): for step t = 0 .. T-1

    g_t = grad of loss(theta_t; batch_t)           (bf16 autocast optional)
    g_t <- g_t * min(1, c / ||g_t||)                (global-norm clipping, c = grad_clip)
    theta_{t+1} = AdamW(theta_t, g_t, lr * f(t))    (f: linear warmup then cosine to 0.1, schedule.py)
    theta_ema   <- EMA update (ema.py)

Manual path (``model.manual_optimization``: GAN, EBM): the model's ``training_step`` does its own
zero_grad / backward / step on the optimizers from ``configure_optimizers``; the Trainer schedules
their learning rates, keeps the EMA, logs, samples and checkpoints.

Reproducibility: batches come from a fresh permutation per epoch drawn from a generator seeded by
``seed``; the loss's own noise uses torch's global RNG, which ``fit`` forks and seeds so the
caller's RNG state is untouched. Every piece of state (weights, EMA, optimizers, schedulers, both
RNGs, the position in the permutation, ``model.extra_state_tensors()``) is checkpointed, so
``resume=True`` after a ``kill -9`` ends with weights bit-identical to an uninterrupted run.
"""
from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError, NotSupported, TrainingDiverged
from ..model import GenerativeModel
from ..nn.batch_noise import sharded
from ..serialization import load_state_into
from . import distributed
from .checkpoint import CHECKPOINT_DIR, find_checkpoint, load_checkpoint, optimizer_from_tensors, save_checkpoint
from .eager_optim import eager_step, without_dynamo_import
from .ema import EMA
from .logging import MetricsLog, prefetch_imports, progress_bar
from .schedule import SCHEDULES, LRLambda, default_warmup, extend_plan

#: settings that change the trajectory: they must be equal when resuming
RUN_KEYS = ("steps", "batch_size", "lr", "seed", "weight_decay", "warmup", "schedule", "grad_clip",
            "ema_decay", "bf16")
#: ``ema_decay`` left unset: the family's ``budget_for_kind(kind)["ema_decay"]`` if it has one, else 0.999
KIND_DEFAULT: Any = "kind default"


class Trainer:
    """Train ``model`` on ``data``; ``fit()`` returns the model holding the EMA weights.

    ``steps``/``batch_size``/``lr``/``ema_decay`` default to ``model.budget_for_kind(data.kind)`` (on ``resume``, to the
    checkpoint's settings; see docs/training.md for every argument). With ``out`` the run writes
    ``metrics.jsonl``, ``loss.png``, ``samples/step_*.png``, ``checkpoint/`` and the final model
    (``genzoo.load(out)``). ``callbacks`` are ``fn(trainer, step, logs)`` called after each step
    (``step`` counts completed steps, from 1); a callback may call ``trainer.stop()``.
    ``resume`` with ``steps`` above the run's total extends it (the LR plan gains a segment,
    ``schedule.py``); ``init_from`` (a saved model directory or model) starts a new run from its weights.
    ``adapter`` (a ``genzoo.finetune`` config such as ``LoraConfig``) adds that adapter to the model, so
    only it trains, and the run saves adapter files (``adapter_config.json`` + ``adapter_model.safetensors``).
    ``objective`` (``fn(model, batch) -> {"loss": ..., ...}``) replaces ``model.loss``: preference
    training (``genzoo.finetune.dpo.PreferenceObjective``) trains a GPT on another loss than its own.
    ``privacy`` (a ``genzoo.privacy.PrivacyConfig``) trains with DP-SGD: Poisson batches, per-example
    clipping and Gaussian noise, ε accounted by Opacus and written to ``privacy.json`` (docs/privacy.md).
    Under torchrun the run is data-parallel (``batch_size`` is the global batch; ``distributed.py``);
    ``fsdp=True`` also shards the weights, gradients and optimizer state (``fsdp.py``).
    """

    def __init__(self, model: GenerativeModel, data, *, steps: int | None = None, batch_size: int | None = None,
                 lr: float | None = None, seed: int = 0, out=None, weight_decay: float = 0.0,
                 warmup: int | None = None, schedule: str = "cosine", grad_clip: float | None = 1.0,
                 ema_decay: float | None = KIND_DEFAULT, bf16: bool = False, device: str | torch.device = "cpu",
                 log_every: int | None = None, sample_every: int | None = None,
                 checkpoint_every: int | None = None, callbacks=(), progress: bool = True,
                 resume: bool = False, init_from=None, adapter=None, objective=None, fsdp: bool = False,
                 privacy=None):
        kind = getattr(data, "kind", None)
        budget = (model.budget_for_kind(kind) if isinstance(model, GenerativeModel)
                  else {**GenerativeModel.default_budget, **getattr(model, "default_budget", {})})
        if resume and out is not None:  # settings left unset are those of the run being resumed
            saved = _saved_config(Path(out))
            steps, batch_size, lr, warmup = (saved.get(k) if v is None else v for k, v in
                                             (("steps", steps), ("batch_size", batch_size), ("lr", lr), ("warmup", warmup)))
            if ema_decay is KIND_DEFAULT and "ema_decay" in saved:
                ema_decay = saved["ema_decay"]
        self.model, self.data = model, _as_dataset(data)
        self.steps = _positive_int("steps", budget["steps"] if steps is None else steps)
        self.batch_size = _positive_int("batch_size", budget["batch_size"] if batch_size is None else batch_size)
        self.lr = float(budget["lr"] if lr is None else lr)
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr={lr} must be a positive number, e.g. --lr 1e-3")
        if schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {schedule!r}; use one of: {', '.join(SCHEDULES)}")
        if len(self.data) == 0:
            raise ConfigError("the training set is empty; pass a dataset with at least one example")
        self.world = distributed.init_from_env(device)  # under torchrun: this rank's share of each global batch
        self.local_batch_size = distributed.local_batch_size(min(self.batch_size, len(self.data)), self.world.size)
        if fsdp and not self.world.distributed:
            raise ConfigError("fsdp shards the model over the ranks of a distributed run: launch with --nproc N or torchrun")
        self.fsdp, self.sharded = bool(fsdp), None
        self.seed, self.weight_decay, self.schedule = int(seed), float(weight_decay), schedule
        self.warmup = default_warmup(self.steps) if warmup is None else int(warmup)
        self.grad_clip = float(grad_clip) if grad_clip else None
        if ema_decay is KIND_DEFAULT:
            ema_decay = budget.get("ema_decay", 0.999)
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.bf16, self.device = bool(bf16), torch.device(device)
        for name, value, ok in (("weight_decay", self.weight_decay, self.weight_decay >= 0),
                                ("warmup", self.warmup, self.warmup >= 0),
                                ("grad_clip", grad_clip, self.grad_clip is None or self.grad_clip > 0),
                                ("ema_decay", ema_decay, self.ema_decay is None or 0 <= self.ema_decay < 1)):
            if not ok:
                raise ConfigError(f"{name}={value} is out of range (weight_decay, warmup, grad_clip >= 0; "
                                  "0 <= ema_decay < 1, or None to turn the EMA off)")
        self.log_every = _positive_int("log_every", log_every or max(1, min(100, self.steps // 50)))
        # a grid costs about as much as tens of steps: by default one at the end and, in between, every
        # max(1000, steps/4) steps but at most every 30 s of wall time (as loss.png); an explicit
        # sample_every draws at exactly those steps
        self.sample_every = max(1000, self.steps // 4) if sample_every is None else int(sample_every)
        self._grid_interval = 30.0 if sample_every is None else 0.0
        self.checkpoint_every = min(1000, max(1, self.steps // 4)) if checkpoint_every is None else int(checkpoint_every)
        self.callbacks, self.progress, self.resume = list(callbacks), progress, resume
        if resume and out is None:
            raise ConfigError("resume=True needs out= (the run directory that holds checkpoint/)")
        self.init_from = None
        if init_from is not None:
            if resume:
                raise ConfigError("init_from starts a new run and resume continues one; use one of them")
            from .init_from import init_weights_from

            self.init_from = init_weights_from(self.model, init_from)
        if adapter is not None:  # parameter-efficient fine-tuning: wraps the model in place (genzoo.finetune)
            from ..finetune import inject_adapter

            inject_adapter(self.model, adapter)
        self.objective = objective
        self.privacy = None
        if privacy is not None:  # after the adapter: only trainable parameters are clipped and noised
            from ..privacy import PrivateTraining

            self.privacy = PrivateTraining(privacy, self)
        self.out = _writable_dir(out) if out is not None else None
        self.writes = self.out is not None and self.world.is_main  # rank 0 writes every file of a distributed run
        self.log = MetricsLog(self.out / "metrics.jsonl" if self.writes else None)
        self.step = 0  # completed optimiser steps
        self._stop = self._cannot_sample = False

    # --- public ---------------------------------------------------------------------------
    @property
    def history(self) -> list[dict[str, Any]]:
        """The logged dicts (``step``, ``loss`` and extras, ``lr``, ``it/s``, ``elapsed``)."""
        return self.log.history

    def stop(self) -> None:
        """Ask the loop to end after the current step (from a callback)."""
        self._stop = True

    def run_config(self) -> dict[str, Any]:
        """The settings of this run, stored in the checkpoint and compared on resume."""
        cfg = {k: getattr(self, k) for k in RUN_KEYS}
        cfg["model_type"] = self.model.model_type
        cfg["model_config"] = {k: v for k, v in self.model.config.to_dict().items() if k not in self.model.fitted_config}
        cfg["data"] = {"name": getattr(self.data, "name", None), "size": len(self.data)}
        if self.privacy is not None:
            cfg["privacy"] = self.privacy.config.to_dict()
        return json.loads(json.dumps(cfg))

    def fit(self) -> GenerativeModel:
        """Run the loop (or its remainder after ``resume``); returns the model with EMA weights."""
        self.model.to(self.device)
        cuda = self._cuda_devices()
        with torch.random.fork_rng(devices=cuda), without_dynamo_import():
            torch.default_generator.manual_seed(self.seed)
            if cuda:
                with torch.cuda.device(cuda[0]):
                    torch.cuda.manual_seed(self.seed)
            self._setup()
            self._loop()
            self._finish()
        return self.model

    # --- setup ----------------------------------------------------------------------------
    def _setup(self) -> None:
        model = self.model
        if self.world.distributed:  # before anything is written or read
            from .._version import GENZOO_VERSION

            distributed.check_same_everywhere("genzoo version and run settings", [GENZOO_VERSION, self.run_config()])
        if self.fsdp:  # before the optimizers and the EMA: they hold the shards
            from .fsdp import ShardedModel

            self.sharded = ShardedModel(model, self.device, None if self.objective is None else functools.partial(self.objective, model))
        self.optimizers = list(model.configure_optimizers(lr=self.lr, weight_decay=self.weight_decay))
        self.lr_plan = [{"from_step": 0, "steps": self.steps, "warmup": self.warmup}]
        self._lr_lambda = LRLambda(steps=self.steps, warmup=self.warmup, schedule=self.schedule, plan=self.lr_plan)
        self.schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, self._lr_lambda) for opt in self.optimizers]
        self.ema = EMA(model, self.ema_decay) if self.ema_decay is not None else None
        self._params = list(model.parameters())  # once: not a walk of the module tree every step
        self.data_generator = torch.Generator().manual_seed(self.seed)
        self.perm: Tensor | None = None
        self.epoch, self.pos, self._elapsed_before = -1, 0, 0.0
        self._t0 = self._last_plot = time.perf_counter()
        resume_step = None
        if self.out is not None:
            for tmp in self.out.glob(f".{CHECKPOINT_DIR}.tmp-*") if self.writes else ():
                shutil.rmtree(tmp, ignore_errors=True)  # left by a kill during a save
            if self.resume:
                ckpt = find_checkpoint(self.out)
                if ckpt is None:
                    print(f"genzoo: no checkpoint in {self.out / CHECKPOINT_DIR}; starting from step 0")
                else:
                    self._restore(ckpt)
                    resume_step = self.step
        self.log.start(resume_step)
        loss = model.loss if self.objective is None else functools.partial(self.objective, model)
        self._loss_fn, self._hooks = loss, []
        if self.sharded is not None:
            self._loss_fn = self.sharded.loss
        elif self.world.distributed:  # gradients averaged over ranks (distributed.py)
            if model.manual_optimization:
                self._hooks = distributed.average_before_step(self.optimizers)
            else:
                self._loss_fn = distributed.data_parallel(model, self.device, loss)

    def _restore(self, path: Path) -> None:
        ckpt = load_checkpoint(path)
        state = ckpt["state"]
        saved, now = state.get("config", {}), self.run_config()
        if isinstance(saved.get("model_config"), dict):  # fitted fields are state, not settings (older runs kept them)
            saved = {**saved, "model_config": {k: v for k, v in saved["model_config"].items()
                                               if k not in self.model.fitted_config}}
        from ..privacy import check_resume

        check_resume(saved, now, path)
        if self.privacy is not None:
            self.privacy.load_state(state["privacy"])
        extended = isinstance(saved.get("steps"), int) and self.steps > saved["steps"]
        if isinstance(saved.get("steps"), int) and self.steps < saved["steps"]:
            raise ConfigError(f"{path}: the run was planned for steps={saved['steps']} ({state['step']} done), now "
                              f"steps={self.steps}; steps can only grow: resume with {saved['steps']} or more")
        for key in now:
            if saved.get(key) != now[key] and not (key == "steps" and extended):
                was, new = saved.get(key), now[key]
                if isinstance(was, dict) and isinstance(new, dict):  # name only the entries that differ
                    changed = sorted(k for k in was.keys() | new.keys() if was.get(k, _MISSING) != new.get(k, _MISSING))
                    was, new = ({k: d.get(k, "<absent>") for k in changed} for d in (was, new))
                raise ConfigError(f"{path}: the run was started with {key}={_short(was)}, now "
                                  f"{key}={_short(new)}; resume with the same settings or use a new --out")
        shard = None
        if self.sharded is not None:  # whole tensors in the files, shards in the run
            from .fsdp import shard_like as shard

            load_state_into(self.sharded.plain, ckpt["model"], path / "model.safetensors")  # checks, then splits
            self.sharded.load_full_state(self.sharded.plain.state_dict())
        else:
            load_state_into(self.model, ckpt["model"], path / "model.safetensors")
        if self.ema is not None:
            ema = ckpt["ema"] or {}
            self.ema.load_state_dict({k: shard(v, self.ema.shadow[k]) for k, v in ema.items()} if shard and set(ema) ==
                                     set(self.ema.shadow) else ema)
        optimizer_from_tensors(self.optimizers, ckpt["optimizer"], state["optimizers"], path / "optimizer.safetensors",
                               shard=shard)
        for sched, sd in zip(self.schedulers, state["schedulers"]):
            sched.load_state_dict(sd)  # also puts the saved plan into the shared LRLambda: set below
        plan = state.get("lr_plan") or [{"from_step": 0, "steps": saved["steps"], "warmup": saved["warmup"]}]
        if extended:
            plan = extend_plan(plan, state["step"], self.steps, self.warmup)
            self._announce_extension(saved["steps"], state["step"], plan)
        self.lr_plan = plan
        self._lr_lambda.__dict__.update(steps=self.steps, warmup=self.warmup, plan=plan)
        rng = ckpt["rng"]
        torch.set_rng_state(rng["torch"])
        if self.device.type == "cuda" and "cuda" in rng:
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        self.data_generator.set_state(rng["data"])
        self.perm = rng["perm"] if state["epoch"] >= 0 else None
        self.model.load_extra_state_tensors({k: v.to(self.device) for k, v in ckpt["extra"].items()})
        self.step, self.epoch, self.pos = state["step"], state["epoch"], state["position"]
        self.init_from = state.get("init_from")
        self._elapsed_before = state.get("elapsed", 0.0)

    def _announce_extension(self, old_steps: int, at: int, plan: list[dict]) -> None:
        """One stdout line: the run grows from ``old_steps`` to ``self.steps`` and how its rate goes on."""
        from .schedule import planned_multiplier

        ramp = max(1, self.warmup)
        rejoin = min(at + ramp, self.steps)
        print(f"genzoo: extending the run from {old_steps} to {self.steps} steps at step {at}: learning rate "
              f"{self.lr * planned_multiplier(at, plan, self.schedule):.3g} at step {at}, linearly to "
              f"{self.lr * planned_multiplier(rejoin, plan, self.schedule):.3g} at step {rejoin}, then the "
              f"{self.steps}-step {self.schedule} plan (recorded as lr_plan in checkpoint/trainer_state.json)")

    # --- the loop -------------------------------------------------------------------------
    def _loop(self) -> None:
        model, bar = self.model, progress_bar(self.steps, self.step, self.progress and self.world.is_main)
        if self.writes:
            prefetch_imports()
        self._t0 = self._last_plot = self._last_grid = time.perf_counter()
        window: dict[str, list[float]] = {}
        last_step, last_time = self.step, self._t0
        model.train()
        try:
            while self.step < self.steps and not self._stopping():
                lr = self.optimizers[0].param_groups[0]["lr"] if self.optimizers else self.lr
                idx = self._next_indices()  # DP-SGD: a Poisson draw, possibly empty
                batch = _to_device(self.data.batch(idx), self.device) if len(idx) else None
                with sharded(self.world.rank, self.world.size):
                    logs = (self.privacy.step(self, batch) if self.privacy is not None else
                            self._manual_step(batch) if model.manual_optimization else self._default_step(batch))
                for sched in self.schedulers:
                    sched.step()
                self.step += 1
                if self.ema is not None:
                    self.ema.update(self.step)
                logs["lr"] = lr
                for k, v in logs.items():
                    window.setdefault(k, []).append(v)
                if bar is not None:
                    bar.update(1)
                if self.step % self.log_every == 0 or self.step == self.steps:
                    now = time.perf_counter()
                    means = distributed.mean_over_ranks({k: sum(v) / len(v) for k, v in window.items()})
                    entry = {"step": self.step, **means, "lr": lr,
                             "it/s": (self.step - last_step) / max(now - last_time, 1e-9),
                             "elapsed": self._elapsed()}
                    self.log.append(entry)
                    window, last_step, last_time = {}, self.step, now
                    if bar is not None:
                        bar.set_postfix({k: f"{v:.4g}" for k, v in entry.items() if "loss" in k}, refresh=False)
                if self.writes or (self.sharded is not None and self.out is not None):  # sharded: all gather
                    if self.sample_every and (self.step == self.steps or (
                            self.step % self.sample_every == 0 and time.perf_counter() - self._last_grid >= self._grid_interval)):
                        self.save_samples()
                        self._last_grid = time.perf_counter()
                    if self.checkpoint_every and (self.step % self.checkpoint_every == 0 or self.step == self.steps):
                        self.save_checkpoint()
                for fn in self.callbacks:
                    fn(self, self.step, logs)
        finally:
            if bar is not None:
                bar.close()
            for hook in self._hooks:
                hook.remove()
        if self._stop and (self.writes or (self.sharded is not None and self.out is not None)) and self.checkpoint_every:
            self.save_checkpoint()

    def _stopping(self) -> bool:
        """``stop()`` was asked for (by a callback, on any rank: all ranks end at the same step)."""
        if self.world.distributed and self.callbacks:
            return not distributed.all_true(not self._stop)
        return self._stop

    def _next_indices(self) -> Tensor:
        """The next batch of the epoch's permutation (a new permutation when it runs out)."""
        n = len(self.data)
        if self.privacy is not None:
            return self.privacy.indices(self.data_generator)
        bs = min(self.batch_size, n)
        if self.perm is None or self.pos + bs > len(self.perm):
            self.perm, self.pos, self.epoch = torch.randperm(n, generator=self.data_generator), 0, self.epoch + 1
        idx = self.perm[self.pos:self.pos + bs]
        self.pos += bs
        if self.world.distributed:  # this rank's contiguous share of the global batch
            b = self.local_batch_size
            idx = idx[self.world.rank * b:(self.world.rank + 1) * b]
        return idx

    def _autocast(self):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _default_step(self, batch) -> dict[str, float]:
        with self._autocast():
            out = self._loss_fn(batch)
        loss = out["loss"]
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in self._params if p.grad is not None]
        total = torch.nn.utils.get_total_norm([p.grad for p in params]) if params else torch.zeros(())
        norm = total.full_tensor() if self.sharded is not None else total
        logs = {"loss": float(loss.detach()), **_scalars(out, skip="loss"), "grad_norm": float(norm)}
        self._check_finite(logs, ("loss", "grad_norm"))
        if self.grad_clip is not None and logs["grad_norm"] > self.grad_clip:  # scale only when needed
            torch.nn.utils.clip_grads_with_norm_(params, self.grad_clip, total)
        for opt in self.optimizers:
            eager_step(opt)
        return logs

    def _manual_step(self, batch) -> dict[str, float]:
        with self._autocast():
            logs = self.model.training_step(batch, self.step, optimizers=self.optimizers)
        logs = _scalars(logs)
        self._check_finite(logs, list(logs))
        return logs

    def _check_finite(self, logs: dict[str, float], keys) -> None:
        for k in keys:
            if not math.isfinite(logs[k]):
                kept = ""
                if self.out is not None and find_checkpoint(self.out) is not None:
                    kept = f"the last good checkpoint in {self.out / CHECKPOINT_DIR} is kept; "
                what = "gradient norm" if k == "grad_norm" else k
                raise TrainingDiverged(
                    f"{what} became {logs[k]} at step {self.step + 1}; {kept}lower --lr (now {self.lr:g})"
                    + (", keep grad_clip on" if self.grad_clip is None else "")
                    + (", train without bf16" if self.bf16 else "") + " or check the data for outliers")

    def _cuda_devices(self) -> list[int]:
        """The CUDA device whose RNG the run forks (none on CPU)."""
        if self.device.type != "cuda":
            return []
        return [self.device.index if self.device.index is not None else torch.cuda.current_device()]

    def _elapsed(self) -> float:
        return self._elapsed_before + time.perf_counter() - self._t0

    # --- outputs --------------------------------------------------------------------------
    def save_samples(self) -> Path | None:
        """Sample with the EMA weights (seeded; the training RNG is untouched) into ``OUT/samples``.

        A family without ``sample`` is skipped quietly; a sampler that fails warns once and is not
        called again, so a broken picture never ends a long run.
        """
        from ..plotting import infer_kind, save_samples

        model, swapped = self.model, self.ema.swapped_in() if self.ema is not None else contextlib.nullcontext()
        if self.sharded is not None:  # every rank gathers the weights; rank 0 samples with the whole copy
            model, swapped = self.sharded.gathered(self.ema.shadow if self.ema is not None else None), contextlib.nullcontext()
            if not self.world.is_main:
                return None
        if self._cannot_sample:
            return None
        n = 4 if getattr(self.data, "kind", None) in ("text", "seq2seq") else 64
        try:
            with torch.random.fork_rng(devices=self._cuda_devices()), torch.no_grad(), swapped:
                model.eval()
                try:
                    samples = model.sample(n, generator=torch.Generator().manual_seed(self.seed))
                finally:
                    model.train()
            kind = infer_kind(samples)
            x = getattr(self.data, "x", None)
            reference = x[:1000] if kind == "2d" and isinstance(x, Tensor) and x.ndim == 2 else None
            return save_samples(samples, self.out / "samples" / f"step_{self.step:06d}.png", kind=kind,
                                tokenizer=getattr(self.data, "tokenizer", None), reference=reference)
        except (NotImplementedError, NotSupported):
            self._cannot_sample = True
        except Exception as e:  # noqa: BLE001 - a picture must not end the run
            self._cannot_sample = True
            warnings.warn(f"genzoo: sampling at step {self.step} failed ({type(e).__name__}: {e}); "
                          "training goes on without sample grids", stacklevel=2)
        return None

    def save_checkpoint(self) -> None:
        """Write ``OUT/checkpoint`` atomically (and refresh ``loss.png``)."""
        rng = {"torch": torch.get_rng_state(), "data": self.data_generator.get_state(),
               "perm": self.perm if self.perm is not None else torch.zeros(0, dtype=torch.long)}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        state = {"step": self.step, "epoch": self.epoch, "position": self.pos, "seed": self.seed,
                 "elapsed": self._elapsed(), "config": self.run_config(), "lr_plan": self.lr_plan,
                 "init_from": self.init_from, "schedulers": [s.state_dict() for s in self.schedulers]}
        if self.privacy is not None:
            state["privacy"] = self.privacy.state()
            self.privacy.write(self.out)
        model, ema, optimizers = self.model, self.ema.state_dict() if self.ema is not None else None, self.optimizers
        if self.sharded is not None:  # every rank gathers; rank 0 writes the ordinary single-file layout
            from .checkpoint import optimizer_to_tensors
            from .fsdp import full

            model, optimizers = self.sharded.gathered(), optimizer_to_tensors(self.optimizers, whole=full)
            ema = {k: full(v) for k, v in ema.items()} if ema is not None else None
            if not self.world.is_main:
                return
        save_checkpoint(self.out / CHECKPOINT_DIR, state=state, model=model, ema_tensors=ema,
                        optimizers=optimizers, rng=rng, extra=self.model.extra_state_tensors())
        self._save_loss_curve()

    def _save_loss_curve(self, final: bool = False) -> None:
        """Refresh ``OUT/loss.png``: at the end, and at checkpoints at most every 30 s of wall time."""
        now = time.perf_counter()
        if self.history and (final or now - self._last_plot >= 30.0):
            from ..plotting import save_loss_curve

            save_loss_curve(self.history, self.out / "loss.png")
            self._last_plot = now

    def _finish(self) -> None:
        if self.ema is not None:
            self.ema.copy_to()
        if self.sharded is not None:  # the run returns (and rank 0 saves) a whole, unsharded model
            self.model = self.sharded.gathered()
        self.model.eval()
        if self.writes:
            _save_model_into(self.model, self.out)
            if self.privacy is not None:
                self.privacy.write(self.out)
            self._save_loss_curve(final=True)


# --- helpers ---------------------------------------------------------------------------------
def _save_model_into(model: GenerativeModel, out: Path) -> None:
    """``model.save_pretrained`` (or its adapter) into ``out`` without touching the run's other files."""
    tmp = out / ".model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    if getattr(model, "peft_config", None):  # an adapted model saves its adapter (genzoo.finetune)
        from ..finetune.peft_format import save_adapter

        save_adapter(model, tmp)
    else:
        model.save_pretrained(tmp)
    for item in sorted(tmp.iterdir(), key=lambda p: p.name not in ("config.json", "adapter_config.json")):  # config last
        target = out / item.name
        if target.is_dir() and item.is_dir():
            shutil.rmtree(target)
        os.replace(item, target)
    shutil.rmtree(tmp, ignore_errors=True)


def _scalars(values: dict, skip: str | None = None) -> dict[str, float]:
    """The scalar entries of a loss / training_step dict as floats (other entries are not logged)."""
    out = {}
    for k, v in values.items():
        if k == skip:
            continue
        if isinstance(v, Tensor) and v.numel() == 1:
            out[k] = float(v.detach())
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = float(v)
    return out


def _to_device(batch, device: torch.device):
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def _as_dataset(data):
    """A ``GenDataset`` (or anything with ``batch(index)`` and ``len``); a bare Tensor is wrapped."""
    if isinstance(data, Tensor):
        from ..data.base import GenDataset

        kind = "text" if not data.is_floating_point() else "image" if data.ndim == 4 else "2d"
        return GenDataset("tensor", "train", kind, data)
    if not (hasattr(data, "batch") and hasattr(data, "__len__")):
        raise ConfigError(f"cannot train on a {type(data).__name__}; pass a genzoo dataset (genzoo.load_dataset) or a Tensor")
    return data


def _positive_int(name: str, value) -> int:
    try:
        v = int(value)
    except (TypeError, ValueError):
        v = 0
    if v < 1 or v != value:
        raise ConfigError(f"{name}={value!r} must be a positive integer")
    return v


def _writable_dir(out) -> Path:
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".genzoo-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"cannot write to {out}: {e.strerror or e}; choose a writable --out directory") from None
    return out


def _saved_config(out: Path) -> dict[str, Any]:
    from ..serialization import read_json
    from .checkpoint import STATE_NAME

    ckpt = find_checkpoint(out)
    return read_json(ckpt / STATE_NAME).get("config", {}) if ckpt is not None else {}


_MISSING = object()


def _short(value: Any) -> str:
    s = json.dumps(value, sort_keys=True)
    return s if len(s) <= 80 else s[:77] + "..."

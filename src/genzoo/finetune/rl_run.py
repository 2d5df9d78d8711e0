"""What ``genzoo finetune BASE --method ppo|grpo --reward NAME --steps N --out DIR`` does (after ``run.py``'s checks).

Online RL on the GPT in ``BASE``: each step draws ``--batch-size`` prompts (pystdlib function headers,
or docstrings with ``>>>`` examples for ``--reward doctest``; for a GPT trained on molecules the BOS
token, whole molecules of up to block_size - 1 tokens, e.g. ``--reward qed``; ``prefs_make.select_prompts``), samples
completions with a seeded ``torch.Generator``, scores them with the reward plug-in (``rewards.py``: a
failing sample scores 0 and is counted; all failing stops with a one-line error) and updates a LoRA
adapter with ``grpo.GRPO`` or ``ppo.PPO``; the reference is the base with the adapter disabled.

``--set`` takes the rollout options ``prompts`` (the pool, 64), ``max_new_tokens`` (32), ``temperature``
(1.0), ``top_k`` (none); the method's options (``grpo.GRPOConfig``: ``num_generations``, ``beta``, ``clip``,
``scale_rewards``, ``loss_type``...; ``ppo.PPOConfig``: ``beta``, ``kl_target``, ``gamma``, ``lam``,
``ppo_epochs``...); and the adapter's (``adapter=lora|dora|ia3|adapter``, r, lora_alpha...). The run
writes the adapter (``gz.load(DIR)`` generates; ``--merge``: ``DIR/merged``), ``metrics.jsonl`` (per step:
reward mean/std, failures, KL, clip fraction, losses), ``loss.png``, ``reward.png`` (reward and KL) and
``run.json``.
"""
from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, DataError, did_you_mean
from ..safety.model_card import write_after_save
from ..serialization import write_json
from .base import merge_and_unload, trainable_parameters

RL_METHODS = ("ppo", "grpo")
ROLLOUT = {"prompts": 64, "max_new_tokens": 32, "temperature": 1.0, "top_k": None}
BUDGET = {"steps": 200, "batch_size": 4, "lr": 1e-4}


def split_rl_options(method: str, overrides: dict[str, str]):
    """``(rollout options, GRPOConfig | PPOConfig, adapter config)`` from the ``--set`` strings."""
    from ..model import _coerce
    from .grpo import GRPOConfig
    from .ppo import PPOConfig
    from .prefs_run import adapter_options

    overrides = dict(overrides)
    rollout = dict(ROLLOUT)
    for key, kind in (("prompts", int), ("max_new_tokens", int), ("temperature", float), ("top_k", int)):
        if key in overrides:
            value = overrides.pop(key)
            try:
                rollout[key] = None if value.lower() == "none" and key == "top_k" else kind(value)
            except ValueError:
                raise ConfigError(f"--set {key}={value} must be a number") from None
    for key in ("prompts", "max_new_tokens"):
        if rollout[key] < 1:
            raise ConfigError(f"--set {key}={rollout[key]} must be >= 1")
    if not rollout["temperature"] > 0:
        raise ConfigError(f"--set temperature={rollout['temperature']} must be > 0")
    cls = GRPOConfig if method == "grpo" else PPOConfig
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in overrides:
            value = overrides.pop(f.name)
            try:
                values[f.name] = None if value.lower() == "none" else _coerce(cls, f.name, value)
            except Exception:  # noqa: BLE001 - _coerce's own error is already one line
                raise ConfigError(f"--set {f.name}={value} is not a valid value") from None
    config = cls(**values)
    try:
        adapter = adapter_options(overrides, adapters=("lora", "dora", "ia3", "adapter"))
    except ConfigError as e:
        bad = next((k for k in overrides if f"no option {k!r}" in str(e)), None)
        if bad is not None:
            names = [*ROLLOUT, *(f.name for f in dataclasses.fields(cls))]
            raise ConfigError(f"--method {method} has no option {bad!r}{did_you_mean(bad, names)}; it takes "
                              f"{', '.join(names)}, adapter= and the adapter's options") from None
        raise ConfigError(f"--method {method}: {e}") from None
    return rollout, config, adapter


def rl_run(base: Path, *, method: str, reward: str | None, overrides: dict[str, str], out: Path, steps=None,
           batch_size=None, lr=None, seed: int = 0, merge: bool = False, progress: bool = True, device: str = "cpu",
           overwrite: bool = False) -> dict[str, Any]:
    """Train (see the module docstring); writes ``out`` and returns what ``run.json`` records."""
    import genzoo as gz
    from ..data.smiles import molecule_format
    from ..plotting import save_loss_curve
    from ..training.logging import MetricsLog, progress_bar
    from ..training.trainer import _save_model_into
    from . import inject_adapter
    from .grpo import GRPO
    from .peft_format import base_fingerprint
    from .ppo import PPO
    from .prefs_make import select_prompts
    from .rewards import get_reward
    from .rollout import sample_rollout, score

    if not reward:
        raise ConfigError(f"--method {method} needs --reward NAME (python-syntax, doctest, qed, model:DIR or MODULE:FUNCTION)")
    rollout_options, config, adapter = split_rl_options(method, overrides)
    steps, batch_size, lr = steps or BUDGET["steps"], batch_size or BUDGET["batch_size"], lr or BUDGET["lr"]
    for name, value in (("--steps", steps), ("--batch-size", batch_size)):
        if value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")
    reward_fn = get_reward(reward)
    model = gz.load(base, device=device)
    if not hasattr(model, "token_log_probs") or getattr(model, "tokenizer", None) is None or \
            not hasattr(model, "transformer"):
        raise ConfigError(f"{base} holds a {type(model).__name__} without a tokenizer; --method {method} needs a GPT "
                          "that reads text (trained on a text set, or a transformers GPT-2 with its tokenizer)")
    if reward == "qed" and molecule_format(model.tokenizer) is None:
        raise ConfigError(f"--reward qed scores molecules; {base} is not a GPT trained on a molecule dataset "
                          "(moses, moses-small, smiles:PATH)")
    if molecule_format(model.tokenizer) is not None and "max_new_tokens" not in overrides:
        rollout_options["max_new_tokens"] = model.config.block_size - 1  # whole molecules, as the model was trained
    generator = torch.Generator().manual_seed(seed)
    pool = select_prompts(model, reward, rollout_options["prompts"], rollout_options["max_new_tokens"], generator)
    model.peft_base, model.peft_base_fingerprint = str(base), base_fingerprint(model)
    torch.manual_seed(seed)  # adapter initialisation
    inject_adapter(model, adapter)
    model.eval()  # no dropout: the ratio π_θ/π_old starts at 1 (as TRL)
    algo = GRPO(config, rollout_options["max_new_tokens"]) if method == "grpo" else PPO(config, model, generator)
    group = config.num_generations if method == "grpo" else 1
    params = [p for p in model.parameters() if p.requires_grad]
    if method == "ppo":
        params += list(algo.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    if out.exists() and overwrite:  # every check has passed: now the old contents may go
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    log = MetricsLog(out / "metrics.jsonl")
    log.start(None)
    gen_kw = {k: rollout_options[k] for k in ("max_new_tokens", "temperature", "top_k")}
    order, failures, samples, first_error, started = [], 0, 0, None, time.perf_counter()
    bar = progress_bar(steps, 0, progress)
    for step in range(1, steps + 1):
        batch = []
        while len(batch) < min(batch_size, len(pool)):
            if not order:
                order = torch.randperm(len(pool), generator=generator).tolist()
            batch.append(pool[order.pop()])
        try:
            rollout = score(sample_rollout(model, batch, group, generator, **gen_kw), reward_fn, reward)
        except DataError:  # every sample failed: stop (a first step leaves nothing behind)
            if step == 1:
                shutil.rmtree(out, ignore_errors=True)
            raise
        failures, samples = failures + rollout.failed, samples + len(rollout)
        first_error = first_error or rollout.first_error
        metrics = algo.step(model, rollout, optimizer)
        log.append({"step": step, "reward_mean": float(rollout.rewards.mean()),
                    "reward_std": float(rollout.rewards.std()) if len(rollout) > 1 else 0.0,
                    "reward_failures": rollout.failed, "completion_length": float(rollout.mask.sum(1).mean()),
                    **metrics, "elapsed": round(time.perf_counter() - started, 3)})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(reward=f"{float(rollout.rewards.mean()):.3f}", kl=f"{metrics['kl']:.4f}")
    if bar is not None:
        bar.close()
    save_loss_curve(log.history, out / "loss.png")
    save_loss_curve(log.history, out / "reward.png", keys=["reward_mean", "kl"], ylabel="reward, KL", log_y=False)
    _save_model_into(model, out)
    trainable, total = trainable_parameters(model)
    last = log.history[-1]
    info = {"base": str(base), "method": method, "reward": reward, "overrides": overrides, "seed": seed,
            "steps": steps, "batch_size": batch_size, "lr": lr, **rollout_options, **dataclasses.asdict(config),
            "adapter": overrides.get("adapter", "lora"), "reference": "base with adapters disabled",
            "trainable_parameters": trainable, "total_parameters": total, "samples": samples,
            "reward_failures": failures, "first_reward_error": first_error,
            "final": {k: v for k, v in last.items() if k not in ("step", "elapsed")}}
    write_json(out / "run.json", info)
    write_after_save(out)  # README.md: the model card (genzoo.safety.model_card)
    if merge:
        merge_and_unload(model).save_pretrained(out / "merged")
    return info

"""What ``genzoo finetune BASE --data NAME --method M --set k=v --out DIR`` does, as a plain function.

``BASE`` is any directory ``gz.load`` reads (a genzoo run, a transformers GPT-2 or diffusers
directory). ``--method`` is ``lora``, ``dora``, ``ia3``, ``prompt`` (prompt tuning, GPT), ``adapter``
(bottleneck) or ``full``, or a preference method on ``--data PATH.jsonl`` (``dpo``, ``ipo``, ``kto``,
``reward``: ``prefs_run.py``), or online RL with ``--reward NAME`` and no data (``ppo``, ``grpo``:
``rl_run.py``); all adapter methods train only the adapter (one Trainer, ``Trainer(adapter=config)``) and write
``adapter_config.json`` + ``adapter_model.safetensors`` that record ``BASE``; ``full`` fine-tunes every
weight and writes a whole model. ``--merge`` also writes ``DIR/merged``, a standalone model with the
adapter merged in. Nothing is overwritten without ``--overwrite``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..errors import ConfigError, did_you_mean
from ..safety.model_card import write_after_save
from ..serialization import write_json
from .base import merge_and_unload, parse_targets, trainable_parameters
from .prefs_run import PREFERENCE_METHODS
from .rl_run import RL_METHODS

METHODS = ("lora", "dora", "ia3", "prompt", "adapter", "full")


def config_for(method: str, overrides: dict[str, Any]):
    """The adapter config for ``--method`` with ``--set`` values (strings from the CLI) applied."""
    from ..model import _coerce
    from .ia3 import IA3Config
    from .lora import LoraConfig

    if method not in METHODS:
        raise ConfigError(f"unknown --method {method!r}{did_you_mean(method, METHODS + PREFERENCE_METHODS + RL_METHODS)}")
    if method == "full":
        if overrides:
            raise ConfigError("--method full takes no --set options (they configure adapters)")
        return None
    if method == "adapter":
        from .bottleneck import BottleneckConfig

        cls, fixed = BottleneckConfig, {}
    elif method == "prompt":
        from .prompt_tuning import PromptTuningConfig

        cls, fixed = PromptTuningConfig, {}
    else:
        cls, fixed = (IA3Config, {}) if method == "ia3" else (LoraConfig, {"use_dora": method == "dora"})
    names = [f.name for f in dataclasses.fields(cls)]
    values: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in names:
            raise ConfigError(f"--method {method} has no option {key!r}{did_you_mean(key, names)}")
        values[key] = parse_targets(value) if key.endswith("_modules") else _coerce(cls, key, value)
    if "target_modules" not in values and method != "prompt":
        raise ConfigError(f"--method {method} needs --set target_modules=NAMES (e.g. c_attn,c_proj for a GPT)")
    return cls(**{**values, **fixed})


def finetune_run(base, data_name: str | None, *, method: str = "lora", overrides: dict[str, str] | None = None, out=None,
                 steps=None, batch_size=None, lr=None, seed: int = 0, data_args=None, merge: bool = False,
                 overwrite: bool = False, progress: bool = True, device: str = "cpu", sample_every=None,
                 reward: str | None = None) -> Path:
    import torch

    import genzoo as gz
    from ..cli.runs import _check_writable, load_data, text_options_for
    from .peft_format import base_fingerprint, is_adapter_dir

    online = method in RL_METHODS
    if online and data_name is not None:
        raise ConfigError(f"--method {method} samples its own completions of pystdlib prompts: it takes --reward NAME, "
                          "not --data")
    if not online and data_name is None:
        raise ConfigError(f"--method {method} needs --data NAME")
    if not online and reward is not None:
        raise ConfigError(f"--reward applies to --method ppo|grpo (and genzoo prefs make), not --method {method}")
    config = config_for(method, overrides or {}) if method not in PREFERENCE_METHODS + RL_METHODS else None
    if merge and config is None and method not in PREFERENCE_METHODS + RL_METHODS:
        raise ConfigError("--merge applies to adapter methods; --method full already writes a whole model")
    base = Path(base)
    if is_adapter_dir(base):
        raise ConfigError(f"{base} is an adapter directory; fine-tune its base (or merge it first with --merge)")
    out = Path(out) if out is not None else Path("runs") / f"{base.name}-{method}"
    _check_writable(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out} is not empty; pass --overwrite to replace it, or another --out")
    if online:
        from .rl_run import rl_run

        rl_run(base, method=method, reward=reward, overrides=overrides or {}, out=out, steps=steps,
               batch_size=batch_size, lr=lr, seed=seed, merge=merge, progress=progress, device=device,
               overwrite=overwrite)
        return out
    if method in PREFERENCE_METHODS:
        from .prefs_run import preference_run

        preference_run(base, data_name, method=method, overrides=overrides or {}, out=out, steps=steps,
                       batch_size=batch_size, lr=lr, seed=seed, merge=merge, progress=progress, device=device,
                       sample_every=sample_every, overwrite=overwrite)
        return out
    model = gz.load(base, device=device)
    args = dict(data_args or {})
    args.update(text_options_for(model, base, data_name, args, explicit=data_args or {}))
    if method == "prompt":  # the virtual tokens take part of the context
        room = getattr(model.config, "block_size", 0) - config.num_virtual_tokens
        if room < 2:
            raise ConfigError(f"num_virtual_tokens={config.num_virtual_tokens} leaves no room in the context of {model.config.block_size}")
        if int(args.get("block_size", room)) > room:
            if "block_size" in (data_args or {}):
                raise ConfigError(f"--data-arg block_size={args['block_size']} plus {config.num_virtual_tokens} virtual tokens "
                                  f"exceeds the context of {model.config.block_size}; use block_size <= {room}")
            args["block_size"] = room
    data = load_data(data_name, "train", args)
    if model.data_kinds and data.kind not in model.data_kinds:
        raise ConfigError(f"{base} holds a {model.model_type!r} model for {', '.join(model.data_kinds)} data; "
                          f"{data_name!r} is {data.kind} data")
    if config is not None:
        model.peft_base, model.peft_base_fingerprint = str(base), base_fingerprint(model)
    if out.exists() and overwrite:  # every check has passed: now the old contents may go
        import shutil

        shutil.rmtree(out)
    torch.manual_seed(seed)  # adapter initialisation
    trainer = gz.Trainer(model, data, steps=steps, batch_size=batch_size, lr=lr, seed=seed, out=out, device=device,
                         progress=progress, sample_every=sample_every, adapter=config, ema_decay=None if config is not None else 0.999)
    trainer.fit()
    trainable, total = trainable_parameters(model)
    info = {"base": str(base), "method": method, "data": data_name, "data_args": data_args or {},
            "overrides": overrides or {}, "seed": seed, "steps": trainer.steps, "batch_size": trainer.batch_size,
            "lr": trainer.lr, "trainable_parameters": trainable, "total_parameters": total}
    write_json(out / "run.json", info)
    write_after_save(out)  # README.md: the model card (genzoo.safety.model_card)
    if merge:
        merged = merge_and_unload(model)
        merged.save_pretrained(out / "merged")
    return out

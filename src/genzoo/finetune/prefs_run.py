"""What ``genzoo finetune BASE --method dpo|ipo|kto|reward --data prefs.jsonl`` does (after ``run.py``'s checks).

``dpo``/``ipo``/``kto`` train the GPT in ``BASE`` on preference pairs with ``dpo.PreferenceObjective``
through the one Trainer. ``--set`` takes ``beta`` (0.1), ``desirable_weight``/``undesirable_weight``
(KTO, 1.0), ``precompute_ref`` (false), ``adapter`` (``lora`` by default; ``dora``, ``ia3``, ``adapter``
or ``full``) and that adapter's own options (default ``target_modules=all-linear``, r=8, lora_alpha=16).
With an adapter the reference is the base with the adapter disabled (no second copy) and the run
writes adapter files (``--merge``: also a standalone model); ``full`` keeps a frozen copy as the
reference, unless ``precompute_ref`` makes it unneeded (DPO, IPO).

``reward`` trains a ``reward.GPTRewardModel`` started from ``BASE`` (every weight) with the
Bradley–Terry loss; ``--set held_out=0.1`` is the share of pairs kept out (seeded) to report the pair
accuracy on (``run.json``: ``held_out_accuracy``); ``held_out=0`` keeps none.
"""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, did_you_mean
from ..safety.model_card import write_after_save
from ..serialization import write_json
from .base import merge_and_unload, trainable_parameters

PREFERENCE_METHODS = ("dpo", "ipo", "kto", "reward")
ADAPTERS = ("lora", "dora", "ia3", "adapter", "full")
#: the Trainer's defaults for preference runs (a GPT's own budget is for pre-training)
BUDGET = {"steps": 500, "batch_size": 8, "lr": 1e-4}
FULL_LR = 1e-5


def split_options(method: str, overrides: dict[str, str]):
    """``(PreferenceConfig, adapter config or None, held-out share)`` from the ``--set`` strings (for
    ``reward``: ``(None, None, held_out)``)."""
    from ..model import _coerce
    from .dpo import PreferenceConfig

    overrides = dict(overrides)
    if method == "reward":
        held_out = overrides.pop("held_out", "0.1")
        if overrides:
            key = next(iter(overrides))
            raise ConfigError(f"--method reward has no option {key!r} (it takes held_out=FRACTION)")
        try:
            share = float(held_out)
        except ValueError:
            share = -1.0
        if not 0 <= share < 1:
            raise ConfigError(f"held_out={held_out} must be a fraction in [0, 1)")
        return None, None, share
    names = [f.name for f in dataclasses.fields(PreferenceConfig) if f.name != "loss"]
    values = {k: _coerce(PreferenceConfig, k, overrides.pop(k)) for k in names if k in overrides}
    prefs = PreferenceConfig(loss=method, **values)
    return prefs, adapter_options(overrides), 0.0


def adapter_options(overrides: dict[str, str], adapters: tuple[str, ...] = ADAPTERS):
    """The adapter config of the remaining ``--set`` strings: ``adapter`` (``lora`` by default) and its
    options (LoRA/DoRA: ``target_modules=all-linear``, r=8, lora_alpha=16 unless given); ``None`` for ``full``."""
    from .run import config_for

    overrides = dict(overrides)
    adapter = overrides.pop("adapter", "lora")
    if adapter not in adapters:
        raise ConfigError(f"--set adapter={adapter} is not one of {', '.join(adapters)}{did_you_mean(adapter, adapters)}")
    if adapter == "full":
        if overrides:
            raise ConfigError(f"--set adapter=full takes no adapter options; got {', '.join(overrides)}")
        return None
    if adapter in ("lora", "dora"):
        overrides = {"target_modules": "all-linear", "r": "8", "lora_alpha": "16", **overrides}
    return config_for(adapter, overrides)


def preference_run(base: Path, data_name: str, *, method: str, overrides: dict[str, str], out: Path, steps=None,
                   batch_size=None, lr=None, seed: int = 0, merge: bool = False, progress: bool = True,
                   device: str = "cpu", sample_every=None, overwrite: bool = False) -> dict[str, Any]:
    """Train (see the module docstring); writes ``out`` and returns what ``run.json`` records."""
    import genzoo as gz
    from .dpo import PreferenceObjective, precompute_reference
    from .peft_format import base_fingerprint
    from .prefs_data import load_prefs
    from .reward import GPTRewardModel, pair_accuracy

    prefs, adapter, held_out_share = split_options(method, overrides)
    if merge and adapter is None:
        raise ConfigError(f"--merge applies to adapter runs; --method {method}"
                          f"{' --set adapter=full' if method != 'reward' else ''} already writes a whole model")
    if not str(data_name).endswith(".jsonl"):
        raise ConfigError(f"--method {method} reads preference pairs: --data PATH.jsonl (prompt, chosen, rejected "
                          f"per line; make one with genzoo prefs make), not {data_name!r}")
    model = gz.load(base, device=device)
    if not hasattr(model, "token_log_probs") or getattr(model, "tokenizer", None) is None:
        raise ConfigError(f"{base} holds a {type(model).__name__} without a tokenizer; preference training needs a "
                          "GPT that reads text (trained on a text set, or a transformers GPT-2 with its tokenizer)")
    data = load_prefs(data_name, model, add_eos=method != "reward")
    held_out = None
    generator = torch.Generator().manual_seed(seed)
    if method == "reward":
        if held_out_share > 0:
            data, held_out = data.split(held_out_share, generator)
        model = GPTRewardModel.from_gpt(model, generator=generator)
        objective, reference = None, None
    else:
        if adapter is not None:
            model.peft_base, model.peft_base_fingerprint = str(base), base_fingerprint(model)
        if prefs.precompute_ref:  # before the adapter exists: the model is the base
            precompute_reference(model, data, batch_size=batch_size or BUDGET["batch_size"])
        needs_copy = adapter is None and (not prefs.precompute_ref or prefs.loss == "kto")
        reference = copy.deepcopy(model).eval() if needs_copy else None
        objective = PreferenceObjective(prefs, reference)
    if out.exists() and overwrite:  # every check has passed: now the old contents may go
        import shutil

        shutil.rmtree(out)
    torch.manual_seed(seed)  # adapter initialisation
    default_lr = FULL_LR if adapter is None and method != "reward" else BUDGET["lr"]
    trainer = gz.Trainer(model, data, steps=steps or BUDGET["steps"], batch_size=batch_size or BUDGET["batch_size"],
                         lr=lr or default_lr, seed=seed, out=out, device=device, progress=progress,
                         sample_every=0 if method == "reward" else sample_every, adapter=adapter, ema_decay=None,
                         objective=objective)
    trainer.fit()
    trainable, total = trainable_parameters(model)
    last = trainer.history[-1] if trainer.history else {}
    info = {"base": str(base), "method": method, "data": str(data_name), "pairs": len(data), "overrides": overrides,
            "seed": seed, "steps": trainer.steps, "batch_size": trainer.batch_size, "lr": trainer.lr,
            "trainable_parameters": trainable, "total_parameters": total, "truncated": data.info["truncated"],
            "final": {k: v for k, v in last.items() if k not in ("step", "it/s", "elapsed")}}
    if method == "reward":
        info["held_out_pairs"] = len(held_out) if held_out is not None else 0
        info["held_out_accuracy"] = pair_accuracy(model, held_out) if held_out is not None else None
    else:
        info.update(dataclasses.asdict(prefs), adapter=overrides.get("adapter", "lora"),
                    reference="precomputed" if prefs.precompute_ref and prefs.loss != "kto" else
                    "frozen copy" if reference is not None else "base with adapters disabled")
    write_json(out / "run.json", info)
    write_after_save(out)  # README.md: the model card (genzoo.safety.model_card)
    if merge:
        merge_and_unload(model).save_pretrained(out / "merged")
    return info

"""Parameter-efficient fine-tuning: LoRA, DoRA, IA³, prompt tuning, bottleneck adapters, int8 LoRA, in
PEFT's files.

    from genzoo.finetune import LoraConfig, inject_adapter, save_adapter, load_adapted
    inject_adapter(model, LoraConfig(r=8, target_modules=["c_attn"]))   # only the adapter trains
    gz.Trainer(model, data, ...).fit();  save_adapter(model, "runs/x-lora", base="runs/x")
    model = gz.load("runs/x-lora")                                     # base + adapter

One file per method (``lora.py``, ``dora.py``, ``ia3.py``, ``prompt_tuning.py``, ``bottleneck.py``,
``qlora.py``); ``base.py`` holds the
wrapping, matching, merge and adapter switching they share; ``peft_format.py`` the files.

Preference training: ``prefs_data.py`` (TRL's JSONL), ``dpo.py`` (DPO/IPO/KTO losses, the Trainer
objective), ``reward.py`` (reward model, Bradley–Terry), ``rewards.py`` (reward plug-ins),
``prefs_make.py`` and ``prefs_run.py`` (what ``genzoo prefs make`` and ``genzoo finetune --method dpo``
do); see docs/finetune.md.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import (adapter_layers, disable_adapters, is_adapted, merge, merge_and_unload, set_adapter,
                   trainable_parameters, unmerge)
from ..errors import ConfigError
from .bottleneck import BottleneckConfig
from .dpo import PreferenceConfig, PreferenceObjective, dpo_loss, ipo_loss, kto_loss
from .ia3 import IA3Config
from .lora import LoraConfig
from .prefs_data import read_prefs, tokenize_pairs, write_prefs
from .prompt_tuning import PromptTuningConfig
from .grpo import group_advantages, grpo_loss
from .ppo import gae


def inject_adapter(model: nn.Module, config, adapter_name: str = "default",
                   generator: torch.Generator | None = None) -> nn.Module:
    """Wrap the modules ``config.target_modules`` selects and add adapter ``adapter_name`` (active,
    the only trainable parameters); returns ``model`` (changed in place)."""
    from .base import inject

    if isinstance(config, PromptTuningConfig) and type(model).__name__ != "GPT":
        raise ConfigError(f"prompt tuning applies to GPT models, not {type(model).__name__}; use lora or adapter")
    if isinstance(config, IA3Config):
        from .ia3 import check_feedforward

        check_feedforward(config)
    inject(model, config, adapter_name, config.wrappers(), f"{config.peft_type} ({type(config).__name__})", generator)
    return model


def save_adapter(model, path, **kw):
    from .peft_format import save_adapter as _save

    return _save(model, path, **kw)


def load_adapted(path, base=None, device="cpu"):
    from .peft_format import load_adapted as _load

    return _load(path, base=base, device=device)


__all__ = ["LoraConfig", "IA3Config", "PromptTuningConfig", "BottleneckConfig", "inject_adapter", "set_adapter", "disable_adapters", "merge", "unmerge",
           "merge_and_unload", "is_adapted", "trainable_parameters", "adapter_layers", "save_adapter", "load_adapted",
           "dpo_loss", "ipo_loss", "kto_loss", "PreferenceConfig", "PreferenceObjective", "read_prefs", "write_prefs",
           "tokenize_pairs", "group_advantages", "grpo_loss", "gae"]

"""Adapter files in Hugging Face PEFT's format: ``adapter_config.json`` + ``adapter_model.safetensors``.

Keys are PEFT's: ``base_model.model.<module>.lora_A.weight``, ``.lora_B.weight``,
``.lora_magnitude_vector`` (DoRA), ``.lora_embedding_A`` / ``_B``, ``.ia3_l``, and prompt tuning's
``prompt_embeddings`` (no prefix); ``<module>`` is the
module's name in the peer library's model. genzoo's GPT has transformers' GPT-2 names and its U-Net
diffusers' ``UNet2DModel`` names, so ``<module>`` is genzoo's name (minus ``net.`` for a ``ddpm``:
PEFT wraps the bare ``UNet2DModel``). The adapter tensors have PEFT's shapes in both layouts (GPT-2's
``Conv1D`` changes only the base weight's layout, which adapters never store), so nothing is
transposed. Bottleneck adapters have no PEFT type: they use these file names with genzoo's own
``peft_type`` ``"GENZOO_BOTTLENECK"``.

The adapter records its base: ``base_model_name_or_path`` (PEFT's field, in the config) and a
fingerprint of the base weights (``genzoo_base_fingerprint`` in the safetensors header metadata,
which PEFT ignores). Loading checks it; ``base=`` (``--base``) overrides the recorded
directory and the check (shapes are always checked).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import CheckpointError, ConfigError
from ..serialization import GENZOO_VERSION, atomic_dir, load_tensors, read_json, save_tensors, write_json
from .base import adapter_layers
from .ia3 import IA3Config
from .lora import LoraConfig
from .prompt_tuning import PromptTuningConfig

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
KEY_PREFIX = "base_model.model."
#: genzoo parameter container -> PEFT key suffix
SUFFIX = {"lora_A": "lora_A.weight", "lora_B": "lora_B.weight", "lora_magnitude_vector": "lora_magnitude_vector",
          "lora_embedding_A": "lora_embedding_A", "lora_embedding_B": "lora_embedding_B", "ia3_l": "ia3_l",
          "adapter_down": "adapter_down.weight", "adapter_up": "adapter_up.weight",
          "adapter_down_bias": "adapter_down.bias", "adapter_up_bias": "adapter_up.bias"}
FROM_SUFFIX = {v: k for k, v in SUFFIX.items()}
PEFT_TYPES = ("LORA", "IA3", "PROMPT_TUNING", "GENZOO_BOTTLENECK")


def is_adapter_dir(path) -> bool:
    return (Path(path) / ADAPTER_CONFIG).is_file()


def peer_prefix(model: nn.Module) -> str:
    """The part of genzoo's module names that the peer model does not have (``"net."`` for a U-Net ddpm)."""
    from ..nn.unet import UNet2D

    return "net." if isinstance(getattr(model, "net", None), UNet2D) else ""


def _peer_name(model, name: str) -> str:
    prefix = peer_prefix(model)
    return name[len(prefix):] if prefix and name.startswith(prefix) else name


def _genzoo_name(model, peer: str) -> str:
    prefix = peer_prefix(model)
    if prefix:
        try:
            model.get_submodule(prefix + peer)
            return prefix + peer
        except AttributeError:
            pass
    return peer


# --- fingerprint of the base ------------------------------------------------------------------
def base_fingerprint(model: nn.Module) -> str:
    """A short hash of the base weights (names, shapes and a strided sample of the values): adapter
    tensors are left out and wrapped layers count under their plain names, so it is the same before
    and after injecting adapters (not while merged)."""
    adapter_keys = {f"{n}.{attr}." for n, layer in adapter_layers(model) for attr in layer.adapter_params}
    h = hashlib.sha256()
    for key, t in sorted(model.state_dict().items()):
        if any(key.startswith(a) for a in adapter_keys):
            continue
        key = key.replace(".base_layer.", ".")
        flat = t.detach().reshape(-1)
        sample = flat[:: max(1, flat.numel() // 4096)].double().cpu() if flat.numel() else flat.double().cpu()
        h.update(f"{key}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(sample.numpy().tobytes())
    return h.hexdigest()[:16]


# --- configs ----------------------------------------------------------------------------------
def config_to_peft(model, config, targets: list[str]) -> dict:
    """PEFT's adapter_config.json fields for a genzoo config."""
    peer_targets = config.target_modules
    if peer_prefix(model) or not isinstance(peer_targets, (list, str)):
        peer_targets = sorted(_peer_name(model, t) for t in targets)
    from ..models.gpt import GPT

    gpt = isinstance(model, GPT)
    common = {"peft_type": config.peft_type, "target_modules": peer_targets, "inference_mode": True, "revision": None,
              "modules_to_save": None, "task_type": "CAUSAL_LM" if gpt else None, "fan_in_fan_out": gpt}
    if isinstance(config, LoraConfig):
        return {**common, "r": config.r, "lora_alpha": config.lora_alpha, "lora_dropout": config.lora_dropout,
                "use_rslora": config.use_rslora, "use_dora": config.use_dora, "init_lora_weights": config.init_lora_weights,
                "bias": "none", "layers_to_transform": None, "layers_pattern": None, "rank_pattern": {}, "alpha_pattern": {}}
    if isinstance(config, PromptTuningConfig):
        wte = model.transformer.wte
        return {"peft_type": "PROMPT_TUNING", "task_type": "CAUSAL_LM", "num_virtual_tokens": config.num_virtual_tokens,
                "token_dim": wte.base_layer.embedding_dim if hasattr(wte, "base_layer") else wte.embedding_dim,
                "num_transformer_submodules": 1, "num_attention_heads": model.config.n_head,
                "num_layers": model.config.n_layer, "prompt_tuning_init": "RANDOM", "prompt_tuning_init_text": None,
                "tokenizer_name_or_path": None, "tokenizer_kwargs": None, "inference_mode": True, "revision": None,
                "modules_to_save": None}
    if isinstance(config, IA3Config):
        ff = config.feedforward_modules
        if peer_prefix(model) or not isinstance(ff, (list, str)):
            ff = sorted(_peer_name(model, t) for t in targets if ff and _matches(t, ff))
        return {**common, "feedforward_modules": ff, "init_ia3_weights": config.init_ia3_weights}
    return {**common, **{k: v for k, v in config.to_dict().items() if k != "target_modules"}}


def _matches(name, targets) -> bool:
    from .base import matches

    return matches(name, targets)


def config_from_peft(raw: dict, source):
    """The genzoo config for a PEFT adapter_config.json (one-line errors for what genzoo lacks)."""
    peft_type = raw.get("peft_type")
    if peft_type not in PEFT_TYPES:
        raise ConfigError(f"{source}: unknown peft_type {peft_type!r}; genzoo reads {', '.join(PEFT_TYPES)}")
    targets = raw.get("target_modules")
    if peft_type == "LORA":
        for key, plain in (("rank_pattern", {}), ("alpha_pattern", {}), ("bias", "none"), ("modules_to_save", None),
                           ("layers_to_transform", None), ("lora_bias", False), ("use_qalora", False)):
            if raw.get(key, plain) not in (plain, None) and raw.get(key) != plain:
                raise ConfigError(f"{source}: {key}={raw[key]!r} is a PEFT option genzoo does not implement")
        return LoraConfig(r=raw.get("r", 8), lora_alpha=raw.get("lora_alpha", 8), lora_dropout=raw.get("lora_dropout", 0.0),
                          target_modules=targets, use_rslora=bool(raw.get("use_rslora", False)),
                          use_dora=bool(raw.get("use_dora", False)),
                          init_lora_weights=raw.get("init_lora_weights", True) is not False)
    if peft_type == "PROMPT_TUNING":
        if raw.get("num_transformer_submodules", 1) != 1:
            raise ConfigError(f"{source}: a prompt for {raw['num_transformer_submodules']} transformer stacks; genzoo's GPT has one")
        return PromptTuningConfig(num_virtual_tokens=raw.get("num_virtual_tokens", 8))
    if peft_type == "IA3":
        return IA3Config(target_modules=targets, feedforward_modules=raw.get("feedforward_modules") or [],
                         init_ia3_weights=raw.get("init_ia3_weights", True))
    from .bottleneck import BottleneckConfig

    fields = {k: raw[k] for k in BottleneckConfig.field_names() if k in raw}
    return BottleneckConfig(**fields)


# --- saving -----------------------------------------------------------------------------------
def adapter_tensors(model: nn.Module, name: str) -> tuple[dict[str, Tensor], list[str]]:
    """PEFT-keyed tensors of adapter ``name`` and the genzoo names of the layers it adapts."""
    tensors, targets = {}, []
    for mod_name, layer in adapter_layers(model):
        if name not in layer.names():
            continue
        targets.append(mod_name)
        for attr in layer.adapter_params:
            key = attr if attr == "prompt_embeddings" else KEY_PREFIX + _peer_name(model, mod_name) + "." + SUFFIX[attr]
            tensors[key] = getattr(layer, attr)[name].detach().float()
    return tensors, targets


def save_adapter(model: nn.Module, path, *, adapter_name: str | None = None, base=None) -> Path:
    """Write ``adapter_config.json`` + ``adapter_model.safetensors`` of one adapter (default: the active one)."""
    name = adapter_name or getattr(model, "active_adapter", None)
    configs = getattr(model, "peft_config", {})
    if name not in configs:
        raise ConfigError(f"no adapter named {name!r} to save; this model has: {', '.join(configs) or 'none'}")
    if any(layer.merged for _, layer in adapter_layers(model)) and getattr(model, "peft_base_fingerprint", None) is None:
        raise ConfigError("adapters are merged into the base; unmerge() before saving the adapter")
    base = base if base is not None else getattr(model, "peft_base", None)
    tensors, targets = adapter_tensors(model, name)
    config = configs[name]
    raw = config_to_peft(model, config, targets)
    raw["base_model_name_or_path"] = str(Path(base).resolve()) if base is not None else None
    record = {"format": "pt", "genzoo_version": GENZOO_VERSION,  # in the safetensors header: PEFT ignores it
              "genzoo_model_type": str(getattr(model, "model_type", type(model).__name__)),
              "genzoo_base_fingerprint": getattr(model, "peft_base_fingerprint", None) or base_fingerprint(model)}
    path = Path(path)
    with atomic_dir(path) as tmp:
        write_json(tmp / ADAPTER_CONFIG, raw)
        save_tensors(tensors, tmp / ADAPTER_WEIGHTS, metadata=record)
        tok = getattr(model, "tokenizer", None)
        if tok is not None:  # text is read through the base's tokenizer; kept beside the adapter too
            tok.save(tmp)
    return path


# --- loading ----------------------------------------------------------------------------------
def read_adapter_config(path) -> dict:
    path = Path(path)
    if not (path / ADAPTER_CONFIG).is_file():
        raise CheckpointError(f"{path}: no {ADAPTER_CONFIG}; not an adapter directory")
    return read_json(path / ADAPTER_CONFIG)


def load_adapter(model: nn.Module, path, adapter_name: str = "default") -> nn.Module:
    """Add the adapter saved in ``path`` to ``model`` (in place) under ``adapter_name`` and activate it."""
    from . import inject_adapter

    path = Path(path)
    raw = read_adapter_config(path)
    config = config_from_peft(raw, path / ADAPTER_CONFIG)
    tensors = load_tensors(path / ADAPTER_WEIGHTS)
    by_module: dict[str, dict[str, Tensor]] = {}
    for key, t in tensors.items():
        if key == "prompt_embeddings":
            by_module.setdefault("transformer.wte", {})[key] = t
            continue
        if not key.startswith(KEY_PREFIX):
            raise CheckpointError(f"{path / ADAPTER_WEIGHTS}: key {key!r} is not a PEFT adapter key ({KEY_PREFIX}...)")
        rest = key[len(KEY_PREFIX):]
        suffix = next((s for s in sorted(FROM_SUFFIX, key=len, reverse=True) if rest.endswith("." + s)), None)
        if suffix is None:
            raise CheckpointError(f"{path / ADAPTER_WEIGHTS}: key {key!r} holds a PEFT tensor genzoo does not implement")
        module = _genzoo_name(model, rest[: -len(suffix) - 1])
        by_module.setdefault(module, {})[FROM_SUFFIX[suffix]] = t
    names = {n for n, _ in model.named_modules()}
    missing = sorted(m for m in by_module if m not in names)
    if missing:
        raise CheckpointError(f"{path}: the adapter does not fit this base: it adapts {missing[0]!r}, a module this "
                              f"{type(model).__name__} does not have ({len(missing)} such); pass the right --base")
    exact = "|".join(re.escape(m) for m in sorted(by_module))
    shown_targets = config.target_modules
    config.target_modules = exact
    if isinstance(config, IA3Config) and config.feedforward_modules:
        ff = config.feedforward_modules
        config.feedforward_modules = [m for m in by_module if _matches(_peer_name(model, m), ff) or _matches(m, ff)]
    inject_adapter(model, config, adapter_name)
    config.target_modules = shown_targets
    with torch.no_grad():
        for module, parts in by_module.items():
            layer = model.get_submodule(module)
            for attr in layer.adapter_params:
                if attr not in parts:
                    raise CheckpointError(f"{path / ADAPTER_WEIGHTS}: no {SUFFIX.get(attr, attr)!r} for module {module!r}")
                target = getattr(layer, attr)[adapter_name]
                t = parts.pop(attr)
                if tuple(t.shape) != tuple(target.shape):
                    raise CheckpointError(f"{path}: the adapter does not fit this base: {module}.{SUFFIX.get(attr, attr)} has shape "
                                          f"{tuple(t.shape)}, this base's layer needs {tuple(target.shape)}; pass the right --base")
                target.copy_(t.to(target.dtype))
            if parts:
                raise CheckpointError(f"{path / ADAPTER_WEIGHTS}: {module}.{SUFFIX[next(iter(parts))]} does not belong to a "
                                      f"{raw.get('peft_type')} adapter")
    return model


def adapter_metadata(path) -> dict[str, str]:
    """The safetensors header metadata of an adapter (genzoo records its base fingerprint there)."""
    from safetensors import safe_open

    try:
        with safe_open(str(Path(path) / ADAPTER_WEIGHTS), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception:  # a missing or corrupt file fails with its own message when the tensors load
        return {}


def resolve_base(path: Path, raw: dict) -> Path:
    recorded = raw.get("base_model_name_or_path")
    if not recorded:
        raise CheckpointError(f"{path / ADAPTER_CONFIG} records no base model; pass --base DIR (base=...)")
    for candidate in (Path(recorded), path.parent / recorded, path / recorded):
        if candidate.is_dir():
            return candidate
    raise CheckpointError(f"{path}: its base {recorded!r} is not a directory here; pass --base DIR (base=...)")


def load_adapted(path, base=None, device: str | torch.device = "cpu") -> nn.Module:
    """Base model (recorded in the adapter, or ``base``) with the adapter of ``path`` loaded and active."""
    from ..formats import load_any

    path = Path(path)
    raw = read_adapter_config(path)
    config_from_peft(raw, path / ADAPTER_CONFIG)  # unknown peft_type fails before the base loads
    base_dir = Path(base) if base is not None else resolve_base(path, raw)
    if is_adapter_dir(base_dir):
        raise ConfigError(f"{base_dir} is an adapter directory, not a base model; pass the model it adapts")
    model = load_any(base_dir, device=device)
    recorded = adapter_metadata(path).get("genzoo_base_fingerprint")
    found = base_fingerprint(model)
    if base is None and recorded and recorded != found:
        raise CheckpointError(f"{path} was made for another base: the weights in {base_dir} differ from the recorded "
                              f"ones (fingerprint {found} != {recorded}); pass --base DIR to use a base anyway")
    load_adapter(model, path)
    model.peft_base, model.peft_base_fingerprint = str(base_dir), found
    return model.eval()

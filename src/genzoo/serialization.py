"""save_pretrained / from_pretrained: ``config.json`` + ``model.safetensors`` (never pickle).

Directories are written atomically: everything goes to a temporary sibling directory which then
replaces the target with ``os.replace``, so a crash never leaves a half-written model behind.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ._version import GENZOO_VERSION
from .errors import CheckpointError, ConfigError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split(".")[:3] if p.isdigit())


@contextlib.contextmanager
def atomic_dir(path) -> Any:
    """Yield a temporary directory that replaces ``path`` only if the block succeeds."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=parent))
    except OSError as e:
        raise ConfigError(f"cannot write to {parent}: {e.strerror}; choose a writable --out directory") from None
    try:
        yield tmp
        old = None
        if path.exists():
            old = parent / f".{path.name}.old-{os.getpid()}"
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_json(path, obj: dict) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_json(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found; is this a directory written by save_pretrained?")
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e}); the file is corrupt, save the model again") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return obj


def state_dict_for_saving(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with shared (tied) tensors stored once and everything contiguous."""
    seen: dict[tuple, str] = {}
    out: dict[str, torch.Tensor] = {}
    for name, t in module.state_dict().items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.dtype) if t.numel() else None
        if key is not None and key in seen:
            continue  # tied weight: restored by load_state_dict(strict=False) through the shared module
        if key is not None:
            seen[key] = name
        out[name] = t.detach().contiguous().clone() if t.numel() else t.detach().clone()
    return out


def save_tensors(tensors: dict[str, torch.Tensor], path, metadata: dict[str, str] | None = None) -> None:
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)


def load_tensors(path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: corrupt or truncated safetensors file ({str(e).splitlines()[0]}); save it again") from None


def load_state_into(module: torch.nn.Module, tensors: dict[str, torch.Tensor], source) -> None:
    """Load ``tensors`` strictly (tied weights may be absent): one-line errors name the file."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in tensors]
    missing = [k for k in missing if not _is_tied_copy(module, k, tensors)]
    unexpected = [k for k in tensors if k not in expected]
    if missing:
        raise CheckpointError(f"{source}: missing weight {missing[0]!r} ({len(missing)} missing); the file does not match this model's config")
    if unexpected:
        raise CheckpointError(f"{source}: unexpected weight {unexpected[0]!r} ({len(unexpected)} unexpected); the file does not match this model's config")
    for k, t in tensors.items():
        if tuple(expected[k].shape) != tuple(t.shape):
            raise CheckpointError(f"{source}: weight {k!r} has shape {tuple(t.shape)}, the model expects {tuple(expected[k].shape)}")
    module.load_state_dict(tensors, strict=False)


def _is_tied_copy(module: torch.nn.Module, key: str, tensors: dict) -> bool:
    sd = module.state_dict()
    t = sd[key]
    if not t.numel():
        return False
    ptr = (t.untyped_storage().data_ptr(), t.storage_offset())
    return any(
        k in tensors and (v.untyped_storage().data_ptr(), v.storage_offset()) == ptr
        for k, v in sd.items() if k != key and v.numel()
    )


def save_model(model, path, **kw: Any) -> None:
    """Write ``config.json`` (with ``model_type`` and ``genzoo_version``) and ``model.safetensors``."""
    with atomic_dir(path) as tmp:
        config = {"model_type": model.model_type, "genzoo_version": GENZOO_VERSION, **model.config.to_dict()}
        write_json(tmp / CONFIG_NAME, config)
        save_tensors(state_dict_for_saving(model), tmp / WEIGHTS_NAME, metadata={"format": "pt"})
        model.save_extra(tmp)
        if getattr(model, "table_transform", None) is not None:  # tabular data: how to decode samples
            model.table_transform.save(tmp)


def read_config(path) -> tuple[str, dict]:
    """``(model_type, config fields)`` from a saved model directory, with version checks."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such directory; pass a directory written by save_pretrained or `genzoo train --out`")
    cfg_path = path / CONFIG_NAME
    raw = read_json(cfg_path)
    model_type = raw.pop("model_type", None)
    if not model_type:
        raise CheckpointError(f"{cfg_path}: no \"model_type\" key; this is not a genzoo model config")
    version = raw.pop("genzoo_version", None)
    if version is not None:
        saved, ours = _version_tuple(str(version)), _version_tuple(GENZOO_VERSION)
        if saved[:1] != ours[:1] or saved > ours:
            raise CheckpointError(f"{cfg_path}: saved by genzoo {version}, this is genzoo {GENZOO_VERSION}; install genzoo {version.split('.')[0]}.x to load it")
    return model_type, raw


def load_model(path, expected: type | None = None, device: str | torch.device = "cpu"):
    """Build the model named by ``config.json`` and load its weights (safetensors only)."""
    from .registry import MODELS, model_class

    path = Path(path)
    model_type, fields = read_config(path)
    cls = model_class(model_type)
    if cls is None:
        raise CheckpointError(f"{path / CONFIG_NAME}: unknown model_type {model_type!r}; known types: {', '.join(MODELS.names())}")
    if expected is not None and not issubclass(cls, expected):
        raise CheckpointError(f"{path}: holds a {model_type!r} model, not a {expected.__name__}; load it with genzoo.load()")
    try:
        config = cls.config_class.from_dict(fields)
    except ConfigError as e:
        raise CheckpointError(f"{path / CONFIG_NAME}: {e}") from None
    model = cls(config)
    load_state_into(model, load_tensors(path / WEIGHTS_NAME), path / WEIGHTS_NAME)
    model.load_extra(path)
    if (path / "table_transform.json").is_file():
        from .data.table_transform import TableTransform

        model.table_transform = TableTransform.load(path)
    return model.to(device).eval()

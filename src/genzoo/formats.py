"""What kind of saved-model directory is this? The dispatch behind ``gz.load`` (and so ``genzoo eval``,
``sample``, ``generate`` and ``train --init-from``).

genzoo reads four layouts:

- ``"genzoo"``: ``config.json`` written by genzoo (``genzoo_version``, or a registered ``model_type``);
- ``"transformers-gpt2"``: a transformers ``GPT2LMHeadModel`` directory (``config.json`` with
  ``"model_type": "gpt2"``, ``model.safetensors``), read by ``models.gpt_hf``;
- ``"transformers-t5"``: a transformers ``T5ForConditionalGeneration`` directory (``"model_type": "t5"``
  and no ``genzoo_version``), read by ``models.t5_hf``;
- ``"diffusers-pipeline"``: ``model_index.json`` naming a ``UNet2DModel`` and a scheduler (DDPM/DDIM
  pipelines), read by ``pipelines.diffusion.load_diffusers_ddpm``;
- ``"diffusers-unet"``: a lone ``UNet2DModel`` directory (``config.json`` with ``"_class_name":
  "UNet2DModel"``), sampled with ``DDPMScheduler()``'s default schedule;
- ``"diffusers-vae"``, ``"diffusers-cond-unet"``, ``"diffusers-latent"``: a lone ``AutoencoderKL`` or
  ``UNet2DConditionModel`` directory, or a pipeline directory whose ``unet`` is a ``UNet2DConditionModel``
  (with ``vae``, ``scheduler``; no ``text_encoder``: genzoo's MiniLM is the text encoder), read by ``models.latent_io`` (``autoencoder-kl`` / ``latent-diffusion``);
- ``"adapter"``: ``adapter_config.json`` + ``adapter_model.safetensors`` (PEFT's format, genzoo's
  ``finetune``): the base it records (any layout above) with the adapter loaded.

Anything else is a one-line ``CheckpointError`` that names what was found.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .errors import CheckpointError, ConfigError
from .serialization import CONFIG_NAME, read_json

READABLE = ("genzoo reads genzoo runs, transformers GPT-2 and T5, diffusers DDPM/DDIM pipeline "
            "(or UNet2DModel) directories, and diffusers AutoencoderKL / UNet2DConditionModel (pipeline) directories")
#: lone diffusers model directories genzoo reads, by config.json ``_class_name``
DIFFUSERS_MODELS = {"UNet2DModel": "diffusers-unet", "AutoencoderKL": "diffusers-vae",
                    "UNet2DConditionModel": "diffusers-cond-unet"}
INDEX_NAME = "model_index.json"
#: transformers ``model_type``s genzoo reads (a genzoo directory always carries ``genzoo_version``)
TRANSFORMERS = {"gpt2": "transformers-gpt2", "t5": "transformers-t5"}
ADAPTER_CONFIG = "adapter_config.json"


def detect_format(path) -> str:
    """One of ``"genzoo"``, ``"transformers-gpt2"``, ``"transformers-t5"``, ``"diffusers-pipeline"``, ``"diffusers-unet"``,
    ``"diffusers-vae"``, ``"diffusers-cond-unet"``, ``"diffusers-latent"``, ``"adapter"``."""
    from .registry import MODELS

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such directory; pass a directory written by save_pretrained or `genzoo train --out`")
    if not path.is_dir():
        raise CheckpointError(f"{path} is a file, not a model directory; {READABLE}")
    if (path / ADAPTER_CONFIG).is_file() and not (path / CONFIG_NAME).is_file():
        return "adapter"
    if (path / CONFIG_NAME).is_file():
        raw = read_json(path / CONFIG_NAME)
        model_type, cls_name = raw.get("model_type"), raw.get("_class_name")
        if "genzoo_version" in raw or (model_type in MODELS and model_type not in TRANSFORMERS):
            return "genzoo"
        if model_type in TRANSFORMERS:
            return TRANSFORMERS[model_type]
        if cls_name in DIFFUSERS_MODELS:
            return DIFFUSERS_MODELS[cls_name]
        if model_type:
            raise CheckpointError(f"{path / CONFIG_NAME} has model_type {model_type!r}; {READABLE}")
        if cls_name:
            raise CheckpointError(f"{path / CONFIG_NAME} describes a diffusers {cls_name!r}; {READABLE}")
        if not (path / INDEX_NAME).is_file():
            raise CheckpointError(f"{path / CONFIG_NAME} has no model_type (keys: {_keys(raw)}); {READABLE}")
    if (path / INDEX_NAME).is_file():
        index = read_json(path / INDEX_NAME)
        unet, scheduler = index.get("unet"), index.get("scheduler")
        if _class_of(unet) == "UNet2DModel" and scheduler:
            return "diffusers-pipeline"
        if (_class_of(unet) == "UNet2DConditionModel" and "text_encoder" not in index
                and (path / "unet" / CONFIG_NAME).is_file()):  # genzoo's text encoder stands in for none
            return "diffusers-latent"
        parts = ", ".join(f"{k}: {_class_of(v)}" for k, v in index.items()
                          if not k.startswith("_") and isinstance(v, list)) or "no components"
        raise CheckpointError(f"{path / INDEX_NAME} describes a diffusers {index.get('_class_name', 'pipeline')!r} "
                              f"({parts}); {READABLE}")
    found = ", ".join(sorted(p.name for p in path.iterdir())[:8]) or "an empty directory"
    raise CheckpointError(f"{path}: no {CONFIG_NAME} or {INDEX_NAME} (found {found}); {READABLE}")


def load_any(path, device: str | torch.device = "cpu", base=None):
    """The genzoo model for any directory :func:`detect_format` accepts, in ``eval()`` mode; for an
    adapter directory, its base with the adapter loaded (``base`` overrides the recorded base)."""
    fmt = detect_format(path)
    if base is not None and fmt != "adapter":
        raise ConfigError(f"--base applies to adapter directories; {path} holds a whole model")
    if fmt == "adapter":
        from .finetune.peft_format import load_adapted

        return load_adapted(path, base=base, device=device)
    if fmt == "genzoo":
        from .serialization import load_model

        return load_model(path, device=device)
    if fmt == "transformers-gpt2":
        from .models.gpt_hf import load_hf

        return load_hf(path, device=device)
    if fmt == "transformers-t5":
        from .models.t5_hf import load_hf as load_t5

        return load_t5(path, device=device)
    if fmt in ("diffusers-vae", "diffusers-cond-unet", "diffusers-latent"):
        from .models import latent_io

        loader = {"diffusers-vae": latent_io.load_diffusers_vae, "diffusers-cond-unet": latent_io.load_diffusers_latent,
                  "diffusers-latent": latent_io.load_diffusers_latent_pipeline}[fmt]
        return loader(path).to(device).eval()
    from .pipelines.diffusion import load_diffusers_ddpm, load_diffusers_unet

    loader = load_diffusers_ddpm if fmt == "diffusers-pipeline" else load_diffusers_unet
    return loader(path).to(device).eval()


def _class_of(entry) -> str | None:
    """``["diffusers", "UNet2DModel"]`` -> ``"UNet2DModel"``."""
    return entry[1] if isinstance(entry, list) and len(entry) == 2 else None


def _keys(raw: dict) -> str:
    keys = sorted(raw)
    return json.dumps(keys[:6])[1:-1] + (", ..." if len(keys) > 6 else "") if keys else "none"

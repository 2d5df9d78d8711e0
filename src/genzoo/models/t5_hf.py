"""transformers ``T5ForConditionalGeneration`` directories <-> genzoo T5, in both directions, without transformers.

A transformers T5 directory holds ``config.json`` (``"model_type": "t5"``) and ``model.safetensors``.
genzoo's parameter names are transformers' (``encoder.block.0.layer.0.SelfAttention.q.weight`` ...), so
the state dict maps 1:1 except for the tied copies: transformers may store ``encoder.embed_tokens.weight``,
``decoder.embed_tokens.weight`` and ``lm_head.weight`` (all ``shared.weight`` when tied); genzoo keeps the one
``shared`` matrix (and ``lm_head.weight`` only when ``tie_word_embeddings`` is false, T5 v1.1). Old files may
carry an unused ``decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight``; it is dropped.

Config: transformers' names are genzoo's; ``n_positions`` (old T5 configs) gives ``max_source_length``
(default 512), ``max_target_length`` is kept as an extra key. ``feed_forward_proj`` must be ``relu`` or
``gated-gelu``.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ..errors import CheckpointError
from ..serialization import CONFIG_NAME, WEIGHTS_NAME, atomic_dir, load_state_into, load_tensors, save_tensors, write_json

SAME_NAMES = ("vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers", "num_heads",
              "relative_attention_num_buckets", "relative_attention_max_distance", "dropout_rate",
              "layer_norm_epsilon", "feed_forward_proj", "pad_token_id", "eos_token_id", "decoder_start_token_id")
TIED_COPIES = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight")
UNUSED = ("decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight",)


def config_from_hf(raw: dict):
    from .t5 import FEED_FORWARD, T5Config

    values = {k: raw[k] for k in SAME_NAMES if raw.get(k) is not None}
    if isinstance(values.get("eos_token_id"), list):
        values["eos_token_id"] = values["eos_token_id"][0]
    if values.get("feed_forward_proj", "relu") not in FEED_FORWARD:
        raise CheckpointError(f"T5 feed_forward_proj {values['feed_forward_proj']!r} is not supported; genzoo reads "
                              f"{', '.join(FEED_FORWARD)}")
    values.setdefault("decoder_start_token_id", values.get("pad_token_id", 0))
    return T5Config(**values, tie_word_embeddings=raw.get("tie_word_embeddings", True) is not False,
                    max_source_length=raw.get("n_positions") or 512, max_target_length=raw.get("max_target_length") or 128)


def config_to_hf(config) -> dict:
    out = {"architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "is_encoder_decoder": True}
    out.update({k: getattr(config, k) for k in SAME_NAMES})
    out["num_decoder_layers"] = config.decoder_layers
    out.update(tie_word_embeddings=config.tie_word_embeddings, n_positions=config.max_source_length,
               max_target_length=config.max_target_length)
    return out


def state_from_hf(tensors: dict[str, Tensor], tie: bool) -> dict[str, Tensor]:
    """transformers T5 weights -> genzoo T5 weights."""
    tensors = dict(tensors)
    if "shared.weight" not in tensors:  # some files keep only a stack's copy
        for key in TIED_COPIES:
            if key in tensors:
                tensors["shared.weight"] = tensors[key]
                break
    drop = TIED_COPIES + UNUSED + (("lm_head.weight",) if tie else ())
    out = {k: v for k, v in tensors.items() if k not in drop}
    if not tie and "lm_head.weight" not in out and "shared.weight" in out:
        out["lm_head.weight"] = out["shared.weight"].clone()  # untied config, tied file
    return out


def state_to_hf(model) -> dict[str, Tensor]:
    out = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()
           if not (k == "lm_head.weight" and model.config.tie_word_embeddings)}
    return out


def load_hf(path, device: str | torch.device = "cpu"):
    """A genzoo T5 from a transformers T5 directory (safetensors only, never pickle)."""
    from ..generation import GENERATION_CONFIG_NAME, GenerationConfig
    from .gpt_hf import _tokenizer_from_dir, read_hf_config
    from .t5 import T5

    path = Path(path)
    config = config_from_hf(read_hf_config(path, "T5ForConditionalGeneration"))
    model = T5(config)
    load_state_into(model, state_from_hf(load_tensors(path / WEIGHTS_NAME), config.tie_word_embeddings), path / WEIGHTS_NAME)
    tokenizer = _tokenizer_from_dir(path)
    if tokenizer is not None:
        model.set_tokenizer(tokenizer)
    if (path / GENERATION_CONFIG_NAME).is_file():
        gc = GenerationConfig.from_file(path)
        model.generation_config = gc.update(eos_token_id=gc.eos_token_id if gc.eos_token_id is not None else config.eos_token_id,
                                            pad_token_id=gc.pad_token_id if gc.pad_token_id is not None else config.pad_token_id)
    return model.to(device).eval()


def save_hf(model, path) -> None:
    """Write a directory that ``transformers.T5ForConditionalGeneration.from_pretrained`` loads."""
    with atomic_dir(path) as tmp:
        write_json(tmp / CONFIG_NAME, config_to_hf(model.config))
        save_tensors(state_to_hf(model), tmp / WEIGHTS_NAME, metadata={"format": "pt"})
        if model.tokenizer is not None:
            model.tokenizer.save(tmp)
        gen = {**model.generation_config.to_dict(), "decoder_start_token_id": model.config.decoder_start_token_id}
        write_json(tmp / "generation_config.json", {k: v for k, v in gen.items() if v is not None})

"""Hugging Face GPT-2 checkpoints <-> genzoo GPT, in both directions, without transformers.

A transformers ``GPT2LMHeadModel`` directory holds ``config.json`` (``"model_type": "gpt2"``) and
``model.safetensors``; its parameter names are genzoo's (``transformer.h.0.attn.c_attn.weight``
...) except that

- GPT-2's ``Conv1D`` stores weights as (in, out): ``c_attn``, ``c_proj``, ``c_fc`` are transposed
  to ``nn.Linear``'s (out, in);
- the ``transformer.`` prefix is absent in ``GPT2Model`` checkpoints;
- ``lm_head.weight`` is usually absent (tied to ``wte``); old files carry ``attn.bias`` mask buffers;
- genzoo's ``first_token_logits`` (p(x_0), see ``gpt.py``) has no GPT-2 counterpart: it loads as
  zeros (uniform) and is dropped on export.
Tokenizers come from ``tokenizer.json`` or GPT-2's ``vocab.json`` + ``merges.txt``.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

from ..errors import CheckpointError, ConfigError
from ..serialization import CONFIG_NAME, WEIGHTS_NAME, atomic_dir, load_tensors, read_json, save_tensors, write_json

CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu_fast": "gelu_tanh", "gelu": "gelu"}


def is_hf_dir(path) -> bool:
    """A directory whose config.json is a transformers GPT-2 config (not one written by genzoo)."""
    cfg = Path(path) / CONFIG_NAME
    if not cfg.is_file():
        return False
    try:
        raw = json.loads(cfg.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return raw.get("model_type") == "gpt2" and "genzoo_version" not in raw


def config_from_hf(raw: dict):
    from .gpt import GPTConfig

    if raw.get("scale_attn_by_inverse_layer_idx") or raw.get("scale_attn_weights", True) is False:
        raise CheckpointError("this GPT-2 config scales attention differently (scale_attn_*); genzoo supports standard GPT-2 attention only")
    act = raw.get("activation_function", "gelu_new")
    if act not in ACTIVATIONS:
        raise CheckpointError(f"GPT-2 activation_function {act!r} is not supported; use one of {', '.join(ACTIVATIONS)}")
    return GPTConfig(vocab_size=raw.get("vocab_size", 50257), block_size=raw.get("n_positions", 1024),
                     n_layer=raw.get("n_layer", 12), n_head=raw.get("n_head", 12), n_embd=raw.get("n_embd", 768),
                     n_inner=raw.get("n_inner"), norm_eps=raw.get("layer_norm_epsilon", 1e-5),
                     activation=ACTIVATIONS[act], tie_embeddings=raw.get("tie_word_embeddings", True))


def config_to_hf(config, generation_config=None) -> dict:
    unsupported = [(config.position != "learned", "position='rope'"), (config.norm != "layernorm", "norm='rmsnorm'"),
                   (config.activation == "swiglu", "activation='swiglu'"), (not config.bias, "bias=False")]
    for bad, what in unsupported:
        if bad:
            raise ConfigError(f"a GPT with {what} has no GPT-2 equivalent; save it with format='genzoo'")
    eos = generation_config.eos_ids[0] if generation_config is not None and generation_config.eos_ids else None
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": config.vocab_size, "n_positions": config.block_size, "n_layer": config.n_layer,
        "n_head": config.n_head, "n_embd": config.n_embd, "n_inner": config.n_inner,
        "activation_function": "gelu_new" if config.activation == "gelu_tanh" else "gelu",
        "layer_norm_epsilon": config.norm_eps, "tie_word_embeddings": config.tie_embeddings,
        "resid_pdrop": config.dropout, "embd_pdrop": config.dropout, "attn_pdrop": config.dropout,
        "bos_token_id": eos, "eos_token_id": eos,
    }


def state_from_hf(tensors: dict[str, Tensor], tie: bool) -> dict[str, Tensor]:
    """transformers GPT-2 weights -> genzoo GPT weights (``first_token_logits`` not included)."""
    out = {}
    for key, t in tensors.items():
        if key.endswith(("attn.bias", "attn.masked_bias")) and t.dim() >= 2:
            continue  # causal-mask buffers of old checkpoints
        name = key if key.startswith(("transformer.", "lm_head.")) else "transformer." + key
        if name == "lm_head.weight" and tie:
            continue
        out[name] = t.t().contiguous() if name.endswith(CONV1D) else t
    return out


def state_to_hf(model) -> dict[str, Tensor]:
    out = {}
    for name, t in model.state_dict().items():
        if name == "first_token_logits" or (name == "lm_head.weight" and model.config.tie_embeddings):
            continue
        out[name] = (t.t() if name.endswith(CONV1D) else t).detach().contiguous().clone()
    return out


def _tokenizer_from_dir(path: Path):
    from ..data.tokenizers import Tokenizer

    if (path / "tokenizer.json").is_file():
        return Tokenizer.from_file(path / "tokenizer.json")
    if (path / "vocab.json").is_file() and (path / "merges.txt").is_file():
        from tokenizers import Tokenizer as HFTokenizer, decoders, models, pre_tokenizers

        hf = HFTokenizer(models.BPE.from_file(str(path / "vocab.json"), str(path / "merges.txt")))
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.decoder = decoders.ByteLevel()
        return Tokenizer(hf)
    return None


def read_hf_config(path: Path, cls_name: str) -> dict:
    """A transformers directory's config.json, after checking it has ``model.safetensors`` (never pickle)."""
    if not (path / WEIGHTS_NAME).is_file():
        found = ", ".join(sorted(p.name for p in path.iterdir())) or "nothing"
        raise CheckpointError(f"{path}: no {WEIGHTS_NAME} (found {found}); genzoo reads safetensors only — convert "
                              f"with transformers: {cls_name}.from_pretrained(dir).save_pretrained(dir)")
    return read_json(path / CONFIG_NAME)


def load_hf(path, device: str | torch.device = "cpu"):
    """A genzoo GPT from a transformers GPT-2 directory (safetensors only, never pickle)."""
    from ..generation import GENERATION_CONFIG_NAME, GenerationConfig
    from ..serialization import load_state_into
    from .gpt import GPT

    path = Path(path)
    raw = read_hf_config(path, "GPT2LMHeadModel")
    config = config_from_hf(raw)
    model = GPT(config)
    tensors = state_from_hf(load_tensors(path / WEIGHTS_NAME), config.tie_embeddings)
    tensors["first_token_logits"] = torch.zeros(config.vocab_size)
    load_state_into(model, tensors, path / WEIGHTS_NAME)
    tokenizer = _tokenizer_from_dir(path)
    if tokenizer is not None:
        model.set_tokenizer(tokenizer)
    if (path / GENERATION_CONFIG_NAME).is_file():
        model.generation_config = GenerationConfig.from_file(path)
    elif raw.get("eos_token_id") is not None:
        model.generation_config.eos_token_id = raw["eos_token_id"]
    return model.to(device).eval()


def save_hf(model, path) -> None:
    """Write a directory that ``transformers.GPT2LMHeadModel.from_pretrained`` loads."""
    hf_config = config_to_hf(model.config, model.generation_config)
    with atomic_dir(path) as tmp:
        write_json(tmp / CONFIG_NAME, hf_config)
        save_tensors(state_to_hf(model), tmp / WEIGHTS_NAME, metadata={"format": "pt"})
        if model.tokenizer is not None:
            model.tokenizer.save(tmp)
        model.generation_config.save(tmp)

"""Text generation for autoregressive models: ``GenerationConfig``, ``generate``, streamers.

``generate`` draws x_{t+1} ~ p(· | x_≤t) one token at a time (greedy or sampled after the logits
processors of ``genzoo.samplers.decoding``), as transformers' ``generate`` does:

- the prompt is run once (prefill) and filled into a KV cache allocated once for the whole call;
  each new token then costs one forward pass of length 1;
- batches are **left padded**: ``attention_mask`` marks real tokens; position ids are
  ``cumsum(mask) - 1`` so every row starts at position 0, and padded keys are masked out;
- each row stops on its own at an EOS id or when its text ends with a stop string; finished rows are
  filled with ``pad_token_id`` and the call ends when every row has finished;
- a streamer receives ``put(ids)`` / ``end()`` (the transformers protocol): ``TextStreamer`` prints or
  yields decoded text as tokens arrive.

The model must provide ``forward(ids, attention_mask=, position_ids=, cache=, last_only=)``,
``new_cache(batch, max_len)`` and ``config.block_size`` / ``config.vocab_size`` (``genzoo.models.gpt.GPT``).
"""
from __future__ import annotations

import dataclasses
import json
import queue
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .errors import CheckpointError, ConfigError, DataError
from .beam_search import beam_search, check_beam_options
from .samplers.decoding import build_processors, next_token, process

GENERATION_CONFIG_NAME = "generation_config.json"


@dataclasses.dataclass
class GenerationConfig:
    """Decoding options (same names and meaning as transformers.GenerationConfig).

    ``top_k=None`` and ``top_p=1.0`` mean no filtering; ``temperature``/``top_k``/``top_p`` only act
    when ``do_sample=True``. ``pad_token_id=None`` pads finished rows with the first EOS id (or 0).
    """

    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    stop_strings: list[str] | None = None
    num_return_sequences: int = 1
    use_cache: bool = True
    num_beams: int = 1  # > 1: beam search (genzoo.beam_search)
    length_penalty: float = 1.0  # beam scores are divided by length ** length_penalty
    early_stopping: bool | str = False  # True, False or "never" (see genzoo.beam_search)
    min_length: int = 0  # EOS is forbidden while the whole sequence (prompt included) is shorter
    min_new_tokens: int | None = None  # ... or while fewer new tokens were generated

    def update(self, **kw: Any) -> "GenerationConfig":
        """A copy with ``kw`` applied; unknown names raise a one-line error.

        ``None`` switches off an optional setting (``eos_token_id=None``: never stop early;
        ``top_k=None``) and means "unchanged" for the others (``temperature``, ``top_p`` ...).
        """
        fields = {f.name: f for f in dataclasses.fields(self)}
        for k in kw:
            if k not in fields:
                from .errors import did_you_mean

                raise ConfigError(f"generate() got an unknown option {k!r}{did_you_mean(k, fields)}")
        new = dataclasses.replace(self, **{k: v for k, v in kw.items() if v is not None or fields[k].default is None})
        new.validate()
        return new

    def validate(self) -> None:
        if not (isinstance(self.max_new_tokens, int) and self.max_new_tokens >= 0):
            raise ConfigError(f"max_new_tokens must be a non-negative integer, got {self.max_new_tokens!r}")
        if not (isinstance(self.num_return_sequences, int) and self.num_return_sequences >= 1):
            raise ConfigError(f"num_return_sequences must be >= 1, got {self.num_return_sequences!r}")
        if isinstance(self.stop_strings, str):
            self.stop_strings = [self.stop_strings]
        if self.stop_strings and any(not s for s in self.stop_strings):
            raise ConfigError("stop_strings must be non-empty strings")
        build_processors(do_sample=self.do_sample, temperature=self.temperature, top_k=self.top_k,
                         top_p=self.top_p, repetition_penalty=self.repetition_penalty)
        check_beam_options(self.num_beams, self.num_return_sequences, self.early_stopping, self.do_sample)
        if self.num_beams > 1 and self.stop_strings:
            raise ConfigError("stop_strings are not supported with beam search; use num_beams=1 or an EOS id")

    @property
    def eos_ids(self) -> list[int]:
        if self.eos_token_id is None:
            return []
        return [self.eos_token_id] if isinstance(self.eos_token_id, int) else list(self.eos_token_id)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "GenerationConfig":
        """Build from a dict, ignoring keys we do not use (transformers writes many more)."""
        names = {f.name for f in dataclasses.fields(cls)}
        cfg = cls(**{k: v for k, v in values.items() if k in names and v is not None})
        cfg.validate()
        return cfg

    def save(self, directory) -> None:
        from .serialization import write_json

        write_json(Path(directory) / GENERATION_CONFIG_NAME, self.to_dict())

    @classmethod
    def from_file(cls, directory) -> "GenerationConfig":
        path = Path(directory) / GENERATION_CONFIG_NAME
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError, ConfigError) as e:
            raise CheckpointError(f"{path}: invalid generation config ({e}); delete it or save the model again") from None


class TextStreamer:
    """Receives token ids during ``generate`` and emits the newly decoded text.

    Decoded text is printed (``print_fn``, default ``print(..., end="")``) and also queued, so
    ``for piece in streamer`` yields it while ``generate`` runs in another thread. Only batch size 1.
    """

    def __init__(self, tokenizer, *, skip_prompt: bool = True, print_fn=None):
        self.tokenizer, self.skip_prompt = tokenizer, skip_prompt
        self.print_fn = print_fn
        self._ids: list[int] = []
        self._emitted = 0
        self._prompt_seen = False
        self._queue: queue.Queue = queue.Queue()

    def put(self, ids: Tensor) -> None:
        if ids.dim() > 1:
            if ids.shape[0] != 1:
                raise ConfigError("TextStreamer streams one sequence; use batch size 1 and num_return_sequences=1")
            ids = ids[0]
        if not self._prompt_seen:
            self._prompt_seen = True
            if self.skip_prompt:
                return
        self._ids.extend(int(i) for i in ids.reshape(-1))
        text = self.tokenizer.decode(self._ids)
        if text.endswith("\ufffd"):
            return  # an incomplete UTF-8 sequence: wait for the next token
        self._emit(text[self._emitted:])
        self._emitted = len(text)

    def end(self) -> None:
        text = self.tokenizer.decode(self._ids)
        self._emit(text[self._emitted:])
        self._emitted = len(text)
        self._queue.put(None)

    def _emit(self, piece: str) -> None:
        if not piece:
            return
        if self.print_fn is not None:
            self.print_fn(piece)
        self._queue.put(piece)

    def __iter__(self):
        while (piece := self._queue.get()) is not None:
            yield piece


def _check_inputs(model, input_ids: Tensor, attention_mask: Tensor | None, max_new_tokens: int) -> Tensor | None:
    cfg = model.config
    if input_ids.dim() != 2 or input_ids.dtype not in (torch.int64, torch.int32):
        raise DataError(f"input_ids must be a (batch, length) integer tensor, got shape {tuple(input_ids.shape)} dtype {input_ids.dtype}")
    if input_ids.shape[1] == 0 or input_ids.shape[0] == 0:
        raise DataError("the prompt is empty; pass at least one token (e.g. the EOS/BOS id or a character)")
    lo, hi = int(input_ids.min()), int(input_ids.max())
    if lo < 0 or hi >= cfg.vocab_size:
        bad = lo if lo < 0 else hi
        raise DataError(f"token id {bad} is outside the model's vocabulary [0, {cfg.vocab_size}); was the prompt encoded with another tokenizer?")
    T = input_ids.shape[1]
    if T > cfg.block_size:
        raise DataError(f"the prompt has {T} tokens but the model's context is {cfg.block_size}; shorten the prompt")
    if T + max_new_tokens > cfg.block_size:
        raise ConfigError(f"prompt ({T} tokens) + max_new_tokens ({max_new_tokens}) exceeds the context of {cfg.block_size}; use max_new_tokens <= {cfg.block_size - T}")
    if attention_mask is None:
        return None
    if attention_mask.shape != input_ids.shape:
        raise DataError(f"attention_mask has shape {tuple(attention_mask.shape)}, input_ids {tuple(input_ids.shape)}; they must match")
    mask = attention_mask.to(device=input_ids.device, dtype=torch.bool)
    if not bool(mask[:, -1].all()) or bool((mask[:, 1:] < mask[:, :-1]).any()):
        raise DataError("attention_mask must be left padded (zeros first, then ones, last column all ones); pad prompts on the left")
    return None if bool(mask.all()) else mask


def _ends_with_stop(tokenizer, ids: list[int], stops: list[str]) -> bool:
    """Whether the decoded text of ``ids`` ends with a stop string (checks a short tail only)."""
    tail = ids[-(max(len(s) for s in stops) + 4):]
    text = tokenizer.decode(tail)
    return any(s in text for s in stops)  # earlier steps found none, so any match is new


@torch.inference_mode()
def generate(model, input_ids: Tensor, attention_mask: Tensor | None = None,
             generation_config: GenerationConfig | None = None, *, generator: torch.Generator | None = None,
             streamer=None, tokenizer=None, logits_processor: list | None = None, **kw: Any) -> Tensor:
    """Continue each prompt; returns (batch * num_return_sequences, prompt_len + new) token ids.

    ``logits_processor``: extra ``(input_ids, logits) -> logits`` callables run after the built-in ones
    (as transformers runs its watermark last), e.g. ``genzoo.safety.WatermarkLogitsProcessor``.

    Rows that stop early are padded on the right with ``pad_token_id``. Keyword options override
    ``generation_config`` (default: the model's ``generation_config``). An explicit
    ``max_new_tokens`` that overflows the context is an error; the default one is cut to fit.
    """
    base = generation_config or getattr(model, "generation_config", None) or GenerationConfig()
    gc = base.update(**kw)
    if input_ids.dim() == 1:
        input_ids = input_ids[None]
        attention_mask = None if attention_mask is None else attention_mask[None]
    if "max_new_tokens" not in kw or kw["max_new_tokens"] is None:  # a default, not a request: fit the context
        gc.max_new_tokens = max(0, min(gc.max_new_tokens, model.config.block_size - input_ids.shape[-1]))
    mask = _check_inputs(model, input_ids, attention_mask, gc.max_new_tokens)
    tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
    if gc.stop_strings and tokenizer is None:
        raise ConfigError("stop_strings need a tokenizer: pass tokenizer= or load a model saved with one")
    copies = gc.num_beams if gc.num_beams > 1 else gc.num_return_sequences
    if copies > 1:
        input_ids = input_ids.repeat_interleave(copies, dim=0)
        mask = None if mask is None else mask.repeat_interleave(copies, dim=0)
    procs = build_processors(do_sample=gc.do_sample, temperature=gc.temperature, top_k=gc.top_k,
                             top_p=gc.top_p, repetition_penalty=gc.repetition_penalty, min_length=gc.min_length,
                             min_new_tokens=gc.min_new_tokens, eos_ids=gc.eos_ids, prompt_length=input_ids.shape[1])
    procs += list(logits_processor or [])
    eos = torch.tensor(gc.eos_ids, dtype=torch.long, device=input_ids.device)
    pad = gc.pad_token_id if gc.pad_token_id is not None else (gc.eos_ids[0] if gc.eos_ids else 0)

    B, T = input_ids.shape
    total = T + gc.max_new_tokens
    out = torch.full((B, total), pad, dtype=torch.long, device=input_ids.device)
    out[:, :T] = input_ids
    key_valid = None
    if mask is not None:  # one mask for the whole call; new tokens are always real
        key_valid = torch.ones(B, total, dtype=torch.bool, device=input_ids.device)
        key_valid[:, :T] = mask
    positions = (key_valid[:, :T].long().cumsum(-1) - 1).clamp(min=0) if key_valid is not None else None
    cache = model.new_cache(B, total) if gc.use_cache else None
    if gc.num_beams > 1:
        if streamer is not None:
            raise ConfigError("a streamer needs num_beams=1 (beam search knows the output only at the end)")
        return beam_search(_model_step(model, key_valid, positions, cache), cache.reorder if cache is not None else None,
                           input_ids, num_beams=gc.num_beams, max_new_tokens=gc.max_new_tokens, eos_ids=gc.eos_ids,
                           pad_id=gc.pad_token_id,
                           length_penalty=gc.length_penalty, early_stopping=gc.early_stopping,
                           num_return_sequences=gc.num_return_sequences, procs=procs)
    finished = torch.zeros(B, dtype=torch.bool, device=input_ids.device)
    can_finish = bool(eos.numel() or gc.stop_strings)  # only EOS or a stop string ends a row early
    if streamer is not None:
        streamer.put(input_ids.cpu())

    cur, step_ids = T, input_ids
    for _ in range(gc.max_new_tokens):
        if cache is not None:
            logits = model(step_ids, attention_mask=key_valid, position_ids=positions, cache=cache, last_only=True)
        else:
            pos_all = None if key_valid is None else (key_valid[:, :cur].long().cumsum(-1) - 1).clamp(min=0)
            logits = model(out[:, :cur], attention_mask=None if key_valid is None else key_valid[:, :cur],
                           position_ids=pos_all, last_only=True)
        logits = process(procs, out[:, :cur], logits[:, -1].float())
        tok = next_token(logits, do_sample=gc.do_sample, generator=generator)
        if can_finish:
            tok = torch.where(finished, torch.full_like(tok, pad), tok)
        out[:, cur] = tok
        cur += 1
        if streamer is not None:
            streamer.put(tok.cpu())
        if eos.numel():
            finished |= torch.isin(tok, eos)
        if gc.stop_strings:
            for b in range(B):
                if not finished[b] and _ends_with_stop(tokenizer, out[b, T:cur].tolist(), gc.stop_strings):
                    finished[b] = True
        if can_finish and bool(finished.all()):
            break
        step_ids = tok[:, None]
        if positions is not None:
            positions = positions[:, -1:] + 1
    if streamer is not None:
        streamer.end()
    return out[:, :cur]


def _model_step(model, key_valid: Tensor | None, positions: Tensor | None, cache):
    """``step(seqs) -> last-position logits`` for beam search: the prompt once, then one token per call
    through ``cache`` (or the whole sequence again without one). Beams of a prompt share its padding
    and positions, so only the cache is reordered."""
    state = {"positions": positions, "first": True}

    def step(seqs: Tensor) -> Tensor:
        cur = seqs.shape[1]
        mask = None if key_valid is None else key_valid[:, :cur]
        if cache is None:
            pos = None if key_valid is None else (mask.long().cumsum(-1) - 1).clamp(min=0)
            return model(seqs, attention_mask=mask, position_ids=pos, last_only=True)[:, -1]
        ids = seqs if state["first"] else seqs[:, -1:]
        if not state["first"] and state["positions"] is not None:
            state["positions"] = state["positions"][:, -1:] + 1
        state["first"] = False
        return model(ids, attention_mask=key_valid, position_ids=state["positions"], cache=cache, last_only=True)[:, -1]

    return step

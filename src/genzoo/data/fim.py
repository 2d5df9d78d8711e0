"""Fill-in-the-middle (Bavarian et al. 2022, "Efficient Training of Language Models to Fill in the Middle").

A training block is cut at two uniform random positions into (prefix, middle, suffix) and moved so
that the middle comes last, with sentinel tokens (StarCoder's names):

    PSM:  <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|> middle <|endoftext|>
    SPM:  <|fim_prefix|> <|fim_suffix|> suffix <|fim_middle|> prefix middle <|endoftext|>

(the paper's SPM variant of its appendix D), then cut back to the block length ("context-level"
FIM). A fraction ``rate`` of the blocks is transformed (the paper's FIM rate, 0.5 by default there),
of those a fraction ``spm_rate`` in SPM; the rest stay left-to-right, so the model keeps its
ordinary ability. At inference the prompt is everything up to and including ``<|fim_middle|>``
(plus the prefix in SPM) and the model writes the middle until ``<|endoftext|>``.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import ConfigError

PREFIX, SUFFIX, MIDDLE = "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"
SENTINELS = [PREFIX, SUFFIX, MIDDLE]
MODES = ("psm", "spm")


def check_rates(rate, spm_rate) -> tuple[float, float]:
    """The two rates as floats (command-line strings accepted); a one-line error outside [0, 1]."""
    out = []
    for name, value in (("fim", rate), ("fim_spm", spm_rate)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = float("nan")
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"--data-arg {name} is a fraction of blocks in [0, 1], got {rate if name == 'fim' else spm_rate!r}")
        out.append(value)
    return out[0], out[1]


def arrange(prefix: list[int], middle: list[int], suffix: list[int], ids: dict[str, int], eos: int, mode: str) -> list[int]:
    """The FIM order of one example (``ids``: the sentinel ids by name)."""
    p, s, m = ids[PREFIX], ids[SUFFIX], ids[MIDDLE]
    if mode == "psm":
        return [p, *prefix, s, *suffix, m, *middle, eos]
    return [p, s, *suffix, m, *prefix, *middle, eos]


def fim_blocks(x: Tensor, rate: float, spm_rate: float, ids: dict[str, int], eos: int,
               generator: torch.Generator) -> Tensor:
    """Apply FIM to a ``rate`` share of the (N, L) token blocks (a seeded draw; same seed, same blocks)."""
    rate, spm_rate = check_rates(rate, spm_rate)
    out = x.clone()
    n, length = x.shape
    chosen = torch.rand(n, generator=generator) < rate
    spm = torch.rand(n, generator=generator) < spm_rate
    cuts = torch.randint(0, length + 1, (n, 2), generator=generator).sort(-1).values
    for i in chosen.nonzero().flatten().tolist():
        row, (a, b) = x[i].tolist(), cuts[i].tolist()
        moved = arrange(row[:a], row[a:b], row[b:], ids, eos, "spm" if spm[i] else "psm")
        out[i] = torch.tensor(moved[:length])
    return out


def fim_prompt(tokenizer, prefix: str, suffix: str, mode: str = "psm") -> list[int]:
    """The ids the model continues with the middle: everything before the middle in ``mode``."""
    if mode not in MODES:
        raise ConfigError(f"unknown FIM mode {mode!r}; use psm or spm")
    ids = {t: tokenizer.token_id(t) for t in SENTINELS}
    pre, suf = tokenizer.encode(prefix), tokenizer.encode(suffix)
    full = arrange(pre, [], suf, ids, tokenizer.eos_token_id, mode)
    return full[:-1]  # drop the end marker: the model writes the middle, then <|endoftext|>

"""Property-conditioned molecule rows: ``--data-arg condition=qed`` (or ``logp``).

Each train molecule gets the bin of its property among the train split's tertiles,
low: v < q_1/3, mid: q_1/3 <= v < q_2/3, high: v >= q_2/3 (QED: Bickerton et al. 2012; logP:
Crippen), and its row carries the bin's token after BOS: ``[EOS, <|qed=high|>, tokens, EOS, PAD...]``
(the conditional language model p(x | c) of e.g. Kotsias et al. 2020, with c one token). Sampling with
``condition="qed=high"`` starts every row from ``[EOS, <|qed=high|>]``; without a condition the model
draws the bin itself. Computing QED costs about 1 ms a molecule: fine for moses-small and user files,
about half an hour for the full moses train split.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DataError

PROPERTIES = ("qed", "logp")
BINS = ("low", "mid", "high")


def check_property(condition) -> str | None:
    if condition in (None, "", "none"):
        return None
    if condition not in PROPERTIES:
        raise DataError(f"condition must be one of {', '.join(PROPERTIES)}, got {condition!r}")
    return condition


def token(prop: str, level: str) -> str:
    return f"<|{prop}={level}|>"


def all_tokens(prop: str | None) -> list[str]:
    return [token(prop, b) for b in BINS] if prop else []


def values(prop: str, smiles) -> np.ndarray:
    """The property of each SMILES (RDKit's QED or Crippen logP)."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import Crippen
    from rdkit.Chem.QED import qed

    fn = qed if prop == "qed" else Crippen.MolLogP
    RDLogger.DisableLog("rdApp.*")
    try:
        return np.array([fn(Chem.MolFromSmiles(s)) for s in smiles], dtype=np.float64)
    finally:
        RDLogger.EnableLog("rdApp.*")


def edges(prop: str, train_smiles) -> tuple[float, float]:
    """The train split's tertiles of the property."""
    q = np.quantile(values(prop, train_smiles), [1 / 3, 2 / 3])
    return float(q[0]), float(q[1])


def bin_ids(tokenizer, prop: str, smiles, cuts: tuple[float, float]) -> np.ndarray:
    """The condition token id of each molecule."""
    ids = np.array([tokenizer.token_id(token(prop, b)) for b in BINS])
    return ids[np.searchsorted(np.asarray(cuts), values(prop, smiles), side="right")]


def condition_ids(tokenizer) -> dict[str, int]:
    """{"qed=high": id, ...} of the condition tokens a tokenizer holds."""
    vocab = tokenizer.hf.get_vocab()
    return {f"{p}={b}": vocab[token(p, b)] for p in PROPERTIES for b in BINS if token(p, b) in vocab}


def prompt_id(tokenizer, condition: str) -> int:
    """The token id for ``condition`` ("qed=high"), with one-line errors for what the model lacks."""
    known = condition_ids(tokenizer)
    if not known:
        raise ConfigError(f"this model was trained without a condition, so it cannot sample {condition!r}; "
                          "train it with --data-arg condition=qed (or logp)")
    if condition not in known:
        raise ConfigError(f"{condition!r} is not a condition this model was trained with; use one of {', '.join(known)}")
    return known[condition]

"""SMILES / SELFIES token vocabularies, one-molecule-per-row encoding and decoding of samples.

Tokens are atoms and bonds, split by the regex of Schwaller et al. 2019 ("Molecular Transformer",
ACS Cent. Sci. 5:1572): bracket atoms ``[nH]``, two-letter halogens ``Br``/``Cl``, organic-subset
atoms, bonds, branches, ring-closure digits and ``%NN``. With ``selfies=True`` a molecule is first
written as SELFIES (Krenn et al. 2020, the ``selfies`` package) and its tokens are the bracketed
SELFIES symbols. The vocabulary is an HF ``tokenizers`` WordLevel model over those regex pieces
(a genzoo ``Tokenizer``), with the special tokens

    <|endoftext|> (id 0): BOS and EOS,  <|unk|>,  <|pad|>: padding (left out of GPT's loss),
    <|smiles|> or <|selfies|>: a marker that says how to turn decoded text back into SMILES.

A row is ``[EOS, t_1, ..., t_n, EOS, PAD, ..., PAD]`` of ``block_size`` ids; decoding a sample
drops the leading EOS, cuts at the next EOS and fuses the tokens back into a string.
"""
from __future__ import annotations

import inspect
import re

import numpy as np
import torch
from tokenizers import Regex, decoders, models, pre_tokenizers
from tokenizers import Tokenizer as HFTokenizer

from ..errors import ConfigError, DataError
from .tokenizers import EOS, UNK, Tokenizer

#: Schwaller et al. 2019's atom-level SMILES regex
SMILES_REGEX = r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$|\%[0-9]{2}|[0-9])"
SELFIES_REGEX = r"(\[[^\]]*\]|\.)"
PAD = "<|pad|>"
MARKERS = {"smiles": "<|smiles|>", "selfies": "<|selfies|>"}


def split_tokens(text: str, selfies: bool = False) -> list[str]:
    """The regex pieces of one SMILES (or SELFIES) string."""
    return re.findall(SELFIES_REGEX if selfies else SMILES_REGEX, text)


def build_tokenizer(strings: list[str], selfies: bool = False, extra_specials: list[str] = ()) -> Tokenizer:
    """WordLevel vocabulary over the regex tokens of ``strings``: specials first (then
    ``extra_specials``, e.g. property-bin tokens), then the sorted tokens."""
    seen: set[str] = set()
    pattern = SELFIES_REGEX if selfies else SMILES_REGEX
    rx = re.compile(pattern)
    for s in strings:
        seen.update(rx.findall(s))
    marker = MARKERS["selfies" if selfies else "smiles"]
    specials = [EOS, UNK, PAD, marker, *extra_specials]
    vocab = {t: i for i, t in enumerate(specials + sorted(seen))}
    hf = HFTokenizer(models.WordLevel(vocab, unk_token=UNK))
    hf.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    hf.decoder = decoders.Fuse()
    hf.add_special_tokens(specials)
    return Tokenizer(hf)


def molecule_format(tokenizer) -> str | None:
    """"smiles" or "selfies" for a molecule tokenizer (its marker token), else None."""
    hf = getattr(tokenizer, "hf", None)
    if hf is None:
        return None
    return next((k for k, t in MARKERS.items() if hf.token_to_id(t) is not None), None)


def encode_rows(tokenizer: Tokenizer, strings: list[str], block_size: int) -> tuple[torch.Tensor, np.ndarray]:
    """(rows (N', block_size) int32, kept (N,) bool): ``[EOS, tokens, EOS, PAD...]``; strings whose
    tokens do not fit ``block_size - 2`` are left out (``kept`` is False for them)."""
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    ids, lengths = _regex_ids(tokenizer, strings)
    if ids is None:  # not covered by the regex: the tokenizer's own (slower) path
        encoded = tokenizer.encode_batch(list(strings))
        lengths = np.fromiter((len(r) for r in encoded), dtype=np.int64, count=len(encoded))
        ids = np.fromiter((i for r in encoded for i in r), dtype=np.int32, count=int(lengths.sum()))
    kept = lengths <= block_size - 2
    starts = np.cumsum(lengths) - lengths
    row_of = np.repeat(np.cumsum(kept) - 1, lengths)
    col = np.arange(len(ids)) - np.repeat(starts, lengths) + 1
    keep_tok = np.repeat(kept, lengths)
    rows = np.full((int(kept.sum()), block_size), pad, dtype=np.int32)
    rows[:, 0] = eos
    rows[row_of[keep_tok], col[keep_tok]] = ids[keep_tok]
    rows[np.arange(len(rows)), lengths[kept] + 1] = eos
    return torch.from_numpy(rows), kept


def _regex_ids(tokenizer: Tokenizer, strings: list[str]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Token ids of all strings in one regex pass (7x faster than ``encode_batch`` on MOSES) and the
    length of each; (None, None) when the regex pieces do not cover the text exactly, where the
    HF pre-tokenizer would also emit the gaps."""
    fmt = molecule_format(tokenizer)
    if fmt is None or any("\n" in s for s in strings):
        return None, None
    text = "\n".join(strings)
    pieces = re.findall("\n|" + (SELFIES_REGEX if fmt == "selfies" else SMILES_REGEX)[1:-1], text)
    if sum(map(len, pieces)) != len(text):
        return None, None
    vocab = {**tokenizer.hf.get_vocab(), "\n": -1}
    unk = tokenizer.hf.token_to_id(UNK)
    flat = np.fromiter((vocab.get(p, unk) for p in pieces), dtype=np.int32, count=len(pieces))
    sep = np.flatnonzero(flat == -1)
    lengths = np.diff(np.concatenate([[-1], sep, [len(flat)]])) - 1
    return flat[flat != -1], lengths


def decode_rows(tokenizer: Tokenizer, rows) -> list[str]:
    """Sampled id rows -> SMILES strings: drop a leading EOS, cut at the next EOS, fuse the tokens;
    SELFIES rows are decoded to SMILES ('' where the selfies package cannot). A condition token after
    BOS is dropped; a row holding another special token before its EOS is '' (an invalid molecule)."""
    eos, fmt = tokenizer.eos_token_id, molecule_format(tokenizer)
    from .mol_condition import condition_ids

    special = {tokenizer.hf.token_to_id(t) for t in (UNK, PAD, *MARKERS.values())} - {None}
    conditions = set(condition_ids(tokenizer).values())
    special |= conditions
    if hasattr(rows, "tolist"):
        rows = rows.tolist()
    texts = []
    for r in rows:
        r = r[1:] if r and r[0] == eos else r
        r = r[1:] if r and r[0] in conditions else r  # a property-bin token after BOS (mol_condition.py)
        r = r[: r.index(eos)] if eos in r else r
        texts.append("" if special.intersection(r) else tokenizer.decode(r))  # '' counts as invalid
    return [selfies_to_smiles(t) for t in texts] if fmt == "selfies" else texts


def selfies_to_smiles(text: str) -> str:
    import selfies as sf

    try:
        return sf.decoder(text) or ""
    except sf.DecoderError:
        return ""


def smiles_to_selfies(smiles: list[str]) -> list[str | None]:
    """SELFIES of each SMILES (None where the encoder rejects it)."""
    import selfies as sf

    out: list[str | None] = []
    for s in smiles:
        try:
            out.append(sf.encoder(s))
        except sf.EncoderError:
            out.append(None)
    return out


@torch.no_grad()
def sample_smiles(model, tokenizer: Tokenizer, n: int, generator: torch.Generator | None = None,
                  batch_size: int = 500, temperature: float = 1.0, condition: str | None = None, progress: bool = True,
                  **sample_kw) -> list[str]:
    """``n`` SMILES from a model trained on molecule rows, drawn ``batch_size`` at a time with one
    generator (same seed, same list). A GPT stops each row at its EOS (``generate``); any other
    family draws whole rows with ``model.sample`` (given ``sample_kw``, e.g. ``steps``).
    ``condition`` ("qed=high"): a GPT trained with ``condition=qed`` continues ``[EOS, <|qed=high|>]``
    (``mol_condition.py``). ``progress``: a bar on stderr when there is more than one batch."""
    if n <= 0:
        raise ConfigError(f"the number of molecules must be positive, got {n}")
    if molecule_format(tokenizer) is None:
        raise DataError("this model was not trained on a molecule dataset (moses, moses-small, smiles:PATH); "
                        "its samples are not SMILES")
    is_gpt = hasattr(model, "first_token_logits") and hasattr(model, "generate")
    prompt = None
    if condition is not None:
        from .mol_condition import prompt_id

        if not is_gpt:
            raise ConfigError(f"--condition needs a GPT trained with --data-arg condition=..., not {model.model_type!r}")
        prompt = [tokenizer.eos_token_id, prompt_id(tokenizer, condition)]
    model.eval()
    out: list[str] = []
    from ..training.logging import progress_bar

    bar = progress_bar(n, 0, progress and n > batch_size, desc="sample")  # molecules drawn so far
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        if is_gpt:
            from ..utils import model_device

            if prompt is None:
                probs = torch.softmax(model.first_token_logits.float() / temperature, -1).expand(b, -1)
                gen_device = generator.device if generator is not None else torch.device("cpu")
                first = torch.multinomial(probs.to(gen_device), 1, generator=generator)
            else:
                first = torch.tensor([prompt]).expand(b, -1)
            rows = model.generate(first.to(model_device(model)), None, generator=generator, do_sample=True,
                                  max_new_tokens=model.config.block_size - first.shape[1], temperature=temperature,
                                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        else:  # the family's own sampler; its options (e.g. steps, and temperature where it takes one)
            takes = inspect.signature(model.sample).parameters
            kw = {**sample_kw, **({"temperature": temperature} if "temperature" in takes and temperature != 1.0 else {})}
            rows = model.sample(b, generator=generator, **kw)
        out += decode_rows(tokenizer, rows.long().cpu())
        if bar is not None:
            bar.update(b)
    if bar is not None:
        bar.close()
    return out


def write_smiles(path, smiles: list[str]) -> None:
    """One SMILES a line (an empty line for a sample that decoded to nothing)."""
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(s + "\n" for s in smiles))

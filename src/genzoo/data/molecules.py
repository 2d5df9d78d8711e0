"""Molecule datasets: ``moses``, ``moses-small`` and ``smiles:PATH`` (kind "text", one molecule a row).

``moses``: the MOSES benchmark split (Polykovskiy et al. 2020, "Molecular Sets (MOSES)") as the
``molsets`` package ships it: ``train`` (1,584,663 SMILES), ``test`` (176,074) and
``test_scaffolds`` (176,226, scaffolds absent from train). genzoo reads the files
(``<molsets>/moses/dataset/data/*.csv.gz``) and never imports molsets' code; install it with
``pip install --no-deps molsets==0.3.1``. ``moses-small``: every k-th molecule of each split, 20,000
train and 2,000 for each test split (deterministic, no RNG), for CPU budgets.

``smiles:PATH``: a user file with one SMILES a line (the first whitespace-separated field, so
``.smi`` files with names work; blank lines and a ``SMILES`` header are skipped). Lines RDKit cannot
parse are counted and skipped, with the count reported (a warning, and ``info["curation"]``); the
first 90% of the valid molecules are ``train``, the rest ``test``.

Each row is ``[EOS, tokens, EOS, PAD...]`` of ``block_size`` ids (``genzoo.data.smiles``; default
64, MOSES' longest SMILES has 57 tokens); molecules that do not fit are skipped and counted. The
vocabulary is built on the train split (``selfies=True``: SELFIES symbols). ``ds.smiles`` holds the
SMILES of the rows, ``info["reference"]`` what ``genzoo.metrics.molecules`` compares samples with.
``condition="qed"`` (or ``"logp"``) puts a property-bin token after BOS (``mol_condition.py``).
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ..registry import register_dataset
from . import mol_condition
from .base import GenDataset
from .common import check_split
from .smiles import build_tokenizer, encode_rows, smiles_to_selfies
from .tokenizers import Tokenizer

MOSES_SPLITS = ("train", "test", "test_scaffolds")
SMALL_SIZES = {"train": 20_000, "test": 2_000, "test_scaffolds": 2_000}
TRAIN_FRACTION = 0.9
INSTALL_HINT = "install the MOSES files with: pip install --no-deps molsets==0.3.1"


class MoleculeDataset(GenDataset):
    """A text dataset of molecule rows that also keeps the molecules' SMILES (``.smiles``)."""

    def __init__(self, *args, smiles: list[str], **kw):
        super().__init__(*args, **kw)
        self.smiles = smiles


def molsets_dir() -> Path:
    """The installed ``moses`` package directory (found, not imported)."""
    spec = importlib.util.find_spec("moses")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the MOSES dataset needs the molsets package's data files; {INSTALL_HINT}")
    return Path(list(spec.submodule_search_locations)[0])


def moses_file(name: str) -> Path:
    """A file shipped with molsets, e.g. ``dataset/data/test.csv.gz`` or ``metrics/mcf.csv``."""
    path = molsets_dir() / name
    if not path.is_file():
        raise DataError(f"{path} is missing from the molsets install; {INSTALL_HINT}")
    return path


@functools.lru_cache(maxsize=8)
def moses_smiles(split: str, small: bool = False) -> tuple[str, ...]:
    """The SMILES of a MOSES split (``small``: every k-th, ``SMALL_SIZES[split]`` of them)."""
    check_split("moses", split, MOSES_SPLITS)
    with gzip.open(moses_file(f"dataset/data/{split}.csv.gz"), "rt") as f:
        lines = f.read().split()
    if lines and lines[0] == "SMILES":
        lines = lines[1:]
    if small:
        size = SMALL_SIZES[split]
        lines = lines[:: max(1, len(lines) // size)][:size]
    return tuple(lines)


def _check_block(block_size) -> None:
    if not isinstance(block_size, int) or block_size < 3:
        raise DataError(f"block_size must be an integer >= 3 (EOS, a token, EOS), got {block_size!r}")


SELFIES_CACHE_MIN = 50_000  # splits at least this large keep their SELFIES in the disk cache


@functools.lru_cache(maxsize=4)
def _selfies_of(source, split: str) -> tuple[str | None, ...]:
    """SELFIES of a split's SMILES (None where the encoder refuses), encoded once per process and kept in
    ``~/.cache/genzoo/`` under a hash of the SMILES and the selfies version (the full MOSES train split
    took 11 minutes to encode on a shared core; its cache file is ~0.27 GB)."""
    import selfies as sf

    from .disk_cache import cached_json

    smiles = _source_smiles(source, split)
    if len(smiles) < SELFIES_CACHE_MIN:  # quick enough to encode again; keeps small sets out of the cache
        return tuple(smiles_to_selfies(list(smiles)))
    key = hashlib.sha256("\n".join((sf.__version__, *smiles)).encode()).hexdigest()[:16]
    return tuple(cached_json(f"selfies-{key}.json", lambda: smiles_to_selfies(list(smiles))))


@functools.lru_cache(maxsize=4)
def _vocab(source, selfies: bool, prop: str | None = None) -> Tokenizer:
    train = _source_smiles(source, "train")
    strings = [t for t in _selfies_of(source, "train") if t is not None] if selfies else list(train)
    return build_tokenizer(strings, selfies, mol_condition.all_tokens(prop))


@functools.lru_cache(maxsize=4)
def _edges(source, prop: str) -> tuple[float, float]:
    return mol_condition.edges(prop, _source_smiles(source, "train"))


def _source_smiles(source, split: str) -> tuple[str, ...]:
    if source in ("moses", "moses-small"):
        return moses_smiles(split, source == "moses-small")
    return read_smiles_file(*source[1:])[split]


def _flag(value, name: str) -> bool:
    """A yes/no dataset option: a bool, or the strings --data-arg passes ("true"/"false", "1"/"0", ...)."""
    if isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise DataError(f"{name}={value!r} must be true or false")
    return bool(value)


def molecule_dataset(name: str, source, split: str, selfies: bool, block_size: int, tokenizer,
                     condition=None) -> MoleculeDataset:
    _check_block(block_size)
    selfies = _flag(selfies, "selfies")
    prop = mol_condition.check_property(condition)
    smiles = list(_source_smiles(source, split))
    if tokenizer is None:
        tokenizer = _vocab(source, selfies, prop)
    elif not isinstance(tokenizer, Tokenizer):
        raise DataError(f"tokenizer must be a genzoo Tokenizer (the model's), got {tokenizer!r}")
    strings, failed = smiles, 0
    if selfies:  # .smiles stays aligned with the rows
        pairs = [(s, t) for s, t in zip(smiles, _selfies_of(source, split)) if t is not None]
        failed = len(smiles) - len(pairs)
        smiles, strings = [s for s, _ in pairs], [t for _, t in pairs]
    x, kept = encode_rows(tokenizer, strings, block_size - (prop is not None))
    smiles = [s for s, k in zip(smiles, kept) if k]
    if prop is not None:  # [EOS, <|prop=bin|>, tokens, EOS, PAD...]
        cuts = _edges(source, prop)
        bins = torch.from_numpy(mol_condition.bin_ids(tokenizer, prop, smiles, cuts).astype(np.int32))
        x = torch.cat([x[:, :1], bins[:, None], x[:, 1:]], 1)
    if not len(x):
        raise DataError(f"the {split} split of {name!r} has no molecule that fits block_size={block_size}")
    too_long = int((~kept).sum())
    if too_long:
        warnings.warn(f"{name} {split}: skipped {too_long} molecules longer than block_size-2={block_size - 2} tokens")
    info = {"options": {"selfies": selfies, "block_size": block_size, **({"condition": prop} if prop else {})},
            "pad_token_id": tokenizer.pad_token_id,
            "block_size": block_size, "reference": source if isinstance(source, str) else name,
            "curation": {"too_long": too_long, "selfies_failed": failed}}
    if prop is not None:
        info["condition"] = {"property": prop, "tertiles": list(_edges(source, prop))}
    if not isinstance(source, str):
        info["curation"]["invalid_smiles"] = read_smiles_file(*source[1:])["invalid"]
        info["source"] = source
    return MoleculeDataset(name, split, "text", x, tokenizer=tokenizer, info=info, smiles=smiles)


def reference_smiles(data: MoleculeDataset) -> dict:
    """The train and test SMILES a ``smiles:PATH`` dataset's samples are scored against."""
    source = data.info.get("source")
    if source is None:
        raise DataError(f"{data.name!r} is not a smiles:PATH dataset; its reference is {data.info.get('reference')!r}")
    splits = read_smiles_file(*source[1:])
    return {"train": list(splits["train"]), "test": list(splits["test"])}


@register_dataset("moses")
def moses(split: str = "train", selfies: bool = False, block_size: int = 64, tokenizer=None,
          condition=None) -> MoleculeDataset:
    """MOSES: train / test / test_scaffolds SMILES (see the module docstring)."""
    check_split("moses", split, MOSES_SPLITS)
    return molecule_dataset("moses", "moses", split, selfies, block_size, tokenizer, condition)


@register_dataset("moses-small")
def moses_small(split: str = "train", selfies: bool = False, block_size: int = 64, tokenizer=None,
                condition=None) -> MoleculeDataset:
    """Every k-th molecule of MOSES: 20,000 train, 2,000 test and 2,000 test_scaffolds."""
    check_split("moses-small", split, MOSES_SPLITS)
    return molecule_dataset("moses-small", "moses-small", split, selfies, block_size, tokenizer, condition)


@functools.lru_cache(maxsize=4)
def read_smiles_file(path: str, mtime_ns: int = 0, size: int = 0) -> dict:
    """{"train", "test": tuples of valid SMILES, "invalid": count, "total": count} of a user file."""
    from rdkit import Chem, RDLogger

    lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    fields = [ln.split()[0] for ln in lines if ln.strip()]
    if fields and fields[0].lower() == "smiles":
        fields = fields[1:]
    if not fields:
        raise DataError(f"smiles file {path!r} has no SMILES; it needs one SMILES a line")
    RDLogger.DisableLog("rdApp.*")
    try:
        valid = [s for s in fields if Chem.MolFromSmiles(s) is not None]
    finally:
        RDLogger.EnableLog("rdApp.*")
    invalid = len(fields) - len(valid)
    if invalid:
        bad = next(s for s in fields if Chem.MolFromSmiles(s) is None)
        warnings.warn(f"smiles:{path}: skipped {invalid} of {len(fields)} SMILES that RDKit cannot parse (e.g. {bad!r})")
    if len(valid) < 2:
        raise DataError(f"smiles file {path!r} has {len(valid)} valid SMILES of {len(fields)}; it needs at least 2")
    cut = max(1, int(TRAIN_FRACTION * len(valid)))
    return {"train": tuple(valid[:cut]), "test": tuple(valid[cut:] or valid[-1:]), "invalid": invalid, "total": len(fields)}


@register_dataset("smiles:")
def smiles_file(path: str, split: str = "train", selfies: bool = False, block_size: int = 64,
                tokenizer=None, condition=None) -> MoleculeDataset:
    """``smiles:PATH``: a user's file of SMILES, one a line (see the module docstring)."""
    check_split(f"smiles:{path}", split)
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"smiles file {path!r} not found; pass smiles:PATH with a file of one SMILES a line")
    stat = p.stat()
    return molecule_dataset(f"smiles:{path}", ("file", str(p.resolve()), stat.st_mtime_ns, stat.st_size), split,
                            selfies, block_size, tokenizer, condition)

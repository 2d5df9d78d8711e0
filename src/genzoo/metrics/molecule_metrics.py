"""MOSES metrics of generated SMILES (Polykovskiy et al. 2020, "Molecular Sets (MOSES)", Sec. 4).

``molecules(smiles, reference="moses")`` returns MOSES' ``get_all_metrics`` dict, same keys:

- ``valid``: share of SMILES RDKit parses; the rest use the canonical SMILES of the valid ones (G).
- ``unique@1000``, ``unique@10000``: |set(G[:k])| / |G[:k]| (all of G when it has fewer than k).
- ``Novelty``: share of the distinct molecules of G absent from the train SMILES.
- ``IntDiv`` / ``IntDiv2``: 1 - mean_x (mean_y T(x, y)^p)^(1/p) over G x G, p = 1 / 2, T the
  Tanimoto similarity of Morgan (r=2, 1024 bits) fingerprints.
- ``SNN/R``: mean over G of the max Tanimoto similarity to the reference set R (Test or TestSF).
- ``Frag/R``, ``Scaf/R``: cosine similarity of BRICS-fragment / Bemis-Murcko-scaffold counts.
- ``FCD/R``: Fréchet distance of ChemNet activations (Preuer et al. 2018; fcd_torch's weights),
  ||mu_G - mu_R||^2 + tr(S_G + S_R - 2 (S_G S_R)^(1/2)).
- ``Filters``: share of G passing MOSES' MCF / PAINS / atom / charge filters (``_chem.py``).
- ``logP``, ``SA``, ``QED``, ``weight``: 1-D Wasserstein distance between the property values of G
  and of the test set; genzoo adds their means over G (``mean_QED`` ...) and ``n`` / ``n_valid``.

``reference``: "moses" (the full split; test statistics from molsets' ``test_stats.npz`` and
``test_scaffolds_stats.npz``, MOSES' own precomputed values: pickled dicts, read by an unpickler
that builds numpy arrays and counters only), "moses-small", or a dict of SMILES lists ``train``, ``test`` and optionally
``test_scaffolds``. ChemNet is read with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import functools
import pickle
import warnings
import zipfile
from collections import Counter

import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..registry import register_metric
from . import _chem

PROPS = ("logP", "SA", "QED", "weight")


# ----------------------------------------------------------------------------- statistics of a set
def _describe_all(smiles: list[str], pool=None, filters: bool = True) -> list:
    from rdkit import RDLogger

    fn = functools.partial(_chem.describe, filters=filters)
    RDLogger.DisableLog("rdApp.*")
    try:
        return list(pool.map(fn, smiles, chunksize=64) if pool is not None else map(fn, smiles))
    finally:
        RDLogger.EnableLog("rdApp.*")


def set_statistics(smiles: list[str], pool=None, fcd: bool = True, batch_size: int = 512, filters: bool = True) -> dict:
    """MOSES' intermediate statistics of a (valid) SMILES list: fingerprints, fragment and scaffold
    counts, property values, ChemNet mean and covariance (and which pass the filters)."""
    rows = [r for r in _describe_all(list(smiles), pool, filters) if r is not None]
    stats = {"fps": np.unpackbits(np.stack([r[0] for r in rows]), axis=1) if rows else np.zeros((0, _chem.FP_BITS), np.uint8),
             "frag": Counter(f for r in rows for f in r[1]),
             "scaf": Counter(r[2] for r in rows if r[2] is not None),
             "passes": np.array([bool(r[3]) for r in rows], dtype=bool)}
    for i, name in enumerate(PROPS):
        stats[name] = np.array([r[4 + i] for r in rows], dtype=np.float64)
    if fcd:
        stats["fcd"] = chemnet_stats(list(smiles), batch_size)
    return stats


@functools.lru_cache(maxsize=1)
def chemnet():
    """fcd_torch's ChemNet (Preuer et al. 2018), its .pt read with ``weights_only=True``."""
    import os

    import fcd_torch
    from fcd_torch.utils import load_imported_model

    path = os.path.join(os.path.dirname(fcd_torch.__file__), "ChemNet_v0.13_pretrained.pt")
    return load_imported_model(torch.load(path, weights_only=True)).eval()


def chemnet_stats(smiles: list[str], batch_size: int = 512) -> dict | None:
    """Mean and covariance of ChemNet's penultimate activations (fcd_torch's ``precalc``)."""
    from fcd_torch.utils import SmilesDataset

    if len(smiles) < 2:
        return None
    data = SmilesDataset(smiles, canonize=True)
    acts = []
    with torch.no_grad():
        for i in range(0, len(smiles), batch_size):
            batch = torch.stack([torch.as_tensor(data[j]) for j in range(i, min(i + batch_size, len(smiles)))])
            acts.append(chemnet()(batch.transpose(1, 2).float()).numpy())
    acts = np.concatenate(acts)
    return {"mu": acts.mean(0), "sigma": np.cov(acts.T)}


def fcd(ref: dict | None, gen: dict | None) -> float:
    """Fréchet distance of the ChemNet statistics with genzoo's ``frechet_distance`` (the trace of
    (S_G S_R)^(1/2) from an eigendecomposition: same value as fcd_torch's ``scipy.linalg.sqrtm``,
    which takes ~13 s for 512x512 on CPU with SciPy 1.17)."""
    from .fid import frechet_distance

    if ref is None or gen is None:
        return float("nan")
    return frechet_distance(*(torch.as_tensor(np.asarray(v)) for v in (ref["mu"], ref["sigma"], gen["mu"], gen["sigma"])))


# ----------------------------------------------------------------------------- references
class _StatsUnpickler(pickle.Unpickler):
    """Unpickles MOSES' statistics and nothing else: only numpy arrays, dtypes, ``Counter`` and the
    bytes decoder may be built (what ``torch.load(weights_only=True)`` does for tensors); any other
    global in the file is refused instead of imported and called."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"), ("collections", "Counter")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise DataError(f"MOSES statistics file holds {module}.{name}, which genzoo does not load; "
                            "reinstall molsets==0.3.1")
        return getattr(np, name) if module == "numpy" else super().find_class(module, name)


def read_moses_stats(path) -> dict:
    """The dict pickled in MOSES' ``*_stats.npz`` (a 0-d object array ``stats``), read with ``_StatsUnpickler``."""
    with zipfile.ZipFile(path) as archive, archive.open("stats.npy") as f:
        version = np.lib.format.read_magic(f)
        shape, _, dtype = (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)(f)
        if shape != () or dtype != np.dtype(object):
            raise DataError(f"{path}: expected one pickled dict, found an array of shape {shape} and dtype {dtype}")
        stats = _StatsUnpickler(f).load()
    return stats.item() if isinstance(stats, np.ndarray) else stats


def _moses_stats(split: str) -> dict:
    from ..data.molecules import moses_file

    raw = read_moses_stats(moses_file(f"dataset/data/{split}_stats.npz"))
    stats = {"fps": raw["SNN"]["fps"], "frag": raw["Frag"]["frag"], "scaf": raw["Scaf"]["scaf"], "fcd": raw["FCD"]}
    stats.update({name: np.asarray(raw[name]["values"], dtype=np.float64) for name in PROPS})
    return stats


@functools.lru_cache(maxsize=2)
def reference_statistics(name: str) -> dict:
    """{"train": set of SMILES, "test": stats, "test_scaffolds": stats} of "moses" or "moses-small"."""
    from ..data.molecules import moses_smiles

    if name == "moses":
        return {"train": frozenset(moses_smiles("train")), "test": _moses_stats("test"),
                "test_scaffolds": _moses_stats("test_scaffolds")}
    if name == "moses-small":
        return {"train": frozenset(moses_smiles("train", True)),
                **{s: set_statistics(moses_smiles(s, True), filters=False) for s in ("test", "test_scaffolds")}}
    raise ConfigError(f"unknown molecule reference {name!r}; use 'moses', 'moses-small' or a dict of SMILES lists")


def _check_reference(reference) -> None:
    if isinstance(reference, str) and reference not in ("moses", "moses-small"):
        raise ConfigError(f"unknown molecule reference {reference!r}; use 'moses', 'moses-small' or a dict of SMILES lists")
    if not isinstance(reference, str) and (not isinstance(reference, dict) or "test" not in reference
                                           or "train" not in reference):
        raise ConfigError("reference must be 'moses', 'moses-small' or a dict with SMILES lists 'train' and 'test' "
                          "(and optionally 'test_scaffolds')")


def _reference(reference, pool) -> dict:
    if isinstance(reference, str):
        return reference_statistics(reference)
    out = {"train": frozenset(reference["train"]), "test": set_statistics(list(reference["test"]), pool, filters=False)}
    if reference.get("test_scaffolds"):
        out["test_scaffolds"] = set_statistics(list(reference["test_scaffolds"]), pool, filters=False)
    return out


# ----------------------------------------------------------------------------- the metrics
def agg_tanimoto(ref_fps: np.ndarray, gen_fps: np.ndarray, agg: str = "max", p: int = 1, batch: int = 5000) -> float:
    """MOSES' ``average_agg_tanimoto``: mean over gen of max_ref T (agg="max") or (mean_ref T^p)^(1/p)."""
    out = np.zeros(len(gen_fps))
    for j in range(0, len(ref_fps), batch):
        x = torch.from_numpy(np.asarray(ref_fps[j:j + batch])).float()
        for i in range(0, len(gen_fps), batch):
            y = torch.from_numpy(np.asarray(gen_fps[i:i + batch])).float().T
            tp = x @ y
            jac = tp / (x.sum(1, keepdim=True) + y.sum(0, keepdim=True) - tp)
            jac = torch.nan_to_num(jac, nan=1.0).double() ** p
            part = jac.amax(0) if agg == "max" else jac.sum(0)
            out[i:i + y.shape[1]] = np.maximum(out[i:i + y.shape[1]], part.numpy()) if agg == "max" else out[i:i + y.shape[1]] + part.numpy()
    if agg == "mean":
        out /= len(ref_fps)
    return float(np.mean(out ** (1 / p)))


def cos_similarity(ref: Counter, gen: Counter) -> float:
    if not ref or not gen:
        return float("nan")
    keys = sorted(set(ref) | set(gen))
    r = np.array([ref.get(k, 0) for k in keys], dtype=np.float64)
    g = np.array([gen.get(k, 0) for k in keys], dtype=np.float64)
    return float(r @ g / np.linalg.norm(r) / np.linalg.norm(g))


def _keys(reference, fcd_metric: bool) -> list[str]:
    has_sf = isinstance(reference, str) or bool(reference.get("test_scaffolds"))
    tags = ["Test", "TestSF"] if has_sf else ["Test"]
    keys = [f"{m}/{t}" for t in tags for m in (("FCD", "SNN", "Frag", "Scaf") if fcd_metric else ("SNN", "Frag", "Scaf"))]
    return keys + ["IntDiv", "IntDiv2", "Filters"] + [k for p in PROPS for k in (p, f"mean_{p}")] + ["Novelty"]


def molecules(smiles, reference="moses", n_jobs: int = 1, k=(1000, 10000), fcd_metric: bool = True,
              batch_size: int = 512) -> dict[str, float]:
    """MOSES metrics of ``smiles`` against ``reference`` (see the module docstring); ``n_jobs``
    processes for the RDKit work (fork), ``fcd_metric=False`` skips ChemNet (the slow part on CPU)."""
    from scipy.stats import wasserstein_distance

    smiles = [s if isinstance(s, str) else "" for s in smiles]
    if not smiles:
        raise DataError("no SMILES to score; pass a non-empty list")
    if not isinstance(n_jobs, int) or n_jobs < 1:
        raise ConfigError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    _check_reference(reference)
    pool = None
    if n_jobs > 1:
        import multiprocessing

        pool = multiprocessing.get_context("fork").Pool(n_jobs)
    try:
        canon = _chem.canonical_many(smiles, pool)
        gen = [c for c in canon if c is not None]
        out: dict[str, float] = {"n": len(smiles), "n_valid": len(gen), "valid": len(gen) / len(smiles)}
        for kk in (k if isinstance(k, (list, tuple)) else [k]):
            if len(gen) < kk:
                warnings.warn(f"unique@{kk} is computed on {len(gen)} valid molecules, fewer than {kk}")
            head = gen[:kk]
            out[f"unique@{kk}"] = len(set(head)) / len(head) if head else float("nan")
        if not gen:  # the same keys, NaN where nothing valid is left to score
            return {**out, **{k: float("nan") for k in _keys(reference, fcd_metric)}}
        ref = _reference(reference, pool)
        stats = set_statistics(gen, pool, fcd=fcd_metric, batch_size=batch_size)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    for split, tag in (("test", "Test"), ("test_scaffolds", "TestSF")):
        if split not in ref:
            continue
        r = ref[split]
        if fcd_metric:
            out[f"FCD/{tag}"] = fcd(r["fcd"], stats["fcd"])
        out[f"SNN/{tag}"] = agg_tanimoto(r["fps"], stats["fps"], "max")
        out[f"Frag/{tag}"] = cos_similarity(r["frag"], stats["frag"])
        out[f"Scaf/{tag}"] = cos_similarity(r["scaf"], stats["scaf"])
    out["IntDiv"] = 1 - agg_tanimoto(stats["fps"], stats["fps"], "mean", p=1)
    out["IntDiv2"] = 1 - agg_tanimoto(stats["fps"], stats["fps"], "mean", p=2)
    out["Filters"] = float(stats["passes"].mean())
    for name in PROPS:
        out[name] = float(wasserstein_distance(ref["test"][name], stats[name]))
        out[f"mean_{name}"] = float(stats[name].mean())
    distinct = set(gen)
    out["Novelty"] = len(distinct - ref["train"]) / len(distinct)
    return out


@register_metric("moses")
def moses_metric(model, data, num_samples: int | None = None, generator: torch.Generator | None = None,
                 n_jobs: int = 1, **_) -> dict[str, float]:
    """Sample ``num_samples`` molecules (default: the split's size) and score them with ``molecules``
    against the dataset's reference (moses / moses-small, or a ``smiles:PATH`` file's own splits)."""
    from ..data.molecules import MoleculeDataset, reference_smiles
    from ..data.smiles import sample_smiles

    if not isinstance(data, MoleculeDataset):
        raise DataError(f"the moses metrics score molecules; use --data moses, moses-small or smiles:PATH, not {data.name!r}")
    tok = getattr(model, "tokenizer", None) or data.tokenizer
    smiles = sample_smiles(model, tok, num_samples or len(data), generator)
    ref = data.info["reference"]
    if ref not in ("moses", "moses-small"):
        ref = reference_smiles(data)
    return molecules(smiles, reference=ref, n_jobs=n_jobs)

"""Per-molecule RDKit quantities with the definitions of MOSES (Polykovskiy et al. 2020,
``moses/metrics/utils.py``), computed once per molecule by ``describe`` so a pool can map it.

- parse: ``Chem.MolFromSmiles`` then ``SanitizeMol``; '' or a failure is invalid; canonical SMILES
  is ``Chem.MolToSmiles(mol)``.
- fingerprint: Morgan radius 2, 1024 bits (``rdFingerprintGenerator``, the same bits as MOSES'
  ``GetMorganFingerprintAsBitVect(mol, 2, nBits=1024)``).
- fragments: the SMILES pieces of ``FragmentOnBRICSBonds`` (Degen et al. 2008).
- scaffold: the Bemis-Murcko scaffold's SMILES, kept only with >= 2 rings (MOSES' ``min_rings=2``).
- filters: no ring of >= 8 atoms, no formal charge, only C N S O F Cl Br H, no match of the MCF and
  PAINS SMARTS (``mcf.csv``, ``wehi_pains.csv`` shipped with molsets) on the molecule with explicit
  H, and the canonical (non-isomeric) SMILES parses again.
- properties: Crippen logP (Wildman & Crippen 1999), SA score (Ertl & Schuffenhauer 2009, RDKit
  Contrib), QED (Bickerton et al. 2012), molecular weight (``Descriptors.MolWt``).
"""
from __future__ import annotations

import csv
import functools

import numpy as np

ALLOWED_ATOMS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})
FP_BITS = 1024


def get_mol(smiles: str):
    """MOSES' ``get_mol``: an RDKit molecule, or None for '' and anything that fails to sanitize."""
    from rdkit import Chem

    if not smiles:
        return None
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    try:
        Chem.SanitizeMol(mol)
    except ValueError:
        return None
    return mol


def canonical(smiles: str) -> str | None:
    from rdkit import Chem

    mol = get_mol(smiles)
    return None if mol is None else Chem.MolToSmiles(mol)


@functools.lru_cache(maxsize=1)
def _morgan():
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=FP_BITS)


@functools.lru_cache(maxsize=1)
def filter_patterns() -> tuple:
    """The MCF and PAINS SMARTS of MOSES as RDKit query molecules."""
    from rdkit import Chem

    from ..data.molecules import moses_file

    smarts = []
    with open(moses_file("metrics/mcf.csv"), newline="") as f:
        smarts += [row["smarts"] for row in csv.DictReader(f)]
    with open(moses_file("metrics/wehi_pains.csv"), newline="") as f:
        smarts += [row[0] for row in csv.reader(f) if row]
    return tuple(Chem.MolFromSmarts(s) for s in smarts)


def passes_filters(mol) -> bool:
    """MOSES' ``mol_passes_filters`` (see the module docstring)."""
    from rdkit import Chem

    if mol is None:
        return False
    rings = mol.GetRingInfo()
    if rings.NumRings() and any(len(r) >= 8 for r in rings.AtomRings()):
        return False
    if any(a.GetFormalCharge() != 0 for a in mol.GetAtoms()):
        return False
    if any(a.GetSymbol() not in ALLOWED_ATOMS for a in mol.GetAtoms()):
        return False
    h_mol = Chem.AddHs(mol)
    if any(h_mol.HasSubstructMatch(p) for p in filter_patterns()):
        return False
    smiles = Chem.MolToSmiles(mol, isomericSmiles=False)
    return bool(smiles) and Chem.MolFromSmiles(smiles) is not None


def fragments(mol) -> list[str]:
    from rdkit import Chem
    from rdkit.Chem import AllChem

    return Chem.MolToSmiles(AllChem.FragmentOnBRICSBonds(mol)).split(".")


def scaffold(mol, min_rings: int = 2) -> str | None:
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    try:
        scaf = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    smiles = Chem.MolToSmiles(scaf)
    if smiles == "" or scaf.GetRingInfo().NumRings() < min_rings:
        return None
    return smiles


def properties(mol) -> tuple[float, float, float, float]:
    """(logP, SA, QED, weight)."""
    from rdkit.Chem import Crippen, Descriptors
    from rdkit.Chem.QED import qed
    from rdkit.Contrib.SA_Score import sascorer

    return Crippen.MolLogP(mol), sascorer.calculateScore(mol), qed(mol), Descriptors.MolWt(mol)


def describe(smiles: str, filters: bool = True) -> tuple | None:
    """Everything the MOSES metrics need of one (valid) molecule: (packed fingerprint bits,
    fragments, scaffold or None, passes filters (None with ``filters=False``: reference sets),
    logP, SA, QED, weight); None if invalid."""
    mol = get_mol(smiles)
    if mol is None:
        return None
    bits = np.packbits(_morgan().GetFingerprintAsNumPy(mol).astype(np.uint8))
    return (bits, fragments(mol), scaffold(mol), passes_filters(mol) if filters else None, *properties(mol))


def canonical_many(smiles: list[str], pool=None) -> list[str | None]:
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    try:
        return list(pool.map(canonical, smiles, chunksize=256) if pool is not None else map(canonical, smiles))
    finally:
        RDLogger.EnableLog("rdApp.*")

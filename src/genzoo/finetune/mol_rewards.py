"""Molecule rewards for online RL on a GPT trained on SMILES/SELFIES (``genzoo finetune RUN --method grpo
--reward qed``): a property of the sampled molecule, 0 for a sample that is not a valid molecule.

- ``qed``: quantitative estimate of drug-likeness (Bickerton et al. 2012, RDKit's ``QED.qed``, in [0, 1]),
  the docking-free objective of molecule RL papers (e.g. Olivecrona et al. 2017's REINVENT, GuacaMol);
  an invalid sample scores 0, so the reward also pushes validity up.

A rollout of a molecule model carries the decoded SMILES as the ``smiles`` column (SELFIES are decoded
first, ``rollout.sample_rollout``); without it the completion text is read as SMILES.
"""
from __future__ import annotations

from typing import Any

from .rewards import register_reward


def molecule_values(smiles: list[str], fn) -> list[float]:
    """``fn(mol)`` of each SMILES' RDKit molecule; 0.0 where MOSES would call it invalid (``get_mol``)."""
    from rdkit import RDLogger

    from ..metrics._chem import get_mol

    RDLogger.DisableLog("rdApp.*")
    try:
        out = []
        for s in smiles:
            mol = get_mol(s)
            out.append(float(fn(mol)) if mol is not None and mol.GetNumAtoms() else 0.0)
        return out
    finally:
        RDLogger.EnableLog("rdApp.*")


@register_reward("qed")
def qed_reward(prompts: list[str], completions: list[str], smiles: list[str] | None = None, **columns: Any) -> list[float]:
    from rdkit.Chem.QED import qed

    return molecule_values(list(smiles) if smiles is not None else list(completions), qed)

"""RL toward QED on a MOSES GPT: the base and the GRPO-tuned model side by side (issue 29).

    genzoo finetune runs/moses/gpt --method grpo --reward qed --steps 300 --batch-size 16 \\
        --set num_generations=8 --lr 1e-4 --out runs/moses_rl_qed
    PYTHONPATH=src python benchmarks/moses_rl.py runs/moses/gpt runs/moses_rl_qed --out runs/moses_rl_qed/table.md

Each model draws ``-n`` molecules with ``genzoo sample RUN -n N --out FILE.smi`` (temperature 1, seed 0);
the table gives validity, uniqueness, novelty, internal diversity and FCD/Test against the MOSES test
statistics (``gz.metrics.molecules(..., reference="moses")``), and the QED of the valid molecules (mean,
share ≥ 0.9) — the property the reward asks for, next to what it may cost (diversity, FCD).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = ["valid", "unique@1000", "Novelty", "IntDiv", "FCD/Test", "SNN/Test", "Scaf/Test"]

def score(smi: Path) -> dict:
    import genzoo as gz
    from genzoo.data.mol_condition import values

    smiles = smi.read_text().split("\n")[:-1]
    m = gz.metrics.molecules(smiles, reference="moses")
    from rdkit import RDLogger

    from genzoo.metrics._chem import get_mol

    RDLogger.DisableLog("rdApp.*")
    valid = [s for s in smiles if get_mol(s) is not None]
    qed = values("qed", valid)
    return {**{k: m[k] for k in KEYS}, "QED mean": float(qed.mean()), "QED ≥ 0.9": float((qed >= 0.9).mean())}

def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="the base run, then tuned runs")
    p.add_argument("-n", type=int, default=3000)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    rows = {}
    for run in a.runs:
        smi = run / f"rl_eval_{a.n}.smi"
        subprocess.run([sys.executable, "-m", "genzoo", "sample", str(run), "-n", str(a.n), "--out", str(smi)],
                       check=True, env=env)
        rows[str(run)] = score(smi)
    cols = KEYS + ["QED mean", "QED ≥ 0.9"]
    lines = [f"{a.n} molecules per model (temperature 1, seed 0), scored against MOSES' test statistics.", "",
             "| model | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    lines += [f"| `{name}` | " + " | ".join(f"{row[c]:.4f}" for c in cols) + " |" for name, row in rows.items()]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines) + "\n")
    a.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    print("\n".join(lines))

if __name__ == "__main__":
    main()

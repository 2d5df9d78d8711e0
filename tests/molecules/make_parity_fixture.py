"""Writes moses_parity.json: tiny SMILES sets and what MOSES' own ``get_all_metrics`` (molsets 0.3.1,
run through benchmarks/moses_reference.py) returns for them. Rerun after changing the inputs:

    PYTHONPATH=src python tests/molecules/make_parity_fixture.py
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from genzoo.data.molecules import moses_smiles

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def inputs() -> dict:
    test, sf, train = (list(moses_smiles(s, True)) for s in ("test", "test_scaffolds", "train"))
    odd = ["C1CC", "CCO", "CCO", "C[N+](C)(C)C", "c1ccccc1Cl", "OC(=O)C1CCCCCCC1", "CC[Se]C", "", "c1ccccc1"]
    return {"gen": test[30:45] + train[:5] + sf[40:55] + odd, "test": test[:30], "test_scaffolds": sf[:25],
            "train": train[:60] + test[30:35]}


def main():
    sets = inputs()
    with tempfile.TemporaryDirectory() as tmp:
        for name, smiles in sets.items():
            Path(tmp, name).write_text("".join(s + "\n" for s in smiles))
        subprocess.run([sys.executable, str(ROOT / "benchmarks/moses_reference.py"), f"{tmp}/gen", f"{tmp}/out.json",
                        "--test", f"{tmp}/test", "--test-sf", f"{tmp}/test_scaffolds", "--train", f"{tmp}/train",
                        "--k", "10,30"], check=True)
        moses = json.loads(Path(tmp, "out.json").read_text())["metrics"]
    (HERE / "moses_parity.json").write_text(json.dumps({"inputs": sets, "k": [10, 30], "moses": moses}, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Small molecule files for tests/molecules."""
from pathlib import Path

# 24 drug-like SMILES (MOSES test molecules) and the lines a messy user file adds
MOLS = ["CCOC(=O)c1ccc(NC(=O)CN2CCOCC2)cc1", "Cc1ccc(S(=O)(=O)N2CCCC2)cc1", "COc1ccc(CNC(=O)c2ccco2)cc1",
        "CC(C)NC(=O)c1ccc(Cl)cc1", "O=C(Nc1ccccc1)c1cccnc1", "CCN(CC)C(=O)c1ccc(O)cc1", "Cc1nc(C)c(C(=O)NC2CC2)s1",
        "COC(=O)c1sccc1NC(C)=O", "CC(=O)Nc1ccc(Br)cc1", "O=C(O)CCc1ccc(F)cc1", "CCOc1ccccc1C(N)=O",
        "Cn1cnc2c1c(=O)n(C)c(=O)n2C", "CC1CCN(C(=O)c2ccccc2)CC1", "N#Cc1ccc(OCC(=O)N)cc1", "Cc1ccc(C(=O)NN)cc1",
        "CS(=O)(=O)c1ccc(C(N)=O)cc1", "CCCCn1ccnc1", "O=C(NC1CCCCC1)c1ccco1", "COc1cc(C=O)ccc1O",
        "CC(C)(C)OC(=O)N1CCNCC1", "Clc1ccc(-c2nc3ccccc3[nH]2)cc1", "CC(=O)c1ccc2[nH]ccc2c1", "OCc1ccc(Cl)cc1Cl",
        "CN1CCN(c2ccccc2)CC1"]


def write(tmp_path, lines, name="mols.smi") -> Path:
    path = Path(tmp_path) / name
    path.write_text("".join(line + "\n" for line in lines))
    return path

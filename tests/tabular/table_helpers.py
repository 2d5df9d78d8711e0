"""A tiny mixed-type table for the tabular tests (written as CSV for ``table:PATH``)."""
import numpy as np
import pandas as pd


def mixed_frame(n: int = 80, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2])
    size = np.where(colour == "red", rng.normal(10, 1, n), rng.normal(-5, 2, n))  # bimodal, tied to colour
    return pd.DataFrame({
        "size": size,
        "count": rng.integers(0, 20, n),
        "colour": colour,
        "flag": rng.choice(["yes", "no"], n),
        "label": np.where(size > 0, "big", "small"),
    })


def write_csv(tmp_path, n: int = 80) -> str:
    path = tmp_path / "mixed.csv"
    mixed_frame(n).to_csv(path, index=False)
    return str(path)

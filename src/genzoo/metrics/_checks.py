"""Input checks shared by the feature-space metrics: (N, D) arrays or tensors in, one-line errors out."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..errors import DataError
from ._pairwise import row_blocks


def as_features(x, name: str = "features", dtype: torch.dtype | None = torch.float64, min_rows: int = 1) -> Tensor:
    """Return ``x`` as a finite (N, D) tensor of ``dtype`` (no copy when it already is one; ``None``
    keeps a floating dtype and makes integers float64)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    elif not isinstance(x, Tensor):
        x = torch.as_tensor(x)
    if x.dim() == 1:
        x = x[:, None]
    if x.dim() != 2:
        raise DataError(f"{name} must be an (N, D) matrix, got shape {tuple(x.shape)}; flatten or extract features first")
    if len(x) < min_rows:
        raise DataError(f"{name} has {len(x)} rows but at least {min_rows} are needed; pass more samples")
    x = x.to(dtype or (x.dtype if x.is_floating_point() else torch.float64))
    if not all(torch.isfinite(x[rows]).all() for rows in row_blocks(len(x), x.shape[1], 1)):
        raise DataError(f"{name} contains NaN or infinite values; check the model's samples or the feature extractor")
    return x


def as_feature_pair(real, fake, dtype: torch.dtype | None = torch.float64, min_rows: int = 1) -> tuple[Tensor, Tensor]:
    """Check both sets and that their feature dimensions agree."""
    real = as_features(real, "real features", dtype, min_rows)
    fake = as_features(fake, "fake features", dtype, min_rows)
    if real.shape[1] != fake.shape[1]:
        raise DataError(f"feature dimensions differ: real has {real.shape[1]}, fake has {fake.shape[1]}; "
                        "extract both with the same feature extractor")
    return real, fake.to(real.device)

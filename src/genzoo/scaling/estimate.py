"""Back-of-the-envelope training and inference costs of a decoder-only transformer.

* Training compute ``C = 6 N D`` FLOPs (forward 2ND + backward 4ND; Kaplan et al. 2020, "Scaling Laws
  for Neural Language Models", sec. 2.1; Hoffmann et al. 2022). Inference: ``2 N`` FLOPs per token
  (a forward pass), plus ``2 n_layer n_ctx d_model`` for attention over the context (Kaplan, Table 1).
* Accelerator-hours ``= C / (peak FLOP/s x MFU) / 3600`` (MFU: model FLOPs utilisation, Chowdhery et
  al. 2022, "PaLM", appendix B).
* Memory of mixed-precision Adam training (Rajbhandari et al. 2020, "ZeRO", sec. 3.1): 16-bit weights
  ``2N`` bytes, 16-bit gradients ``2N``, optimizer state ``12N`` (fp32 master weights, Adam's m and v):
  ``16 N`` bytes in all. In fp32: ``4N + 4N + 8N``.
* Activations per layer, 16-bit, no tensor/sequence parallelism (Korthikanti et al. 2022, "Reducing
  Activation Recomputation in Large Transformer Models", eq. 1): ``s b h (34 + 5 a s / h)`` bytes for
  sequence length s, micro-batch b, width h, a heads; with full activation checkpointing only each
  layer's input is kept, ``2 s b h`` bytes per layer, plus one layer's full activations while it is
  recomputed (sec. 4.1).
* Without a given shape, ``N ≈ 12 n_layer d_model^2`` (Kaplan eq. 2.1 with d_ff = 4 d_model) and an
  aspect ratio d_model = 128 n_layer (near GPT-3's / Chinchilla's) give the shape; heads of size 128.
* The Chinchilla-optimal split of a compute budget uses a fitted law (``genzoo scaling fit``) or the
  published one, Hoffmann et al. 2022 eq. 10: E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28.
"""
from __future__ import annotations

import math

from ..errors import ConfigError

#: Hoffmann et al. 2022, eq. 10 (Approach 3)
PUBLISHED_LAW = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
#: bytes per parameter of (weights, gradients, optimizer state) for Adam
PRECISION_BYTES = {"mixed": (2, 2, 12), "fp32": (4, 4, 8), "bf16": (2, 2, 4)}
GiB = 2 ** 30


def _positive(**values) -> None:
    for name, v in values.items():
        if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ConfigError(f"--{name.replace('_', '-')} must be a positive number, got {v}")


def default_shape(params: float) -> tuple[int, int, int]:
    """(n_layer, d_model, n_head) for ``params`` non-embedding parameters: N = 12 L d^2, d = 128 L."""
    n_layer = max(1, round((params / (12 * 128 ** 2)) ** (1 / 3)))
    d_model = max(128, 128 * round(math.sqrt(params / (12 * n_layer)) / 128))
    return n_layer, d_model, d_model // 128


def chinchilla_optimal(flops: float, law: dict | None = None) -> dict:
    """N* and D* minimising E + A/N^alpha + B/D^beta under 6ND = flops (Hoffmann et al. 2022, eq. 4)."""
    _positive(flops=flops)
    law = dict(law or PUBLISHED_LAW)
    A, B, alpha, beta = law["A"], law["B"], law["alpha"], law["beta"]
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    N = G * (flops / 6) ** (beta / (alpha + beta))
    D = (flops / 6) ** (alpha / (alpha + beta)) / G
    return {"flops": flops, "params": N, "tokens": D, "tokens_per_param": D / N,
            "loss": law["E"] + A / N ** alpha + B / D ** beta, "law": law}


def estimate_costs(params: float, tokens: float, *, accelerator_tflops: float = 400.0, mfu: float = 0.4,
                   precision: str = "mixed", seq_len: int = 2048, micro_batch: int = 1, n_layer: int | None = None,
                   d_model: int | None = None, n_head: int | None = None, inference_tokens: float | None = None) -> dict:
    """Training/inference FLOPs, accelerator-hours and training memory (bytes) of ``params`` x ``tokens``."""
    _positive(params=params, tokens=tokens, accelerator_tflops=accelerator_tflops, mfu=mfu, seq_len=seq_len,
              micro_batch=micro_batch, n_layer=n_layer, d_model=d_model, n_head=n_head, inference_tokens=inference_tokens)
    if mfu > 1:
        raise ConfigError(f"--mfu is a fraction of peak in (0, 1], got {mfu}")
    if precision not in PRECISION_BYTES:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISION_BYTES)}")
    L, h, a = default_shape(params)
    L, h, a = n_layer or L, d_model or h, n_head or (d_model // 128 if d_model else a)
    a = max(1, a)
    train_flops = 6 * params * tokens
    per_token = 2 * params + 2 * L * seq_len * h
    seconds = train_flops / (accelerator_tflops * 1e12 * mfu)
    w, g, o = PRECISION_BYTES[precision]
    s, b = seq_len, micro_batch
    per_layer = s * b * h * (34 + 5 * a * s / h)
    out = {"params": params, "tokens": tokens, "shape": {"n_layer": L, "d_model": h, "n_head": a, "seq_len": s, "micro_batch": b},
           "train_flops": train_flops, "inference_flops_per_token": per_token,
           "accelerator_hours": seconds / 3600, "accelerator_tflops": accelerator_tflops, "mfu": mfu,
           "memory_bytes": {"weights": w * params, "gradients": g * params, "optimizer": o * params,
                            "activations": L * per_layer,
                            "activations_checkpointed": L * 2 * s * b * h + per_layer},
           "precision": precision}
    if inference_tokens is not None:
        out["inference_flops"] = per_token * inference_tokens
    return out


def format_costs(c: dict) -> str:
    """A few readable lines for the CLI."""
    m = c["memory_bytes"]
    sh = c["shape"]
    state = m["weights"] + m["gradients"] + m["optimizer"]
    lines = [f"training FLOPs (6ND): {c['train_flops']:.3g}",
             f"inference FLOPs per token (2N + 2 n_layer n_ctx d_model): {c['inference_flops_per_token']:.3g}",
             f"accelerator-hours at {c['accelerator_tflops']:g} TFLOP/s x {c['mfu']:g} MFU: {c['accelerator_hours']:.4g}",
             f"memory ({c['precision']} Adam): weights {m['weights'] / GiB:.4g} GiB, gradients {m['gradients'] / GiB:.4g} GiB, "
             f"optimizer {m['optimizer'] / GiB:.4g} GiB (total {state / GiB:.4g} GiB)",
             f"activations (n_layer={sh['n_layer']}, d_model={sh['d_model']}, heads={sh['n_head']}, seq {sh['seq_len']}, "
             f"micro-batch {sh['micro_batch']}): {m['activations'] / GiB:.4g} GiB, "
             f"{m['activations_checkpointed'] / GiB:.4g} GiB with activation checkpointing"]
    if "inference_flops" in c:
        lines.insert(2, f"inference FLOPs: {c['inference_flops']:.3g}")
    return "\n".join(lines)

"""Equivalent products for decoding, and the timed choice between them on this machine.

Decoding one new token per row multiplies each weight matrix by a few vectors: y = x Wᵀ + b with x
(rows, in). How fast a BLAS runs that differs between CPUs: MKL runs a single matrix-vector product
on one core on an AMD EPYC (~11 GB/s of the ~31 GB/s its two cores can stream) and on every core
on an Intel Xeon. ``split_rows_fn`` splits W by output rows into s blocks, W = [W_1; ...; W_s], and
computes every y_j = x W_jᵀ + b_j with one ``baddbmm``, whose batched kernel gives each core a block.
Each output is still the dot product of one row of W with x, as in ``addmm`` (the module path's op):
no sum is split or reordered. On the EPYC the two give the same bits for the GPT-2 layer shapes
(float32 and float64, 1 or 8 rows); tiny or odd-width blocks can differ in the last bits (the
batched kernel takes another code path there), so the tests allow a last-bit difference. Only
float32 and float64 weights are split. The blocks are strided views of the weight itself: no copy
is made and an in-place change of the weights (an optimizer step, ``load_state_dict``) is seen at
once. Where out_features is not a multiple of s, the last block overlaps the one before it by
fewer than s rows; those outputs are computed twice and taken once.

``fastest`` times equivalent per-layer functions over a pass through all layers, interleaved, and
returns the faster option; ``choose_split`` uses it for the split of plain ``nn.Linear`` layers
(1, one ``addmm``, or the thread count) and keeps the answer for the process, per dtype, row count,
thread count and layer shapes, so it is paid once (~0.05 s for a 10M model, ~0.5 s for 124M on an
idle host; 1-2 s on a heavily loaded one, where a two-thread pass can take 100x longer). Under
heavy load (more busy threads than cores) the split loses badly, its threads waiting on each other,
and the timing then keeps ``addmm``; the choice is not revisited if the load changes later.
"""
from __future__ import annotations

import math
import statistics
import time
from typing import Callable, Hashable, Sequence

import torch
from torch import Tensor, nn

Fn = Callable[[Tensor], Tensor]

#: the split chosen by timing, per (dtype, rows, threads, layer shapes); filled by ``choose_split``
SPLIT_CHOICES: dict[tuple, int] = {}


def fastest(fns: dict[Hashable, Sequence[Fn]], xs: Sequence[Tensor], rounds: int = 5,
            statistic: Callable[[list[float]], float] = min, budget_s: float | None = None) -> Hashable:
    """The option whose pass ``for fn, x in zip(fns[option], xs): fn(x)`` is fastest here.

    One untimed warm-up pass per option, then ``rounds`` rounds, each timing one pass of every option
    in turn (interleaved: a machine whose speed drifts slows all options alike); an option's time is
    ``statistic`` (min, median ...) of its rounds. With ``budget_s`` the rounds are cut to what fits
    in about that many seconds, but never fewer than 3. The pass reads the weights as a decoded token
    does, so they come from wherever they live between tokens (cache or memory)."""
    times: dict[Hashable, list[float]] = {option: [] for option in fns}

    def one_pass(option) -> float:
        start = time.perf_counter()
        for fn, x in zip(fns[option], xs):
            fn(x)
        return time.perf_counter() - start

    with torch.inference_mode():
        warm = sum(one_pass(option) for option in fns)
        if budget_s is not None:
            rounds = max(3, min(rounds, math.floor(budget_s / max(warm, 1e-9))))
        for _ in range(rounds):
            for option in fns:
                times[option].append(one_pass(option))
    return min(times, key=lambda option: statistic(times[option]))


def split_rows_fn(weight: Tensor, bias: Tensor | None, rows: int, split: int) -> Fn:
    """x (rows, in) -> x Wᵀ + b, W (out, in) in ``split`` blocks of output rows, one ``baddbmm``
    (module docstring); one ``addmm`` where ``split`` is 1 or W is not contiguous."""
    out, inp = weight.shape
    if split <= 1 or out < split or not weight.is_contiguous() or (bias is not None and bias.stride(0) != 1):
        weight_t = weight.t()
        return (lambda x: torch.mm(x, weight_t)) if bias is None else (lambda x: torch.addmm(bias, x, weight_t))
    step = out // split  # block j holds rows [j step, j step + width); the last one ends at ``out``
    width = out - (split - 1) * step
    blocks = weight.as_strided((split, inp, width), (step * inp, 1, inp), weight.storage_offset())
    if bias is None:
        product = lambda x: torch.bmm(x.expand(split, rows, inp), blocks)
    else:
        biases = bias.as_strided((split, 1, width), (step, width, 1), bias.storage_offset())
        product = lambda x: torch.baddbmm(biases, x.expand(split, rows, inp), blocks)
    if width == step:
        return lambda x: product(x).transpose(0, 1).reshape(rows, out)

    def overlapping(x: Tensor) -> Tensor:
        y = product(x)
        return torch.cat((*y[:-1, :, :step].unbind(0), y[-1]), 1)

    return overlapping


def choose_split(layers: Sequence[nn.Linear], rows: int) -> int:
    """The faster batch-``rows`` product for these layers on this machine: 1 (one ``addmm`` per layer)
    or the thread count (``split_rows_fn``), timed once per process and layer shapes (median of up to
    9 interleaved rounds, ~0.25 s at most) and kept in ``SPLIT_CHOICES``. 1 without a choice: one
    thread, not on CPU, or weights neither float32 nor float64 (bf16 keeps its own kernels)."""
    threads = torch.get_num_threads()
    if not layers:
        return 1
    weight = layers[0].weight
    if threads == 1 or weight.device.type != "cpu" or weight.dtype not in (torch.float32, torch.float64):
        return 1
    key = (weight.dtype, rows, threads, tuple((tuple(m.weight.shape), m.bias is not None) for m in layers))
    if key not in SPLIT_CHOICES:
        xs = [torch.full((rows, m.in_features), 0.5, dtype=weight.dtype) for m in layers]
        fns = {split: [split_rows_fn(m.weight, m.bias, rows, split) for m in layers] for split in (1, threads)}
        SPLIT_CHOICES[key] = fastest(fns, xs, rounds=9, statistic=statistics.median, budget_s=0.25)
    return SPLIT_CHOICES[key]

"""Inference-only linear layers for fast decoding: fp32 in the (in, out) layout, weight-only int8,
and int8 weights with int8 activations (``GPT.quantize``).

Every layer computes y = x Wᵀ + b like the ``nn.Linear`` it replaces and offers two calls:
``forward`` (any shape, the module path) and ``decode_fn(rows)``, a function of an (rows, in)
matrix with the layer's tensors and kernel bound once, which ``genzoo.nn.decode_step.DecodeStep``
calls once per layer and token. Batch-1 decoding runs ~50 such products per token, each a few tens
of microseconds, so the Python and dispatcher work around them (module calls, reshapes, dtype
checks, temporaries) is worth taking out of the per-token loop.

Where a layer has two equivalent products (split-K or one ``addmm``; two int8 digits or bf16
activations) ``choose_decode_kernels_`` times both over all layers on this machine and keeps the
faster.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from .decode_kernels import fastest

Fn = Callable[[Tensor], Tensor]


def call_packed(op, *args):
    """``op(*args)`` for a ``torch.ops.quantized`` op taking fbgemm-packed weights (a ScriptObject).

    Python's op dispatch asks every argument for ``__torch_function__``; the ScriptObject answers
    with a C++ exception turned AttributeError, ~10 µs per call, as much as a small layer's
    matmul. With subclass torch functions off for the call (every argument here is a plain tensor,
    a number or the packed weights) the lookup is skipped and the op is the same."""
    with torch._C.DisableTorchFunctionSubclass():
        return op(*args)


def op_callable(overload):
    """The C++ callable behind a ``torch.ops`` overload such as ``torch.ops.quantized.X.default``:
    calling it skips ``OpOverload.__call__``'s Python layer (~2.5 µs a call on this CPU). The
    overload itself where a torch version does not expose it."""
    return getattr(overload, "_op", overload)


def quantize_rows(weight: Tensor) -> tuple[Tensor, Tensor]:
    """Symmetric per-row int8: W ≈ diag(s) Q, s = max_j |W_ij| / 127, Q = round(W / s) ∈ [-127, 127]."""
    w = weight.detach().float()
    scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
    return torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8), scale


def fbgemm_pack(weight_q: Tensor, scale: Tensor, bias: Tensor | None):
    """fbgemm/x86 packed params of int8 weights Q (out, in) with per-row scales s (W ≈ diag(s) Q)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch marks its quantized tensors deprecated
        qw = torch._make_per_channel_quantized_tensor(weight_q, scale.double(), torch.zeros_like(scale, dtype=torch.long), 0)
    return torch.ops.quantized.linear_prepack(qw, bias)


def has_fbgemm() -> bool:
    return torch.backends.quantized.engine in ("x86", "fbgemm") and hasattr(torch.ops.quantized, "linear_prepack")


class Int8Linear(nn.Module):
    """Weight-only int8 linear layer: W ≈ diag(s) Q with Q ∈ [-127, 127] per output row.

    The matmul reads 1 byte per weight (4x fewer than fp32), which is what bounds batch-1 decoding.
    Activations keep ~13 bits: on CPU, x is written as two int8 digits with one scale a,

        x ≈ a (q₁ + q₂ / k),  q₁ = trunc(x / a),  q₂ = round(k fmod(x, a) / a),  a = max|x| / 63,  k = 64,

    (|error| ≤ a / 2k ≈ 1.2e-4 max|x|, finer than bf16), and both digit rows go through one fbgemm
    integer matmul (``quantized::linear_with_input_q_dq_qweight_dq_output_fp32``, exact int32 sums):
    y = W q₁ a + W q₂ a / k + b; two rows cost about what one does (the weights are read once).
    The digits stay within 7 bits plus one (|q₁| ≤ 63, |q₂| ≤ 64, stored as q + 64 ∈ [0, 128]), so
    no u8 x s8 pair sum of the integer kernel can saturate; k is a power of two, so y₂ / k is exact
    and the sum is the same whichever way it is added. The digits cost ~10-15 µs of small ops per call,
    which small layers feel; the other kernel is ``aten._weight_int8pack_mm`` (bf16 activations), and
    ``choose_decode_kernels_`` keeps whichever decodes faster here (``GPT.quantize`` calls it).
    Off CPU it runs a dequantised matmul.
    """

    DIGIT_MAX, DIGIT_SCALE, DIGIT_ZERO = 63, 64, 64
    COMBINE_BY_MM_ROWS = 8  # up to this many rows, the two digit products are summed by one small mm

    def __init__(self, linear: nn.Linear):
        super().__init__()
        q, scale = quantize_rows(linear.weight)
        self.register_buffer("weight", q)
        self.register_buffer("scale", scale)
        self.register_buffer("scale_bf16", scale.to(torch.bfloat16), persistent=False)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float().clone())
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.packed = None
        if has_fbgemm() and q.device.type == "cpu":  # bias k/(k+1) b: the two digit rows add up to b
            k = self.DIGIT_SCALE
            self.packed = fbgemm_pack(self.weight, scale, None if self.bias is None else self.bias * (k / (k + 1)))
        self.kernel = self.kernels()[0]

    def kernels(self) -> tuple[str, ...]:
        """The ways this layer can multiply here: "digits" (fbgemm, two int8 digits), "bf16"
        (``aten._weight_int8pack_mm``, bf16 activations), "dequant" (dequantised matmul, anywhere)."""
        found = []
        if self.packed is not None and self.weight.device.type == "cpu":
            found.append("digits")
        if self.weight.device.type == "cpu" and hasattr(torch.ops.aten, "_weight_int8pack_mm"):
            found.append("bf16")
        return (*found, "dequant")

    def digits_fn(self, rows: int) -> Fn:
        """W x + b for x (rows, in) float32 contiguous through two int8 digits (class docstring);
        the digit buffer and the sum of the two digit products are made once."""
        k, top, zero = self.DIGIT_SCALE, self.DIGIT_MAX, self.DIGIT_ZERO
        with torch.inference_mode(False):  # a normal tensor: written in place both in and out of inference mode
            buffer = torch.empty(2 * rows, self.in_features)
        first, rest = buffer[:rows], buffer[rows:]
        k_tensor = torch.tensor(float(k))  # a 0-dim tensor multiplies without wrapping a Python number per call
        matmul, packed = op_callable(torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32.default), self.packed
        if rows <= self.COMBINE_BY_MM_ROWS:
            eye = torch.eye(rows)
            weights = torch.cat([eye, eye / k], 1)  # (rows, 2 rows): y = y₁ + y₂ / k
            combine = lambda y: torch.mm(weights, y)
        else:
            combine = lambda y: torch.add(y[:rows], y[rows:], alpha=1.0 / k)
        exact = lambda x: self.product(x, "dequant")

        def digits(x: Tensor) -> Tensor:
            a = float(x.abs().max()) / top
            if not a > 1e-30:  # all (near) zero, or not finite: the dequantised product (b, or nan/inf as fp32 gives)
                return exact(x)
            torch.fmod(x, a, out=rest)  # x - a q₁, |.| < a
            torch.sub(x, rest, out=first)  # a q₁ (on the grid: the matmul's rounding by a gives q₁)
            rest.mul_(k_tensor)
            return combine(call_packed(matmul, buffer, a, zero, packed))  # the packed bias is b k/(k+1): b in all

        return digits

    def decode_fn(self, rows: int, kernel: str | None = None) -> Fn:
        """x (rows, in) -> W x + b with ``kernel`` (default: the chosen one), tensors bound once."""
        kernel = kernel or self.kernel
        if kernel == "digits":
            digits, other = self.digits_fn(rows), lambda x: self.product(x, "digits")  # other: after a float32 copy
            return lambda x: digits(x) if x.dtype is torch.float32 and x.is_contiguous() else other(x)
        if kernel == "bf16":  # fast for bf16 activations (fp32 takes a slow path); accumulates in fp32
            matmul, weight, scale, bias = torch.ops.aten._weight_int8pack_mm, self.weight, self.scale_bf16, self.bias
            if bias is None:
                return lambda x: matmul(x.to(torch.bfloat16), weight, scale).to(x.dtype)
            return lambda x: matmul(x.to(torch.bfloat16), weight, scale).to(x.dtype).add_(bias)
        weight, scale, bias = self.weight, self.scale, self.bias

        def dequant(x: Tensor) -> Tensor:
            y = (x @ weight.to(x.dtype).t()) * scale.to(x.dtype)
            return y if bias is None else y.add_(bias.to(y.dtype))

        return dequant

    def product(self, x2: Tensor, kernel: str) -> Tensor:
        """W x + b for x2 (N, in) with one of ``kernels()``."""
        if kernel == "digits":
            return self.digits_fn(x2.shape[0])(x2.float().contiguous()).to(x2.dtype)
        return self.decode_fn(x2.shape[0], kernel)(x2.contiguous())

    def forward(self, x: Tensor) -> Tensor:
        # the dequantised product is the differentiable one: used when a gradient must flow back
        # through the frozen int8 layer (LoRA on an int8 base, genzoo.finetune.qlora)
        fast = x.device == self.weight.device and not (x.requires_grad and torch.is_grad_enabled())
        return self.product(x.reshape(-1, x.shape[-1]), self.kernel if fast else "dequant").view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


class DynamicInt8Linear(nn.Module):
    """int8 weights (per-row scales) and int8 activations quantised on the fly per call (W8A8).

    Runs fbgemm's ``quantized::linear_dynamic`` (integer dot products, fp32 output): about twice as
    fast as the weight-only kernel on CPU. torch marks its quantized tensors deprecated (still
    present in 2.13), so this mode is an option, not the default.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        q, scale = quantize_rows(linear.weight)
        self.packed = fbgemm_pack(q, scale, None if linear.bias is None else linear.bias.detach().float().clone())
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def decode_fn(self, rows: int, kernel: str | None = None) -> Fn:
        matmul, packed = op_callable(torch.ops.quantized.linear_dynamic.default), self.packed
        return lambda x: call_packed(matmul, x.float(), packed, True).to(x.dtype)

    def forward(self, x: Tensor) -> Tensor:
        x2 = x.reshape(-1, x.shape[-1])
        return self.decode_fn(x2.shape[0])(x2).view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weights and activations"


class TransposedLinear(nn.Module):
    """y = b + x Wᵀ with Wt = Wᵀ stored (in, out), GPT-2's Conv1D layout, for fast decoding.

    Same fp32 weights, different memory order and summation. For up to ``SPLIT_MAX_ROWS`` rows
    (decoding) the product can be split along the input dimension, y = b + Σ_j x_j Wt_j over
    ``SPLIT`` blocks, as one ``bmm`` plus a sum, which lets both cores stream weights at once where
    the BLAS runs a matrix-vector product on one core (MKL on an AMD EPYC: 1.6-1.8x faster); where
    the BLAS already uses every core (MKL on a Xeon) one ``addmm`` is faster: ``choose_decode_kernels_``
    times both on this machine (``GPT.quantize("fp32")`` calls it). Rows beyond ``SPLIT_MAX_ROWS``
    (prompt prefill) use one ``addmm``.
    """

    SPLIT = 4
    SPLIT_MAX_ROWS = 16

    def __init__(self, linear: nn.Linear, split: int = SPLIT):
        super().__init__()
        self.register_buffer("weight_t", linear.weight.detach().t().contiguous())
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.split = split if self.in_features % split == 0 else 1

    def decode_fn(self, rows: int, split: int | None = None) -> Fn:
        """x (rows, in) -> b + x Wt: one ``addmm``, or the input dimension split into ``split``
        blocks (default: ``self.split`` up to ``SPLIT_MAX_ROWS`` rows, else 1)."""
        if split is None:
            split = self.split if rows <= self.SPLIT_MAX_ROWS else 1
        weight_t, bias = self.weight_t, self.bias
        if split == 1:
            return (lambda x: x @ weight_t) if bias is None else (lambda x: torch.addmm(bias, x, weight_t))
        blocks = weight_t.view(split, self.in_features // split, self.out_features)

        def split_product(x: Tensor) -> Tensor:
            y = torch.bmm(x.view(rows, split, -1).transpose(0, 1), blocks).sum(0)
            return y if bias is None else y.add_(bias)

        return split_product

    def forward(self, x: Tensor) -> Tensor:
        x2 = x.reshape(-1, x.shape[-1])
        return self.decode_fn(x2.shape[0])(x2).view(*x.shape[:-1], self.out_features)


def choose_kernel_(layers: list[nn.Module], options: tuple, attr: str, rounds: int = 5):
    """Set ``layer.<attr>`` on every layer to the option under which a batch-1 pass through all
    ``layers`` is fastest here, each layer called as decoding calls it (``layer.decode_fn(1, option)``);
    best of ``rounds`` interleaved rounds (``genzoo.nn.decode_kernels.fastest``)."""
    if not layers:
        return None
    xs = [torch.full((1, layer.in_features), 0.5) for layer in layers]
    choice = fastest({option: [layer.decode_fn(1, option) for layer in layers] for option in options}, xs, rounds)
    for layer in layers:
        setattr(layer, attr, choice)
    return choice


def choose_decode_kernels_(model: nn.Module) -> None:
    """The faster batch-1 product on this CPU for every quantised layer of ``model``: split-K or one
    ``addmm`` for ``TransposedLinear``; two int8 digits or bf16 activations for ``Int8Linear``."""
    fp32 = [m for m in model.modules() if isinstance(m, TransposedLinear) and m.in_features % m.SPLIT == 0]
    if fp32 and fp32[0].weight_t.device.type == "cpu":
        choose_kernel_(fp32, (1, TransposedLinear.SPLIT), "split")
    int8 = [m for m in model.modules() if isinstance(m, Int8Linear)]
    if int8 and len(int8[0].kernels()) > 2:  # more than one fast kernel to choose from
        choose_kernel_(int8, int8[0].kernels()[:2], "kernel")


DECODE_LINEARS = {"fp32": TransposedLinear, "int8": Int8Linear, "int8-dynamic": DynamicInt8Linear}


def swap_linears_(module: nn.Module, layer: type) -> nn.Module:
    """Replace every ``nn.Linear`` inside ``module`` by ``layer(linear)``, in place."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Linear):
            setattr(module, name, layer(child))
        else:
            swap_linears_(child, layer)
    return module

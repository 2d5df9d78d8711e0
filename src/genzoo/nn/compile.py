"""``torch.compile`` (inductor) for a genzoo network, with the compiled kernels cached on disk.

``compile_network(model.net)`` compiles the module in place (``nn.Module.compile``: parameter names,
``state_dict`` and saving are unchanged) the first time it is called; the compilation itself happens
lazily on the next forward (once per graph: inference and training are two graphs). Inductor's FX
graph cache and AOT-autograd cache live in ``$TORCHINDUCTOR_CACHE_DIR`` when set, else in
``~/.cache/genzoo/inductor`` (``$XDG_CACHE_HOME/genzoo/inductor``), so a second process skips the
C++ code generation and compilation; dynamo still traces the model (seconds).

Measured costs and gains for the diffusion U-Net: benchmarks/results/diffusion.md (``bench_compile.py``).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..errors import NotSupported


def inductor_cache_dir() -> Path:
    """Where inductor keeps compiled graphs: ``$TORCHINDUCTOR_CACHE_DIR`` or the user's genzoo cache."""
    if os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        return Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "genzoo" / "inductor"


def check_compile_supported(device: torch.device) -> None:
    """Raise ``NotSupported`` (with what to do) when inductor cannot compile for ``device``."""
    if not torch._dynamo.is_dynamo_supported():
        raise NotSupported("compile=True needs torch.compile, which this Python / platform does not support; "
                           "run without compile")
    if device.type == "cpu":
        from torch._inductor.cpp_builder import get_cpp_compiler

        try:
            get_cpp_compiler()
        except Exception as e:  # noqa: BLE001 - inductor raises its own error types
            raise NotSupported(f"compile=True on CPU needs a C++ compiler (g++ or clang++; set CXX): {e}") from None
    elif device.type == "cuda":
        from torch.utils._triton import has_triton

        if not has_triton():
            raise NotSupported("compile=True on CUDA needs triton (pip install triton); run without compile")
    else:
        raise NotSupported(f"compile=True is supported on cpu and cuda, not {device.type}; run without compile")


def compile_network(module: nn.Module, mode: str | None = None) -> nn.Module:
    """Compile ``module`` in place with inductor (once; calling again with the same mode is free).

    ``mode``: None (inductor's default) or a ``torch.compile`` mode such as
    ``"max-autotune-no-cudagraphs"``. The first forward of each graph pays the one-time compile cost.
    """
    if getattr(module, "_genzoo_compile_mode", False) == mode:
        return module
    check_compile_supported(next(module.parameters()).device)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(inductor_cache_dir()))
    module.compile(mode=mode)
    module._genzoo_compile_mode = mode
    return module


def is_compiled(module: nn.Module) -> bool:
    """True after ``compile_network(module)``."""
    return getattr(module, "_genzoo_compile_mode", False) is not False

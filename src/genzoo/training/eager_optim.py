"""Keep ``torch.optim`` from importing ``torch._dynamo`` in an eager training run.

The step: ``Optimizer.step`` of torch's optimizers is wrapped twice, in a profiler/hook wrapper and in
``_use_grad_for_differentiable``, whose only eager work beyond the step is ``torch.no_grad()`` — but it
imports ``torch._dynamo`` for a ``graph_break()``. :func:`eager_step` calls the step as written under
``no_grad`` when nothing else would happen: no step hooks, no profiler, ``differentiable=False``, and
dynamo not imported yet (once it is, the ordinary ``opt.step()`` costs nothing extra and is used).

The other methods: ``Optimizer.add_param_group``, ``zero_grad``, ``state_dict`` and ``load_state_dict`` are wrapped in
``torch._disable_dynamo``, which on its first call imports ``torch._dynamo`` (~0.9 s, more than a
short 2-D run's training) only to mark the method "do not trace" — a no-op when nothing is compiled.
The wrapper caches the marked function in the attribute ``__dynamo_disable`` of the plain function;
while ``torch._dynamo`` is not imported, :func:`without_dynamo_import` fills that cache with the plain
function itself for the duration of a block and empties it afterwards, so a later ``torch.compile``
in the process finds the methods exactly as torch left them.
"""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import torch
from torch.optim import Optimizer, optimizer as _optimizer

_WRAPPED = ("add_param_group", "zero_grad", "state_dict", "load_state_dict")
_CACHE = "__dynamo_disable"  # the attribute torch._compile._disable_dynamo reads (torch 2.13)


@contextlib.contextmanager
def without_dynamo_import() -> Iterator[None]:
    """Within the block, the wrapped optimizer methods call their plain function directly."""
    if "torch._dynamo" in sys.modules:  # already paid for (or compiling): nothing to save
        yield
        return
    plain = [fn for fn in (getattr(getattr(Optimizer, n), "__wrapped__", None) for n in _WRAPPED)
             if fn is not None and not hasattr(fn, _CACHE)]
    for fn in plain:
        setattr(fn, _CACHE, fn)
    try:
        yield
    finally:
        for fn in plain:
            if getattr(fn, _CACHE, None) is fn:
                delattr(fn, _CACHE)


def eager_step(opt: Optimizer) -> None:
    """``opt.step()``, without importing ``torch._dynamo`` where the wrappers would do nothing else."""
    hooked = getattr(type(opt).step, "__wrapped__", None)       # the profiler/hook wrapper's target
    plain = getattr(hooked, "__wrapped__", None)                # the step as the optimizer wrote it
    if ("torch._dynamo" in sys.modules or plain is None or getattr(getattr(hooked, "__code__", None), "co_name", "") != "_use_grad"
            or opt.defaults.get("differentiable") or opt._optimizer_step_pre_hooks or opt._optimizer_step_post_hooks
            or _optimizer._global_optimizer_pre_hooks or _optimizer._global_optimizer_post_hooks
            or torch.autograd._profiler_enabled()):
        opt.step()
        return
    with torch.no_grad():
        plain(opt)
    opt._opt_called = True  # what the LR scheduler's wrapper of opt.step records

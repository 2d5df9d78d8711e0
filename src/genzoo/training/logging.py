"""Run logging: ``metrics.jsonl`` (one JSON object per log step) and the tqdm progress bar."""
from __future__ import annotations

import json
import math
import importlib
import sys
import threading
from pathlib import Path
from typing import Any


class MetricsLog:
    """Keeps ``history`` (a list of log dicts) and mirrors it to ``OUT/metrics.jsonl``."""

    def __init__(self, path: Path | None):
        self.path = path
        self.history: list[dict[str, Any]] = []

    def start(self, resume_step: int | None) -> None:
        """Fresh run: truncate the file. Resumed run: keep the lines up to the checkpoint's step."""
        if self.path is None:
            return
        if resume_step is not None and self.path.is_file():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a kill
                if entry.get("step", math.inf) <= resume_step:
                    self.history.append(entry)
        self.path.write_text("".join(json.dumps(e) + "\n" for e in self.history))

    def append(self, entry: dict[str, Any]) -> None:
        self.history.append(entry)
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(json.dumps(entry) + "\n")


def progress_bar(total: int, initial: int, enabled: bool, desc: str = "train"):
    """A tqdm bar (it/s is shown by tqdm) on stderr; ``None`` when disabled."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, file=sys.stderr, dynamic_ncols=True, desc=desc,
                mininterval=0.5, leave=True)


# what the run's outputs import at their first write: matplotlib (sample grids, loss.png; ~0.4 s) and
# huggingface_hub (the model card's metadata; ~0.1 s)
OUTPUT_MODULES = ("matplotlib.figure", "matplotlib.backends.backend_agg", "huggingface_hub")


def prefetch_imports(modules=OUTPUT_MODULES) -> threading.Thread:
    """Import ``modules`` in a background thread while training runs.

    The training loop spends much of each step in torch kernels and the autograd engine, which release
    the GIL, so on a machine with a free core the imports cost the run no wall time instead of ~0.5 s
    at the first picture. The thread is not a daemon: an early exit waits for it rather than killing
    an import halfway.
    """
    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the main thread's own import reports a real problem
                return

    thread = threading.Thread(target=load, name="genzoo-prefetch-imports")
    thread.start()
    return thread

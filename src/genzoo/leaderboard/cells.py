"""Which (family, dataset) cells the leaderboard runs, and which metrics each data kind gets.

Registry-driven: a family enters every cell whose dataset kind it supports (``cls.supports``), with
the budget it declares (``cls.benchmark_budget``); adding a model adds its row with no edit here.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..registry import METRICS, MODELS

#: the built-in datasets on the board, by kind (full run); ``quick`` uses the first of each kind
DATASETS = {
    "2d": ["8gaussians", "25gaussians", "moons"],
    "image": ["digits"],
    "text": ["pystdlib"],
}

#: metrics per data kind, in report order; names not registered (yet) are skipped
METRICS_BY_KIND = {
    "2d": ["nll", "mmd", "energy", "modes"],
    "image": ["bpd", "fid", "kid", "prdc", "memorization"],
    "text": ["perplexity", "fid"],  # fid on text = Fréchet distance of MiniLM embeddings
    "audio": ["bpd", "pitch_accuracy", "fad", "lsd"],  # `genzoo bench --data notes` (not on the default board)
    "video": ["fvd", "frame_consistency"],  # FVD-moving; not on the board by default (--data moving-digits)
}


@dataclass(frozen=True)
class Cell:
    model: str
    data: str
    kind: str = "?"  # the dataset's kind ("2d", "image", "text")

    @property
    def key(self) -> str:
        return f"{self.model}__{self.data}"


def available_metrics(kind: str) -> list[str]:
    return [m for m in METRICS_BY_KIND.get(kind, []) if m in METRICS]


def select_cells(families=None, datasets=None, quick: bool = False) -> list[Cell]:
    from ..data import load_dataset

    all_data = [d for names in DATASETS.values() for d in names]
    if quick and datasets is None:
        all_data = [names[0] for names in DATASETS.values()]
    for name in families or []:
        MODELS.get(name)  # one-line error with suggestions for an unknown family
    for name in datasets or []:
        if name not in all_data and ":" not in name:
            load_dataset(name)  # unknown names get suggestions; known-but-unlisted sets are allowed
    chosen_data = list(datasets) if datasets else all_data
    chosen_models = list(families) if families else MODELS.names()
    cells = []
    for data_name in chosen_data:
        data = load_dataset(data_name, split="train")
        for model_name in chosen_models:
            if MODELS.get(model_name).supports(data):
                cells.append(Cell(model_name, data_name, data.kind))
    if not cells:
        raise ConfigError(f"none of the families {', '.join(chosen_models)} supports the datasets {', '.join(chosen_data)}; see genzoo list")
    return cells

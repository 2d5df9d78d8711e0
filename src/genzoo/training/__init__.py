"""genzoo.training: the Trainer, EMA, schedules, resumable checkpoints and run logging."""
from .ema import EMA
from .schedule import lr_multiplier
from .trainer import Trainer

__all__ = ["Trainer", "EMA", "lr_multiplier"]

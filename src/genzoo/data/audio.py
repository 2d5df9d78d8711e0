"""Audio datasets (kind ``"audio"``): waveforms (N, 1, L) float32 in [-1, 1], 16-bit PCM values.

- ``notes``: single notes (``notes.py``): 12 pitches (MIDI 60-71) x 4 instruments x 3 loudness levels.
  Default 8 kHz, 0.25 s (2,000 samples) so a CPU trains an autoregressive model on it in minutes;
  ``--data-arg sample_rate=16000 --data-arg duration=0.5`` gives the 16 kHz / 0.5 s set. The label
  ``y = pitch · 4 + timbre`` (48 classes, named like ``"C4/flute"``) is what models condition on
  (``pitch_timbre``); ``info["loudness"]`` holds the loudness index of each example.
  Train 4,096 (seed 0) / test 512 (seed 1).
- ``melodies``: 4-note phrases of one instrument from a small grammar over C major (``notes.py``),
  0.125 s a note (0.5 s, 4,000 samples at 8 kHz); ``y`` = timbre, ``info["midi"]`` the notes. Train 1,024 / test 256.
- ``wav:DIR``: a user's mono WAV files (``wav.py``: resampled to ``sample_rate`` with a warning,
  wrong lengths are errors), unlabelled; a fixed 10% test split.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..registry import register_dataset
from .base import GenDataset
from .classes import keep_classes, parse_classes
from .common import SEEDS, check_split
from .notes import INSTRUMENTS, MIDI, TIMBRES, make_melodies, make_notes, note_name

NOTES_SIZES = {"train": 4096, "test": 512}
MELODY_SIZES = {"train": 1024, "test": 256}
DEFAULT_RATE, DEFAULT_DURATION = 8000, 0.25


def pitch_timbre(y: torch.Tensor, n_timbres: int = len(INSTRUMENTS)) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a ``notes`` label ``y = pitch · n_timbres + timbre`` into (pitch index, timbre index)."""
    return torch.div(y, n_timbres, rounding_mode="floor"), y % n_timbres


def _check_audio_options(name: str, sample_rate, duration) -> tuple[int, int]:
    rate = int(sample_rate)
    if rate not in (8000, 16000, 22050, 24000, 32000, 44100, 48000):
        raise ConfigError(f"{name}: sample_rate={sample_rate} is not a standard rate; use 8000 or 16000")
    duration = float(duration)
    if not 0.05 <= duration <= 4:
        raise ConfigError(f"{name}: duration={duration} s is outside 0.05..4 s")
    return rate, int(round(rate * duration))


@functools.lru_cache(maxsize=8)
def _notes(split: str, rate: int, length: int) -> dict:
    return make_notes(NOTES_SIZES[split], SEEDS[split], rate, length)


@register_dataset("notes")
def load_notes(split: str = "train", sample_rate: int = DEFAULT_RATE, duration: float = DEFAULT_DURATION,
               classes=None) -> GenDataset:
    """Single synthetic notes; see the module docstring."""
    check_split("notes", split)
    rate, length = _check_audio_options("notes", sample_rate, duration)
    d = _notes(split, rate, length)
    y = d["pitch"] * len(TIMBRES) + d["timbre"]
    names = [f"{note_name(m)}/{t}" for m in MIDI for t in TIMBRES]
    info = {"sample_rate": rate, "midi": list(MIDI), "timbres": list(TIMBRES), "n_timbres": len(TIMBRES),
            "loudness": d["loudness"].clone(), "classes": names,
            "options": {"sample_rate": rate, "duration": float(duration)}}
    data = GenDataset("notes", split, "audio", d["x"].clone(), y, num_classes=len(names), info=info)
    if classes is None:
        return data
    kept = keep_classes(data, classes)
    mask = torch.isin(y, torch.tensor(parse_classes(classes, names))) if classes != "all" else torch.ones_like(y, dtype=torch.bool)
    kept.info["loudness"] = d["loudness"][mask].clone()
    return kept


@register_dataset("melodies")
def load_melodies(split: str = "train", sample_rate: int = DEFAULT_RATE, note_duration: float = 0.125) -> GenDataset:
    """Four-note melodies from the grammar in ``notes.py``; ``y`` = instrument."""
    check_split("melodies", split)
    rate, note_length = _check_audio_options("melodies", sample_rate, note_duration)
    d = make_melodies(MELODY_SIZES[split], SEEDS[split], rate, note_length)
    info = {"sample_rate": rate, "midi": d["midi"], "timbres": list(TIMBRES), "classes": list(TIMBRES),
            "options": {"sample_rate": rate, "note_duration": float(note_duration)}}
    return GenDataset("melodies", split, "audio", d["x"], d["timbre"], num_classes=len(TIMBRES), info=info)


@register_dataset("wav:")
def load_wav_folder(path: str, split: str = "train", sample_rate: int = DEFAULT_RATE,
                    duration: float = DEFAULT_DURATION) -> GenDataset:
    """A folder of mono WAV files of one length (``wav:DIR``); see ``wav.read_wav``."""
    from .wav import read_wav

    check_split(f"wav:{path}", split)
    rate, length = _check_audio_options(f"wav:{path}", sample_rate, duration)
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"wav:{path}: no such directory")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DataError(f"wav:{path}: no files in the directory")
    x = torch.stack([read_wav(p, rate, length) for p in files])[:, None]
    perm = torch.from_numpy(np.random.RandomState(0).permutation(len(x)))
    n_test = max(1, len(x) // 10) if len(x) > 1 else 0
    idx = perm[:n_test] if split == "test" else perm[n_test:]
    if len(idx) == 0:
        raise DataError(f"wav:{path}: too few files for a {split} split (need at least 2)")
    return GenDataset(f"wav:{path}", split, "audio", x[idx], info={"sample_rate": rate,
                                                                   "options": {"sample_rate": rate, "duration": float(duration)}})

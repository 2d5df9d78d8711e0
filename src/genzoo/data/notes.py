"""Procedural single notes and melodies (NSynth-like, offline, deterministic in a seed).

A note of MIDI pitch m has fundamental f0 = 440 · 2^((m - 69 + c/100) / 12) Hz, with a small
per-note detune c ~ U(-15, 15) cents. An instrument (timbre) is an additive synthesiser:

    s(t) = A · env(t) · Σ_k a_k · d_k(t) · sin(2π k f0 t + φ_k)  +  A · ν · env(t) · n(t)

with harmonic profile a_k (partials above 0.9 · Nyquist dropped), per-partial decay d_k (the
pluck's upper partials die faster), random phases φ_k ~ U(0, 2π), white breath noise n(t) ~ N(0, 1)
of level ν, and a linear ADSR envelope env (attack, decay, sustain level, release; times in
seconds). Loudness is one of three amplitudes A. Every random choice comes from one
``torch.Generator``, so a (count, seed, sample rate, duration) gives the same waveforms anywhere;
samples are rounded to 16-bit PCM values (what a WAV file stores).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

MIDI = tuple(range(60, 72))  # C4 .. B4: one octave, 12 pitch classes
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
LOUDNESS = {"soft": 0.3, "medium": 0.55, "loud": 0.8}


@dataclass(frozen=True)
class Instrument:
    name: str
    harmonics: tuple[float, ...]        # a_k, k = 1, 2, ...
    adsr: tuple[float, float, float, float]  # attack s, decay s, sustain level, release s
    noise: float = 0.0                  # breath-noise level ν
    partial_decay: float = 0.0          # d_k(t) = exp(-partial_decay · k · t)


INSTRUMENTS = (
    Instrument("flute", (1.0, 0.25, 0.06, 0.02), (0.04, 0.05, 0.85, 0.04), noise=0.04),
    Instrument("clarinet", tuple(1.0 / k if k % 2 else 0.02 for k in range(1, 12)), (0.02, 0.04, 0.9, 0.03)),
    Instrument("string", tuple(1.0 / k for k in range(1, 14)), (0.07, 0.05, 0.8, 0.05), noise=0.01),
    Instrument("pluck", tuple(1.0 / k ** 1.5 for k in range(1, 12)), (0.003, 0.2, 0.0, 0.02), partial_decay=6.0),
)
TIMBRES = tuple(i.name for i in INSTRUMENTS)


def midi_to_hz(m: Tensor | float) -> Tensor:
    return 440.0 * 2.0 ** ((torch.as_tensor(m, dtype=torch.float64) - 69) / 12)


def note_name(midi: int) -> str:
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def adsr(n: int, sample_rate: int, attack: float, decay: float, sustain: float, release: float) -> Tensor:
    """Linear ADSR envelope over ``n`` samples: the release ends at the last sample."""
    t = torch.arange(n, dtype=torch.float64) / sample_rate
    dur = n / sample_rate
    rise = (t / max(attack, 1e-6)).clamp(max=1)
    fall = 1 - (1 - sustain) * ((t - attack) / max(decay, 1e-6)).clamp(0, 1)
    env = torch.where(t < attack, rise, fall)
    tail = ((dur - t) / max(release, 1e-6)).clamp(0, 1)
    return env * tail


def pcm16(x: Tensor) -> Tensor:
    """Round to the nearest 16-bit PCM value (k / 32767), clipped to [-1, 1]."""
    return (x.clamp(-1, 1) * 32767).round() / 32767


def synth(pitch: Tensor, timbre: Tensor, loudness: Tensor, *, sample_rate: int, length: int,
          generator: torch.Generator) -> Tensor:
    """Waveforms (N, length) float32 for MIDI ``pitch``, instrument index ``timbre`` and amplitude ``loudness``."""
    n = len(pitch)
    detune = (torch.rand(n, generator=generator, dtype=torch.float64) - 0.5) * 30  # cents
    f0 = midi_to_hz(pitch.double() + detune / 100)
    max_k = max(len(i.harmonics) for i in INSTRUMENTS)
    phase = torch.rand(n, max_k, generator=generator, dtype=torch.float64) * 2 * math.pi
    noise = torch.randn(n, length, generator=generator, dtype=torch.float64)
    t = torch.arange(length, dtype=torch.float64) / sample_rate
    out = torch.zeros(n, length, dtype=torch.float64)
    for j, inst in enumerate(INSTRUMENTS):
        k = torch.arange(1, len(inst.harmonics) + 1, dtype=torch.float64)
        decay = torch.exp(-inst.partial_decay * k[:, None] * t)  # (K, L)
        env = adsr(length, sample_rate, *inst.adsr)
        for idx in (timbre == j).nonzero().squeeze(1).split(256):  # bounded memory: (256, K, L) at a time
            freq = f0[idx, None] * k  # (n_j, K)
            amp = torch.tensor(inst.harmonics, dtype=torch.float64) * (freq < 0.45 * sample_rate)
            arg = 2 * math.pi * freq[:, :, None] * t + phase[idx, :len(k), None]  # (n_j, K, L)
            tone = (amp[:, :, None] * decay * torch.sin(arg)).sum(1) / amp.sum(1, keepdim=True)
            out[idx] = env * (tone + inst.noise * noise[idx])
    return pcm16(loudness.double()[:, None] * out).float()


def make_notes(n: int, seed: int, sample_rate: int, length: int) -> dict[str, Tensor]:
    """``n`` notes: ``{"x": (n, 1, length), "pitch": index into MIDI, "timbre", "loudness": index}``."""
    g = torch.Generator().manual_seed(seed)
    pitch = torch.randint(0, len(MIDI), (n,), generator=g)
    timbre = torch.randint(0, len(INSTRUMENTS), (n,), generator=g)
    loud = torch.randint(0, len(LOUDNESS), (n,), generator=g)
    amp = torch.tensor(list(LOUDNESS.values()))[loud]
    x = synth(torch.tensor(MIDI)[pitch], timbre, amp, sample_rate=sample_rate, length=length, generator=g)
    return {"x": x[:, None], "pitch": pitch, "timbre": timbre, "loudness": loud}


# --- melodies: a small grammar over the C-major scale ------------------------------------------
SCALE = (60, 62, 64, 65, 67, 69, 71, 72)  # C major, C4..C5
#: melody := start step step step ; start ∈ {C, E, G} (tonic triad) ; step ∈ {-2, -1, +1, +2} scale
#: degrees, reflected at the scale's ends ; the last note is pulled to the nearest triad tone.
STEPS = (-2, -1, 1, 2)


def melody_degrees(n: int, notes: int, g: torch.Generator) -> Tensor:
    """(n, notes) scale degrees (indices into ``SCALE``) drawn from the grammar above."""
    deg = torch.empty(n, notes, dtype=torch.long)
    deg[:, 0] = torch.tensor([0, 2, 4])[torch.randint(0, 3, (n,), generator=g)]
    for i in range(1, notes):
        step = torch.tensor(STEPS)[torch.randint(0, len(STEPS), (n,), generator=g)]
        d = deg[:, i - 1] + step
        deg[:, i] = torch.where(d < 0, -d, torch.where(d > len(SCALE) - 1, 2 * (len(SCALE) - 1) - d, d))
    triad = torch.tensor([0, 2, 4, 7])
    deg[:, -1] = triad[(deg[:, -1:] - triad).abs().argmin(1)]
    return deg


def make_melodies(n: int, seed: int, sample_rate: int, note_length: int, notes: int = 4) -> dict[str, Tensor]:
    """``n`` melodies of ``notes`` notes of one instrument each: ``{"x": (n, 1, notes · note_length),
    "midi": (n, notes), "timbre": (n,)}``."""
    g = torch.Generator().manual_seed(seed)
    midi = torch.tensor(SCALE)[melody_degrees(n, notes, g)]
    timbre = torch.randint(0, len(INSTRUMENTS), (n,), generator=g)
    loud = torch.full((n * notes,), LOUDNESS["medium"])
    wave = synth(midi.reshape(-1), timbre.repeat_interleave(notes), loud, sample_rate=sample_rate,
                 length=note_length, generator=g)
    return {"x": wave.reshape(n, 1, notes * note_length), "midi": midi, "timbre": timbre}

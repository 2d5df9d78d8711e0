"""The saved runs a server offers, looked up by name only (never by a path from the request).

A run is a directory under RUNS_DIR (at most two levels down) holding ``config.json`` and
``model.safetensors``; its name is its path relative to RUNS_DIR with ``/`` (e.g. ``gpt-a`` or
``sweep/gpt-b``). A request names a run; a name not in this list is 404, whatever it contains,
so ``../`` and absolute paths never reach the file system. Loaded models are cached.
"""
from __future__ import annotations

import json
import re
import threading
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
TEXT_TYPES = {"gpt", "gpt2", "t5"}


@lru_cache(maxsize=1)
def _audio_types() -> frozenset:
    """Model types whose family's ``data_kinds`` include "audio", from genzoo.catalog (no model imported
    while the stored catalog is current)."""
    from ..catalog import listing

    return frozenset(name for name, info in listing()["models"].items() if "audio" in info["data_kinds"])


def _kind(run: Path) -> str | None:
    """"text" (a GPT with a tokenizer: streamed), "audio" (an audio family: a WAV), "image" (anything
    sampled to a PNG) or None, from config.json's ``model_type`` (no weights loaded)."""
    try:
        cfg = json.loads((run / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if cfg.get("model_type") in TEXT_TYPES:
        return "text" if cfg.get("model_type") != "t5" else None  # t5 is text-to-text: not offered
    if cfg.get("model_type") in _audio_types():
        return "audio"
    info = run / "run.json"
    data = json.loads(info.read_text()).get("data", "") if info.is_file() else ""
    if str(data).startswith(("table:", "fair", "anes96", "smiles:", "moses")):
        return None  # tables and molecules have no picture
    return "image"


class ModelIndex:
    """Name -> run directory and kind, refreshed on each listing; loaded models cached."""

    def __init__(self, runs_dir):
        self.root = Path(runs_dir).resolve()
        self._cache: dict[str, object] = {}
        self._lock = threading.Lock()

    def runs(self) -> dict[str, dict]:
        found = {}
        for cfg in sorted(self.root.glob("config.json")) + sorted(self.root.glob("*/config.json")) + \
                sorted(self.root.glob("*/*/config.json")):
            run = cfg.parent
            name = run.relative_to(self.root).as_posix()
            if name == "." or "checkpoint" in run.parts or not (run / "model.safetensors").is_file():
                continue
            kind = _kind(run)
            if kind is not None and NAME_RE.match(name):
                found[name] = {"name": name, "kind": kind, "path": run}
        return found

    def get(self, name: str) -> dict:
        """The run called ``name``; LookupError (404) for anything else."""
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise LookupError(f"no model named {name!r}")
        run = self.runs().get(name)
        if run is None:
            raise LookupError(f"no model named {name!r} under the runs directory")
        return run

    def load(self, name: str):
        """The loaded model (a text-generation pipeline for text runs), cached."""
        run = self.get(name)
        with self._lock:
            if name not in self._cache:
                if run["kind"] == "text":
                    from ..pipelines import pipeline

                    self._cache[name] = pipeline("text-generation", model=str(run["path"]))
                else:
                    import genzoo as gz

                    self._cache[name] = gz.load(run["path"]).eval()
            return self._cache[name]


def sample_media(model, *, n: int, seed: int, steps: int | None, sampler: str | None,
                 guidance_scale: float | None = None, prompt: str | None = None) -> tuple[bytes, str]:
    """``n`` samples and their MIME type: a WAV of the clips joined by short silences for audio families
    (``genzoo.data.wav.write_wav`` at ``config.sample_rate``, as ``genzoo sample``), a looping GIF for video
    families (``genzoo.video_gif.save_gif``), else a PNG
    (``genzoo.plotting.save_samples``). Options the model's ``sample`` does not take are refused (ConfigError)."""
    import inspect
    import tempfile

    import torch

    params = inspect.signature(model.sample).parameters
    kw = {k: v for k, v in dict(steps=steps, sampler=sampler, guidance_scale=guidance_scale, prompt=prompt).items()
          if v is not None}  # prompt: text-to-image models (latent-diffusion), refused by the others
    for key in kw:  # named parameters only: a **kw catch-all would silently ignore the option
        if key not in params:
            raise ConfigError(f"{model.model_type} samples without {key!r}; leave it empty")
    with torch.no_grad():
        samples = model.sample(n, generator=torch.Generator().manual_seed(seed), **kw)
    with tempfile.TemporaryDirectory() as tmp:
        if "audio" in model.data_kinds:
            from ..data.wav import write_wav

            rate = getattr(model.config, "sample_rate", 8000)
            return write_wav(Path(tmp) / "samples.wav", samples, rate).read_bytes(), "audio/wav"
        if "video" in model.data_kinds:  # clips (N, T, C, H, W): one looping GIF, as genzoo sample --out x.gif
            from ..video_gif import save_gif

            return save_gif(samples, Path(tmp) / "samples.gif").read_bytes(), "image/gif"
        from ..plotting import save_samples

        return save_samples(samples, Path(tmp) / "samples.png").read_bytes(), "image/png"

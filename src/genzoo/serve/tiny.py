"""A runs directory of tiny untrained models, made in seconds: for trying ``genzoo serve``, its tests
and benchmarks/serve_load.py. Three GPTs on one character tokenizer (gpt-a, gpt-b, more/gpt-c), a
2-D Gaussian mixture (mix) and two audio models of 0.025 s clips at 8 kHz (audio/wavenet, audio/diffusion)."""
from __future__ import annotations

from pathlib import Path

TEXT = "def add(a, b):\n    return a + b\n\nclass Point:\n    x = 0\n    y = 1\n" * 40


def tiny_runs(root) -> Path:
    import torch

    import genzoo as gz
    from genzoo.data.tokenizers import Tokenizer
    from genzoo.models.gpt import GPT, GPTConfig

    root = Path(root)
    tok = Tokenizer.train_char(TEXT)
    for seed, name in ((0, "gpt-a"), (1, "gpt-b"), (2, "more/gpt-c")):
        torch.manual_seed(seed)
        model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=128, n_layer=1, n_head=2, n_embd=16))
        model.set_tokenizer(tok)
        model.generation_config = model.generation_config.update(eos_token_id=None)  # untrained: never stop early
        model.save_pretrained(root / name)
    torch.manual_seed(0)
    gz.build("gaussian", gz.load_dataset("8gaussians", "train"), n_components=8).save_pretrained(root / "mix")
    tiny_audio(root / "audio")
    return root


def tiny_audio(root) -> Path:
    """Two untrained audio models (a WaveNet and a DiffWave-style diffusion model) of 200-sample clips."""
    import torch

    from genzoo.models.audio_diffusion import AudioDiffusion, AudioDiffusionConfig
    from genzoo.models.wavenet import WaveNet, WaveNetConfig

    root = Path(root)
    torch.manual_seed(0)
    WaveNet(WaveNetConfig(length=200, residual_channels=8, dilation_depth=3, stacks=1, skip_channels=8,
                          quantization=64)).save_pretrained(root / "wavenet")
    AudioDiffusion(AudioDiffusionConfig(shape=(1, 200), residual_channels=8, layers=2, dilation_cycle=2,
                                        num_train_timesteps=20, sample_steps=5)).save_pretrained(root / "diffusion")
    return root

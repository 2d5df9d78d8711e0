"""audio-diffusion: DiffWave's network under genzoo's DDPM (schedules, samplers, guidance), conditioned on
pitch and timbre; seeded sampling, labels that matter, and the CLI to a WAV file."""
from __future__ import annotations

import pytest
import torch

from genzoo.errors import DataError, NotSupported
from genzoo.models.audio_diffusion import AudioDiffusion, AudioDiffusionConfig


def tiny(**kw) -> AudioDiffusion:
    torch.manual_seed(0)
    model = AudioDiffusion(AudioDiffusionConfig(**{**dict(shape=(1, 64), residual_channels=8, layers=4, dilation_cycle=2,
                                                         num_train_timesteps=50, sample_steps=5, num_classes=8,
                                                         n_timbres=4), **kw}))
    torch.nn.init.normal_(model.net.out.weight, std=0.3)  # the zero-initialised output would hide the labels
    return model


def test_receptive_field_is_non_causal_and_as_documented():
    model = tiny()
    assert model.receptive_field == 1 + 2 * (1 + 2 + 1 + 2) == 13
    x = torch.zeros(1, 1, 64)
    x.requires_grad_(True)
    out = model.net(x, torch.tensor([10]), torch.tensor([3]))
    out[0, 0, 32].backward()
    seen = (x.grad[0, 0] != 0).nonzero().squeeze(1)
    assert seen.min() == 32 - 6 and seen.max() == 32 + 6  # both sides: the denoiser sees the whole clip


def test_seeded_sampling_labels_and_samplers():
    model = tiny()
    a = model.sample(4, generator=torch.Generator().manual_seed(0), y=torch.tensor([0, 1, 2, 3]))
    b = model.sample(4, generator=torch.Generator().manual_seed(0), y=torch.tensor([0, 1, 2, 3]))
    assert a.shape == (4, 1, 64) and torch.equal(a, b) and a.abs().max() <= 1
    c = model.sample(4, generator=torch.Generator().manual_seed(0), y=torch.tensor([7, 6, 5, 4]))
    assert not torch.allclose(a, c)  # the label reaches the network
    d = model.sample(4, generator=torch.Generator().manual_seed(0), y=torch.tensor([0, 1, 2, 3]), sampler="dpm++2m")
    assert not torch.allclose(a, d)
    g = model.sample(4, generator=torch.Generator().manual_seed(0), y=torch.tensor([0, 1, 2, 3]), guidance_scale=2.0)
    assert g.shape == a.shape and not torch.allclose(a, g)


def test_loss_shapes_and_errors():
    model = tiny()
    x = torch.randn(6, 1, 64).clamp(-1, 1)
    out = model.loss((x, torch.randint(0, 8, (6,))))
    assert out["loss"].ndim == 0 and out["loss"].requires_grad
    with pytest.raises(DataError, match=r"shape \(1, 64\)"):
        model.loss((torch.zeros(2, 1, 10), torch.zeros(2, dtype=torch.long)))
    with pytest.raises(NotSupported):
        model.log_prob(x)


def test_cli_train_and_sample_wav(tmp_path, capsys):
    sf = pytest.importorskip("soundfile")
    from cli_run import run_cli

    run = tmp_path / "ad"
    code, _, err = run_cli(["train", "audio-diffusion", "--data", "notes[0,1]", "--steps", "2", "--out", run,
                            "--set", "residual_channels=8", "--set", "layers=2", "--data-arg", "duration=0.05", "--sample-every", "0"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["sample", run, "-n", "2", "--steps", "3", "--class-label", "1"], capsys)
    assert code == 0, err
    wave, rate = sf.read(str(run / "samples.wav"))
    assert rate == 8000 and len(wave) == 2 * 400 + 800

"""WaveNet: μ-law coding, an exact normalised likelihood, causality, cached generation equal to the
uncached path, and the CLI from training to a WAV file."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from genzoo.models.wavenet import WaveNet, WaveNetConfig, mu_law_decode, mu_law_encode


def tiny(**kw) -> WaveNet:
    torch.manual_seed(0)
    model = WaveNet(WaveNetConfig(**{**dict(length=40, residual_channels=8, dilation_depth=3, stacks=2,
                                            skip_channels=8, num_classes=8, n_timbres=4), **kw})).double()
    for p in model.parameters():  # large random weights: peaked, input-dependent distributions
        p.data.normal_(0, 0.5)
    return model


def test_mu_law_codes():
    assert mu_law_encode(torch.tensor([-1.0, 0.0, 1.0])).tolist() == [0, 128, 255]
    codes = torch.arange(256)
    assert torch.equal(mu_law_encode(mu_law_decode(codes)), codes)
    x = torch.linspace(-1, 1, 1001)
    assert (mu_law_decode(mu_law_encode(x)) - x).abs().max() < 0.04  # coarse steps only at loud samples
    assert (mu_law_decode(mu_law_encode(x[480:521])) - x[480:521]).abs().max() < 2e-3  # fine near silence


def test_log_prob_is_a_normalised_mass():
    """Σ over all Q^L code sequences of p(codes | y) = 1 (Q = 4, L = 3)."""
    model = tiny(length=3, quantization=4)
    seqs = torch.tensor(list(itertools.product(range(4), repeat=3)))
    x = mu_law_decode(seqs, 4).unsqueeze(1)
    for y in (0, 5):
        total = model.log_prob(x, y=torch.full((len(x),), y)).exp().sum()
        assert total.item() == pytest.approx(1.0, abs=1e-10)
    marginal = model.log_prob(x).exp().sum()  # no label: the uniform mixture over the 8 classes
    assert marginal.item() == pytest.approx(1.0, abs=1e-10)


def test_causal_and_receptive_field():
    model = tiny()
    assert model.receptive_field == 1 + 2 * (1 + 2 + 4) == 15
    codes = torch.randint(0, 256, (1, 40), generator=torch.Generator().manual_seed(0))
    c = model.condition(torch.tensor([3]))
    base = model(codes, c)
    changed = codes.clone()
    changed[0, 10] = (changed[0, 10] + 7) % 256
    diff = (model(changed, c) - base).abs().amax(1)[0]
    assert diff[:11].max() == 0  # logits at t <= 10 never see code_10
    assert (diff[11:11 + 15] > 0).all() and diff[11 + 15:].max() == 0  # exactly the next R positions do


def test_cached_generation_equals_uncached():
    model = tiny()
    a = model.sample(3, generator=torch.Generator().manual_seed(1), cache=True, y=torch.tensor([0, 5, 7]))
    b = model.sample(3, generator=torch.Generator().manual_seed(1), cache=False, y=torch.tensor([0, 5, 7]))
    assert a.shape == (3, 1, 40) and torch.equal(a, b)
    c = model.sample(3, generator=torch.Generator().manual_seed(2), cache=True, y=torch.tensor([0, 5, 7]))
    assert not torch.equal(a, c)
    assert len(torch.unique(mu_law_encode(a[:, 0]))) > 10  # not a degenerate constant


def test_bits_per_sample_of_a_uniform_model_is_eight():
    model = tiny(num_classes=None)
    for p in model.head[-1].parameters():
        p.data.zero_()  # logits 0: every code has probability 1/256
    x = torch.rand(2, 1, 40, dtype=torch.float64) * 2 - 1
    assert torch.allclose(model.log_prob(x), torch.full((2,), -40 * math.log(256), dtype=torch.float64))
    assert model.loss(x.float().double())["bits_per_sample"].item() == pytest.approx(8.0)


def test_cli_train_sample_wav_and_eval(tmp_path, capsys):
    sf = pytest.importorskip("soundfile")
    from cli_run import run_cli

    run = tmp_path / "wn"
    code, _, err = run_cli(["train", "wavenet", "--data", "notes[0,1]", "--steps", "3", "--out", run,
                            "--set", "residual_channels=8", "--set", "skip_channels=8", "--set", "dilation_depth=2",
                            "--data-arg", "duration=0.05", "--sample-every", "0"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["sample", run, "-n", "2", "--out", tmp_path / "x.wav"], capsys)
    assert code == 0, err
    wave, rate = sf.read(str(tmp_path / "x.wav"))
    assert rate == 8000 and len(wave) == 2 * 400 + 800  # two 0.05 s clips and a 0.1 s gap
    code, _, err = run_cli(["sample", run, "-n", "1", "--out", tmp_path / "x.png"], capsys)
    assert code == 2 and err.startswith("error: ") and ".wav" in err and err.count("\n") == 1
    code, out, err = run_cli(["eval", run, "--data", "notes[0,1]", "--data-arg", "duration=0.05",
                              "--metrics", "nll", "--json", "--max-examples", "4"], capsys)
    assert code == 0, err
    assert '"bpd"' in out

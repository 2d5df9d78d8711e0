"""VQ-VAE: straight-through gradients, EMA codebook math, dead-code restarts, perplexity, prior."""
from __future__ import annotations

import pytest
import torch

from genzoo.models.vqvae import VQVAE, VQVAEConfig, VectorQuantizer


def test_quantizer_picks_nearest_code_and_passes_gradients_straight_through():
    vq = VectorQuantizer(4, 2, ema=False, decay=0.99, restart_threshold=0.0)
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]))
    z = torch.tensor([[0.9, 0.1], [0.1, 0.8], [0.1, -0.1], [4.0, 4.0]]).T.reshape(1, 2, 2, 2).requires_grad_()
    out = vq(z)
    assert out["codes"].flatten().tolist() == [1, 2, 0, 3]
    assert torch.allclose(out["z_q"], vq.codebook[out["codes"]].permute(0, 3, 1, 2))
    (g,) = torch.autograd.grad((out["z_q"] * torch.arange(8.0).view(1, 2, 2, 2)).sum(), z)
    assert torch.equal(g, torch.arange(8.0).view(1, 2, 2, 2))  # identity Jacobian
    (gc,) = torch.autograd.grad(out["codebook_loss"], vq.codebook)
    assert gc.abs().sum() > 0


def test_ema_update_moves_codes_to_the_mean_of_their_vectors():
    vq = VectorQuantizer(2, 1, ema=True, decay=0.0, restart_threshold=0.0, eps=0.0)
    vq.set_codebook(torch.tensor([[-1.0], [1.0]]))
    z = torch.tensor([-2.0, -1.0, 0.5, 1.5, 4.0]).view(1, 1, 1, 5)
    vq.train()(z)
    assert torch.allclose(vq.codebook.flatten(), torch.tensor([-1.5, 2.0]))
    vq.eval()(z)  # no update in eval mode
    assert torch.allclose(vq.codebook.flatten(), torch.tensor([-1.5, 2.0]))


def test_dead_codes_are_restarted_at_encoder_outputs():
    torch.manual_seed(0)
    vq = VectorQuantizer(3, 2, ema=True, decay=0.5, restart_threshold=0.4)
    vq.set_codebook(torch.tensor([[0.0, 0.0], [100.0, 100.0], [-100.0, 100.0]]))
    z = torch.randn(1, 2, 4, 4) * 0.1
    for _ in range(2):
        vq.train()(z)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 2)
    assert int(vq.restarts) == 2
    for k in (1, 2):  # restarted codes now sit on encoder outputs
        assert (flat - vq.codebook[k]).abs().sum(1).min() < 1e-6


def test_perplexity_counts_codes_in_use():
    vq = VectorQuantizer(4, 1, ema=False, decay=0.99, restart_threshold=0.0)
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[0.0], [1.0], [2.0], [3.0]]))
    uniform = vq(torch.tensor([0.0, 1.0, 2.0, 3.0]).view(1, 1, 1, 4))["perplexity"]
    single = vq(torch.zeros(1, 1, 1, 4))["perplexity"]
    assert abs(uniform.item() - 4) < 1e-4 and abs(single.item() - 1) < 1e-4


@pytest.mark.slow
def test_training_reconstructs_and_uses_the_codebook():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    base = torch.rand(4, 1, 8, 8, generator=g) * 2 - 1  # 4 prototype images + noise
    x = (base[torch.randint(0, 4, (32,), generator=g)] + 0.05 * torch.randn(32, 1, 8, 8, generator=g)).clamp(-1, 1)
    model = VQVAE(VQVAEConfig(shape=(1, 8, 8), channels=16, embed_dim=4, codebook_size=16, prior_channels=8,
                              prior_layers=2))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(40):
        out = model.loss(x)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first if first is not None else out["rec_mse"].item()
    assert out["rec_mse"].item() < 0.5 * first
    assert out["perplexity"].item() > 2.0
    model.eval()
    assert model.encode(x).shape == (32, 4, 4)
    s = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert s.shape == (3, 1, 8, 8) and s.abs().max() <= 1

"""autoencoder-kl: same outputs as diffusers' AutoencoderKL, its directory layout both ways, scaling factor."""
import pytest
import torch

import genzoo as gz
from genzoo.errors import CheckpointError
from genzoo.models.autoencoder_kl import AutoencoderKL, AutoencoderKLConfig
from genzoo.nn.autoencoder_kl import diffusers_config_from_vae_kwargs

diffusers = pytest.importorskip("diffusers")

KW = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16), layers_per_block=1,
          norm_num_groups=4, mid_attention=True)


def random_diffusers_vae(**over):
    torch.manual_seed(0)
    cfg = {k: v for k, v in diffusers_config_from_vae_kwargs({**KW, **over}, 16, 0.7).items() if not k.startswith("_")}
    vae = diffusers.AutoencoderKL(**cfg).eval()
    with torch.no_grad():  # non-trivial norms and biases
        for p in vae.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return vae


def check_same(ours: AutoencoderKL, ref) -> None:
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        dist = ref.encode(x).latent_dist
        mean, logvar = ours.net.encode(x)
        z = torch.randn_like(mean)
        assert torch.allclose(mean, dist.mean, atol=1e-4) and torch.allclose(logvar, dist.logvar, atol=1e-4)
        assert torch.allclose(ours.net.decode(z), ref.decode(z).sample, atol=1e-4)


def test_random_diffusers_weights_give_the_same_outputs(tmp_path):
    ref = random_diffusers_vae()
    ref.save_pretrained(tmp_path / "vae")
    model = gz.load(tmp_path / "vae")  # a lone diffusers AutoencoderKL directory
    assert isinstance(model, AutoencoderKL) and model.config.scaling_factor == pytest.approx(0.7)
    assert model.latent_shape == (4, 8, 8)
    check_same(model, ref)


def test_genzoo_save_is_a_diffusers_autoencoder(tmp_path):
    torch.manual_seed(1)
    model = AutoencoderKL(AutoencoderKLConfig(shape=(3, 16, 16), block_out_channels=(8, 16), norm_num_groups=4,
                                              scaling_factor=0.5)).eval()
    model.save_pretrained(tmp_path / "m")
    ref = diffusers.AutoencoderKL.from_pretrained(tmp_path / "m", subfolder="vae").eval()
    assert ref.config.scaling_factor == 0.5
    check_same(model, ref)
    back = gz.load(tmp_path / "m" / "vae")
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), model.state_dict().values()))


def test_unsupported_diffusers_layout_is_one_line(tmp_path):
    ref = random_diffusers_vae()
    ref.save_pretrained(tmp_path / "vae")
    cfg_path = tmp_path / "vae" / "config.json"
    cfg_path.write_text(cfg_path.read_text().replace('"silu"', '"gelu"'))
    with pytest.raises(CheckpointError, match="act_fn='gelu' is not supported") as e:
        gz.load(tmp_path / "vae")
    assert "\n" not in str(e.value)


def test_training_reconstructs_and_fits_the_scaling_factor():
    from genzoo.data.common import to_unit
    from genzoo.data.shapes import make_attributed_shapes

    torch.manual_seed(0)
    x = to_unit(make_attributed_shapes(32, seed=4)[0], 256)
    model = AutoencoderKL(AutoencoderKLConfig(shape=(3, 16, 16), block_out_channels=(8, 8), norm_num_groups=4, mid_attention=False))
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    first = None
    for _ in range(25):
        out = model.loss(x)
        first = first or float(out["mse"])
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert float(out["mse"]) < 0.5 * first
    running = model.config.scaling_factor
    exact = model.fit_scaling_factor(x)
    assert running == pytest.approx(exact, rel=0.5)
    assert float(model.encode(x, sample=True, generator=torch.Generator().manual_seed(0)).std()) == pytest.approx(1.0, abs=0.05)
    assert model.reconstruct(x).shape == x.shape and model.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, 3, 16, 16)

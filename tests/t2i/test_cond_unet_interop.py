"""Cross-attention U-Net: same outputs as diffusers' UNet2DConditionModel; diffusers directories both ways."""
import json

import pytest
import torch

import genzoo as gz
from genzoo.errors import CheckpointError
from genzoo.models.latent_diffusion import LatentDiffusion, LatentDiffusionConfig
from genzoo.nn.unet_cond import ConditionalUNet2D, cond_unet_kwargs_from_diffusers, diffusers_config_from_cond_kwargs

diffusers = pytest.importorskip("diffusers")

KW = dict(in_channels=4, out_channels=4, block_out_channels=(16, 32), layers_per_block=1, attention_levels=(0, 1),
          norm_num_groups=8, attention_head_dim=8, cross_attention_dim=24, use_linear_projection=True)
TINY = dict(shape=(3, 8, 8), latent_channels=4, ae_block_out_channels=(8, 8), ae_norm_num_groups=4,
            block_out_channels=(16, 16), attention_levels=(1,), attention_head_dim=8, caption_length=8,
            num_train_timesteps=50, sample_steps=3)


def random_diffusers_unet(**over):
    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel.from_config(diffusers_config_from_cond_kwargs({**KW, **over}, 8)).eval()
    with torch.no_grad():
        for p in unet.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return unet


@pytest.mark.parametrize("over", [{}, {"use_linear_projection": False, "attention_levels": (1,), "layers_per_block": 2}],
                         ids=["linear-all-levels", "conv-proj-last-level"])
def test_random_diffusers_weights_give_the_same_output(over):
    ref = random_diffusers_unet(**over)
    assert cond_unet_kwargs_from_diffusers(dict(ref.config)) == {**KW, **over, "dropout": 0.0, "norm_eps": 1e-5,
                                                                 "flip_sin_to_cos": True, "freq_shift": 0, "transformer_layers": 1}
    net = ConditionalUNet2D(**{**KW, **over}).eval()
    net.load_state_dict(ref.state_dict())
    x, ctx, t = torch.randn(2, 4, 8, 8), torch.randn(2, 5, 24), torch.tensor([3, 700])
    with torch.no_grad():
        want = ref(x, t, ctx).sample
        assert torch.allclose(net(x, t, ctx), want, atol=1e-4)
        assert not torch.allclose(net(x, t, ctx * 2), want, atol=1e-3)  # the context matters


def test_lone_unet2dconditionmodel_directory_loads(tmp_path):
    ref = random_diffusers_unet(cross_attention_dim=384)
    ref.save_pretrained(tmp_path / "unet")
    model = gz.load(tmp_path / "unet")
    assert isinstance(model, LatentDiffusion) and model.autoencoder is None and model.latent_shape == (4, 8, 8)
    x, ctx = torch.randn(2, 4, 8, 8), torch.randn(2, 6, 384)
    with torch.no_grad():
        assert torch.allclose(model.net(x, 10, ctx), ref(x, 10, ctx).sample, atol=1e-4)
    assert model.sample(1, prompt="a red circle", generator=torch.Generator().manual_seed(0), steps=2).shape == (1, 4, 8, 8)


def test_latent_diffusion_save_is_diffusers_components_and_loads_back(tmp_path):
    torch.manual_seed(0)
    model = LatentDiffusion(LatentDiffusionConfig(**TINY, scaling_factor=0.8)).eval()
    model.save_pretrained(tmp_path / "m")
    unet = diffusers.UNet2DConditionModel.from_pretrained(tmp_path / "m", subfolder="unet").eval()
    vae = diffusers.AutoencoderKL.from_pretrained(tmp_path / "m", subfolder="vae").eval()
    z, ctx = torch.randn(2, 4, 4, 4), torch.randn(2, 8, 384)
    with torch.no_grad():
        assert torch.allclose(model.net(z, 5, ctx), unet(z, 5, ctx).sample, atol=1e-4)
        assert torch.allclose(model.autoencoder.decode(z), vae.decode(z).sample, atol=1e-4)
    assert vae.config.scaling_factor == 0.8
    # the same directory without genzoo's config.json is a diffusers pipeline directory
    (tmp_path / "m" / "config.json").unlink()
    (tmp_path / "m" / "model.safetensors").unlink()
    back = gz.load(tmp_path / "m")
    assert isinstance(back, LatentDiffusion) and back.config.scaling_factor == 0.8
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    kw = dict(prompt="a cat", steps=3, sampler="ddim")
    assert torch.allclose(back.sample(2, generator=g(), **kw), model.sample(2, generator=g(), **kw), atol=1e-4)


def test_mismatched_latent_channels_are_one_line(tmp_path):
    torch.manual_seed(0)
    LatentDiffusion(LatentDiffusionConfig(**TINY)).save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "vae" / "config.json").read_text())
    diffusers.AutoencoderKL(**{k: v for k, v in {**cfg, "latent_channels": 3}.items() if not k.startswith("_")}).save_pretrained(
        tmp_path / "m" / "vae")
    (tmp_path / "m" / "config.json").unlink()
    with pytest.raises(CheckpointError, match="3 latent channels but the U-Net takes 4") as e:
        gz.load(tmp_path / "m")
    assert "\n" not in str(e.value)

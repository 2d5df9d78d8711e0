"""Editing: DDIM inversion then DDIM sampling reconstructs the input; inpainting keeps known pixels;
SDEdit at small strength stays near the input; the pipelines accept PIL / tensors."""
import sys
from pathlib import Path

import pytest
import torch

import genzoo as gz
from genzoo.pipelines.diffusion import Img2ImgPipeline, InpaintPipeline
from genzoo.samplers.editing import ddim_invert, inpaint, sdedit

sys.path.insert(0, str(Path(__file__).parent))
from test_ddpm_model import GaussianDenoiser  # noqa: E402


def gaussian_model():
    model = gz.build("ddpm", shape=(2,), hidden=8, depth=1, clip_sample=False, timestep_spacing="trailing").eval()
    model.net = GaussianDenoiser(model.schedule, 0.7, 0.3)
    return model


def test_ddim_inversion_reconstructs():
    model = gaussian_model()
    x0 = 0.7 + 0.3 * torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    err = {}
    for steps in (50, 100):
        latent = ddim_invert(model.guided_fn(None, 1.0), model.make_sampler("ddim", steps), x0)
        assert 0.8 < latent.std() < 1.2  # close to N(0, I)
        back = model.sample(64, noise=latent, sampler="ddim", steps=steps)
        err[steps] = (back - x0).abs().mean().item()
    assert err[100] < 0.03 and err[100] < 0.6 * err[50], err  # first-order convergence


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm++2m", "heun"])
def test_inpainting_keeps_known_values_and_sdedit_stays_close(sampler):
    model = gaussian_model()
    x = 0.7 + 0.3 * torch.randn(32, 2, generator=torch.Generator().manual_seed(1))
    keep = torch.tensor([1.0, 0.0])
    fn, smp = model.guided_fn(None, 1.0), model.make_sampler(sampler, 20)
    out = inpaint(fn, smp, x, keep, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(out[:, 0], x[:, 0], atol=1e-5)
    assert not torch.allclose(out[:, 1], x[:, 1], atol=1e-2)
    smp = model.make_sampler(sampler, 50)
    near = sdedit(fn, smp, x, 0.05, generator=torch.Generator().manual_seed(3))
    far = sdedit(fn, smp, x, 1.0, generator=torch.Generator().manual_seed(3))
    assert (near - x).abs().mean() < 0.5 * (far - x).abs().mean()


def test_editing_pipelines_on_images():
    torch.manual_seed(0)
    model = gz.build("ddpm", shape=(1, 8, 8), block_out_channels=(8, 16), attention_levels=(1,), norm_num_groups=4,
                     num_train_timesteps=100, sample_steps=4).eval()
    image = torch.rand(2, 1, 8, 8) * 2 - 1
    mask = torch.zeros(8, 8)
    mask[2:5, 2:5] = 1  # repaint the centre, keep the rest (diffusers convention)
    out = InpaintPipeline(model)(image=image, mask_image=mask, generator=torch.Generator().manual_seed(0),
                                 output_type="tensor").images
    keep = (mask == 0).expand_as(image)
    assert torch.allclose(out[keep], ((image + 1) / 2)[keep], atol=1e-5)
    pil = Img2ImgPipeline(model)(image=InpaintPipeline(model)(image=image, mask_image=mask, output_type="pil",
                                                             generator=torch.Generator().manual_seed(0)).images,
                                 strength=0.5, generator=torch.Generator().manual_seed(0)).images
    assert len(pil) == 2 and pil[0].size == (8, 8)
    with pytest.raises(gz.ConfigError, match="strength"):
        Img2ImgPipeline(model)(image=image, strength=1.5)
    with pytest.raises(gz.ConfigError, match="does not match"):
        Img2ImgPipeline(model)(image=torch.zeros(1, 3, 8, 8))

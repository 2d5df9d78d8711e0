"""diffusers interop: UNet2DModel weights load by name and give the same output; diffusers pipeline
directories load into DiffusionPipeline (same images as diffusers' own pipeline); genzoo saves load in
diffusers; bad inputs give one-line errors."""
import json

import numpy as np
import pytest
import torch

diffusers = pytest.importorskip("diffusers")

import genzoo as gz  # noqa: E402
from genzoo.nn.unet import UNet2D, unet_kwargs_from_diffusers  # noqa: E402
from genzoo.pipelines.diffusion import DiffusionPipeline  # noqa: E402

LAYOUTS = {
    "bench": dict(sample_size=32, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(32, 64, 64),
                  down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                  up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"), norm_num_groups=8),
    "two-attn-classes": dict(sample_size=8, in_channels=3, out_channels=3, layers_per_block=2, block_out_channels=(16, 32, 32),
                             down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
                             up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"), norm_num_groups=8,
                             num_class_embeds=5, attention_head_dim=16),
}


def diffusers_unet(layout):
    torch.manual_seed(0)
    unet = diffusers.UNet2DModel(**LAYOUTS[layout]).eval()
    with torch.no_grad():  # non-trivial weights everywhere (diffusers zero-inits nothing, but be sure)
        for p in unet.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return unet


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_unet2dmodel_weights_give_the_same_output(layout):
    ref = diffusers_unet(layout)
    ours = UNet2D(**unet_kwargs_from_diffusers(dict(ref.config))).eval()
    assert list(ours.state_dict()) == list(ref.state_dict()) or set(ours.state_dict()) == set(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    cfg = LAYOUTS[layout]
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, cfg["in_channels"], cfg["sample_size"], cfg["sample_size"], generator=g)
    t = torch.tensor([5, 870])
    y = torch.tensor([0, 4]) if cfg.get("num_class_embeds") else None
    with torch.no_grad():
        a = ref(x, t, class_labels=y).sample
        b = ours(x, t, y)
        b_cl = ours.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last), t, y)
    assert (a - b).abs().max() < 1e-4
    assert (a - b_cl).abs().max() < 1e-4


def test_diffusers_pipeline_directory_gives_diffusers_images(tmp_path):
    unet = diffusers_unet("bench")
    unet.config  # noqa: B018
    sched = diffusers.DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction",
                                    timestep_spacing="trailing")
    ref_pipe = diffusers.DDIMPipeline(unet=unet, scheduler=sched)
    ref_pipe.set_progress_bar_config(disable=True)
    ref_pipe.save_pretrained(tmp_path / "d")
    ref = ref_pipe(batch_size=2, generator=torch.Generator().manual_seed(0), num_inference_steps=8, output_type="np").images

    pipe = DiffusionPipeline.from_pretrained(tmp_path / "d")
    assert pipe.sampler == "ddim" and pipe.model.prediction == "v_prediction"
    ours = pipe(batch_size=2, generator=torch.Generator().manual_seed(0), num_inference_steps=8, output_type="np").images
    assert ours.shape == ref.shape == (2, 32, 32, 1)
    assert np.abs(ours - ref).max() < 1e-4
    pil = pipe(batch_size=2, generator=torch.Generator().manual_seed(0), num_inference_steps=2, output_type="pil").images
    assert len(pil) == 2 and pil[0].size == (32, 32)


def tiny_image_ddpm(**kw):
    cfg = dict(shape=(1, 8, 8), block_out_channels=(8, 16), attention_levels=(1,), attention_head_dim=8,
               norm_num_groups=4, sampler="ddim", sample_steps=5, num_train_timesteps=100)
    cfg.update(kw)
    torch.manual_seed(0)
    return gz.build("ddpm", **cfg).eval()


def test_genzoo_save_is_a_diffusers_pipeline(tmp_path):
    model = tiny_image_ddpm(timestep_spacing="trailing")
    model.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "model_index.json").read_text())["scheduler"] == ["diffusers", "DDIMScheduler"]
    ref_pipe = diffusers.DDIMPipeline.from_pretrained(tmp_path / "m")
    ref_pipe.set_progress_bar_config(disable=True)
    ref = ref_pipe(batch_size=3, generator=torch.Generator().manual_seed(4), num_inference_steps=5, output_type="np",
                   use_clipped_model_output=True).images  # genzoo's image default (clip_sample=None)
    ours = DiffusionPipeline.from_pretrained(tmp_path / "m")(batch_size=3, generator=torch.Generator().manual_seed(4),
                                                             output_type="np").images
    assert np.abs(ours - ref).max() < 1e-4
    # the genzoo loader and the diffusers-layout loader build the same network
    from genzoo.pipelines.diffusion import load_diffusers_ddpm
    (tmp_path / "m" / "config.json").rename(tmp_path / "m" / "genzoo_config.json")
    again = load_diffusers_ddpm(tmp_path / "m")
    for (k, v), (k2, v2) in zip(model.state_dict().items(), again.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_bad_inputs_give_clear_errors(tmp_path):
    model = tiny_image_ddpm()
    pipe = DiffusionPipeline(model)
    with pytest.raises(gz.ConfigError, match="unknown sampler"):
        pipe(batch_size=1, sampler="dpm++9m")
    with pytest.raises(gz.ConfigError, match="training timesteps"):
        pipe(batch_size=1, num_inference_steps=101)
    with pytest.raises(gz.ConfigError, match="class-conditional"):
        pipe(batch_size=1, guidance_scale=3.0)
    with pytest.raises(gz.ConfigError, match="8x8"):
        pipe(batch_size=1, height=16, width=16)
    with pytest.raises(gz.DataError, match="shape"):
        model.loss(torch.randn(2, 1, 16, 16))
    with pytest.raises(gz.ConfigError, match="unknown sampler"):
        gz.build("ddpm", sampler="plms")
    unet = diffusers.UNet2DModel(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 8),
                                 down_block_types=("DownBlock2D", "SkipDownBlock2D"),
                                 up_block_types=("SkipUpBlock2D", "UpBlock2D"), norm_num_groups=4)
    diffusers.DDPMPipeline(unet=unet, scheduler=diffusers.DDPMScheduler()).save_pretrained(tmp_path / "skip")
    with pytest.raises(gz.CheckpointError, match="SkipDownBlock2D"):
        DiffusionPipeline.from_pretrained(tmp_path / "skip")
    unet2 = diffusers.UNet2DModel(**LAYOUTS["bench"])
    diffusers.DDPMPipeline(unet=unet2, scheduler=diffusers.PNDMScheduler()).save_pretrained(tmp_path / "pndm")
    with pytest.raises(gz.CheckpointError, match="PNDMScheduler"):
        DiffusionPipeline.from_pretrained(tmp_path / "pndm")

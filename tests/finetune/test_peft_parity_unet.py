"""LoRA on the diffusion U-Net crosses between genzoo and diffusers' ``UNet2DModel`` with PEFT's LoRA
injected (``peft.get_peft_model``): the same noise predictions (≤ 1e-5) both ways."""
import pytest
import torch

diffusers = pytest.importorskip("diffusers")
peft = pytest.importorskip("peft")

from finetune_helpers import randomize_adapters  # noqa: E402

import genzoo as gz  # noqa: E402
from genzoo.finetune import LoraConfig, inject_adapter, load_adapted, save_adapter  # noqa: E402

LAYOUT = dict(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 16),
              down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
              norm_num_groups=4, attention_head_dim=8)
TARGETS = ["to_q", "to_v", "to_out.0", "conv1", "conv_out", "linear_1"]


@pytest.fixture
def unet_dir(tmp_path):
    torch.manual_seed(0)
    unet = diffusers.UNet2DModel(**LAYOUT).eval()
    with torch.no_grad():
        for p in unet.parameters():
            p.add_(0.02 * torch.randn_like(p))
    unet.save_pretrained(tmp_path / "unet")
    return tmp_path / "unet"


def inputs():
    g = torch.Generator().manual_seed(1)
    return torch.randn(2, 1, 8, 8, generator=g), torch.tensor([3, 700])


def test_peft_lora_on_diffusers_unet_loads_in_genzoo(unet_dir, tmp_path):
    unet = diffusers.UNet2DModel.from_pretrained(unet_dir).eval()
    model = peft.get_peft_model(unet, peft.LoraConfig(r=4, lora_alpha=6, target_modules=TARGETS))
    randomize_adapters(model, scale=0.2)
    model.save_pretrained(tmp_path / "peft")
    x, t = inputs()
    with torch.no_grad():
        theirs = model(x, t).sample
        ours_model = load_adapted(tmp_path / "peft", base=unet_dir)
        ours = ours_model.net(x, t)
        plain = gz.load(unet_dir).net(x, t)
    assert (theirs - plain).abs().max() > 1e-3
    assert (ours - theirs).abs().max() <= 1e-5


def test_genzoo_lora_on_the_unet_loads_in_peft(unet_dir, tmp_path):
    ddpm = gz.load(unet_dir)
    inject_adapter(ddpm, LoraConfig(r=2, lora_alpha=2, target_modules=TARGETS))
    randomize_adapters(ddpm, scale=0.2)
    save_adapter(ddpm, tmp_path / "ours", base=unet_dir)
    x, t = inputs()
    with torch.no_grad():
        ours = ddpm.net(x, t)
        theirs = peft.PeftModel.from_pretrained(diffusers.UNet2DModel.from_pretrained(unet_dir).eval(), tmp_path / "ours")(x, t).sample
    assert (ours - theirs).abs().max() <= 1e-5
    assert gz.load(tmp_path / "ours").sample(2, generator=torch.Generator().manual_seed(0), steps=2).shape == (2, 1, 8, 8)

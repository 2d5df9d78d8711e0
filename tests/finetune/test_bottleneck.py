"""Bottleneck adapters (Houlsby et al., 2019): start equal to the base, train alone, round-trip through
the PEFT-style files, refuse to merge, and adapt a U-Net's resnet blocks over channels."""
import pytest
import torch

from finetune_helpers import ids, randomize_adapters, tiny_gpt

import genzoo as gz
from genzoo.errors import ConfigError
from genzoo.finetune import disable_adapters, inject_adapter, load_adapted, merge, save_adapter, trainable_parameters
from genzoo.finetune.bottleneck import BottleneckConfig


def test_bottleneck_on_gpt_roundtrip_and_no_merge(tmp_path):
    model = tiny_gpt()
    x = ids()
    with torch.no_grad():
        base_out = model(x)
    model.save_pretrained(tmp_path / "base")
    inject_adapter(model, BottleneckConfig(target_modules=["attn", "mlp"], bottleneck_size=4))
    trainable, total = trainable_parameters(model)
    assert trainable == 2 * 2 * (4 * 16 * 2 + 4 + 16)  # 2 layers x (attn, mlp) x (down, up, biases)
    with torch.no_grad():
        assert torch.equal(model(x), base_out)
    randomize_adapters(model)
    with torch.no_grad():
        adapted = model(x)
        with disable_adapters(model):
            assert torch.equal(model(x), base_out)
    assert (adapted - base_out).abs().max() > 1e-3
    assert torch.equal(model.generate(ids(1, 3), max_new_tokens=4, do_sample=False)[:, :3], ids(1, 3))
    with pytest.raises(ConfigError, match="cannot be merged"):
        merge(model)
    save_adapter(model, tmp_path / "ad", base=tmp_path / "base")
    with torch.no_grad():
        assert torch.equal(load_adapted(tmp_path / "ad")(x), adapted)


def test_bottleneck_on_unet_resnets():
    torch.manual_seed(0)
    ddpm = gz.build("ddpm", shape=(1, 8, 8), block_out_channels=(8, 16), attention_levels=(1,), attention_head_dim=8,
                    norm_num_groups=4, num_train_timesteps=100).eval()
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([1, 50])
    with torch.no_grad():
        base = ddpm.net(x, t)
    inject_adapter(ddpm, BottleneckConfig(target_modules=r"net\.(down|up)_blocks\.\d+\.resnets\.\d+", bottleneck_size=2))
    randomize_adapters(ddpm)
    with torch.no_grad():
        assert (ddpm.net(x, t) - base).abs().max() > 1e-3
    loss = ddpm.loss(torch.randn(4, 1, 8, 8))["loss"]
    loss.backward()
    assert all((p.grad is not None) == p.requires_grad for p in ddpm.parameters())

"""video-diffusion: the space-time U-Net mixes frames only through temporal attention; prediction keeps the
given frames and learns only the others; the CLI writes GIFs; bad clips fail in one line."""
from __future__ import annotations

import pytest
import torch

import genzoo as gz
from genzoo.errors import ConfigError, DataError
from genzoo.models.video_diffusion import VideoDiffusion, VideoDiffusionConfig
from genzoo.nn.video_unet import VideoUNet
from genzoo.video_gif import read_gif, save_gif

from cli_run import run_cli


def tiny(**kw) -> VideoDiffusion:
    torch.manual_seed(0)
    config = VideoDiffusionConfig(shape=(6, 1, 8, 8), block_out_channels=(8, 16), norm_num_groups=4, attention_head_dim=8,
                                  num_train_timesteps=50, sample_steps=3, **kw)
    return VideoDiffusion(config).eval()


def randomise_temporal(net: VideoUNet) -> None:
    for name, p in net.named_parameters():
        if "temporal" in name:
            torch.nn.init.normal_(p, std=0.3)


def test_frames_interact_only_through_temporal_attention():
    net = VideoUNet(1, 6, block_out_channels=(8, 16), norm_num_groups=4, attention_head_dim=8).eval()
    x = torch.randn(2, 6, 1, 8, 8)
    y = x.clone()
    y[:, 0] += 1.0
    with torch.no_grad():   # zero-initialised output projections: a per-frame image model at init
        assert torch.allclose(net(x, 10)[:, 1:], net(y, 10)[:, 1:], atol=1e-6)
        randomise_temporal(net)
        out_x, out_y = net(x, 10), net(y, 10)
    assert (out_x[:, 1:] - out_y[:, 1:]).abs().max() > 1e-3
    assert out_x.shape == x.shape


def test_temporal_levels_are_checked():
    with pytest.raises(ConfigError, match="temporal_levels"):
        VideoUNet(1, 6, block_out_channels=(8, 16), norm_num_groups=4, temporal_levels=(2,))


def test_context_frames_get_no_loss(monkeypatch):
    model = tiny(context_frames=2, context_dropout=0.0).train()
    outputs = []
    real_forward = model.net.forward

    def spy(*args, **kw):
        out = real_forward(*args, **kw)
        out.retain_grad()
        outputs.append(out)
        return out

    monkeypatch.setattr(model.net, "forward", spy)
    x = torch.rand(4, 6, 1, 8, 8) * 2 - 1
    model.loss(x)["loss"].backward()
    grad = outputs[0].grad
    assert grad[:, :2].abs().max() == 0 and grad[:, 2:].abs().min() > 0


def test_prediction_keeps_the_context_and_is_seeded():
    model = tiny(context_frames=2, num_classes=3)
    context = torch.rand(3, 2, 1, 8, 8) * 2 - 1
    a = model.sample(99, context=context, generator=torch.Generator().manual_seed(0), class_labels=[0, 1, 2],
                     guidance_scale=2.0)
    b = model.sample(3, context=context, generator=torch.Generator().manual_seed(0), class_labels=[0, 1, 2],
                     guidance_scale=2.0)
    assert a.shape == (3, 6, 1, 8, 8) and torch.equal(a, b) and torch.equal(a[:, :2], context.clamp(-1, 1))
    free = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(free[:, :2], a[:, :2])


def test_bad_context_is_a_one_line_error():
    model = tiny(context_frames=2)
    with pytest.raises(DataError, match="context clips have 3 frames but 2 are needed"):
        model.sample(1, context=torch.zeros(1, 3, 1, 8, 8))
    with pytest.raises(ConfigError, match="trained without context frames"):
        tiny().sample(1, context=torch.zeros(1, 2, 1, 8, 8))
    with pytest.raises(ConfigError, match="context_frames=6 must be in 0..5"):
        tiny(context_frames=6)
    with pytest.raises(DataError, match="ddpm was built for examples of shape"):
        tiny().loss(torch.zeros(2, 4, 1, 8, 8))


def test_build_for_moving_digits_uses_the_kind_defaults():
    model = gz.build("video-diffusion", data="moving-digits")
    c = model.config
    assert c.shape == (12, 1, 16, 16) and c.num_classes == 8 and c.context_frames == 4
    assert VideoDiffusion.budget_for_kind("video")["batch_size"] == 24


def test_gif_round_trip(tmp_path):
    clips = (torch.rand(2, 5, 1, 8, 8) > 0.5).float() * 2 - 1
    frames = read_gif(save_gif(clips, tmp_path / "c.gif"))
    assert frames.shape[0] == 5 and frames.shape[1] == 1
    with pytest.raises(DataError, match="video clips"):
        save_gif(torch.zeros(2, 1, 8, 8), tmp_path / "bad.gif")
    (tmp_path / "x.gif").write_text("not a gif")
    with pytest.raises(DataError, match="cannot read"):
        read_gif(tmp_path / "x.gif")


def test_cli_train_and_sample_gif(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_cli(["train", "video-diffusion", "--data", "moving-digits", "--data-arg", "frames=8",
                            "--steps", "2", "--batch-size", "4", "--out", run, "--set", "block_out_channels=8,16",
                            "--set", "temporal_levels=1", "--set", "norm_num_groups=4", "--set", "sample_steps=2",
                            "--no-progress"], capsys)
    assert code == 0, err
    code, out, err = run_cli(["sample", run, "-n", "3", "--out", tmp_path / "s.gif"], capsys)
    assert code == 0, err
    assert read_gif(tmp_path / "s.gif").shape[0] == 8
    code, _, err = run_cli(["sample", run, "-n", "3", "--out", tmp_path / "s.png"], capsys)
    assert code == 0 and (tmp_path / "s.png").is_file()


def test_cli_gif_of_non_video_samples_is_a_one_line_error(tmp_path, capsys):
    run = tmp_path / "g"
    assert run_cli(["train", "gaussian", "--data", "moons", "--steps", "2", "--out", run, "--no-progress"], capsys)[0] == 0
    code, _, err = run_cli(["sample", run, "-n", "3", "--out", tmp_path / "s.gif"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "video clips" in lines[0]
    assert not (tmp_path / "s.gif").exists()

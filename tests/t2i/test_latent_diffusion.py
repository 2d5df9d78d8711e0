"""latent-diffusion: guidance arithmetic, prompts, two-stage training, samplers, pipelines, CLI and bad input."""
import pytest
import torch

import genzoo as gz
from genzoo.errors import ConfigError, DataError
from genzoo.features.text_tokens import empty_ids, tokenize
from genzoo.models.latent_diffusion import LatentDiffusion, LatentDiffusionConfig

TINY = dict(shape=(3, 8, 8), latent_channels=4, ae_block_out_channels=(8, 8), ae_norm_num_groups=4,
            block_out_channels=(16, 16), attention_levels=(1,), attention_head_dim=8, caption_length=8,
            num_train_timesteps=50, sample_steps=3, autoencoder_steps=2)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = LatentDiffusion(LatentDiffusionConfig(**TINY, scaling_factor=0.9)).eval()
    with torch.no_grad():  # a U-Net whose output depends on the context
        for p in m.net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m


def g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_classifier_free_guidance_is_the_extrapolation(model):
    z, t = torch.randn(2, 4, 4, 4), torch.tensor(20)
    ids = tokenize(["a red circle", "a blue square"], 8)
    ctx, unc = model.context(ids), model.context(torch.stack([empty_ids(8)] * 2))
    with torch.no_grad():
        cond, plain = model.net(z, t, ctx), model.net(z, t, unc)
        assert torch.allclose(model.text_guided_fn(ctx, unc, 4.0)(z, t), plain + 4.0 * (cond - plain), atol=1e-5)
        assert torch.allclose(model.text_guided_fn(ctx, unc, 1.0)(z, t), cond)
        neg = model.context(tokenize(["a green ring"] * 2, 8))
        guided = model.prompt_fn(2, ["a red circle", "a blue square"], "a green ring", 4.0)(z, t)
        assert torch.allclose(guided, model.net(z, t, neg) + 4.0 * (cond - model.net(z, t, neg)), atol=1e-5)


def test_prompts_seeds_and_every_sampler(model):
    a = model.sample(2, prompt="a red circle", generator=g())
    assert a.shape == (2, 3, 8, 8) and a.abs().max() <= 1
    assert torch.equal(a, model.sample(2, prompt="a red circle", generator=g()))
    assert not torch.equal(a, model.sample(2, prompt="a blue square", generator=g()))
    assert not torch.equal(a, model.sample(2, prompt="a red circle", negative_prompt="a red ring", generator=g()))
    # the empty prompt is the unconditional model, so guidance changes nothing
    assert torch.allclose(model.sample(2, prompt="", guidance_scale=5, generator=g()), model.sample(2, generator=g(), guidance_scale=1), atol=1e-4)
    for sampler in ("ddpm", "ddim", "dpm++2m", "euler", "heun"):
        x = model.sample(1, prompt="a red circle", sampler=sampler, steps=3, generator=g())
        assert x.shape == (1, 3, 8, 8) and torch.isfinite(x).all()


def test_bad_input_is_one_line(model):
    for bad in (0.5, 0.0, -2):
        with pytest.raises(ConfigError, match="guidance scale must be >= 1") as e:
            model.sample(1, prompt="x", guidance_scale=bad)
        assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="3 prompts for 2 images"):
        model.sample(2, prompt=["a", "b", "c"])
    with pytest.warns(UserWarning, match="truncated"):
        model.sample(1, prompt="a small red circle at the top left " * 3, generator=g())
    with pytest.raises(DataError, match="captioned images"):
        gz.build("latent-diffusion", "shapes", **{k: v for k, v in TINY.items() if k != "shape"})
    with pytest.raises(ConfigError, match="class labels"):
        LatentDiffusion(LatentDiffusionConfig(**TINY, num_classes=3))


def test_two_stages_train_their_own_part_and_fit_the_scale():
    torch.manual_seed(0)
    m = LatentDiffusion(LatentDiffusionConfig(**TINY, label_dropout=0.5))
    x = torch.rand(8, 3, 8, 8) * 2 - 1
    batch = (x, tokenize(["a red circle", "a blue square"] * 4, 8))
    opts = m.configure_optimizers(1e-3)
    ae0, net0 = [p.clone() for p in m.autoencoder.parameters()], [p.clone() for p in m.net.parameters()]
    logs = m.training_step(batch, 0, optimizers=opts)
    assert logs["stage"] == 1 and all(torch.equal(a, b) for a, b in zip(net0, m.net.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(ae0, m.autoencoder.parameters()))
    assert m.config.scaling_factor is not None
    ae1 = [p.clone() for p in m.autoencoder.parameters()]
    logs = m.training_step(batch, 2, optimizers=opts)
    assert logs["stage"] == 2 and all(torch.equal(a, b) for a, b in zip(ae1, m.autoencoder.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(net0, m.net.parameters()))


def test_prompt_dropout_uses_the_empty_prompt(monkeypatch):
    torch.manual_seed(0)
    m = LatentDiffusion(LatentDiffusionConfig(**TINY, label_dropout=1.0))
    seen = []
    monkeypatch.setattr(m, "context", lambda ids: seen.append(ids) or torch.zeros(len(ids), 8, 384))
    m.loss((torch.rand(4, 3, 8, 8) * 2 - 1, tokenize(["a red circle"] * 4, 8)))
    assert torch.equal(seen[0], torch.stack([empty_ids(8)] * 4))


def test_trainer_run_saves_and_generates_from_the_cli(tmp_path, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "cli"))
    from cli_run import run_cli

    data = gz.load_dataset("digits-captions")
    over = {k: v for k, v in TINY.items() if k not in ("shape", "latent_channels", "caption_length")}
    model = gz.build("latent-diffusion", data, **over)
    assert model.config.caption_length == 16 and model.latent_shape == (2, 4, 4)
    gz.Trainer(model, data, steps=4, batch_size=8, out=tmp_path / "run", seed=0).fit()
    run = tmp_path / "run"
    assert (run / "unet" / "config.json").is_file() and (run / "vae" / "config.json").is_file()
    code, out, err = run_cli(["generate", run, "a handwritten seven", "-n", "3", "--guidance", "2", "--out",
                              tmp_path / "x.png"], capsys)
    assert code == 0 and (tmp_path / "x.png").is_file() and "3 images" in out, err
    code, out, err = run_cli(["generate", run, "", "-n", "2", "--out", tmp_path / "u.png"], capsys)
    assert code == 0 and "empty prompt: sampling the unconditional model" in err
    code, out, err = run_cli(["generate", run, "a handwritten seven " * 8, "--out", tmp_path / "l.png"], capsys)
    assert code == 0 and "warning: 1 prompt(s) of up to 34 tokens truncated" in err
    code, out, err = run_cli(["generate", run, "a seven", "--guidance", "0.5", "--out", tmp_path / "y.png"], capsys)
    assert code == 2 and err.strip() == "error: guidance scale must be >= 1 (1 = no guidance, 3-7 typical), got 0.5"
    assert not (tmp_path / "y.png").exists()


def test_pipelines(model, tmp_path):
    from genzoo.pipelines import pipeline

    model.save_pretrained(tmp_path / "m")
    pipe = pipeline("text-to-image", model=str(tmp_path / "m"))
    out = pipe(["a red circle", "a blue square"], num_images_per_prompt=2, generator=g(), guidance_scale=2.0)
    assert len(out.images) == 4 and out.images[0].size == (8, 8)
    assert out.provenance["prompt"][0] == "a red circle" and out.provenance["guidance_scale"] == 2.0
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    i2i = pipeline("image-to-image", model=model)
    a = i2i("a red circle", image=x, strength=0.3, generator=g(), output_type="pt").images
    b = i2i("a red circle", image=x, strength=1.0, generator=g(), output_type="pt").images
    assert a.shape == (2, 3, 8, 8) and not torch.equal(a, b)
    mask = torch.zeros(8, 8)
    mask[:, 4:] = 1
    filled = pipeline("inpainting", model=model)("a red circle", image=x, mask_image=mask, generator=g(), output_type="pt").images
    assert torch.allclose(filled[..., :4] * 2 - 1, x[..., :4], atol=1e-5)  # known pixels kept exactly
    assert not torch.allclose(filled[..., 4:] * 2 - 1, x[..., 4:], atol=1e-2)
    with pytest.raises(ConfigError, match="latent-diffusion model"):
        pipeline("text-to-image", model=gz.build("ddpm", "moons"))

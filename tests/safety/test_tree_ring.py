"""Tree-Ring image watermark: the key in the noise's spectrum, detection by DDIM inversion, the CLI."""
import json

import pytest
import torch
from safety_helpers import cli

from genzoo.errors import ConfigError, DataError
from genzoo.models.diffusion import DDPM, DDPMConfig
from genzoo.safety.tree_ring import (TreeRingKey, detect, key_pattern, sample_watermarked, score_latents, spectrum,
                                     watermarked_noise)

STEPS = 10


@pytest.fixture(scope="module")
def model():
    """A tiny untrained U-Net ddpm on 1x16x16 images (inversion is not exact: 10 DDIM steps)."""
    torch.manual_seed(0)
    cfg = DDPMConfig(shape=(1, 16, 16), block_out_channels=(8, 16), attention_levels=(), mid_attention=False,
                     norm_num_groups=4, num_train_timesteps=100, sample_steps=STEPS)
    return DDPM(cfg).eval()


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("kind,size", [("rings", 16), ("rand", 16), ("rand", 15)])
def test_key_pattern_is_in_the_noise_spectrum_and_nothing_else_changes(kind, size):
    key = TreeRingKey(11, radius=3, channel=1, pattern=kind)
    x = watermarked_noise((4, 3, size, size), key, gen())
    plain = torch.randn((4, 3, size, size), generator=gen())
    pattern, mask = key_pattern(key, size, size)
    assert int(mask.sum()) == 29 and pattern[mask].abs().min() > 0 and (pattern[~mask] == 0).all()
    f, f0 = spectrum(x[:, 1]), spectrum(plain[:, 1])
    torch.testing.assert_close(f[:, mask], pattern[mask].expand(4, -1), atol=1e-5, rtol=0)  # the noise is real: exact
    torch.testing.assert_close(f[:, ~mask], f0[:, ~mask], atol=1e-5, rtol=0)   # only the disc is rewritten
    assert torch.equal(x[:, [0, 2]], plain[:, [0, 2]])                       # other channels untouched
    assert not torch.allclose(x[:, 1], plain[:, 1])
    c = size // 2
    if kind == "rings":
        rings = pattern[c, c:c + 4]  # centre and rings 1..3 along a row: ring 1 includes the centre
        assert rings[0] == rings[1] and len(set(rings[1:].tolist())) == 3 and (pattern.imag == 0).all()
    else:  # a value per coefficient, conjugate-symmetric about the centre
        assert len(set(pattern[mask].tolist())) == 1 + (29 - 1) // 2 * 2 and pattern[c, c].imag == 0
        torch.testing.assert_close(pattern[c + 1, c + 2], pattern[c - 1, c - 2].conj())
    band, band_mask = key_pattern(TreeRingKey(11, radius=3, inner=1, pattern=kind), size, size)  # rings 2..3 only
    assert int(band_mask.sum()) == 29 - 5 and not (band_mask[c - 1:c + 2, c].any() or band_mask[c, c - 1:c + 2].any())
    assert torch.equal(band[band_mask], pattern[band_mask])


def test_rand_keys_differ_per_coefficient_and_are_named_apart():
    rings, rand = TreeRingKey(11, pattern="rings"), TreeRingKey(11)
    assert rand.pattern == "rand" and rings.key_id != rand.key_id
    p = key_pattern(rand, 16, 16)[0]
    assert 0.6 < float(p[p != 0].abs().pow(2).mean()) < 1.6  # white-noise scale
    with pytest.raises(ConfigError, match="watermark pattern must be one of rings, rand"):
        TreeRingKey(1, pattern="square")


@pytest.mark.parametrize("kind", ["rings", "rand"])
def test_wrong_keys_on_a_perfectly_inverted_watermark(kind):
    """Noise watermarked with one key, scored under 200 others (the inversion exact): a rings key is 4
    numbers and the chi-square test accepts many wrong ones; a rand key's 49 values keep them near alpha."""
    latents = watermarked_noise((20, 1, 16, 16), TreeRingKey(3, pattern=kind), gen(2))
    own = score_latents(latents, TreeRingKey(3, pattern=kind))["p_value"]
    wrong = torch.stack([score_latents(latents, TreeRingKey(k, pattern=kind))["p_value"] for k in range(100, 300)])
    assert (own < 1e-6).all()
    rate = float((wrong < 0.01).double().mean())
    assert (rate < 0.03) if kind == "rand" else (rate > 0.1), rate


def test_p_value_is_calibrated_on_gaussian_noise():
    p = score_latents(torch.randn(4000, 1, 16, 16, generator=gen(1)), TreeRingKey(5))["p_value"]
    assert 0.004 < float((p < 0.01).double().mean()) < 0.02
    assert 0.45 < float(p.mean()) < 0.55


def test_same_key_and_seed_same_images(model):
    a = sample_watermarked(model, 3, 7, generator=gen(3))
    b = sample_watermarked(model, 3, 7, generator=gen(3))
    c = sample_watermarked(model, 3, 8, generator=gen(3))
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_inversion_separates_watermarked_from_clean_and_wrong_keys(model):
    marked = sample_watermarked(model, 8, 7, generator=gen(4))
    clean = model.sample(8, generator=gen(4), sampler="ddim", eta=0.0)
    wm, cl = detect(model, marked, 7, steps=STEPS), detect(model, clean, 7, steps=STEPS)
    assert all(r["watermarked"] and r["p_value"] < 1e-6 for r in wm), wm
    assert not any(r["watermarked"] for r in cl), cl
    assert max(r["distance"] for r in wm) < 0.8 * min(r["distance"] for r in cl)
    assert max(r["p_value"] for r in wm) < 1e-6 < 1e-2 < min(r["p_value"] for r in cl)
    assert not any(r["watermarked"] for r in detect(model, marked, 8, steps=STEPS))  # wrong key


def test_empty_and_blank_inputs_are_never_watermarked(model):
    assert detect(model, torch.zeros(0, 1, 16, 16), 7) == []
    for v in (-1.0, 0.0, 1.0):
        res = detect(model, torch.full((1, 1, 16, 16), v), 7, steps=STEPS)[0]
        assert res["watermarked"] is False and res["p_value"] == 1.0
    zeros = score_latents(torch.zeros(2, 1, 16, 16), TreeRingKey(7))
    assert zeros["degenerate"].all() and (zeros["p_value"] == 1).all()


def test_bad_keys_shapes_and_images_are_one_line_errors(model):
    with pytest.raises(ConfigError, match="key"):
        TreeRingKey(-1)
    with pytest.raises(ConfigError, match="inner radius"):
        TreeRingKey(1, radius=3, inner=3)
    with pytest.raises(ConfigError, match="radius 8 does not fit"):
        watermarked_noise((1, 1, 16, 16), TreeRingKey(1, radius=8))
    with pytest.raises(ConfigError, match="channel 1"):
        watermarked_noise((1, 1, 16, 16), TreeRingKey(1, channel=1))
    with pytest.raises(ConfigError, match="deterministic DDIM"):
        sample_watermarked(model, 1, 1, sampler="dpm++2m")
    with pytest.raises(DataError, match="do not match"):
        detect(model, torch.zeros(2, 3, 16, 16), 1)
    with pytest.raises(DataError, match="NaN"):
        detect(model, torch.full((1, 1, 16, 16), float("nan")), 1)


# --- command line --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run_dir(model, tmp_path_factory):
    d = tmp_path_factory.mktemp("tr") / "m"
    model.save_pretrained(d)
    return d


@pytest.mark.parametrize("kind", ["rings", "rand"])
def test_cli_sample_watermarked_then_detect_json(run_dir, tmp_path, capsys, kind):
    out = tmp_path / "wm"
    code, stdout, err = cli(["sample", str(run_dir), "-n", "3", "--watermark-key", "5", "--watermark-pattern", kind,
                             "--out", str(out)], capsys)
    assert code == 0 and sorted(p.name for p in out.iterdir()) == ["000000.png", "000001.png", "000002.png"], err
    code, stdout, err = cli(["sample", str(run_dir), "-n", "2", "--seed", "1", "--out", str(tmp_path / "c.safetensors")], capsys)
    assert code == 0, err
    for image, key, expect in ((out, 5, [True] * 3), (out, 6, [False] * 3), (tmp_path / "c.safetensors", 5, [False] * 2)):
        code, stdout, err = cli(["watermark", "detect", str(run_dir), "--key", str(key), "--image", str(image),
                                 "--steps", str(STEPS), "--pattern", kind, "--json"], capsys)
        assert code == 0, err
        rows = [json.loads(line) for line in stdout.splitlines()]
        assert [r["watermarked"] for r in rows] == expect, rows
        assert all({"image", "distance", "p_value", "watermarked"} <= set(r) for r in rows)
    code, stdout, _ = cli(["watermark", "detect", str(run_dir), "--key", "5", "--image", str(out / "000000.png"),
                           "--steps", str(STEPS), "--pattern", kind], capsys)
    assert code == 0 and "000000.png: watermarked: distance = " in stdout


def test_cli_image_errors_are_one_line(run_dir, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.png").write_text("not a picture")
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "t.txt").write_text("the fox")
    cases = [(["--image", str(tmp_path / "empty")], "holds no image files"),
             (["--image", str(tmp_path / "notes.png")], "not an image Pillow can read"),
             (["--image", str(tmp_path / "zero.png")], "not an image Pillow can read"),
             (["--image", str(tmp_path / "missing.png")], "does not exist"),
             (["--image", str(tmp_path / "notes.png"), "--text-file", str(tmp_path / "t.txt")], "exactly one"),
             ([], "exactly one"),
             (["--image", str(tmp_path / "notes.png"), "--radius", "9"], "does not fit"),
             (["--image", str(tmp_path / "notes.png"), "--key", "-2"], "key"),
             (["--image", str(tmp_path / "notes.png"), "--pattern", "dots"], "pattern must be one of rings, rand")]
    for extra, match in cases:
        args = ["watermark", "detect", str(run_dir), *(["--key", "1"] if "--key" not in extra else []), *extra]
        code, _, err = cli(args, capsys)
        assert code == 2 and err.count("\n") == 1 and match in err, (extra, err)
    code, _, err = cli(["sample", str(run_dir), "-n", "1", "--watermark-key", "1", "--sampler", "dpm++2m"], capsys)
    assert code == 2 and err.count("\n") == 1 and "deterministic DDIM" in err, err

"""genzoo edit (inpaint / img2img / interpolate) end to end on a tiny saved ddpm; slerp; masks."""
from __future__ import annotations

import math

import pytest
import torch
import typer
from typer.testing import CliRunner

import genzoo as gz
from ddpm_helpers import tiny_ddpm_dir
from genzoo.cli.edit import edit
from genzoo.editing import ddim_interpolate, region_mask, slerp


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_ddpm_dir(tmp_path_factory.mktemp("edit"))


def cli():
    app = typer.Typer()
    app.command()(edit)
    app.command("noop")(lambda: None)  # two commands so typer keeps the sub-command name
    return app


@pytest.mark.parametrize("args", [["--mode", "inpaint", "--mask", "left"],
                                  ["--mode", "inpaint", "--mask", "1,1,5,6"],
                                  ["--mode", "img2img", "--strength", "0.5"],
                                  ["--mode", "interpolate", "--frames", "3", "--steps", "5"]])
def test_edit_modes_write_a_grid(run_dir, tmp_path, args):
    out = tmp_path / "grid.png"
    res = CliRunner().invoke(cli(), ["edit", str(run_dir), "--data", "digits", "--index", "0,1", "--out", str(out), *args])
    assert res.exit_code == 0, res.output
    assert out.is_file() and out.stat().st_size > 0


def test_edit_from_png_and_errors(run_dir, tmp_path):
    from PIL import Image

    png = tmp_path / "in.png"
    Image.new("L", (16, 16), 128).save(png)
    res = CliRunner().invoke(cli(), ["edit", str(run_dir), "--image", str(png), "--mode", "img2img", "--out", str(tmp_path / "o.png")])
    assert res.exit_code == 0, res.output
    for bad, msg in ([["--mode", "warp", "--data", "digits"], "--mode"], [["--mode", "inpaint"], "--image"],
                     [["--data", "digits", "--index", "x"], "--index"], [["--data", "digits", "--mask", "oops"], "mask"]):
        res = CliRunner().invoke(cli(), ["edit", str(run_dir), *bad])
        assert isinstance(res.exception, gz.ConfigError) and msg in str(res.exception), (bad, res.exception)


def test_slerp():
    a, b = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 3.0]])
    assert torch.equal(slerp(a, b, 0.0), a) and torch.allclose(slerp(a, b, 1.0), b, atol=1e-6)
    mid = slerp(a, b, 0.5)
    assert torch.allclose(mid.norm(), torch.tensor(3.0)) and torch.allclose(mid, torch.full((1, 2), 3 / math.sqrt(2)))
    assert torch.allclose(slerp(a, 2 * a, 0.5), 1.5 * a)           # parallel: linear


def test_interpolation_endpoints_are_the_ddim_reconstructions(run_dir):
    model = gz.load(run_dir)
    x = gz.load_dataset("digits", split="test").x[:2]
    frames = ddim_interpolate(model, x[:1], x[1:], frames=3, steps=5)
    assert frames.shape == (3, 1, 8, 8)
    from genzoo.samplers.editing import ddim_invert

    smp, fn = model.make_sampler("ddim", 5, eta=0.0), model.guided_fn(None, 1.0)
    recon = model.sample(1, noise=ddim_invert(fn, smp, x[:1]), sampler="ddim", steps=5)
    assert torch.allclose(frames[0], recon[0], atol=1e-5)


def test_region_masks():
    assert region_mask("center", 8, 8).sum() == 16 and region_mask("top", 8, 8)[:4].all()
    with pytest.raises(gz.ConfigError, match="outside"):
        region_mask("0,0,9,9", 8, 8)

"""The classifier safety checker: flags on held-out digits, blackout in DiffusionPipeline, sample --safety-forbid."""
import numpy as np
import pytest
import torch

import genzoo as gz
from genzoo.errors import ConfigError, DataError
from genzoo.pipelines.diffusion import DiffusionPipeline
from genzoo.safety.image_checker import ClassifierSafetyChecker, apply_safety_checker
from safety_helpers import cli


@pytest.fixture(scope="module")
def digits():
    from genzoo.data import load_dataset

    return load_dataset("digits", split="test")  # held out from the classifier's training


@pytest.fixture(scope="module")
def checker():
    return ClassifierSafetyChecker(forbidden=[7], threshold=0.5)


def test_flags_the_forbidden_class_on_held_out_digits(digits, checker):
    res = checker(digits.x)
    truth = digits.y == 7
    tp = (res.flags & truth).sum().item()
    assert tp / truth.sum().item() >= 0.95 and tp / res.flags.sum().item() >= 0.95  # recall, precision
    assert torch.equal(res.flags, res.scores >= 0.5) and torch.equal(res.flags, res.predicted == 7)
    assert ((res.scores >= 0) & (res.scores <= 1)).all()
    both = ClassifierSafetyChecker(forbidden=["7", 1])(digits.x)
    assert torch.equal(both.flags, (both.predicted == 7) | (both.predicted == 1))


def test_blackout_replaces_only_flagged_images(digits, checker):
    x = digits.x[:40]
    out, flags = apply_safety_checker(checker, x)
    flags = torch.tensor(flags)
    assert flags.any() and not flags.all()
    assert (out[flags] == -1).all() and torch.equal(out[~flags], x[~flags])
    assert apply_safety_checker(None, x) == (x, None)
    with pytest.raises(DataError, match="returned 1 flags for 40 images"):
        apply_safety_checker(lambda imgs: ([True], None), x)


def _tiny_ddpm():
    torch.manual_seed(0)
    return gz.build("ddpm", shape=(1, 8, 8), block_out_channels=(8, 16), attention_levels=(1,), norm_num_groups=4,
                    layers_per_block=1, sample_steps=2).eval()


def test_pipeline_blacks_out_flagged_images_and_reports_them(digits, checker):
    model = _tiny_ddpm()
    sevens = (digits.y == 7).nonzero()[:2, 0].tolist()
    others = (digits.y != 7).nonzero()[:3, 0].tolist()
    batch = digits.x[[sevens[0], others[0], others[1], sevens[1], others[2]]]
    model.sample = lambda n, **kw: batch[:n].clone()  # the "generated" images: real digits, two of them 7s
    out = DiffusionPipeline(model, safety_checker=checker)(batch_size=5, output_type="pt")
    assert out.flagged == [True, False, False, True, False]
    assert (out.images[[0, 3]] == 0).all() and torch.allclose(out.images[[1, 2, 4]], (batch[[1, 2, 4]] + 1) / 2)
    images, flagged = DiffusionPipeline(model, safety_checker=checker)(batch_size=5, output_type="pil", return_dict=False)
    assert flagged == out.flagged and np.asarray(images[0]).max() == 0 and np.asarray(images[1]).max() > 0
    assert DiffusionPipeline(model)(batch_size=2, output_type="pt").flagged is None


def test_checker_bad_input():
    with pytest.raises(ConfigError, match="unknown class 'dog'.*0, 1, 2"):
        ClassifierSafetyChecker(forbidden=["dog"])
    with pytest.raises(ConfigError, match="threshold"):
        ClassifierSafetyChecker(forbidden=[7], threshold=0)
    assert ClassifierSafetyChecker(forbidden=["ring"], classifier="shapes").forbidden == [5]
    with pytest.raises(DataError, match="batch of images"):
        ClassifierSafetyChecker(forbidden=[7])(torch.zeros(8, 8))
    with pytest.raises(DataError, match="1-channel"):
        ClassifierSafetyChecker(forbidden=[7])(torch.zeros(2, 3, 8, 8))


# ----------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def ddpm_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("safety") / "ddpm"
    _tiny_ddpm().save_pretrained(d)
    return d


def test_cli_sample_safety_forbid(ddpm_dir, tmp_path, capsys):
    from genzoo.serialization import load_tensors

    out = tmp_path / "s.safetensors"
    code, stdout, err = cli(["sample", str(ddpm_dir), "-n", "12", "--out", str(out), "--safety-forbid", "7"], capsys)
    assert code == 0, err
    k = int(stdout.split("safety checker: ")[1].split(" of 12")[0])
    black = (load_tensors(out)["samples"] == -1).flatten(1).all(1)
    assert black.sum().item() == k
    code, stdout, err = cli(["sample", str(ddpm_dir), "-n", "12", "--out", str(out), "--safety-forbid",
                             ",".join(map(str, range(10)))], capsys)
    assert code == 0 and "12 of 12 images flagged" in stdout and (load_tensors(out)["samples"] == -1).all()


@pytest.mark.parametrize("extra, message", [
    (["--safety-forbid", "eleven"], "error: unknown class 'eleven'"),
    (["--safety-forbid", "7", "--safety-threshold", "2"], "error: safety threshold"),
    (["--safety-forbid", "7", "--safety-classifier", "cats"], "error: no feature extractor weights"),
])
def test_cli_sample_safety_errors_are_one_line(ddpm_dir, capsys, extra, message):
    code, _, err = cli(["sample", str(ddpm_dir), "-n", "2", *extra], capsys)
    assert code == 2 and err.startswith(message) and err.count("\n") == 1, err


def test_cli_sample_safety_on_text_model_is_one_line(tmp_path, capsys):
    from genzoo.models.gpt import GPT, GPTConfig

    GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=1, n_embd=8)).save_pretrained(tmp_path / "gpt")
    code, _, err = cli(["sample", str(tmp_path / "gpt"), "-n", "2", "--safety-forbid", "7"], capsys)
    assert code == 2 and err.startswith("error: --safety-forbid checks images") and err.count("\n") == 1, err

"""gz.load / genzoo eval / sample / generate on directories written by transformers and diffusers
(tiny random-weight models built here; nothing downloaded), and one-line errors for the rest."""
from __future__ import annotations

import json

import pytest
import torch

import genzoo as gz
from genzoo.cli.main import main
from genzoo.data.tokenizers import Tokenizer
from genzoo.models.gpt import GPT

transformers = pytest.importorskip("transformers")
diffusers = pytest.importorskip("diffusers")

TEXT = "def add(a, b):\n    return a + b\n\nclass Point:\n    x = 0\n    y = 1\n" * 40


def run(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    return info.value.code, capsys.readouterr().err


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "code.py"
    path.write_text(TEXT)
    return path


@pytest.fixture(scope="module")
def hf_gpt2(tmp_path_factory, text_file):
    """A char-level GPT-2 saved by transformers, plus the tokenizer.json genzoo reads beside it."""
    d = tmp_path_factory.mktemp("hf") / "gpt2"
    tok = Tokenizer.train_char(text_file.read_text()[: int(0.9 * len(TEXT))])
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=tok.vocab_size, n_positions=48,
                                  bos_token_id=0, eos_token_id=0)
    transformers.GPT2LMHeadModel(cfg).eval().save_pretrained(d)
    tok.save(d)
    return d


def tiny_unet():
    torch.manual_seed(0)
    return diffusers.UNet2DModel(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 16),
                                 down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                                 up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=4, attention_head_dim=8)


def test_load_gpt2_dir_equals_from_pretrained(hf_gpt2):
    model, ref = gz.load(hf_gpt2), GPT.from_pretrained(hf_gpt2)
    hf = transformers.GPT2LMHeadModel.from_pretrained(hf_gpt2).eval()
    x = torch.randint(0, model.config.vocab_size, (2, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))
        assert (model(x) - hf(x).logits).abs().max() < 1e-4
    assert model.tokenizer is not None and model.tokenizer.vocab_size == model.config.vocab_size


def test_eval_gpt2_dir_reads_text_with_its_tokenizer(hf_gpt2, text_file, capsys):
    main(["eval", str(hf_gpt2), "--data", f"text:{text_file}", "--metrics", "nll", "--json"])
    nll = json.loads(capsys.readouterr().out)["nll"]
    # the same number by hand: the test split encoded with the directory's tokenizer, 48-token blocks
    model = gz.load(hf_gpt2)
    data = gz.load_dataset(f"text:{text_file}", "test", tokenizer=model.tokenizer, block_size=48)
    with torch.no_grad():
        expected = -model.log_prob(data.x).mean().item() / 48  # nats per token
    assert nll == pytest.approx(expected, rel=1e-5)


def test_gpt2_dir_without_tokenizer_or_with_a_bigger_one(hf_gpt2, tmp_path, capsys, text_file):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        (bare / name).write_bytes((hf_gpt2 / name).read_bytes())
    code, err = run(["eval", str(bare), "--data", f"text:{text_file}"], capsys)
    assert code == 2 and err.count("\n") == 1 and "has no tokenizer" in err, err
    big = tmp_path / "big"
    big.mkdir()
    for name in ("config.json", "model.safetensors"):
        (big / name).write_bytes((hf_gpt2 / name).read_bytes())
    Tokenizer.train_char(TEXT + "".join(map(chr, range(200, 260)))).save(big)
    code, err = run(["eval", str(big), "--data", f"text:{text_file}"], capsys)
    assert code == 2 and err.count("\n") == 1 and "vocab_size" in err, err


def test_generate_and_sample_text_from_gpt2_dir(hf_gpt2, capsys):
    main(["generate", str(hf_gpt2), "def ", "--max-new-tokens", "5", "--greedy"])
    assert capsys.readouterr().out.startswith("def ")
    main(["sample", str(hf_gpt2), "-n", "2", "--out", str(hf_gpt2.parent / "s.txt")])
    assert (hf_gpt2.parent / "s.txt").is_file()


def test_diffusers_pipeline_dir_loads_and_samples(tmp_path, capsys):
    pipe = diffusers.DDIMPipeline(unet=tiny_unet(), scheduler=diffusers.DDIMScheduler(num_train_timesteps=100))
    pipe.save_pretrained(tmp_path / "pipe")
    model = gz.load(tmp_path / "pipe")
    assert model.model_type == "ddpm" and model.config.sampler == "ddim"
    x = model.sample(2, generator=torch.Generator().manual_seed(0), steps=3)
    assert x.shape == (2, 1, 8, 8)
    main(["sample", str(tmp_path / "pipe"), "-n", "4", "--steps", "5", "--out", str(tmp_path / "grid.png")])
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out


def test_lone_unet_dir_uses_the_default_ddpm_schedule(tmp_path):
    unet = tiny_unet()
    unet.save_pretrained(tmp_path / "unet")
    model = gz.load(tmp_path / "unet")
    assert model.config.num_train_timesteps == 1000 and model.config.beta_schedule == "linear"
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([3, 700])
    with torch.no_grad():
        assert (model.net(x, t) - unet(x, t).sample).abs().max() < 1e-4


@pytest.mark.parametrize("what", ["llama", "sd-index", "empty", "no-model-type", "file"])
def test_unknown_dirs_are_one_line_errors(what, tmp_path, capsys):
    d = tmp_path / what
    d.mkdir()
    if what == "llama":
        (d / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 16}))
        needle = "has model_type 'llama'"
    elif what == "sd-index":
        (d / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline",
                                                        "unet": ["diffusers", "UNet2DConditionModel"],
                                                        "vae": ["diffusers", "AutoencoderKL"]}))
        needle = "'StableDiffusionPipeline' (unet: UNet2DConditionModel, vae: AutoencoderKL)"
    elif what == "empty":
        (d / "pytorch_model.bin").write_bytes(b"")
        needle = "no config.json or model_index.json (found pytorch_model.bin)"
    elif what == "no-model-type":
        (d / "config.json").write_text(json.dumps({"hidden": 3}))
        needle = "has no model_type"
    else:
        d = d / "weights.bin"  # (a .safetensors file is read by eval as a samples file)
        d.write_bytes(b"")
        needle = "is a file, not a model directory"
    for cmd in (["eval", str(d), "--data", "moons"], ["sample", str(d)]):
        code, err = run(cmd, capsys)
        assert code == 2 and err.count("\n") == 1 and needle in err and "genzoo reads genzoo runs" in err, err
    with pytest.raises(gz.CheckpointError, match="genzoo reads"):
        gz.load(d)


def test_pass_at_k_of_a_gpt2_dir(hf_gpt2, capsys):
    from cli_run import run_cli

    code, out, err = run_cli(["eval", hf_gpt2, "--data", "humaneval", "--metrics", "pass@1", "-n", "2", "--max-examples", "2",
                              "--json"], capsys)
    assert code == 0, err
    scores = json.loads(out.strip().splitlines()[-1])
    assert scores["pass@1"] == 0.0 and scores["samples"] == 4  # a random GPT-2 writes no working code

"""KGW text watermark: genzoo's green lists and z-scores equal transformers' (both directions, lefthash
and selfhash), random-weight GPTs detect their watermark, and bad settings are one-line errors."""
import copy

import pytest
import torch

transformers = pytest.importorskip("transformers")

from genzoo.errors import ConfigError, DataError  # noqa: E402
from genzoo.models.gpt import GPT, GPTConfig  # noqa: E402
from genzoo.safety import WatermarkConfig, WatermarkLogitsProcessor, detect, green_list  # noqa: E402

V = 64
SETTINGS = [dict(seeding="lefthash", context_width=1), dict(seeding="selfhash", context_width=2)]


def tiny_gpt(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=V, block_size=64, n_layer=1, n_head=2, n_embd=32)).eval()


def hf_detector(cfg, hf_config, ignore_repeated_ngrams):
    wm = transformers.WatermarkingConfig(**cfg.to_transformers())
    hf_config = copy.deepcopy(hf_config)
    hf_config.bos_token_id = -1  # random ids may start with any token: no BOS stripping
    return transformers.WatermarkDetector(hf_config, "cpu", wm, ignore_repeated_ngrams=ignore_repeated_ngrams)


@pytest.fixture(scope="module")
def hf_pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("wm") / "hf"
    tiny_gpt().save_pretrained(d, format="hf")
    hf = transformers.GPT2LMHeadModel.from_pretrained(d).eval()
    return GPT.from_pretrained(d).eval(), hf


@pytest.mark.parametrize("key", [12345, 15485863, 2**62 + 11])  # the larger keys overflow int64 in selfhash
@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s["seeding"])
def test_green_lists_match_transformers(setting, key):
    cfg = WatermarkConfig(key=key, gamma=0.3, **setting)
    proc = transformers.WatermarkLogitsProcessor(V, "cpu", **cfg.to_transformers())
    for ctx in ([3, 7], [0, 63], [5, 5], [41, 2]):
        theirs = proc._get_greenlist_ids(torch.tensor(ctx)).sort().values
        assert torch.equal(green_list(cfg, V, ctx), theirs)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s["seeding"])
def test_transformers_watermark_detected_by_genzoo_with_the_same_z(setting, hf_pair):
    _, hf = hf_pair
    cfg = WatermarkConfig(key=777, gamma=0.25, delta=4.0, **setting)
    prompt = torch.tensor([[1, 2, 3]])
    torch.manual_seed(0)
    out = hf.generate(prompt, watermarking_config=transformers.WatermarkingConfig(**cfg.to_transformers()),
                      do_sample=True, max_new_tokens=40, min_new_tokens=40, pad_token_id=0)
    new = out[:, 3:]
    for ignore in (True, False):
        theirs = hf_detector(cfg, hf.config, ignore)(new, return_dict=True)
        ours = detect(new, cfg, V, ignore_repeated_ngrams=ignore)
        assert ours["z"] == pytest.approx(float(theirs.z_score[0]), abs=1e-9)
        assert ours["green"] == theirs.num_green_tokens[0] and ours["scored"] == theirs.num_tokens_scored[0]
        assert ours["p_value"] == pytest.approx(float(theirs.p_value[0]), rel=1e-6, abs=1e-12)
    assert ours["watermarked"]


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s["seeding"])
def test_genzoo_watermark_detected_by_transformers_with_the_same_z(setting, hf_pair):
    model, hf = hf_pair
    cfg = WatermarkConfig(key=2024, gamma=0.25, delta=4.0, **setting)
    proc = WatermarkLogitsProcessor(cfg, V)
    out = model.generate(torch.tensor([[1, 2, 3]]), max_new_tokens=40, do_sample=True, eos_token_id=None,
                         generator=torch.Generator().manual_seed(0), logits_processor=[proc])
    new = out[:, 3:]
    theirs = hf_detector(cfg, hf.config, True)(new, return_dict=True)
    ours = detect(new, cfg, V)
    assert ours["z"] == pytest.approx(float(theirs.z_score[0]), abs=1e-9)
    assert ours["z"] >= 4 and ours["watermarked"] and ours["p_value"] < 1e-4


def test_processor_matches_transformers_on_the_same_logits():
    for setting in SETTINGS:
        cfg = WatermarkConfig(key=99, delta=1.5, **setting)
        ids, logits = torch.randint(0, V, (2, 5), generator=torch.Generator().manual_seed(1)), torch.randn(2, V)
        theirs = transformers.WatermarkLogitsProcessor(V, "cpu", **cfg.to_transformers())(ids, logits.clone())
        assert torch.allclose(WatermarkLogitsProcessor(cfg, V)(ids, logits), theirs)


def test_unwatermarked_text_has_small_z(hf_pair):
    model, _ = hf_pair
    cfg = WatermarkConfig(key=5)
    out = model.generate(torch.tensor([[1]]), max_new_tokens=60, do_sample=True, eos_token_id=None,
                         generator=torch.Generator().manual_seed(3))
    res = detect(out[0, 1:], cfg, V)
    assert abs(res["z"]) < 3 and not res["watermarked"]


def test_wrong_key_does_not_detect(hf_pair):
    model, _ = hf_pair
    proc = WatermarkLogitsProcessor(WatermarkConfig(key=1, delta=5.0), V)
    out = model.generate(torch.tensor([[1]]), max_new_tokens=60, do_sample=True, eos_token_id=None,
                         generator=torch.Generator().manual_seed(4), logits_processor=[proc])
    assert detect(out[0, 1:], WatermarkConfig(key=1), V)["z"] >= 4
    assert detect(out[0, 1:], WatermarkConfig(key=2), V)["z"] < 3


@pytest.mark.parametrize("kw, match", [(dict(gamma=0.0), "gamma"), (dict(gamma=1.5), "gamma"),
                                       (dict(seeding="righthash"), "seeding"), (dict(key="abc"), "key"),
                                       (dict(context_width=0), "context_width")])
def test_bad_settings_are_config_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        WatermarkConfig(**kw)


def test_bad_texts_are_data_errors():
    cfg = WatermarkConfig(context_width=3)
    with pytest.raises(DataError, match="empty"):
        detect("  ", cfg, V, tokenizer=object())
    with pytest.raises(DataError, match="at least 4"):
        detect([1, 2, 3], cfg, V)
    with pytest.raises(DataError, match="vocab|\\[0, 64\\)"):
        detect([1, 2, 3, 99], cfg, V)
    with pytest.raises(ConfigError, match="tokenizer"):
        detect("hello", cfg, V)

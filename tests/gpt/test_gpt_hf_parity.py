"""Parity with transformers' GPT-2 (random weights built here, nothing downloaded)."""
import pytest
import torch
from safetensors.torch import load_file, save_file

from genzoo.models.gpt import GPT

transformers = pytest.importorskip("transformers")


def hf_gpt2(tie=True, seed=0, **kw):
    cfg = dict(n_layer=2, n_head=4, n_embd=64, vocab_size=101, n_positions=96, tie_word_embeddings=tie,
               bos_token_id=0, eos_token_id=0)
    cfg.update(kw)
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(**cfg)).eval()
    with torch.no_grad():  # non-trivial LayerNorm parameters and biases
        for name, p in model.named_parameters():
            if name.endswith("bias") or "ln" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("hf")
    hf = hf_gpt2()
    hf.save_pretrained(d)
    return hf, GPT.from_pretrained(d), d


def left_padded(vocab=101, lengths=(9, 4, 6), seed=1):
    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    ids = torch.randint(0, vocab, (len(lengths), T), generator=g)
    mask = torch.zeros(len(lengths), T, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, T - n:] = 1
    return ids.masked_fill(mask == 0, 0), mask


def test_logits_match(pair):
    hf, gz_model, _ = pair
    x = torch.randint(0, 101, (3, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (hf(x).logits - gz_model(x)).abs().max() < 1e-4


def test_padded_batch_logits_match(pair):
    hf, gz_model, _ = pair
    ids, mask = left_padded()
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        a = hf(ids, attention_mask=mask, position_ids=pos).logits
        b = gz_model(ids, attention_mask=mask)
    assert ((a - b).abs() * mask[..., None]).max() < 1e-4


def test_greedy_64_tokens_identical(pair):
    hf, gz_model, _ = pair
    ids, mask = left_padded(lengths=(12, 5, 8))
    expected = hf.generate(ids, attention_mask=mask, max_new_tokens=64, do_sample=False, pad_token_id=0, eos_token_id=None)
    got = gz_model.generate(ids, mask, max_new_tokens=64, eos_token_id=None)
    assert expected.shape == got.shape == (3, 76)
    assert torch.equal(expected, got)


def test_processors_match_transformers_sampling_distribution(pair):
    """Same logits processors as transformers: identical processed logits for one step."""
    from transformers.generation.logits_process import (RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
                                                        TopKLogitsWarper, TopPLogitsWarper)

    from genzoo.samplers.decoding import build_processors, process

    g = torch.Generator().manual_seed(3)
    ids, logits = torch.randint(0, 50, (4, 7), generator=g), 3 * torch.randn(4, 50, generator=g)
    ours = process(build_processors(do_sample=True, temperature=0.7, top_k=20, top_p=0.8, repetition_penalty=1.3), ids, logits)
    theirs = logits.clone()
    for proc in (RepetitionPenaltyLogitsProcessor(1.3), TemperatureLogitsWarper(0.7), TopKLogitsWarper(20), TopPLogitsWarper(0.8)):
        theirs = proc(ids, theirs)
    assert torch.equal(torch.isinf(ours), torch.isinf(theirs))
    finite = torch.isfinite(ours)
    assert torch.allclose(ours[finite], theirs[finite], atol=1e-6)


def test_round_trip_hf_genzoo_hf(pair, tmp_path):
    hf, gz_model, src = pair
    gz_model.save_pretrained(tmp_path / "out", format="hf")
    a, b = load_file(str(src / "model.safetensors")), load_file(str(tmp_path / "out" / "model.safetensors"))
    a = {k: v for k, v in a.items() if k != "lm_head.weight"}
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    back = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "out").eval()
    x = torch.randint(0, 101, (2, 20))
    with torch.no_grad():
        assert torch.equal(back(x).logits, hf(x).logits)
    assert back.lm_head.weight.data_ptr() == back.transformer.wte.weight.data_ptr()


def test_genzoo_format_round_trip_keeps_parity(pair, tmp_path):
    hf, gz_model, _ = pair
    gz_model.save_pretrained(tmp_path / "gz")
    again = GPT.from_pretrained(tmp_path / "gz")
    x = torch.randint(0, 101, (2, 20))
    with torch.no_grad():
        assert (again(x) - hf(x).logits).abs().max() < 1e-4


def test_no_prefix_and_untied_checkpoints(tmp_path):
    hf = hf_gpt2(tie=False, seed=4)
    hf.save_pretrained(tmp_path / "untied")
    untied = GPT.from_pretrained(tmp_path / "untied")
    assert not untied.config.tie_embeddings
    x = torch.randint(0, 101, (2, 15))
    with torch.no_grad():
        assert (untied(x) - hf(x).logits).abs().max() < 1e-4
    # a GPT2Model-style file: no "transformer." prefix, no lm_head (tied), old attn.bias buffers
    tied = hf_gpt2(seed=5)
    (tmp_path / "bare").mkdir()
    tied.config.save_pretrained(tmp_path / "bare")
    sd = {k.removeprefix("transformer."): v.contiguous() for k, v in tied.state_dict().items() if k != "lm_head.weight"}
    sd["h.0.attn.bias"] = torch.tril(torch.ones(1, 1, 96, 96))
    save_file(sd, str(tmp_path / "bare" / "model.safetensors"))
    bare = GPT.from_pretrained(tmp_path / "bare")
    with torch.no_grad():
        assert (bare(x) - tied(x).logits).abs().max() < 1e-4


def test_pickle_only_dir_and_incompatible_export(tmp_path):
    import genzoo as gz

    hf_gpt2().config.save_pretrained(tmp_path / "bin")
    (tmp_path / "bin" / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(gz.CheckpointError, match="safetensors"):
        GPT.from_pretrained(tmp_path / "bin")
    rope = GPT(GPT.config_class(vocab_size=10, position="rope", n_embd=16, n_head=2))
    with pytest.raises(gz.ConfigError, match="format='genzoo'"):
        rope.save_pretrained(tmp_path / "x", format="hf")

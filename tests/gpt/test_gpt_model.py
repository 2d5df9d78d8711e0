"""GPT model: exact likelihood, KV cache = no cache, left padding, per-row stopping, options."""
import itertools
import math

import pytest
import torch

import genzoo as gz
from genzoo.data.base import GenDataset
from genzoo.models.gpt import GPT, GPTConfig
from genzoo.nn.transformer import KVCache

from gpt_helpers import tiny_gpt

VARIANTS = [dict(), dict(position="rope", norm="rmsnorm", activation="swiglu", bias=False), dict(activation="gelu", tie_embeddings=False)]


def test_log_prob_normalises_over_all_sequences():
    model = tiny_gpt(vocab_size=3, block_size=4, n_embd=8)
    with torch.no_grad():
        model.first_token_logits.normal_()
        seqs = torch.tensor(list(itertools.product(range(3), repeat=4)))
        total = model.log_prob(seqs).double().exp().sum()
    assert abs(total.item() - 1.0) < 1e-5


def test_log_prob_is_sum_of_conditionals():
    model = tiny_gpt()
    x = torch.randint(0, 23, (3, 10))
    with torch.no_grad():
        logits = model(x)
        manual = torch.log_softmax(model.first_token_logits, -1)[x[:, 0]]
        for t in range(1, 10):
            manual = manual + torch.log_softmax(logits[:, t - 1], -1).gather(1, x[:, t:t + 1]).squeeze(1)
        assert torch.allclose(model.log_prob(x), manual, atol=1e-5)
        assert torch.allclose(model.loss(x)["loss"], -manual.mean() / 10, atol=1e-6)


def test_evaluate_reports_nats_per_token():
    model = tiny_gpt()
    x = torch.randint(0, 23, (6, 12))
    data = GenDataset("toy", "test", "text", x)
    res = gz.evaluate(model, data, ["nll", "perplexity"])
    with torch.no_grad():
        expected = -model.log_prob(x).mean().item() / 12
    assert res["nll"] == pytest.approx(expected, rel=1e-5)
    assert res["perplexity"] == pytest.approx(math.exp(expected), rel=1e-5)
    assert res["nll"] == pytest.approx(math.log(23), rel=0.2)  # an untrained model is near uniform


@pytest.mark.parametrize("variant", VARIANTS)
def test_cached_equals_uncached_greedy(variant):
    model = tiny_gpt(**variant)
    prompt = torch.randint(0, 23, (2, 5))
    cached = model.generate(prompt, max_new_tokens=30)
    uncached = model.generate(prompt, max_new_tokens=30, use_cache=False)
    assert cached.shape == (2, 35)
    assert torch.equal(cached, uncached)


@pytest.mark.parametrize("variant", VARIANTS[:2])
def test_left_padded_batch_matches_single_prompts(variant):
    model = tiny_gpt(**variant)
    prompts = [torch.randint(0, 23, (n,)) for n in (7, 3, 5)]
    ids = torch.zeros(3, 7, dtype=torch.long)
    mask = torch.zeros(3, 7, dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, 7 - len(p):], mask[i, 7 - len(p):] = p, 1
    batched = model.generate(ids, mask, max_new_tokens=12)
    unc = model.generate(ids, mask, max_new_tokens=12, use_cache=False)
    assert torch.equal(batched, unc)
    for i, p in enumerate(prompts):
        alone = model.generate(p[None], max_new_tokens=12)
        assert torch.equal(batched[i, 7:], alone[0, len(p):])


def test_padded_logits_match_unpadded():
    model = tiny_gpt(position="rope")
    x = torch.randint(0, 23, (1, 6))
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), x], 1)
    mask = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1, 1]])
    with torch.no_grad():
        assert torch.allclose(model(padded, attention_mask=mask)[:, 3:], model(x), atol=1e-5)


def test_per_row_eos_stop():
    model = tiny_gpt()
    prompt = torch.randint(0, 23, (2, 4))
    free = model.generate(prompt, max_new_tokens=20)
    eos = int(free[0, 6])  # row 0 emits this token at its 3rd new step
    out = model.generate(prompt, max_new_tokens=20, eos_token_id=eos, pad_token_id=22)
    row0 = out[0, 4:].tolist()
    k = row0.index(eos)
    assert row0[: k + 1] == free[0, 4:5 + k].tolist()
    assert all(t == 22 for t in row0[k + 1:])
    row1 = free[1, 4:].tolist()
    stop1 = row1.index(eos) + 1 if eos in row1 else len(row1)
    assert out[1, 4:4 + stop1].tolist() == row1[:stop1]
    if eos not in row1:
        assert out.shape[1] == 24  # the other row kept going


def test_sampling_is_seeded_and_differs_across_seeds():
    model = tiny_gpt()
    s = lambda seed: model.sample(4, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(s(1), s(1))
    assert not torch.equal(s(1), s(2))
    assert s(1).shape == (4, 48)
    prompt = torch.randint(0, 23, (1, 3))
    g = lambda seed: model.generate(prompt, max_new_tokens=10, do_sample=True, top_k=5, generator=torch.Generator().manual_seed(seed), num_return_sequences=3)  # noqa: E731
    assert torch.equal(g(0), g(0)) and g(0).shape == (3, 13)


def test_kv_cache_is_preallocated_once():
    model = tiny_gpt()
    cache = model.new_cache(2, 20)
    ptr = cache.k.data_ptr()
    with torch.no_grad():
        model(torch.randint(0, 23, (2, 5)), cache=cache)
        for _ in range(10):
            model(torch.randint(0, 23, (2, 1)), cache=cache)
    assert cache.length == 15 and cache.k.data_ptr() == ptr and cache.k.shape == (2, 2, 2, 20, 16)


def test_save_load_keeps_tokenizer_and_generation_config(tmp_path, char_tokenizer):
    model = tiny_gpt(vocab_size=char_tokenizer.vocab_size)
    model.set_tokenizer(char_tokenizer)
    model.generation_config.max_new_tokens = 7
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "tokenizer.json").is_file() and (tmp_path / "m" / "generation_config.json").is_file()
    loaded = gz.load(tmp_path / "m")
    assert loaded.tokenizer.encode("def") == char_tokenizer.encode("def")
    assert loaded.generation_config.max_new_tokens == 7 and loaded.generation_config.eos_token_id == char_tokenizer.eos_token_id
    x = torch.randint(0, char_tokenizer.vocab_size, (2, 9))
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_training_lowers_loss_and_config_for_data(char_tokenizer):
    ids = torch.tensor(char_tokenizer.encode("def add(a, b):\n    return a + b\n" * 8))
    x = ids[: 16 * 16].view(16, 16)
    data = GenDataset("toy", "train", "text", x, tokenizer=char_tokenizer)
    model = gz.build("gpt", data, n_layer=1, n_embd=32, n_head=2)
    assert model.config.vocab_size == char_tokenizer.vocab_size and model.config.block_size == 16
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = model.loss(x)["loss"].item()
    for _ in range(60):
        opt.zero_grad()
        model.loss(x)["loss"].backward()
        opt.step()
    assert model.loss(x)["loss"].item() < 0.5 * first


def test_int8_and_bf16_stay_close():
    model = tiny_gpt()
    x = torch.randint(0, 23, (2, 12))
    with torch.no_grad():
        ref = model.log_prob(x)
        q = tiny_gpt().quantize("int8")
        assert torch.allclose(q.log_prob(x), ref, rtol=0.02)
        assert torch.equal(q.generate(x[:, :4], max_new_tokens=8), q.generate(x[:, :4], max_new_tokens=8, use_cache=False))
        f = tiny_gpt().quantize("fp32")
        assert torch.allclose(f.log_prob(x), ref, atol=1e-4)
        assert torch.equal(f.generate(x[:, :4], max_new_tokens=8), model.generate(x[:, :4], max_new_tokens=8))
        d = tiny_gpt().quantize("int8-dynamic")
        assert torch.allclose(d.log_prob(x), ref, rtol=0.02)
        b = tiny_gpt().quantize("bf16")
        assert torch.allclose(b.log_prob(x).float(), ref, rtol=0.05)


def test_int8_kernels_compute_the_dequantised_product():
    """Each weight-only int8 kernel computes x (diag(s) Q)ᵀ + b; the two-digit one keeps ~13-bit activations."""
    from genzoo.nn.quantized import Int8Linear

    torch.manual_seed(0)
    linear = torch.nn.Linear(96, 40)
    layer = Int8Linear(linear)
    x = torch.randn(3, 96) * 4
    w = layer.weight.double() * layer.scale.double()[:, None]
    exact = x.double() @ w.t() + linear.bias.double()
    errors = {k: (layer.product(x, k).double() - exact).abs() for k in layer.kernels()}
    assert errors["dequant"].max() < 1e-5
    if "digits" in errors:  # fbgemm present (x86)
        # |x - a (q1 + q2 / k)| <= a / 2k per activation, a = max|x| / 63: the output error is bounded by it
        a = x.abs().max().item() / Int8Linear.DIGIT_MAX
        bound = a / (2 * Int8Linear.DIGIT_SCALE) * w.abs().sum(1) + 1e-5
        assert (errors["digits"] <= bound).all()
        assert errors["digits"].max() * 5 < errors["bf16"].max()  # finer than bf16 activations
        torch.testing.assert_close(layer.product(torch.zeros(2, 96), "digits"), linear.bias.expand(2, -1).detach())
        bad = x.clone()
        bad[1, 3] = float("nan")
        assert layer.product(bad, "digits").isnan().any(1).tolist() == [False, True, False]  # fp32 semantics, no crash
    assert layer.kernel == layer.kernels()[0]
    model = tiny_gpt(n_embd=64).quantize("int8")
    chosen = {m.kernel for m in model.modules() if isinstance(m, Int8Linear)}
    assert len(chosen) == 1 and chosen <= set(layer.kernels())


@pytest.mark.parametrize("rows", [1, 3, 12])
def test_decode_fns_equal_forward_bit_for_bit(rows, monkeypatch):
    """``decode_fn(rows)`` (the per-token function DecodeStep calls) computes what ``forward`` computes,
    for every layer format and kernel; the two digit products sum to the same bits by mm or by add (k = 2^6)."""
    from genzoo.nn.quantized import DECODE_LINEARS, Int8Linear

    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    x = torch.randn(rows, 64)
    for layer_type in DECODE_LINEARS.values():
        layer = layer_type(linear)
        kernels = layer.kernels() if isinstance(layer, Int8Linear) else (None,)
        for kernel in kernels:
            if kernel is not None:
                layer.kernel = kernel
            assert torch.equal(layer.decode_fn(rows)(x), layer(x)), (layer_type.__name__, kernel)
    layer = Int8Linear(linear)
    if "digits" in layer.kernels():
        by_mm = layer.decode_fn(rows, "digits")(x)
        monkeypatch.setattr(Int8Linear, "COMBINE_BY_MM_ROWS", 0)
        assert torch.equal(layer.decode_fn(rows, "digits")(x), by_mm)


def test_bad_config_and_inputs():
    with pytest.raises(gz.ConfigError, match="divisible"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(gz.ConfigError, match="position"):
        GPTConfig(position="alibi")
    model = tiny_gpt()
    with pytest.raises(gz.DataError, match="vocabulary|\\[0, 23\\)"):
        model.log_prob(torch.tensor([[1, 99]]))
    with pytest.raises(gz.DataError, match="integer"):
        model.log_prob(torch.randn(2, 4))


@pytest.mark.parametrize("rows", [1, 3, 16, 40])
def test_transposed_linear_split_matches_linear(rows):
    """The decode layout y = Σ_j x_j Wt_j (split input dimension, one bmm) is the same affine map."""
    from genzoo.nn.quantized import TransposedLinear

    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 24).double()
    fast = TransposedLinear(linear)
    assert fast.split == TransposedLinear.SPLIT > 1
    x = torch.randn(rows, 5, 64, dtype=torch.float64)[:, 0]  # rows x 64, not a contiguous slice
    torch.testing.assert_close(fast(x), linear(x), rtol=1e-12, atol=1e-12)
    odd = TransposedLinear(torch.nn.Linear(63, 8).double())  # 63 is not divisible: one addmm
    assert odd.split == 1
    single = TransposedLinear(linear, split=1)
    torch.testing.assert_close(single(x), linear(x), rtol=1e-12, atol=1e-12)


def test_quantize_fp32_keeps_the_measured_split_on_every_layer():
    from genzoo.nn.quantized import TransposedLinear

    model = tiny_gpt(n_embd=64).quantize("fp32")
    splits = {m.split for m in model.modules() if isinstance(m, TransposedLinear)}
    assert len(splits) == 1 and splits <= {1, TransposedLinear.SPLIT}


def test_loss_cuts_trailing_padding_exactly():
    """Columns that are padding in every row are cut before the forward pass: same loss and gradients."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=16, pad_token_id=10)).double()
    x = torch.randint(0, 10, (4, 16))
    for row, length in enumerate((5, 9, 3, 7)):  # [tokens, PAD...]: the batch's last real column is 8
        x[row, length:] = 10
    real = (x != 10).float()  # log-probs are float32 (logits are upcast), so are both losses
    full = -model.token_log_probs(x).sum() / real.sum()  # the uncut computation over all 16 columns
    g_full = torch.autograd.grad(full, list(model.parameters()), allow_unused=True)
    cut = model.loss(x)["loss"]
    g_cut = torch.autograd.grad(cut, list(model.parameters()), allow_unused=True)
    torch.testing.assert_close(cut, full, rtol=1e-6, atol=1e-6)
    for a, b in zip(g_cut, g_full):
        if a is not None or b is not None:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)

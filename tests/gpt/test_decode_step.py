"""The fast one-token decoding step (genzoo.nn.decode_step) computes what the module path computes."""
import pytest
import torch

from genzoo.nn.decode_step import DecodeStep

from gpt_helpers import tiny_gpt

VARIANTS = [
    dict(),
    dict(position="rope", norm="rmsnorm", activation="swiglu", bias=False),
    dict(activation="gelu", tie_embeddings=False),
    dict(position="rope", activation="gelu_tanh", norm="layernorm"),
]


def step_logits(model, ids, mask, fast: bool):
    """Prefill all but the last 4 tokens, then 4 one-token steps; the logits of every step."""
    model.fast_decode = fast
    B, T = ids.shape
    cache = model.new_cache(B, T)
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    out = []
    with torch.no_grad():
        model(ids[:, : T - 4], attention_mask=mask, position_ids=positions[:, : T - 4], cache=cache)
        for t in range(T - 4, T):
            out.append(model(ids[:, t:t + 1], attention_mask=mask, position_ids=positions[:, t:t + 1], cache=cache, last_only=True))
    assert (cache.decode_step not in (None, False)) == fast
    return torch.cat(out, 1), cache


@pytest.mark.parametrize("variant", VARIANTS)
def test_fast_step_equals_module_path_float64(variant):
    model = tiny_gpt(**variant).double()
    ids = torch.randint(0, 23, (3, 12))
    mask = torch.ones(3, 12, dtype=torch.bool)
    mask[1, :3] = False  # a left-padded row
    fast, fast_cache = step_logits(model, ids, mask, fast=True)
    slow, slow_cache = step_logits(model, ids, mask, fast=False)
    assert fast.shape == (3, 4, 23)
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-12)
    torch.testing.assert_close(fast_cache.k, slow_cache.k, rtol=0, atol=1e-12)
    assert fast_cache.length == slow_cache.length == 12


def test_generate_uses_the_fast_step_and_gives_the_module_path_tokens(monkeypatch):
    model = tiny_gpt()
    prompt = torch.randint(0, 23, (2, 5))
    calls = []
    original = DecodeStep.__call__
    monkeypatch.setattr(DecodeStep, "__call__", lambda self, *a: calls.append(1) or original(self, *a))
    fast = model.generate(prompt, max_new_tokens=20, do_sample=True, generator=torch.Generator().manual_seed(3))
    monkeypatch.undo()
    assert len(calls) == 19  # the first new token comes from the prefill
    model.fast_decode = False
    slow = model.generate(prompt, max_new_tokens=20, do_sample=True, generator=torch.Generator().manual_seed(3))
    assert torch.equal(fast, slow)


def test_forward_hooks_and_training_mode_take_the_module_path():
    model = tiny_gpt()
    seen = []
    handle = model.transformer.h[0].mlp.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[1]))
    model.generate(torch.randint(0, 23, (1, 4)), max_new_tokens=6)
    handle.remove()
    assert seen == [4, 1, 1, 1, 1, 1]  # the prefill, then every one-token step ran the hooked module
    assert not DecodeStep.supports(model.train())
    assert DecodeStep.supports(model.eval())


def test_quantized_layers_run_their_own_forward():
    ids = torch.randint(0, 23, (2, 10))
    mask = torch.ones(2, 10, dtype=torch.bool)
    for mode in ("fp32", "int8", "int8-dynamic"):
        model = tiny_gpt(n_embd=64).quantize(mode)
        fast, _ = step_logits(model, ids, mask, fast=True)
        slow, _ = step_logits(model, ids, mask, fast=False)
        assert torch.equal(fast, slow), mode  # same layers, same ops: bit for bit


def test_a_step_built_in_inference_mode_runs_outside_it():
    """The int8 digit buffer is written in place every step: it must not be an inference tensor."""
    from genzoo.nn.quantized import Int8Linear

    model = tiny_gpt(n_embd=64).quantize("int8")
    for layer in model.modules():
        if isinstance(layer, Int8Linear) and "digits" in layer.kernels():
            layer.kernel = "digits"
    ids = torch.randint(0, 23, (2, 6))
    cache = model.new_cache(2, 12)
    with torch.inference_mode():
        model(ids, cache=cache)
        first = model(ids[:, :1], cache=cache, last_only=True)
    with torch.no_grad():
        second = model(ids[:, 1:2], cache=cache, last_only=True)
    assert cache.length == 8 and first.shape == second.shape == (2, 1, 23)

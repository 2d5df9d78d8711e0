"""The output-split products of the default decoding path (genzoo.nn.decode_kernels): same numbers
as the module path's ``addmm``, the weights read live, the split timed once per process."""
import pytest
import torch

from genzoo.nn import decode_kernels
from genzoo.nn.decode_kernels import choose_split, split_rows_fn
from genzoo.nn.decode_step import DecodeStep

from gpt_helpers import tiny_gpt

TOL = {torch.float32: dict(rtol=1e-6, atol=1e-6), torch.float64: dict(rtol=0, atol=1e-12)}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("out_features", [96, 23, 5])  # a multiple of every split, overlapping blocks, tiny
@pytest.mark.parametrize("split", [2, 3, 4])
def test_split_product_equals_addmm(dtype, out_features, split):
    g = torch.Generator().manual_seed(out_features + split)
    weight = torch.randn(out_features, 40, generator=g, dtype=dtype)
    bias = torch.randn(out_features, generator=g, dtype=dtype)
    for rows in (1, 3):
        x = torch.randn(rows, 40, generator=g, dtype=dtype)
        y = split_rows_fn(weight, bias, rows, split)(x)
        assert y.shape == (rows, out_features) and y.is_contiguous()
        torch.testing.assert_close(y, torch.addmm(bias, x, weight.t()), **TOL[dtype])
        torch.testing.assert_close(split_rows_fn(weight, None, rows, split)(x), x @ weight.t(), **TOL[dtype])


def test_split_product_reads_the_weights_live():
    """The blocks are views of the parameter: an in-place change (optimizer step, load_state_dict)
    is what the next product uses."""
    layer = torch.nn.Linear(16, 10)
    fn = split_rows_fn(layer.weight, layer.bias, 1, 3)
    x = torch.randn(1, 16)
    with torch.no_grad():
        layer.weight.mul_(-2.0)
        layer.bias.add_(1.0)
    torch.testing.assert_close(fn(x), layer(x), rtol=1e-6, atol=1e-6)


def test_non_contiguous_weights_and_one_block_use_addmm():
    x = torch.randn(1, 12)
    for weight in (torch.randn(12, 8).t(), torch.randn(8, 12)):  # (8, 12): a transposed view, then contiguous
        split = 2 if not weight.is_contiguous() else 1
        assert torch.equal(split_rows_fn(weight, None, 1, split)(x), x @ weight.t())


def step_logits(model, ids, split):
    """Logits of 4 one-token steps after a prefill, with ``split`` (None: the module path)."""
    model.fast_decode, model.decode_split = split is not None, split
    cache = model.new_cache(ids.shape[0], ids.shape[1])
    with torch.no_grad():
        model(ids[:, :-4], cache=cache)
        out = [model(ids[:, t:t + 1], cache=cache, last_only=True) for t in range(ids.shape[1] - 4, ids.shape[1])]
    assert (cache.decode_step is not None) == (split is not None)
    assert split is None or cache.decode_step.split == split
    return torch.cat(out, 1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("variant", [dict(), dict(position="rope", norm="rmsnorm", activation="swiglu", bias=False)])
def test_split_decoding_equals_module_path(dtype, variant):
    model = tiny_gpt(**variant).to(dtype)  # vocab 23: the head's blocks overlap for splits 2 and 3
    ids = torch.randint(0, 23, (2, 12), generator=torch.Generator().manual_seed(0))
    slow = step_logits(model, ids, None)
    for split in (1, 2, 3):
        torch.testing.assert_close(step_logits(model, ids, split), slow, **TOL[dtype])


def test_greedy_tokens_after_the_weights_change_match_the_module_path():
    """Nothing is cached between generate calls but the split: an optimizer step and a
    load_state_dict are decoded with the new weights."""
    model, other = tiny_gpt(n_embd=64), tiny_gpt(seed=1, n_embd=64)
    prompt = torch.randint(0, 23, (1, 5), generator=torch.Generator().manual_seed(2))

    def both():
        model.decode_split, model.fast_decode = 2, True
        fast = model.generate(prompt, max_new_tokens=30)
        model.fast_decode = False
        assert torch.equal(fast, model.generate(prompt, max_new_tokens=30))
        return fast

    before = both()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model.train()
    model.loss(torch.randint(0, 23, (4, 16)))["loss"].backward()
    opt.step()
    model.eval()
    after_step = both()
    model.load_state_dict(other.state_dict())
    after_load = both()
    other.fast_decode = False
    assert torch.equal(after_load, other.generate(prompt, max_new_tokens=30))
    assert not torch.equal(before, after_step) or not torch.equal(after_step, after_load)


def test_the_split_is_timed_once_per_process_and_shape(monkeypatch):
    monkeypatch.setattr(decode_kernels, "SPLIT_CHOICES", {})
    timed = []
    original = decode_kernels.fastest
    monkeypatch.setattr(decode_kernels, "fastest", lambda *a, **k: timed.append(1) or original(*a, **k))
    torch.set_num_threads(2)  # conftest restores the thread count
    model = tiny_gpt(n_embd=64)
    prompt = torch.randint(0, 23, (1, 5))
    first = model.generate(prompt, max_new_tokens=8)
    assert torch.equal(model.generate(prompt, max_new_tokens=8), first)
    model.fast_decode = False
    assert torch.equal(model.generate(prompt, max_new_tokens=8), first)  # whichever was chosen
    model.fast_decode = True
    assert tiny_gpt(seed=3, n_embd=64).generate(prompt, max_new_tokens=8).shape == first.shape  # same shapes
    assert len(timed) == 1 and list(decode_kernels.SPLIT_CHOICES.values())[0] in (1, 2)
    model.generate(prompt.repeat(3, 1), max_new_tokens=8)  # another batch size: timed for it
    assert len(timed) == 2
    torch.set_num_threads(1)
    assert choose_split([torch.nn.Linear(8, 8)], 1) == 1 and len(timed) == 2  # one thread: nothing to choose


def test_opt_outs_time_nothing(monkeypatch):
    monkeypatch.setattr(decode_kernels, "SPLIT_CHOICES", {})
    monkeypatch.setattr(decode_kernels, "fastest", lambda *a, **k: pytest.fail("timed"))
    torch.set_num_threads(2)
    model = tiny_gpt()
    prompt = torch.randint(0, 23, (1, 5))
    model.fast_decode = False  # the module path: no DecodeStep at all
    calls = []
    original = DecodeStep.__init__
    monkeypatch.setattr(DecodeStep, "__init__", lambda self, *a: calls.append(1) or original(self, *a))
    slow = model.generate(prompt, max_new_tokens=8)
    assert not calls
    model.fast_decode, model.decode_split = True, 1  # the fast step with one addmm per layer
    assert torch.equal(model.generate(prompt, max_new_tokens=8), slow) and calls
    assert choose_split([torch.nn.Linear(8, 8).to(torch.bfloat16)], 1) == 1  # bf16: not split, not timed

"""Adapter mechanics: start equals the base, merge = base + ΔW exactly, unmerge restores the base bit
for bit, named adapters, disable_adapters, generate() through adapted layers, only adapter
parameters train, and one-line errors for bad input."""
import pytest
import torch
from torch import nn

from finetune_helpers import ids, randomize_adapters, tiny_gpt

from genzoo.errors import CheckpointError, ConfigError
from genzoo.finetune import (IA3Config, LoraConfig, adapter_layers, disable_adapters, inject_adapter, load_adapted,
                             merge, merge_and_unload, save_adapter, set_adapter, trainable_parameters, unmerge)


def base_tensors(model):
    return {k.replace(".base_layer.", "."): v.clone() for k, v in model.state_dict().items()
            if not any(a in k for a in ("lora_", "ia3_l"))}


@pytest.mark.parametrize("config", [
    LoraConfig(r=4, target_modules=["c_attn", "c_fc", "wpe"]),
    LoraConfig(r=4, use_dora=True, target_modules=["c_attn"]),
    IA3Config(target_modules=["c_attn", "c_fc"], feedforward_modules=["c_fc"]),
], ids=["lora", "dora", "ia3"])
def test_start_merge_unmerge(config):
    model = tiny_gpt()
    x = ids()
    with torch.no_grad():
        base_out = model(x)
    inject_adapter(model, config)
    with torch.no_grad():
        assert torch.equal(model(x), base_out)  # B = 0 / l = 1 / m = ‖W‖: the start is the base
    randomize_adapters(model)
    before = {n: layer.base_layer.weight.clone() for n, layer in adapter_layers(model)}
    with torch.no_grad():
        adapted = model(x)
        expected = {n: layer.merged_tensors("default")["weight"].clone() for n, layer in adapter_layers(model)}
    assert (adapted - base_out).abs().max() > 1e-3
    merge(model)
    for n, layer in adapter_layers(model):
        assert torch.equal(layer.base_layer.weight, expected[n])
        if isinstance(config, LoraConfig) and not config.use_dora:
            assert torch.equal(layer.base_layer.weight, before[n] + layer.delta_weight("default"))
    with torch.no_grad():
        assert (model(x) - adapted).abs().max() < 1e-5
    with pytest.raises(ConfigError, match="already merged"):
        merge(model)
    unmerge(model)
    for n, layer in adapter_layers(model):
        assert torch.equal(layer.base_layer.weight, before[n])  # bit for bit
    with torch.no_grad():
        assert torch.equal(model(x), adapted)


def test_lora_merge_is_base_plus_delta_exactly_for_linear_conv_embedding():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 16, 5))
    emb = nn.Sequential(nn.Embedding(10, 4))
    for model, x in ((net, torch.randn(2, 3, 4, 4)), (emb, torch.tensor([[1, 2, 9]]))):
        inject_adapter(model, LoraConfig(r=2, lora_alpha=3, target_modules=r"\d"))
        randomize_adapters(model)
        with torch.no_grad():
            out = model(x)
        base = {n: layer.base_layer.weight.clone() for n, layer in adapter_layers(model)}
        merge(model)
        for n, layer in adapter_layers(model):
            assert torch.equal(layer.base_layer.weight, base[n] + layer.delta_weight("default"))
        with torch.no_grad():
            assert (model(x) - out).abs().max() < 1e-5
        unmerge(model)
        assert all(torch.equal(layer.base_layer.weight, base[n]) for n, layer in adapter_layers(model))
        plain = merge_and_unload(model)
        assert not list(adapter_layers(plain)) and all(p.requires_grad for p in plain.parameters())
        with torch.no_grad():
            assert (plain(x) - out).abs().max() < 1e-5


def test_merging_into_a_tied_embedding_is_refused():
    model = tiny_gpt()
    inject_adapter(model, LoraConfig(r=2, target_modules=["wte"]))
    with pytest.raises(ConfigError, match="tied to lm_head.weight"):
        merge(model)
    assert not any(layer.merged for _, layer in adapter_layers(model))


def test_named_adapters_and_disable():
    model = tiny_gpt()
    x = ids()
    with torch.no_grad():
        base_out = model(x)
    inject_adapter(model, LoraConfig(r=2, target_modules=["c_attn"]), "a")
    randomize_adapters(model, seed=1)
    inject_adapter(model, LoraConfig(r=4, target_modules=["c_attn", "c_proj"]), "b")
    randomize_adapters(model, seed=2)
    assert model.active_adapter == "b"
    with torch.no_grad():
        out_b = model(x)
        set_adapter(model, "a")
        out_a = model(x)
        trainable = [n for n, p in model.named_parameters() if p.requires_grad]
        assert trainable and all(n.endswith(".a") for n in trainable)
        with disable_adapters(model):
            assert torch.equal(model(x), base_out)  # the base, without a second copy
        assert torch.equal(model(x), out_a)
    assert (out_a - out_b).abs().max() > 1e-3
    with pytest.raises(ConfigError, match="no adapter named 'c'"):
        set_adapter(model, "c")
    with pytest.raises(ConfigError, match="already has an adapter named 'a'"):
        inject_adapter(model, LoraConfig(target_modules=["c_attn"]), "a")


@pytest.mark.parametrize("targets", [["c_attn", "c_fc"], ["c_attn", "wte"]])
def test_generate_through_adapters_equals_the_module_path(targets):
    model = tiny_gpt()
    inject_adapter(model, LoraConfig(r=4, target_modules=targets))
    randomize_adapters(model)
    prompt = ids(2, 3)
    fast = model.generate(prompt, max_new_tokens=8, do_sample=False)
    model.fast_decode = False
    slow = model.generate(prompt, max_new_tokens=8, do_sample=False)
    assert torch.equal(fast, slow)
    with torch.no_grad():  # and the module path is the adapted model: greedy continuation of full forwards
        seq = prompt
        for _ in range(8):
            seq = torch.cat([seq, model(seq)[:, -1:].argmax(-1)], 1)
    assert torch.equal(fast, seq)


def test_only_adapter_parameters_train_and_get_optimizer_state():
    import genzoo as gz

    model = tiny_gpt()
    inject_adapter(model, LoraConfig(r=2, target_modules=["c_attn"]))
    trainable, total = trainable_parameters(model)
    assert 0 < trainable < total / 10
    frozen = {n: p.clone() for n, p in model.named_parameters() if not p.requires_grad}
    from genzoo.data.base import GenDataset

    data = GenDataset("toy", "train", "text", ids(16, 12))
    trainer = gz.Trainer(model, data, steps=3, batch_size=4, lr=1e-2, progress=False, ema_decay=None)
    trainer.fit()
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)
    state = trainer.optimizers[0].state
    ids_with_state = {id(p) for p in state}
    assert ids_with_state and ids_with_state == {id(p) for p in model.parameters() if p.requires_grad}
    params = [p for g in trainer.optimizers[0].param_groups for p in g["params"]]
    assert all(p.requires_grad for p in params)


def test_bad_input_errors(tmp_path):
    model = tiny_gpt()
    with pytest.raises(ConfigError, match="r must be a positive integer"):
        LoraConfig(r=0)
    with pytest.raises(ConfigError, match=r"match no module.*c_attn.*c_fc"):
        inject_adapter(model, LoraConfig(target_modules=["q_proj"]))
    with pytest.raises(ConfigError, match="LayerNorm"):
        inject_adapter(model, LoraConfig(target_modules=["ln_1"]))
    model.save_pretrained(tmp_path / "base")
    inject_adapter(model, LoraConfig(r=2, target_modules=["c_attn"]))
    randomize_adapters(model)
    save_adapter(model, tmp_path / "ad", base=tmp_path / "base")
    assert load_adapted(tmp_path / "ad") is not None
    # another base with other weights: a clear error, --base overrides
    tiny_gpt(seed=9).save_pretrained(tmp_path / "other")
    import shutil

    shutil.rmtree(tmp_path / "base")
    shutil.copytree(tmp_path / "other", tmp_path / "base")
    with pytest.raises(CheckpointError, match="made for another base.*--base"):
        load_adapted(tmp_path / "ad")
    assert load_adapted(tmp_path / "ad", base=tmp_path / "other") is not None
    # shapes that do not fit
    tiny_gpt(n_embd=32).save_pretrained(tmp_path / "wide")
    with pytest.raises(CheckpointError, match="does not fit this base.*shape"):
        load_adapted(tmp_path / "ad", base=tmp_path / "wide")
    # unknown peft_type: one line, nothing loaded
    import json

    cfg = json.loads((tmp_path / "ad" / "adapter_config.json").read_text())
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "adapter_config.json").write_text(json.dumps({**cfg, "peft_type": "LOHA"}))
    with pytest.raises(ConfigError, match="unknown peft_type 'LOHA'"):
        load_adapted(tmp_path / "bad")


@pytest.mark.parametrize("kind", ["prompt", "lora"])
def test_left_padded_batch_generation_equals_rows_alone(kind):
    from genzoo.finetune import PromptTuningConfig

    model = tiny_gpt(block_size=32)
    config = PromptTuningConfig(num_virtual_tokens=3) if kind == "prompt" else LoraConfig(r=2, target_modules=["c_attn"])
    inject_adapter(model, config, generator=torch.Generator().manual_seed(0))
    randomize_adapters(model)
    a, b = torch.tensor([[5, 6, 7, 8]]), torch.tensor([[9, 10]])
    alone_a = model.generate(a, max_new_tokens=5, do_sample=False)
    alone_b = model.generate(b, max_new_tokens=5, do_sample=False)
    batch = model.generate(torch.tensor([[5, 6, 7, 8], [0, 0, 9, 10]]), attention_mask=torch.tensor([[1, 1, 1, 1], [0, 0, 1, 1]]),
                           max_new_tokens=5, do_sample=False)
    assert torch.equal(batch[0], alone_a[0]) and torch.equal(batch[1, 2:], alone_b[0])

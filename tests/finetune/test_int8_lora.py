"""LoRA on genzoo's int8-quantised GPT (QLoRA's idea on CPU int8): the int8 base stays frozen, the fp32
adapter trains, merging de-quantises, adds and re-quantises, unmerge restores the int8 tensors exactly."""
import torch

from finetune_helpers import ids, randomize_adapters, tiny_gpt

from genzoo.finetune import LoraConfig, adapter_layers, inject_adapter, merge, unmerge
from genzoo.finetune.qlora import LoRAInt8Linear
from genzoo.nn.quantized import quantize_rows


def test_int8_lora_trains_the_adapter_only_and_merges_by_requantising():
    model = tiny_gpt().quantize("int8")
    x = ids()
    with torch.no_grad():
        base_out = model(x)
    inject_adapter(model, LoraConfig(r=4, target_modules=["c_attn", "c_fc"]))
    layers = dict(adapter_layers(model))
    assert layers and all(isinstance(layer, LoRAInt8Linear) for layer in layers.values())
    with torch.no_grad():
        assert torch.equal(model(x), base_out)
    int8_before = {n: (layer.base_layer.weight.clone(), layer.base_layer.scale.clone()) for n, layer in layers.items()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(3):
        loss = model.loss(x)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert all(torch.equal(layer.base_layer.weight, int8_before[n][0]) for n, layer in layers.items())
    assert all(layer.lora_B["default"].abs().sum() > 0 for layer in layers.values())  # the adapter learned
    randomize_adapters(model, scale=0.05)
    with torch.no_grad():
        adapted = model(x)
        expected = {n: quantize_rows(layer.dequantized() + layer.delta_weight("default")) for n, layer in layers.items()}
    merge(model)
    for n, layer in layers.items():
        assert torch.equal(layer.base_layer.weight, expected[n][0]) and torch.equal(layer.base_layer.scale, expected[n][1])
    with torch.no_grad():
        merged = model(x)
    assert (merged - adapted).abs().max() < 0.05 * adapted.abs().max()  # one more int8 rounding
    unmerge(model)
    for n, layer in layers.items():
        assert torch.equal(layer.base_layer.weight, int8_before[n][0]) and torch.equal(layer.base_layer.scale, int8_before[n][1])
    with torch.no_grad():
        assert torch.equal(model(x), adapted)
    out = model.generate(ids(1, 3), max_new_tokens=5, do_sample=False)
    assert out.shape == (1, 8)

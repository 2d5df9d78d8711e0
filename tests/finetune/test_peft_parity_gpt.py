"""Adapters cross between genzoo and Hugging Face PEFT on GPT-2: genzoo-made adapters load with
``peft.PeftModel.from_pretrained(GPT2LMHeadModel)`` and PEFT-made ones load into genzoo, with the
same logits (≤ 1e-5)."""
import pytest
import torch

peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

from finetune_helpers import ids, randomize_adapters, tiny_gpt  # noqa: E402

from genzoo.finetune import IA3Config, LoraConfig, inject_adapter, load_adapted, save_adapter  # noqa: E402
from genzoo.models.gpt import GPT  # noqa: E402

CONFIGS = {
    "lora": lambda: LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj"]),
    "lora-rslora-fc-wte": lambda: LoraConfig(r=2, lora_alpha=4, use_rslora=True, target_modules=["c_fc", "wte"]),
    "lora-regex": lambda: LoraConfig(r=3, lora_alpha=3, target_modules=r".*\.0\.attn\.c_attn"),
    "dora": lambda: LoraConfig(r=4, lora_alpha=8, use_dora=True, target_modules=["c_attn", "mlp.c_proj"]),
    "ia3": lambda: IA3Config(target_modules=["c_attn", "mlp.c_proj"], feedforward_modules=["mlp.c_proj"]),
}
PEFT_CONFIGS = {
    "lora": lambda: peft.LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj"], fan_in_fan_out=True),
    "lora-rslora-fc-wte": lambda: peft.LoraConfig(r=2, lora_alpha=4, use_rslora=True, target_modules=["c_fc", "wte"], fan_in_fan_out=True),
    "lora-regex": lambda: peft.LoraConfig(r=3, lora_alpha=3, target_modules=r".*\.0\.attn\.c_attn", fan_in_fan_out=True),
    "dora": lambda: peft.LoraConfig(r=4, lora_alpha=8, use_dora=True, target_modules=["c_attn", "mlp.c_proj"], fan_in_fan_out=True),
    "ia3": lambda: peft.IA3Config(target_modules=["c_attn", "mlp.c_proj"], feedforward_modules=["mlp.c_proj"], fan_in_fan_out=True),
}


@pytest.fixture
def hf_base(tmp_path):
    model = tiny_gpt()
    model.save_pretrained(tmp_path / "base", format="hf")
    return tmp_path / "base"


def hf_logits(model, x):
    with torch.no_grad():
        return model(x).logits


@pytest.mark.parametrize("method", list(CONFIGS))
def test_genzoo_adapter_loads_in_peft_with_the_same_logits(method, hf_base, tmp_path):
    model = GPT.from_pretrained(hf_base)
    inject_adapter(model, CONFIGS[method]())
    randomize_adapters(model)
    save_adapter(model, tmp_path / "adapter", base=hf_base)
    x = ids()
    with torch.no_grad():
        ours = model(x)
    hf = transformers.GPT2LMHeadModel.from_pretrained(hf_base).eval()
    theirs = peft.PeftModel.from_pretrained(hf, tmp_path / "adapter").eval()
    plain = hf_logits(hf.__class__.from_pretrained(hf_base).eval(), x)
    assert (hf_logits(theirs, x) - plain).abs().max() > 1e-3  # the adapter changes the output
    assert (hf_logits(theirs, x) - ours).abs().max() <= 1e-5


@pytest.mark.parametrize("method", list(PEFT_CONFIGS))
def test_peft_adapter_loads_in_genzoo_with_the_same_logits(method, hf_base, tmp_path):
    torch.manual_seed(5)
    hf = peft.get_peft_model(transformers.GPT2LMHeadModel.from_pretrained(hf_base).eval(), PEFT_CONFIGS[method]())
    randomize_adapters(hf, seed=7)
    hf.save_pretrained(tmp_path / "peft")
    x = ids()
    theirs = hf_logits(hf.eval(), x)
    ours_model = load_adapted(tmp_path / "peft", base=hf_base)
    with torch.no_grad():
        ours = ours_model(x)
        assert (ours - GPT.from_pretrained(hf_base)(x)).abs().max() > 1e-3
    assert (ours - theirs).abs().max() <= 1e-5


def test_prompt_tuning_both_ways(hf_base, tmp_path):
    from genzoo.finetune import PromptTuningConfig

    x = ids()
    # PEFT -> genzoo
    torch.manual_seed(2)
    hf = peft.get_peft_model(transformers.GPT2LMHeadModel.from_pretrained(hf_base).eval(),
                             peft.PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=3))
    hf.save_pretrained(tmp_path / "peft")
    theirs = hf_logits(hf.eval(), x)[:, 3:]  # PEFT returns the virtual positions too
    ours_model = load_adapted(tmp_path / "peft", base=hf_base)
    with torch.no_grad():
        assert (ours_model(x) - theirs).abs().max() <= 1e-5
        assert (ours_model(x) - GPT.from_pretrained(hf_base)(x)).abs().max() > 1e-3
    # genzoo -> PEFT
    model = GPT.from_pretrained(hf_base)
    inject_adapter(model, PromptTuningConfig(num_virtual_tokens=4), generator=torch.Generator().manual_seed(0))
    save_adapter(model, tmp_path / "ours", base=hf_base)
    back = peft.PeftModel.from_pretrained(transformers.GPT2LMHeadModel.from_pretrained(hf_base).eval(), tmp_path / "ours").eval()
    with torch.no_grad():
        assert (hf_logits(back, x)[:, 4:] - model(x)).abs().max() <= 1e-5
    # generation through the cache sees the virtual tokens once: the same tokens as full forwards
    prompt = ids(2, 3)
    out = model.generate(prompt, max_new_tokens=5, do_sample=False)
    with torch.no_grad():
        seq = prompt
        for _ in range(5):
            seq = torch.cat([seq, model(seq)[:, -1:].argmax(-1)], 1)
    assert torch.equal(out, seq)

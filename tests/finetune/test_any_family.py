"""Adapters work on any genzoo model by module names: the VAE, the GAN generator, a flow's conditioner
networks, the diffusion U-Net. The adapted model starts equal to the base and only adapter
parameters get gradients."""
import pytest
import torch

from finetune_helpers import randomize_adapters

from genzoo.finetune import LoraConfig, inject_adapter, trainable_parameters
from genzoo.registry import MODELS

TARGETS = {"vae": "all-linear", "gan": r"generators\.0\.net\.\d+", "realnvp": "all-linear", "ddpm": "all-linear"}


@pytest.mark.parametrize("family", list(TARGETS))
def test_lora_on_family(family):
    cls = MODELS.get(family)
    config, batch = cls.contract_fixture()
    torch.manual_seed(0)
    model = cls(config).eval()
    x = batch if torch.is_tensor(batch) else batch[0]
    targets = TARGETS[family]
    with torch.random.fork_rng():
        torch.manual_seed(1)
        before = model.sample(4, generator=torch.Generator().manual_seed(0))
    inject_adapter(model, LoraConfig(r=2, target_modules=targets))
    with torch.random.fork_rng():
        torch.manual_seed(1)
        assert torch.equal(model.sample(4, generator=torch.Generator().manual_seed(0)), before)
    trainable, total = trainable_parameters(model)
    assert 0 < trainable < total
    randomize_adapters(model, scale=0.05)
    model.train()
    if family == "gan":  # trains through training_step; its generator objective
        loss = model.generator_loss(4)[0]
    else:
        loss = model.loss(x)["loss"]
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    assert all(p.grad is None for p in model.parameters() if not p.requires_grad)

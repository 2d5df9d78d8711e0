"""The torch.compile option for sampling (``genzoo.nn.compile``): compiled DDPM sampling equals eager,
no recompiles across timesteps, and clear errors where compiling is not possible.

Inductor generates and builds real C++ kernels, so the network is the smallest U-Net that still has
every block type (8 channels, two 8x8/4x4 levels, attention): each compile takes seconds, not minutes.
"""
import pytest
import torch
from torch._dynamo.utils import counters

import genzoo as gz
from genzoo.errors import ConfigError, NotSupported
from genzoo.nn.compile import compile_network, inductor_cache_dir, is_compiled


@pytest.fixture(autouse=True)
def fresh_dynamo(tmp_path, monkeypatch):
    """Kernels cached under tmp_path (not the user's cache); dynamo's caches and counters reset."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


def tiny_unet_ddpm():
    torch.manual_seed(0)
    return gz.build("ddpm", shape=(1, 8, 8), block_out_channels=(8, 8), attention_levels=(1,), norm_num_groups=4,
                    attention_head_dim=4, num_train_timesteps=100, sampler="ddim", sample_steps=3)


@pytest.mark.slow
def test_compiled_sampling_equals_eager_without_recompiles():
    """Inductor for real (a C++ build: ~30 s of CPU on 2 cores, minutes when the machine is shared)."""
    model = tiny_unet_ddpm().eval()
    names = list(model.state_dict())
    eager = model.sample(4, generator=torch.Generator().manual_seed(0))
    compiled = model.sample(4, generator=torch.Generator().manual_seed(0), compile=True)
    assert is_compiled(model.net)
    torch.testing.assert_close(compiled, eager, atol=1e-4, rtol=0)
    assert counters["stats"]["unique_graphs"] == 1  # the 3 DDIM timesteps share one graph (t is a tensor)
    assert sum(counters["graph_break"].values()) == 0
    assert list(model.state_dict()) == names  # compiled in place: saving and loading are unchanged
    again = model.sample(4, generator=torch.Generator().manual_seed(0), compile=True)  # reuses the compiled net
    torch.testing.assert_close(again, compiled, atol=0, rtol=0)
    assert counters["stats"]["unique_graphs"] == 1


def test_compile_without_a_cpp_compiler_is_not_supported(monkeypatch):
    import torch._inductor.cpp_builder as cpp_builder

    def missing():
        raise RuntimeError("no working C++ compiler found")

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", missing)
    model = tiny_unet_ddpm()
    with pytest.raises(NotSupported, match="C\\+\\+ compiler"):
        compile_network(model.net)
    assert not is_compiled(model.net)


def test_cache_dir_defaults_to_the_user_cache(monkeypatch, tmp_path):
    assert inductor_cache_dir() == tmp_path / "inductor"  # TORCHINDUCTOR_CACHE_DIR wins (set by the fixture)
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert inductor_cache_dir() == tmp_path / "xdg" / "genzoo" / "inductor"


def test_cli_sample_compile_is_for_diffusion_models(tmp_path):
    from genzoo.cli.runs import sample_run

    model = gz.build("gaussian", shape=(2,))
    model.save_pretrained(tmp_path / "g")
    with pytest.raises(ConfigError, match="--compile"):
        sample_run(tmp_path / "g", n=4, compile=True)

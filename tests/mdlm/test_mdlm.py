"""MDLM: its NELBO by enumeration (all masks at a fixed t) equals the Monte-Carlo loss in expectation,
its integral over t equals the any-order autoregressive NLL (the mean over all orderings), ``log_prob``
estimates it; trained on two molecules it draws them; bad input is one line."""
import functools
import itertools
import math

import pytest
import torch
from scipy import integrate

import genzoo as gz
from genzoo.models.mdlm import MDLM, MDLMConfig

L, V = 3, 4
X = torch.tensor([[2, 0, 3]])


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = MDLM(MDLMConfig(vocab_size=V, block_size=L, n_layer=1, n_head=2, n_embd=16)).double().eval()
    for p in m.parameters():  # larger weights: predictions that depend on the context
        p.data.normal_(0, 0.5)
    return m


def _nll(model, masked: tuple[int, ...]) -> list[float]:
    """−log x_θ(z)[x_i] at each position i, z = X with the positions ``masked`` masked."""
    z = X.clone()
    z[0, list(masked)] = model.mask_id
    with torch.no_grad():
        logp = torch.log_softmax(model(z), -1)[0]
    return [-float(logp[i, X[0, i]]) for i in range(L)]


def _expected_at(model, t: float) -> float:
    """E over masks at time t of (1/t) Σ_masked −log x_θ: every one of the 2^L masks with its probability."""
    total = 0.0
    for bits in itertools.product([0, 1], repeat=L):
        masked = tuple(i for i in range(L) if bits[i])
        if masked:
            nll = _nll(model, masked)
            total += t ** len(masked) * (1 - t) ** (L - len(masked)) * sum(nll[i] for i in masked) / t
    return total


def _any_order_nll(model) -> float:
    """Mean over the L! orderings σ of Σ_k −log p(x_σ(k) | x_σ(<k) revealed, the rest masked)."""
    total = 0.0
    for order in itertools.permutations(range(L)):
        total += sum(_nll(model, order[k:])[order[k]] for k in range(L))
    return total / math.factorial(L)


def test_the_one_draw_nelbo_is_unbiased_for_the_enumerated_expectation(model):
    t = 0.4
    with torch.no_grad():
        draws = model.nelbo(X.expand(20000, L), torch.full((20000,), t), torch.Generator().manual_seed(0))
    exact = _expected_at(model, t)
    assert abs(float(draws.mean()) - exact) < 4 * float(draws.std()) / math.sqrt(20000)


def test_the_nelbo_integral_is_the_any_order_autoregressive_nll(model):
    value, error = integrate.quad(lambda t: _expected_at(model, t), 0.0, 1.0, epsabs=1e-10)
    assert value == pytest.approx(_any_order_nll(model), rel=1e-7)


def test_log_prob_estimates_minus_the_nelbo(model):
    target = -_any_order_nll(model)
    lp = model.log_prob(X.expand(64, L), k=64, generator=torch.Generator().manual_seed(1))
    assert lp.shape == (64,)
    assert float(lp.mean()) == pytest.approx(target, rel=0.03)


def test_trained_on_two_molecules_it_draws_them(tmp_path, capsys):
    from cli_run import run_cli

    low, high = "CCCCCCCCCCCCCCCC", "O=C(Nc1ccccc1)c1cccnc1"
    path = tmp_path / "two.smi"
    path.write_text(f"{low}\n{high}\n" * 16)
    run = tmp_path / "run"
    code, _, err = run_cli(["train", "mdlm", "--data", f"smiles:{path}", "--steps", "400", "--batch-size", "32", "--lr", "3e-3",
                            "--set", "n_layer=2", "--set", "n_embd=32", "--set", "n_head=2", "--data-arg",
                            "block_size=24", "--ema-decay", "0", "--out", run, "--no-progress"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["sample", run, "-n", "64", "--seed", "0", "--out", tmp_path / "s.smi"], capsys)
    assert code == 0, err
    smiles = (tmp_path / "s.smi").read_text().splitlines()
    assert len(smiles) == 64 and gz.load(run).tokenizer is not None  # tokenizer.json: no data needed to decode
    ok = sum(s in (low, high) for s in smiles)
    assert ok >= 48 and 8 <= sum(s == high for s in smiles) <= 56, smiles


def test_bad_input_is_one_line(model):
    with pytest.raises(gz.errors.DataError, match="rows of 3 tokens, got 4"):
        model.loss(torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(gz.errors.DataError, match=r"token ids must be in \[0, 4\)"):
        model.loss(torch.full((2, 3), 9))
    with pytest.raises(gz.errors.ConfigError, match="temperature must be > 0"):
        model.sample(2, temperature=0)
    with pytest.raises(gz.errors.ConfigError, match="t_min must be in"):
        MDLMConfig(t_min=0.0)


class _Sure(MDLM):
    """A denoiser that is the surer of token 1 the later the position; it records what it is shown."""

    def forward(self, z):
        self.seen.append(z.clone())
        logits = torch.zeros(*z.shape, V)
        logits[..., 1] = 8.0 * torch.arange(z.shape[1])
        return logits


def test_confidence_order_reveals_the_surest_positions_first():
    sure = _Sure(MDLMConfig(vocab_size=V, block_size=L, n_layer=1, n_head=2, n_embd=16))
    sure.seen = []
    a = sure.sample(4, generator=torch.Generator().manual_seed(0), order="confidence")
    masked = [(z == sure.mask_id)[0].tolist() for z in sure.seen]
    assert masked == [[True, True, True], [True, True, False], [True, False, False]]  # last position first
    sure.seen = []
    assert torch.equal(a, sure.sample(4, generator=torch.Generator().manual_seed(0), order="confidence"))
    sure.seen = []
    sure.sample(64, generator=torch.Generator().manual_seed(0))  # random order: any position may go first
    assert (sure.seen[1] != sure.mask_id).float().mean(0).min() > 0.1
    with pytest.raises(gz.errors.ConfigError, match="order must be one of random, confidence"):
        MDLM(MDLMConfig(vocab_size=V, block_size=L, n_layer=1, n_head=2, n_embd=16)).sample(2, order="left")


def test_genzoo_sample_passes_steps_and_temperature_to_mdlm(tmp_path, capsys, monkeypatch):
    from cli_run import run_cli

    path = tmp_path / "m.smi"
    path.write_text("CCO\nCCN\nc1ccccc1\nCC(=O)O\n" * 4)
    run = tmp_path / "run"
    code, _, err = run_cli(["train", "mdlm", "--data", f"smiles:{path}", "--steps", "2", "--set", "n_layer=1",
                            "--set", "n_embd=16", "--set", "n_head=2", "--out", run, "--no-progress"], capsys)
    assert code == 0, err
    seen = []
    real = MDLM.sample

    @functools.wraps(real)  # the same signature: genzoo sample checks that the family takes --temperature
    def spy(self, n, **kw):
        seen.append(kw)
        return real(self, n, **kw)

    monkeypatch.setattr(MDLM, "sample", spy)
    code, _, err = run_cli(["sample", run, "-n", "3", "--steps", "4", "--temperature", "0.5",
                            "--out", tmp_path / "s.smi"], capsys)
    assert code == 0, err
    assert seen[0]["steps"] == 4 and seen[0]["temperature"] == 0.5

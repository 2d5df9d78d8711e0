"""Tuned defaults per data kind: gz.build and the Trainer use them; explicit overrides win."""
import genzoo as gz
from genzoo.leaderboard.budgets import budget_for
from genzoo.models.gaussian import GaussianMixture as Gaussian


def test_kind_defaults_apply_to_build_trainer_and_leaderboard(monkeypatch):
    tuned = {"2d": {"budget": {"steps": 7, "batch_size": 5, "lr": 0.123}, "config": {"n_components": 3}}}
    monkeypatch.setattr(Gaussian, "kind_defaults", tuned)
    data = gz.load_dataset("moons", split="train")
    model = gz.build("gaussian", data)
    assert model.config.n_components == 3
    assert gz.build("gaussian", data, n_components=2).config.n_components == 2  # --set wins
    trainer = gz.Trainer(model, data, progress=False)
    assert (trainer.steps, trainer.batch_size, trainer.lr) == (7, 5, 0.123)
    assert gz.Trainer(model, data, steps=3, progress=False).steps == 3           # --steps wins
    board = budget_for(Gaussian, data, quick=False)
    assert (board["batch_size"], board["lr"]) == (5, 0.123)
    digits = gz.load_dataset("digits", split="train")                             # other kinds untouched
    assert gz.build("gaussian", digits).config.n_components == Gaussian.config_class().n_components
    assert Gaussian.budget_for_kind("image")["lr"] == Gaussian.default_budget["lr"]

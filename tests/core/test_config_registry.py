"""Config coercion and registry suggestions."""
import pytest

import genzoo as gz
from genzoo.models.gaussian import GaussianConfig


def test_from_dict_coerces_cli_strings():
    cfg = GaussianConfig.from_dict({"n_components": "8", "shape": "(1, 8, 8)", "min_std": "0.01", "levels": "None"})
    assert cfg.n_components == 8 and cfg.shape == (1, 8, 8) and cfg.min_std == 0.01 and cfg.levels is None


def test_bad_value_is_one_line():
    with pytest.raises(gz.ConfigError, match="n_components='eight' is not a valid int"):
        GaussianConfig.from_dict({"n_components": "eight"})


def test_unknown_names_suggest_closest():
    with pytest.raises(gz.ConfigError, match="did you mean 'gaussian'"):
        gz.build("gausian")
    with pytest.raises(gz.ConfigError, match="did you mean 'nll'"):
        gz.evaluate(gz.build("gaussian"), gz.load_dataset("moons", "test"), metrics=["nl"])


def test_build_from_dataset_name():
    model = gz.build("gaussian", "digits", n_components=2)
    assert model.config.shape == (1, 8, 8) and model.config.levels == 17 and model.config.n_components == 2

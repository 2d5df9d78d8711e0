"""``init_from``: a new run whose weights start from a saved model (the base for fine-tuning).

The source is any directory ``gz.load`` reads (a genzoo run, a transformers GPT-2 directory for
``gpt``, a diffusers pipeline for ``ddpm``) or a model object. It must be of the same family and have
every parameter and buffer with the same shape; otherwise a one-line ``ConfigError`` names the family
or the first weight that differs (and the config fields behind it). Only weights are taken: the
optimizer, the step counter, the EMA and the data order start afresh.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ConfigError, DataError, GenzooError


def load_source(source):
    """``(model, name)`` for a directory or a model object."""
    if isinstance(source, (str, Path)):
        from ..api import load

        return load(source), str(source)
    if not isinstance(source, torch.nn.Module) or not hasattr(source, "model_type"):
        raise ConfigError(f"init_from must be a saved model directory or a genzoo model, got {type(source).__name__}")
    return source, f"the given {type(source).__name__}"


def check_family(src, name: str, model_type: str) -> None:
    if src.model_type != model_type:
        raise ConfigError(f"--init-from {name} holds a {src.model_type!r} model, this run trains {model_type!r}; "
                          "start from a model of the same family")


def init_weights_from(model, source, name: str | None = None) -> str:
    """Copy ``source``'s weights into ``model`` after checking family and shapes; returns its name."""
    src, default_name = load_source(source)
    name = name or default_name
    check_family(src, name, model.model_type)
    theirs, ours = src.state_dict(), model.state_dict()
    hint = _config_hint(src, model)
    for key, value in ours.items():
        if key not in theirs:
            raise ConfigError(f"--init-from {name}: it has no weight {key!r}, which this model has{hint}")
        if tuple(theirs[key].shape) != tuple(value.shape):
            raise ConfigError(f"--init-from {name}: weight {key!r} has shape {tuple(theirs[key].shape)} there, "
                              f"{tuple(value.shape)} here{hint}")
    extra = [k for k in theirs if k not in ours]
    if extra:
        raise ConfigError(f"--init-from {name}: its weight {extra[0]!r} has no place in this model{hint}")
    with torch.no_grad():
        for key, value in ours.items():
            value.copy_(theirs[key].to(value.device, value.dtype))
    if getattr(model, "tokenizer", "absent") is None and getattr(src, "tokenizer", None) is not None:
        model.set_tokenizer(src.tokenizer)
    return name


def check_data_fits(model, data, name: str) -> None:
    """One loss on two examples (eval mode, RNG forked, no backward, state restored after): the data
    must fit the model before the run writes anything."""
    n, was_training = min(2, len(data)), model.training
    before = {k: v.clone() for k, v in model.state_dict().items()}  # a loss may update buffers
    try:
        with torch.random.fork_rng():
            model.eval()
            model.loss(data.batch(torch.arange(n)))
    except NotImplementedError:
        return  # families that train through training_step only
    except GenzooError as e:
        raise DataError(f"--init-from {name}: the data does not fit that model: {e}") from None
    except (RuntimeError, ValueError, IndexError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"--init-from {name}: the data does not fit that model ({first})") from None
    finally:
        model.load_state_dict(before)
        model.train(was_training)


def _config_hint(src, model) -> str:
    a, b = src.config.to_dict(), model.config.to_dict()
    diff = [k for k in b if a.get(k) != b[k]]
    if not diff:
        return ""
    parts = ", ".join(f"{k}: {a.get(k)!r} there, {b[k]!r} here" for k in diff[:3])
    return f" (the configs differ in {parts}{', ...' if len(diff) > 3 else ''})"

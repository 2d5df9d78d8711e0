"""genzoo.models: one file per family; each registers itself (``gz.list_models()``).

Model classes are reachable by class name, e.g. ``gz.models.GPT`` or ``gz.models.GaussianMixture``,
without importing every family up front.
"""


def __getattr__(name: str):
    from ..registry import MODELS

    for _, cls in MODELS.items():
        if cls.__name__ == name:
            return cls
    raise AttributeError(f"module 'genzoo.models' has no attribute {name!r}")

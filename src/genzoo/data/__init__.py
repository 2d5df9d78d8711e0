"""Built-in datasets (offline): 2-D toys, digits/shapes images, Python stdlib text."""
from .base import GenDataset
from .loading import load_dataset

__all__ = ["GenDataset", "load_dataset"]

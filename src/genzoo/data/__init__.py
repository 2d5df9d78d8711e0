"""Built-in datasets (offline): 2-D toys, digits/shapes images, Python stdlib text, user files."""
from .base import GenDataset
from .loading import load_dataset
from .tokenizers import Tokenizer

__all__ = ["GenDataset", "load_dataset", "Tokenizer"]

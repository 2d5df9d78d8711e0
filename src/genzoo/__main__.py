"""``python -m genzoo`` (and ``torchrun -m genzoo train ...``): the ``genzoo`` command line."""
from .cli.main import entry

if __name__ == "__main__":
    entry()

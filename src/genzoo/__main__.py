"""``python -m genzoo`` (and ``torchrun -m genzoo train ...``): the ``genzoo`` command line."""
from .cli.main import main

if __name__ == "__main__":
    main()

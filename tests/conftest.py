"""Suite-wide setup. Tests run in pytest's importlib mode (areas may reuse test file names), so each
area's directory is put on sys.path for its helper modules (``gpt_helpers``, ``toys`` ...)."""
import sys
from pathlib import Path

for area in sorted(Path(__file__).parent.iterdir()):
    if area.is_dir() and not area.name.startswith((".", "__")) and str(area) not in sys.path:
        sys.path.insert(0, str(area))

import torch  # noqa: E402

# tiny models: one thread is faster and keeps results independent of the machine's core count
torch.set_num_threads(1)

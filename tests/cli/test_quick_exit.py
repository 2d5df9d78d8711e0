"""The ``genzoo`` program's quick exit (cli.main.entry): same exit codes, output and files as a normal exit."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")


def genzoo(*args, code=None):
    prog = code or "import sys; from genzoo.cli.main import entry; sys.argv = ['genzoo', *sys.argv[1:]]; entry()"
    return subprocess.run([sys.executable, "-c", prog, *args], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=SRC))


def test_train_exits_zero_with_its_files_and_output(tmp_path):
    done = genzoo("train", "gaussian", "--data", "moons", "--steps", "3", "--out", str(tmp_path / "r"), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "saved to" in done.stdout
    assert {"model.safetensors", "loss.png", "README.md"} <= {p.name for p in (tmp_path / "r").iterdir()}


def test_errors_keep_exit_code_2_and_atexit_handlers_run(tmp_path):
    done = genzoo("train", "gausian", "--data", "moons")
    assert done.returncode == 2 and done.stderr.startswith("error: unknown model 'gausian'"), done.stderr
    code = ("import atexit, sys; atexit.register(lambda: print('atexit ran', flush=True)); "
            "from genzoo.cli.main import entry; sys.argv = ['genzoo', 'list']; entry()")
    done = genzoo(code=code)
    assert done.returncode == 0 and done.stdout.rstrip().endswith("atexit ran"), done.stdout[-500:]
    assert genzoo("--help").returncode == 0  # no command: the ordinary exit

"""``genzoo --help`` and ``genzoo list`` answer without importing torch or the plotting/ML stacks.

Each check runs in a fresh interpreter (this test process has torch imported already) and looks at
``sys.modules`` after the CLI's entry point has handled the command.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
HEAVY = ("torch", "numpy", "matplotlib", "scipy", "sklearn", "transformers", "PIL", "safetensors", "tokenizers")

PROBE = """
import contextlib, io, json, sys
from genzoo.cli.main import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main(sys.argv[1:])
    except SystemExit as e:
        assert not e.code, e.code
print(json.dumps({"loaded": sorted(m for m in %r if m in sys.modules), "out": out.getvalue()}))
""" % (HEAVY,)


def run_cli(*args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [("--help",), ("list",), ("train", "--help")])
def test_help_and_list_import_no_heavy_module(args):
    result = run_cli(*args)
    assert result["loaded"] == [], f"genzoo {' '.join(args)} imported {result['loaded']}"
    assert result["out"].strip()


def test_list_prints_every_registered_model_dataset_and_metric():
    import genzoo as gz  # the real registries, in this process

    out = run_cli("list")["out"]
    for name in gz.list_models() + gz.list_metrics() + [n for n in gz.list_datasets() if not n.endswith(":")]:
        assert name in out, name


def test_import_genzoo_is_light():
    env = dict(os.environ, PYTHONPATH=SRC)
    code = "import sys, genzoo; print(sorted(m for m in %r if m in sys.modules)); print(genzoo.__version__)" % (HEAVY,)
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.split("\n")
    assert lines[0] == "[]" and lines[1]

"""The stored catalog (what ``genzoo list`` prints without importing torch) equals the registries."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import genzoo as gz
from genzoo import catalog

SRC = str(Path(__file__).resolve().parents[2] / "src")


def fresh(code: str) -> str:
    """Run ``code`` in a new interpreter (this process's registries may hold test-only models)."""
    env = dict(os.environ, PYTHONPATH=SRC)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout


def test_stored_catalog_equals_the_registries():
    real = json.loads(fresh("import json; from genzoo import catalog; print(json.dumps(catalog.from_registries()))"))
    stored = json.loads(json.dumps(catalog.stored()))
    for key in real:
        assert stored.get(key) == real[key], (
            f"genzoo/_catalog_data.py is stale ({key}); refresh it with: python -m genzoo.catalog")


def test_listing_falls_back_to_the_registries_when_module_files_change(monkeypatch):
    assert catalog.listing() is catalog.stored()
    monkeypatch.setattr(catalog, "source_modules", lambda: ["models/new_family.py"])
    found = catalog.listing()
    assert found is not catalog.stored() and set(gz.list_models()) <= set(found["models"])


def test_get_imports_only_the_module_that_registers_the_name():
    out = fresh("import sys; from genzoo.registry import MODELS; cls = MODELS.get('nsf'); "
                "print(cls.__name__, 'genzoo.models.gpt' in sys.modules, 'genzoo.models.flows.nsf' in sys.modules)")
    name, gpt_loaded, nsf_loaded = out.split()
    assert (gpt_loaded, nsf_loaded) == ("False", "True") and name


def test_a_stale_hint_falls_back_to_discovery():
    out = fresh("from genzoo import catalog; from genzoo.registry import MODELS\n"
                "catalog.module_of = lambda kind, name: 'genzoo.models.gaussian'  # the wrong module\n"
                "MODELS.register('by-hand')(object)\n"
                "print(MODELS.get('nsf').model_type, MODELS.get('by-hand') is object)")
    assert out.split() == ["nsf", "True"]

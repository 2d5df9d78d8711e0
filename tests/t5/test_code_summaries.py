"""pystdlib-summaries: pairs from the standard library, split by module, deterministic and disjoint."""
import torch

import genzoo as gz
from genzoo.data.code_summaries import function_pairs, module_split
from genzoo.data.text import stdlib_files

SOURCE = '''
class Box:
    def get(self, key, default=None):
        """Return the value for key.

        More text that is not the summary.
        """
        return self.data.get(key, default)

def only_doc():
    """Nothing else in this body."""

def inline(x):  """Docstring on the def line."""; return x

async def fetch(url):
    """Fetch a page."""
    return await get(url)
'''


def test_function_pairs_drop_the_docstring_and_keep_its_first_line():
    pairs = {p["name"]: p for p in function_pairs(SOURCE, "pkg.mod")}
    assert set(pairs) == {"get", "fetch"}  # docstring-only and same-line docstrings are skipped
    get = pairs["get"]
    assert get["summary"] == "Return the value for key."
    assert get["source"] == "def get(self, key, default=None):\n    return self.data.get(key, default)\n"
    assert '"""' not in get["source"] and get["module"] == "pkg.mod"
    assert pairs["fetch"]["source"].startswith("async def fetch(url):\n")


def test_split_is_by_top_level_module_and_stable():
    modules = sorted({f.split("/")[0].removesuffix(".py") for f in stdlib_files()})
    splits = {m: module_split(m) for m in modules}
    assert {s for s in splits.values()} == {"train", "val", "test"}
    assert [module_split(m) for m in ("json", "copy", "os")] == ["val", "test", "train"]  # pinned: a sha256 bucket
    assert module_split("email.mime.text") == module_split("email")  # a package stays in one split


def test_dataset_splits_are_disjoint_packed_pairs():
    val = gz.load_dataset("pystdlib-summaries", "val", source_length=64, target_length=32)
    test = gz.load_dataset("pystdlib-summaries", "test", source_length=64, target_length=32)
    assert val.kind == "seq2seq" and val.shape == (96,)
    val_mods = {p["module"].split(".")[0] for p in val.info["pairs"]}
    test_mods = {p["module"].split(".")[0] for p in test.info["pairs"]}
    assert val_mods and test_mods and not val_mods & test_mods
    assert all(module_split(m) == "val" for m in val_mods)
    tok, info = val.tokenizer, val.info
    assert info["pad_token_id"] != info["eos_token_id"] and info["decoder_start_token_id"] == info["pad_token_id"]
    row, pair = val.x[0], info["pairs"][0]
    target = row[64:][row[64:] != info["pad_token_id"]].tolist()
    assert target[-1] == info["eos_token_id"] and tok.decode(target[:-1]) == pair["summary"]
    assert tok.decode(row[:64][row[:64] != info["pad_token_id"]].tolist()) == pair["source"][:64]
    assert info["truncated_sources"] == sum(len(p["source"]) > 64 for p in info["pairs"])  # counted, not silent
    again = gz.load_dataset("pystdlib-summaries", "val", source_length=64, target_length=32)
    assert torch.equal(again.x, val.x)  # deterministic

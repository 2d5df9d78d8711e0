"""genzoo generate --watermark-key / genzoo watermark detect --json, and one-line CLI errors."""
import json

import pytest

from safety_helpers import cli, save_char_gpt

TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return save_char_gpt(tmp_path_factory.mktemp("wm") / "m", TEXT, block_size=160)


def generate(run_dir, capsys, *extra):
    code, out, err = cli(["generate", str(run_dir), "the ", "--max-new-tokens", "120", "--seed", "1", *extra], capsys)
    assert code == 0, err
    return out.rstrip("\n")


def test_generate_watermarked_then_detect_json(run_dir, tmp_path, capsys):
    marked = generate(run_dir, capsys, "--watermark-key", "42", "--watermark-delta", "6")
    plain = generate(run_dir, capsys)
    for text, expect in ((marked, True), (plain, False)):
        f = tmp_path / "t.txt"
        f.write_text(text)
        code, out, err = cli(["watermark", "detect", str(run_dir), "--key", "42", "--text-file", str(f), "--json"], capsys)
        assert code == 0, err
        res = json.loads(out)
        assert {"z", "p_value", "watermarked"} <= set(res) and res["watermarked"] is expect, res
    code, out, _ = cli(["watermark", "detect", str(run_dir), "--key", "42", "--text-file", str(f)], capsys)
    assert out.startswith("not watermarked: z = ")


@pytest.mark.parametrize("args, match", [
    (["--key", "1", "--gamma", "1.5"], "gamma"),
    (["--key", "-3"], "key"),
    (["--key", "1", "--seeding", "sidehash"], "seeding"),
])
def test_detect_bad_options_are_one_line_errors(run_dir, tmp_path, capsys, args, match):
    f = tmp_path / "t.txt"
    f.write_text("the fox")
    code, _, err = cli(["watermark", "detect", str(run_dir), "--text-file", str(f), *args], capsys)
    assert code == 2 and err.count("\n") == 1 and match in err, err


def test_detect_bad_texts_are_one_line_errors(run_dir, tmp_path, capsys):
    (tmp_path / "empty.txt").write_text("\n")
    (tmp_path / "short.txt").write_text("t")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00")
    for name, match in (("empty.txt", "empty"), ("short.txt", "at least 2"), ("missing.txt", "does not exist"),
                        ("bin.txt", "UTF-8")):
        code, _, err = cli(["watermark", "detect", str(run_dir), "--key", "1", "--text-file", str(tmp_path / name)], capsys)
        assert code == 2 and err.count("\n") == 1 and match in err, err


def test_generate_bad_watermark_gamma_is_one_line_error(run_dir, capsys):
    code, _, err = cli(["generate", str(run_dir), "the ", "--watermark-key", "1", "--watermark-gamma", "0"], capsys)
    assert code == 2 and err.count("\n") == 1 and "gamma" in err, err

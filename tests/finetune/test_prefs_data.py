"""Preference JSONL (TRL's layout): standard, conversational and implicit-prompt lines read the same
way; bad lines are one-line DataErrors with their line number; tokenisation masks the completion."""
import json

import pytest
import torch

from genzoo.data.tokenizers import Tokenizer
from genzoo.errors import ConfigError, DataError
from genzoo.finetune.prefs_data import PreferencePair, read_prefs, tokenize_pairs, write_prefs

TOKENIZER = Tokenizer.train_char("abcdefghijklmnopqrstuvwxyz ():\n0123456789")


def write_lines(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_standard_conversational_and_implicit_lines(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [
        {"prompt": "def f(x):\n", "chosen": "    return x\n", "rejected": "    pass\n", "score_chosen": 1.0},
        "",
        {"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "hello"}],
         "rejected": [{"role": "assistant", "content": "go away"}]},
        {"chosen": "the sky is blue", "rejected": "the sky is green"},
        {"chosen": [{"role": "user", "content": "sky?"}, {"role": "assistant", "content": "blue"}],
         "rejected": [{"role": "user", "content": "sky?"}, {"role": "assistant", "content": "green"}]},
    ])
    pairs = read_prefs(path)
    assert [p.line for p in pairs] == [1, 3, 4, 5]
    assert pairs[0].extra == {"score_chosen": 1.0}
    assert (pairs[1].prompt, pairs[1].chosen, pairs[1].rejected) == ("user: hi\nassistant: ", "hello\n", "go away\n")
    assert (pairs[2].prompt, pairs[2].chosen, pairs[2].rejected) == ("the sky is", " blue", " green")  # TRL's rule
    assert (pairs[3].prompt, pairs[3].chosen) == ("user: sky?\nassistant: ", "blue\n")
    out = write_prefs(tmp_path / "round.jsonl", pairs)
    assert [(p.prompt, p.chosen, p.rejected) for p in read_prefs(out)] == [(p.prompt, p.chosen, p.rejected) for p in pairs]
    with pytest.raises(ConfigError, match="exists"):
        write_prefs(out, pairs)


@pytest.mark.parametrize("line,message", [
    ('{"prompt": "a", "chosen": "b", "rejected": }', "line 2: not valid JSON"),
    ('["a", "b"]', "line 2: expected a JSON object"),
    ('{"prompt": "a", "chosen": "b"}', "line 2: missing 'rejected'"),
    ('{"prompt": "a", "chosen": "  ", "rejected": "c"}', "line 2: chosen is empty"),
    ('{"prompt": "a", "chosen": "b", "rejected": ""}', "line 2: rejected is empty"),
    ('{"prompt": "a", "chosen": 3, "rejected": "c"}', "line 2: 'chosen' must be a string or a list"),
    ('{"prompt": [{"role": "user", "content": "a"}], "chosen": "b", "rejected": "c"}', "line 2: mixes text and message"),
    ('{"prompt": [{"role": "user"}], "chosen": [], "rejected": []}', "line 2: every message in 'prompt' needs"),
    ('{"prompt": [], "chosen": [{"role": "user", "content": "b"}], "rejected": [{"role": "assistant", "content": "c"}]}',
     "line 2: chosen is empty or does not start with an assistant message"),
])
def test_bad_lines_name_their_line(tmp_path, line, message):
    path = write_lines(tmp_path / "p.jsonl", ['{"prompt": "a", "chosen": "b", "rejected": "c"}', line])
    with pytest.raises(DataError, match=message) as info:
        read_prefs(path)
    assert "\n" not in str(info.value)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_prefs(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="no preference pairs"):
        read_prefs(write_lines(tmp_path / "e.jsonl", ["", "  "]))


def test_tokenize_masks_completions_and_rejects_long_prompts():
    pairs = [PreferencePair("def f(x):\n", " return x", " pass", line=7), PreferencePair("", "ab", "abcdefghijklmnopqrstuvwxyz")]
    data = tokenize_pairs(pairs, TOKENIZER, block_size=24)
    assert len(data) == 2 and data.info["truncated"] == 1  # the second rejected completion was cut to the context
    b = data.batch(torch.arange(2))
    eos = TOKENIZER.eos_token_id
    n_prompt = len(TOKENIZER.encode("def f(x):\n"))
    chosen = TOKENIZER.encode("def f(x):\n") + TOKENIZER.encode(" return x") + [eos]
    assert b["chosen_ids"][0, :len(chosen)].tolist() == chosen
    assert b["chosen_mask"][0].tolist() == [0.0] * n_prompt + [1.0] * (len(chosen) - n_prompt) + [0.0] * (24 - len(chosen))
    assert b["chosen_length"].tolist() == [len(chosen), 3] and b["rejected_length"][1] == 24
    assert b["prompt_length"].tolist() == [n_prompt, 0] and b["rejected_mask"][1].sum() == 24
    with pytest.raises(DataError, match=r"p.jsonl line 7: the prompt is 10 tokens but the context is 10"):
        tokenize_pairs(pairs, TOKENIZER, block_size=10, name="p.jsonl")

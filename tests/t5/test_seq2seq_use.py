"""Using a T5: pipelines, too-long sources, exact log p(y|x), and the CLI (train with a tiny config, generate)."""
import json

import pytest
import torch
from finetune_helpers import run_cli

import genzoo as gz
from genzoo.pipelines import pipeline


def test_log_prob_is_the_sum_of_teacher_forced_token_log_probs(char_t5):
    m, tok = char_t5, char_t5.tokenizer
    src = torch.tensor([tok.encode("def add(a, b):")])
    tgt = torch.tensor([tok.encode("sum") + [tok.eos_token_id]])
    packed = m.pack(src, tgt)
    with torch.no_grad():
        logits = m(src, m.shift_right(tgt))
        want = logits.log_softmax(-1).gather(2, tgt[..., None]).sum()
        assert torch.allclose(m.log_prob(packed), want.reshape(1), atol=1e-5)
        # batched with a longer pair (more padding columns for this one), its log-probability is the same
        other = m.pack(torch.tensor([tok.encode("def add(a, b, c, d):")]), torch.tensor([tok.encode("sum of a and")]))
        assert torch.allclose(m.log_prob(torch.cat([packed, other]))[0], m.log_prob(packed)[0], atol=1e-5)


def test_summarization_and_text2text_pipelines(char_t5, tmp_path):
    char_t5.save_pretrained(tmp_path / "m")
    summ = pipeline("summarization", model=str(tmp_path / "m"))
    out = summ("def add(a, b): a + b", max_new_tokens=6)
    assert isinstance(out, list) and list(out[0]) == ["summary_text"] and isinstance(out[0]["summary_text"], str)
    t2t = pipeline("text2text-generation", model=char_t5)
    many = t2t(["def add(a, b):", "return a"], max_new_tokens=6)
    assert [list(r) for r in many] == [["generated_text"], ["generated_text"]]
    # each input alone gives what it gives in the batch (right padding is masked)
    assert many[1] == t2t("return a", max_new_tokens=6)[0]
    beams = t2t("def add(a, b):", max_new_tokens=6, num_beams=3, num_return_sequences=2)
    assert len(beams) == 2
    ids = char_t5.generate(torch.tensor([char_t5.tokenizer.encode("def add(a, b):")]), max_new_tokens=6, num_beams=3)
    best = ids[0, 1:].tolist()
    best = best[:best.index(char_t5.config.eos_token_id)] if char_t5.config.eos_token_id in best else best
    assert beams[0]["generated_text"] == char_t5.tokenizer.decode(best, skip_special_tokens=True)
    with pytest.raises(gz.GenzooError, match="encoder"):
        pipeline("summarization", model=gz.build("gpt", vocab_size=20, block_size=8, n_layer=1, n_head=1, n_embd=8))


def test_a_source_longer_than_the_context_is_truncated_with_a_warning(char_t5):
    tok = char_t5.tokenizer
    long = torch.tensor([tok.encode("a + b " * 10)])  # 60 tokens, context 24
    with pytest.warns(UserWarning, match="exceeds the encoder's context of 24"):
        out = char_t5.generate(long, max_new_tokens=4)
    assert torch.equal(out, char_t5.generate(long[:, :24], max_new_tokens=4))
    with pytest.warns(UserWarning, match="truncated"):
        assert pipeline("summarization", model=char_t5)("a + b " * 10, max_new_tokens=4)


def test_cli_train_and_generate(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_cli(["train", "t5", "--data", "pystdlib-summaries", "--steps", "2", "--batch-size", "4",
                            "--set", "d_model=16", "--set", "d_kv=8", "--set", "d_ff=32", "--set", "num_layers=1",
                            "--data-arg", "source_length=48", "--data-arg", "target_length=16", "--out", run], capsys)
    assert code == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["model_type"] == "t5" and config["max_source_length"] == 48 and (run / "tokenizer.json").is_file()
    code, out, err = run_cli(["generate", run, "def f(x): return x+1", "--greedy", "--max-new-tokens", "8"], capsys)
    assert code == 0 and err == "", err
    assert out.endswith("\n") and len(out) <= 8 * 4 + 1  # the summary alone, no prompt echoed
    code, out, err = run_cli(["generate", run, "x = 1\n" * 20, "--num-beams", "2", "--max-new-tokens", "4"], capsys)
    assert code == 0 and err.startswith("warning: a source of 120 tokens exceeds the encoder's context of 48"), err
    code, _, err = run_cli(["train", "t5", "--data", "pystdlib", "--steps", "1", "--out", tmp_path / "bad"], capsys)
    assert code == 2 and err.startswith("error:") and "seq2seq" in err

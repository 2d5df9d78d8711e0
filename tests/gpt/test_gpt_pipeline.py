"""pipeline("text-generation"), streamer, stop strings and one-line errors for bad input."""
import json
import threading

import pytest
import torch
from gpt_helpers import TEXT, tiny_gpt

import genzoo as gz
from genzoo.generation import GenerationConfig, TextStreamer
from genzoo.pipelines import pipeline


@pytest.fixture
def model_dir(tmp_path, char_tokenizer):
    model = tiny_gpt(vocab_size=char_tokenizer.vocab_size)
    model.set_tokenizer(char_tokenizer)
    model.save_pretrained(tmp_path / "m")
    return tmp_path / "m"


def test_pipeline_returns_transformers_format(model_dir, char_tokenizer):
    pipe = pipeline("text-generation", model=str(model_dir))
    out = pipe("def ", max_new_tokens=10, eos_token_id=None)
    assert isinstance(out, list) and len(out) == 1 and out[0]["generated_text"].startswith("def ")
    ids = pipe.model.generate(torch.tensor([char_tokenizer.encode("def ")]), max_new_tokens=10, eos_token_id=None)
    assert out[0]["generated_text"] == char_tokenizer.decode(ids[0])
    several = pipe(["def ", "class P"], max_new_tokens=5, do_sample=True, num_return_sequences=2,
                   generator=torch.Generator().manual_seed(0), return_full_text=False)
    assert [len(r) for r in several] == [2, 2] and all(isinstance(d["generated_text"], str) for r in several for d in r)
    # a batched prompt gives what it gives alone (left padding)
    alone = pipe("class P", max_new_tokens=6, eos_token_id=None)
    batched = pipe(["def ", "class P"], max_new_tokens=6, eos_token_id=None)
    assert batched[1] == alone


def test_streamer_yields_text_as_it_is_generated(model_dir):
    model = gz.load(model_dir)
    tok = model.tokenizer
    prompt = torch.tensor([tok.encode("def ")])
    streamer = TextStreamer(tok)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("ids", model.generate(prompt, max_new_tokens=12, streamer=streamer, eos_token_id=None)))
    thread.start()
    pieces = list(streamer)
    thread.join()
    assert len(pieces) >= 2
    assert "".join(pieces) == tok.decode(result["ids"][0, prompt.shape[1]:])


def test_stop_strings_stop_each_row(model_dir):
    model = gz.load(model_dir)
    tok = model.tokenizer
    prompt = torch.tensor([tok.encode("def ")])
    free = tok.decode(model.generate(prompt, max_new_tokens=30, eos_token_id=None)[0, 4:])
    stop = free[5:7]
    out = model.generate(prompt, max_new_tokens=30, eos_token_id=None, stop_strings=[stop])
    text = tok.decode(out[0, 4:])
    assert text.endswith(stop) and stop not in text[:-len(stop)] and free.startswith(text)


def test_generation_config_file_round_trip(tmp_path):
    cfg = GenerationConfig(max_new_tokens=5, do_sample=True, top_p=0.9, stop_strings=["\n\n"], eos_token_id=[0, 3])
    cfg.save(tmp_path)
    assert json.loads((tmp_path / "generation_config.json").read_text())["top_p"] == 0.9
    assert GenerationConfig.from_file(tmp_path) == cfg
    (tmp_path / "generation_config.json").write_text('{"top_p": 3}')
    with pytest.raises(gz.CheckpointError, match="generation_config.json"):
        GenerationConfig.from_file(tmp_path)


@pytest.mark.parametrize("kw, match", [
    (dict(top_p=0.0), "top_p must be in"), (dict(top_p=1.5), "top_p must be in"),
    (dict(temperature=-1.0, do_sample=True), "temperature must be > 0"), (dict(top_k=-2), "top_k"),
    (dict(repetition_penalty=0.0), "repetition_penalty"), (dict(max_new_tokens=100), "exceeds the context"),
    (dict(bogus=1), "unknown option"), (dict(top_kk=3), "did you mean 'top_k'"),
])
def test_bad_generation_options(kw, match):
    with pytest.raises(gz.ConfigError, match=match):
        tiny_gpt().generate(torch.tensor([[1, 2]]), **kw)


def test_bad_prompts(model_dir):
    model = tiny_gpt()
    with pytest.raises(gz.DataError, match="longer|context"):
        model.generate(torch.zeros(1, 60, dtype=torch.long), max_new_tokens=1)
    with pytest.raises(gz.DataError, match="empty"):
        model.generate(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(gz.DataError, match="outside the model's vocabulary"):
        model.generate(torch.tensor([[3, 23]]))
    with pytest.raises(gz.DataError, match="left padded"):
        model.generate(torch.tensor([[3, 4, 0]]), torch.tensor([[1, 1, 0]]))
    pipe = pipeline("text-generation", model=model_dir)
    with pytest.raises(gz.DataError, match="no tokens"):
        pipe("")
    with pytest.raises(gz.ConfigError, match="unknown pipeline task"):
        pipeline("text-generaton", model=model_dir)


def test_tokenizer_model_vocab_mismatch(char_tokenizer):
    small = tiny_gpt(vocab_size=5)
    with pytest.raises(gz.ConfigError, match="vocab_size"):
        pipeline("text-generation", model=small, tokenizer=char_tokenizer)


def test_gpt2_vocab_merges_files_load_like_transformers(tmp_path):
    """A GPT-2 directory with vocab.json + merges.txt (no tokenizer.json) tokenizes like transformers."""
    transformers = pytest.importorskip("transformers")
    from genzoo.data.tokenizers import Tokenizer
    from genzoo.models.gpt import GPT

    bpe = Tokenizer.train_bpe(TEXT * 4, vocab_size=300)
    bpe.hf.model.save(str(tmp_path))  # writes vocab.json + merges.txt
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=bpe.vocab_size, n_positions=32))
    hf.save_pretrained(tmp_path)
    model = GPT.from_pretrained(tmp_path)
    ref = transformers.GPT2Tokenizer(vocab=str(tmp_path / "vocab.json"), merges=str(tmp_path / "merges.txt"))
    s = "def add(a, b):\n    return a"
    assert model.tokenizer.encode(s) == ref(s).input_ids
    assert model.tokenizer.decode(model.tokenizer.encode(s)) == s

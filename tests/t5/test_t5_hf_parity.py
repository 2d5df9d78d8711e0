"""T5 against transformers' T5ForConditionalGeneration (random tiny weights built here, nothing downloaded)."""
import pytest
import torch

import genzoo as gz
from genzoo.formats import detect_format

transformers = pytest.importorskip("transformers")


def hf_t5(seed=1, **kw):
    cfg = dict(vocab_size=40, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=2, relative_attention_num_buckets=8,
               relative_attention_max_distance=20, dropout_rate=0.0, decoder_start_token_id=0)
    torch.manual_seed(seed)
    model = transformers.T5ForConditionalGeneration(transformers.T5Config(**{**cfg, **kw})).eval()
    with torch.no_grad():  # non-trivial norm weights
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


def inputs(seed=2):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(2, 40, (3, 9), generator=g)
    mask = torch.ones_like(src)
    mask[0, 6:] = 0  # a padded row
    dec = torch.randint(0, 40, (3, 7), generator=g)
    dec[:, 0] = 0
    return src, mask, dec


@pytest.mark.parametrize("ff", ["relu", "gated-gelu"])
def test_load_transformers_dir_equal_logits(tmp_path, ff):
    hf = hf_t5(feed_forward_proj=ff, num_decoder_layers=3)
    hf.save_pretrained(tmp_path)
    assert detect_format(tmp_path) == "transformers-t5"
    ours = gz.load(tmp_path)
    assert ours.config.decoder_layers == 3 and ours.config.feed_forward_proj == ff
    src, mask, dec = inputs()
    with torch.no_grad():
        want = hf(input_ids=src, attention_mask=mask, decoder_input_ids=dec).logits
        got = ours(src, dec, mask)
    assert (want - got).abs().max() <= 1e-4
    # exact log p(y|x) is the teacher-forced sum, as transformers' mean loss times the token count
    labels = torch.randint(2, 40, (3, 5), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        hf_loss = hf(input_ids=src, attention_mask=mask, labels=labels).loss
        packed = ours.pack(src.masked_fill(mask == 0, ours.config.pad_token_id), labels)
        lp = ours.log_prob(packed)
    assert torch.allclose(-lp.sum() / labels.numel(), hf_loss, atol=1e-5)


def eos_that_occurs(hf, src, mask):
    """The second most likely first token of row 0: as EOS, some beams end at once and others go on, so
    the n-best list, the length penalty and the stopping rules all act."""
    with torch.no_grad():
        logits = hf(input_ids=src, attention_mask=mask, decoder_input_ids=torch.zeros(3, 1, dtype=torch.long)).logits
    return int(logits[0, -1].topk(2).indices[1])


SETTINGS = [dict(num_beams=1),
            dict(num_beams=3, length_penalty=0.6, early_stopping=True, num_return_sequences=2),
            dict(num_beams=3, length_penalty=1.5, early_stopping=False, num_return_sequences=2),
            dict(num_beams=3, length_penalty=1.5, early_stopping="never"),
            dict(num_beams=4, min_length=5, length_penalty=0.6)]


def test_greedy_and_beam_search_token_identical(tmp_path):
    hf = hf_t5()
    hf.save_pretrained(tmp_path)
    ours = gz.load(tmp_path)
    src, mask, _ = inputs()
    eos = eos_that_occurs(hf, src, mask)
    ended_early = 0
    for kw in SETTINGS:
        with torch.no_grad():
            want = hf.generate(input_ids=src, attention_mask=mask, max_new_tokens=12, do_sample=False, eos_token_id=eos, **kw)
        got = ours.generate(src, mask, max_new_tokens=12, eos_token_id=eos, **kw)
        assert want.shape == got.shape and torch.equal(want, got), kw
        ended_early += int((got[:, 1:-1] == eos).any())
    assert ended_early >= 1  # some hypotheses end on EOS before the length limit


@pytest.mark.parametrize("tie", [True, False])
def test_genzoo_writes_directories_transformers_loads(tmp_path, tie):
    from genzoo.models.t5 import T5, T5Config

    torch.manual_seed(0)
    ours = T5(T5Config(vocab_size=40, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=2, tie_word_embeddings=tie,
                       relative_attention_num_buckets=8, relative_attention_max_distance=20,
                       feed_forward_proj="relu" if tie else "gated-gelu")).eval()
    ours.save_pretrained(tmp_path, format="hf")
    hf = transformers.T5ForConditionalGeneration.from_pretrained(tmp_path).eval()
    src, mask, dec = inputs()
    with torch.no_grad():
        assert (hf(input_ids=src, attention_mask=mask, decoder_input_ids=dec).logits - ours(src, dec, mask)).abs().max() <= 1e-4
    kw = dict(num_beams=3, length_penalty=0.6, num_return_sequences=2, max_new_tokens=8)
    with torch.no_grad():
        assert torch.equal(hf.generate(input_ids=src, attention_mask=mask, do_sample=False, **kw), ours.generate(src, mask, **kw))
    again = gz.load(tmp_path)  # and genzoo reads its own transformers-format directory back
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), again.state_dict().values()))


def test_t5_directory_with_a_sentencepiece_style_tokenizer(tmp_path):
    """A T5 tokenizer.json says </s> and <pad> (no <|endoftext|>): genzoo reads it and the pipeline runs."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers

    from genzoo.pipelines import pipeline

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(c, -1.0) for c in "abcdefghij▁"]
    tok = HFTokenizer(models.Unigram(vocab, unk_id=2))
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
    tok.add_special_tokens(["<pad>", "</s>", "<unk>"])
    hf_t5(vocab_size=14).save_pretrained(tmp_path)
    tok.save(str(tmp_path / "tokenizer.json"))
    ours = gz.load(tmp_path)
    assert (ours.tokenizer.eos_token_id, ours.tokenizer.pad_token_id) == (1, 0)
    assert ours.generation_config.eos_token_id == 1 and ours.generation_config.pad_token_id == 0
    out = pipeline("summarization", model=str(tmp_path))("abc def", max_new_tokens=4)
    assert list(out[0]) == ["summary_text"]

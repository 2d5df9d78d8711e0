"""PII recognisers (presidio's pattern recognisers run offline + genzoo's secret rules) and redaction."""
import pytest

from genzoo.errors import ConfigError
from genzoo.safety.pii import PIIDetector, detect, entropy, redact, resolve_entities

pytest.importorskip("presidio_analyzer")


@pytest.fixture(scope="module")
def detector():
    return PIIDetector()


def found(detector, text):
    return [(s.entity, s.text) for s in detector.detect(text)]


@pytest.mark.parametrize("text, entity, value", [
    ("write to jane.roe@example.org today", "EMAIL_ADDRESS", "jane.roe@example.org"),
    ("card 4111 1111 1111 1111 exp 12/29", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("mc 2221000000000009 ok", "CREDIT_CARD", "2221000000000009"),  # Mastercard 2-series: presidio's regex misses it
    ("amex 378282246310005.", "CREDIT_CARD", "378282246310005"),
    ("call +1 415-555-2671 now", "PHONE_NUMBER", "+1 415-555-2671"),
    ("ring 0121 496 0219 after six", "PHONE_NUMBER", "0121 496 0219"),
    ("pay DE89370400440532013000 by friday", "IBAN_CODE", "DE89370400440532013000"),
    ("host 192.168.10.1 is down", "IP_ADDRESS", "192.168.10.1"),
    ("v6 2001:db8::8a2e:370:7334 up", "IP_ADDRESS", "2001:db8::8a2e:370:7334"),
    ("aws AKIAIOSFODNN7EXAMPLE key", "SECRET", "AKIAIOSFODNN7EXAMPLE"),
    ("gh ghp_0123456789abcdefghijABCDEFGHIJ012345 used", "SECRET", "ghp_0123456789abcdefghijABCDEFGHIJ012345"),
    ("OPENAI=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t", "SECRET", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t"),
    ('api_key = "q9X2vL7mR4tZ8wK1"', "SECRET", "q9X2vL7mR4tZ8wK1"),  # only the value is the span
])
def test_each_recogniser_finds_its_entity(detector, text, entity, value):
    assert (entity, value) in found(detector, text)


@pytest.mark.parametrize("text", [
    "card 4111 1111 1111 1112 exp 12/29",  # Luhn-invalid: not a card, and not a phone either
    "IBAN DE89370400440532013001",  # bad mod-97 check digits
    "x = a[::2] + b[::-1]",  # slices are not IPv6 addresses
    "version 3.11.7, pi = 3.14159265358979, port 8080, year 2024",
    "user@localhost is not an e-mail with a domain",
    'password = "aaaaaaaaaaaaaaaa"',  # low entropy: a placeholder, not a secret
    "The quick brown fox jumps over the lazy dog.",
])
def test_negatives_are_not_flagged(detector, text):
    assert found(detector, text) == []


def test_private_key_block_is_one_span_and_an_open_block_runs_to_the_end(detector):
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----"
    assert found(detector, f"key:\n{block}\nbye") == [("SECRET", block)]
    assert found(detector, "-----BEGIN PRIVATE KEY-----\nMIIEv") == [("SECRET", "-----BEGIN PRIVATE KEY-----\nMIIEv")]


def test_redaction_replaces_whole_spans_and_keeps_the_rest():
    text = "Mail bob@example.com, card 4111-1111-1111-1111, ip 10.0.0.1."
    assert redact(text) == "Mail <EMAIL_ADDRESS>, card <CREDIT_CARD>, ip <IP_ADDRESS>."
    assert redact(text, entities=["email"]) == "Mail <EMAIL_ADDRESS>, card 4111-1111-1111-1111, ip 10.0.0.1."
    assert redact(text, template="[x]") == "Mail [x], card [x], ip [x]."
    spans = detect(text)
    assert [text[s.start:s.end] for s in spans] == [s.text for s in spans]
    assert all(0 < s.score <= 1 for s in spans)


def test_entity_names_and_bad_input():
    assert resolve_entities(["email", "CREDIT_CARD"]) == ["EMAIL_ADDRESS", "CREDIT_CARD"]
    with pytest.raises(ConfigError, match="unknown PII entity 'emial'.*email"):
        resolve_entities(["emial"])
    with pytest.raises(ConfigError, match="takes a string"):
        PIIDetector(["email"]).detect(None)
    assert entropy("aaaa") == 0.0 and abs(entropy("abcd") - 2.0) < 1e-9


def test_faker_values_are_all_found(detector):
    """A small seeded Faker sample (the full labelled set is benchmarks/guardrails_eval.py)."""
    faker = pytest.importorskip("faker")
    fakers = [faker.Faker(loc) for loc in ("en_US", "en_GB", "de_DE", "fr_FR", "it_IT")]
    for k, f in enumerate(fakers):
        f.seed_instance(k)
    values = []
    for f in fakers:
        values += [("EMAIL_ADDRESS", f.email()), ("PHONE_NUMBER", f.phone_number()), ("IBAN_CODE", f.iban()),
                   ("IP_ADDRESS", f.ipv4())]
    for card in ("visa16", "visa19", "mastercard", "amex", "jcb15", "maestro"):
        values.append(("CREDIT_CARD", fakers[0].credit_card_number(card_type=card)))
    for entity, value in values:
        assert (entity, value) in found(detector, f"{fakers[0].sentence()} Note: {value} ok."), (entity, value)

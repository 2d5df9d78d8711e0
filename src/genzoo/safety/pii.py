"""PII detection and redaction: e-mail addresses, card numbers, phone numbers, IBANs, IP addresses
and API keys / secrets, found by presidio-analyzer's pattern recognisers, run offline.

presidio's ``AnalyzerEngine`` needs a spaCy language model, which genzoo cannot download; its
predefined *pattern* recognisers do not, and are called directly (``recognizer.analyze(text,
entities, nlp_artifacts=None)``), so no context-word boost is applied. What genzoo changes:

- ``EMAIL_ADDRESS``: presidio's ``EmailRecognizer`` validates the domain with ``tldextract``, whose
  default first fetches the Public Suffix List over the network; here it reads the snapshot bundled
  with tldextract (``suffix_list_urls=()``, no cache directory).
- ``CREDIT_CARD``: presidio's regex + Luhn check (``CreditCardRecognizer``), plus one pattern for the
  ranges its regex misses (Mastercard 2221-2720, 15-digit JCB 2131/1800, 19-digit Visa, Maestro
  12-19 digits), Luhn-checked the same way: Σ of the digits with every second one from the right
  doubled (minus 9 above 9) ≡ 0 (mod 10); a number must also fit a network's IIN prefix and length
  (``CARD_NETWORKS``: a Luhn-valid 13-digit barcode starting with 3 is no card).
- ``PHONE_NUMBER``: presidio's ``PhoneRecognizer`` (Google's libphonenumber via ``phonenumbers``) at
  leniency POSSIBLE (the length fits the region's plan; VALID also needs an allocated area code,
  which rejects most synthetic numbers), keeping matches with at least ``MIN_PHONE_DIGITS`` digits
  that are no decimal fraction, bare run of over 12 digits, ISBN-13, piece of a word (hex hashes,
  UUIDs) or piece of a longer run of digit groups (``_phone_like``; a Luhn-invalid card is no phone).
- ``IBAN_CODE`` (country format + ISO 7064 mod-97 check) and ``IP_ADDRESS`` (v4/v6, checked with
  ``ipaddress``): presidio's as they are, except IPv6 with '::' and fewer than two groups (``::``,
  ``::2``: Python slices).
- ``SECRET``: presidio has no recogniser; ``PatternRecognizer`` s with the well-known token formats
  (AWS ``AKIA…``, GitHub ``ghp_…`` / ``github_pat_…``, ``sk-…`` / ``sk_live_…``, Slack ``xox?-…``,
  Google ``AIza…``, PEM private-key blocks) and the values assigned to ``*key*``, ``*secret*``,
  ``*token*``, ``*password*`` names whose Shannon entropy H = −Σ p_c log₂ p_c over their characters
  is at least ``SECRET_MIN_ENTROPY`` bits per character and that are not identifiers (``self.password``).

Overlapping matches are resolved greedily: the highest score, then the longest span, wins.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections import Counter
from collections.abc import Iterable

from ..errors import ConfigError, did_you_mean

# short names (CLI, ``entities=``) -> presidio entity types
ENTITIES = {"email": "EMAIL_ADDRESS", "card": "CREDIT_CARD", "phone": "PHONE_NUMBER", "iban": "IBAN_CODE",
            "ip": "IP_ADDRESS", "secret": "SECRET"}
MIN_PHONE_DIGITS = 9
SECRET_MIN_ENTROPY = 3.0
MAX_SPAN = 128  # the longest span that streaming must hold back (a PEM block is held until its END line)

EXTRA_CARD_PATTERN = (
    r"\b(?:2(?:2[2-9]\d|[3-6]\d\d|7[01]\d|720)(?:[- ]?\d{4}){3}"  # Mastercard 2-series, 16 digits
    r"|(?:2131|1800)[- ]?\d{4}[- ]?\d{4}[- ]?\d{3}"  # JCB, 15 digits
    r"|4\d{3}(?:[- ]?\d{4}){3}[- ]?\d{3}"  # Visa, 19 digits
    r"|(?:5[06-9]|6\d)\d{10,17})\b")  # Maestro, 12-19 digits
SECRET_PATTERNS = [
    ("aws_access_key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    ("sk_key", r"\bsk(?:-proj|-live|-test|_live|_test)?[-_][A-Za-z0-9_\-]{20,}"),
    ("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("google_api_key", r"\bAIza[0-9A-Za-z_\-]{35}"),
    # an open block (no END yet) runs to the end of the text, so a stream holds it back
    ("private_key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:.*?-----END [A-Z ]*PRIVATE KEY-----|.*\Z)"),
]
# the value (only) after  NAME = / NAME: / "NAME": , NAME containing key/secret/token/password
ASSIGNED_SECRET = (r"(?<=\b[\w.-]*(?:api[_-]?key|secret|token|passw(?:or)?d|passwd|access[_-]?key)[\w.-]*['\"]?"
                   r"\s*[:=]\s*['\"]?)[A-Za-z0-9_\-+/=.~]{12,}")


@dataclasses.dataclass(frozen=True)
class Span:
    """A detected entity: ``text[start:end]`` of ``entity`` type with presidio's ``score`` in (0, 1]."""

    start: int
    end: int
    entity: str
    score: float
    text: str


def entropy(s: str) -> float:
    """Shannon entropy of the character distribution, bits per character."""
    counts, n = Counter(s), len(s)
    return -sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0


def resolve_entities(entities: Iterable[str] | None) -> list[str]:
    """Short names or presidio types -> presidio types; ``None`` -> all."""
    if entities is None:
        return list(ENTITIES.values())
    out = []
    for e in entities:
        name = ENTITIES.get(e.strip().lower(), e.strip().upper())
        if name not in ENTITIES.values():
            raise ConfigError(f"unknown PII entity {e!r}{did_you_mean(e, list(ENTITIES))}")
        out.append(name)
    return out


def _recognizers(entities: list[str]) -> list:
    """presidio recognisers for ``entities``, adapted to run offline (see the module docstring)."""
    import regex
    from presidio_analyzer import Pattern, PatternRecognizer
    from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, EmailRecognizer, IbanRecognizer,
                                                          IpRecognizer, PhoneRecognizer)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str):
            return _tld_extract()(pattern_text).fqdn != ""

    class FilteredPhoneRecognizer(PhoneRecognizer):
        def analyze(self, text, entities, nlp_artifacts=None):
            found = super().analyze(text, entities, nlp_artifacts)
            return [r for r in found if _phone_like(text, r.start, r.end)]

    class FilteredIpRecognizer(IpRecognizer):
        def invalidate_result(self, pattern_text: str):
            bare_v6 = "::" in pattern_text and len([g for g in pattern_text.split(":") if g]) < 2
            return bare_v6 or super().invalidate_result(pattern_text)

    class NetworkCardRecognizer(CreditCardRecognizer):
        def invalidate_result(self, pattern_text: str):
            return not card_network_ok(pattern_text)

    class AssignedSecretRecognizer(PatternRecognizer):
        def validate_result(self, pattern_text: str):
            return None if _secret_like(pattern_text) else False

    cards = CreditCardRecognizer.PATTERNS + [Pattern("Card ranges presidio misses", EXTRA_CARD_PATTERN, 0.3)]
    flags = regex.DOTALL | regex.MULTILINE  # tokens are case-sensitive
    made = {
        "EMAIL_ADDRESS": lambda: [OfflineEmailRecognizer()],
        "CREDIT_CARD": lambda: [NetworkCardRecognizer(patterns=cards)],
        "PHONE_NUMBER": lambda: [FilteredPhoneRecognizer(leniency=0)],
        "IBAN_CODE": lambda: [IbanRecognizer()],
        "IP_ADDRESS": lambda: [FilteredIpRecognizer()],
        "SECRET": lambda: [
            PatternRecognizer("SECRET", name="SecretTokenRecognizer", global_regex_flags=flags,
                              patterns=[Pattern(n, p, 0.9) for n, p in SECRET_PATTERNS]),
            AssignedSecretRecognizer("SECRET", name="AssignedSecretRecognizer", global_regex_flags=flags | regex.IGNORECASE,
                                     patterns=[Pattern("assigned_secret", ASSIGNED_SECRET, 0.7)])],
    }
    return [r for e in entities for r in made[e]()]


def _phone_like(text: str, start: int, end: int) -> bool:
    """At least ``MIN_PHONE_DIGITS`` digits; not a decimal fraction, not a bare run of more than 12
    digits (barcodes, timestamps), not an ISBN-13, not inside a word (hex hashes, UUIDs) and not a
    piece of a longer run of digit groups (a card or account number that failed its own check)."""
    found = text[start:end]
    digits = "".join(ch for ch in found if ch.isdigit())
    before, after = text[max(0, start - 2):start], text[end:end + 2]
    return (len(digits) >= MIN_PHONE_DIGITS and not re.fullmatch(r"\d+\.\d+", found)
            and not (found.isdigit() and len(found) > 12) and not _isbn13(digits)
            and not (before[-1:].isalnum() or after[:1].isalnum())
            and not re.search(r"\d[ -]?$", before) and not re.match(r"[ -]?\d", after))


def _isbn13(digits: str) -> bool:
    """978/979 prefix and the ISBN-13 check: Σ d_i · (1, 3, 1, 3, ...) ≡ 0 (mod 10)."""
    return (len(digits) == 13 and digits[:3] in ("978", "979")
            and sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10 == 0)


# (IIN prefixes, allowed lengths) of the card networks; a Luhn-valid number outside them is not a card
CARD_NETWORKS = [(("4",), (13, 16, 19)), (tuple(f"5{i}" for i in range(1, 6)), (16,)),  # Visa, Mastercard
                 (tuple(str(i) for i in range(2221, 2721)), (16,)), (("34", "37"), (15,)),  # Mastercard 2-series, Amex
                 (("300", "301", "302", "303", "304", "305", "36", "38", "39"), tuple(range(14, 20))),  # Diners
                 (("2131", "1800"), (15,)), (("35",), tuple(range(16, 20))),  # JCB (issued 3528-3589; Faker: 35xx)
                 (("50",) + tuple(str(i) for i in range(56, 70)), tuple(range(12, 20)))]  # Maestro/Discover/UnionPay


def card_network_ok(number: str) -> bool:
    digits = "".join(ch for ch in number if ch.isdigit())
    return any(digits.startswith(prefixes) and len(digits) in lengths for prefixes, lengths in CARD_NETWORKS)


@functools.lru_cache(maxsize=1)
def _tld_extract():
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # the bundled snapshot, no network


def _secret_like(value: str) -> bool:
    """Entropy ≥ ``SECRET_MIN_ENTROPY`` bits/char and not an identifier (``snake_case``, ``dotted.name``,
    ``kebab-case``, ``UPPER_CASE``): random keys mix cases or digits."""
    return entropy(value) >= SECRET_MIN_ENTROPY and not re.fullmatch(r"[a-z_.\-]+|[A-Z_.\-]+", value)


def resolve_overlaps(spans: Iterable[Span]) -> list[Span]:
    """Keep non-overlapping spans: highest score first, then longest; sorted by start."""
    kept: list[Span] = []
    for s in sorted(spans, key=lambda s: (-s.score, -(s.end - s.start), s.start)):
        if all(s.end <= k.start or s.start >= k.end for k in kept):
            kept.append(s)
    return sorted(kept, key=lambda s: s.start)


class PIIDetector:
    """``PIIDetector(entities=None, min_score=0.0).detect(text) -> list[Span]``.

    ``entities``: short names (``email``, ``card``, ``phone``, ``iban``, ``ip``, ``secret``) or
    presidio types; default all. Spans scoring below ``min_score`` are dropped (presidio's scores:
    Luhn/checksum-validated 1.0, IP 0.6, phone 0.4, known token formats 0.9, assigned secrets 0.7).
    """

    max_span = MAX_SPAN

    def __init__(self, entities: Iterable[str] | None = None, min_score: float = 0.0):
        self.entities = resolve_entities(entities)
        self.min_score = float(min_score)
        self.recognizers = _recognizers(self.entities)

    def detect(self, text: str) -> list[Span]:
        if not isinstance(text, str):
            raise ConfigError(f"PII detection takes a string, got {type(text).__name__}")
        found = []
        for rec in self.recognizers:
            for r in rec.analyze(text, rec.supported_entities, None):
                if r.score > 0 and r.score >= self.min_score and r.end > r.start:
                    found.append(Span(r.start, r.end, r.entity_type, float(r.score), text[r.start:r.end]))
        return resolve_overlaps(found)


@functools.lru_cache(maxsize=8)
def shared_detector(entities: tuple[str, ...] | None = None) -> PIIDetector:
    """One detector per entity set and process (building presidio's recognisers takes a while)."""
    return PIIDetector(entities)


def detect(text: str, entities: Iterable[str] | None = None) -> list[Span]:
    """PII spans in ``text`` (all entity types unless ``entities`` is given)."""
    return shared_detector(tuple(resolve_entities(entities))).detect(text)


def replace_spans(text: str, spans: Iterable, template: str = "<{entity}>") -> str:
    """``text`` with each (non-overlapping) span replaced by ``template.format(entity=...)``."""
    out, at = [], 0
    for s in sorted(spans, key=lambda s: s.start):
        out += [text[at:s.start], template.format(entity=s.entity)]
        at = s.end
    return "".join(out) + text[at:]


def redact(text: str, entities: Iterable[str] | None = None, template: str = "<{entity}>") -> str:
    """``text`` with every PII span replaced by ``<ENTITY_TYPE>``; usable as a corpus scrub
    (``--data-arg scrub=genzoo.safety.pii:redact``)."""
    return replace_spans(text, detect(text, entities), template)

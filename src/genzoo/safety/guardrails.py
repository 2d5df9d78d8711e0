"""Input/output guards for text generation: PII redaction, deny-lists, regex rules and a semantic
topic filter, composed into one ``Guard``, with a streaming wrapper that never emits part of a span.

A *span guard* (``PIIGuard``, ``DenyListGuard``, ``RegexGuard``) returns findings [start, end) that are
redacted (replaced by ``<KIND>``) or, with ``action="block"``, block the whole text. ``TopicFilter``
embeds the text and each of its sentences with MiniLM (``genzoo.features.text``: e = mean-pooled BERT
states / ‖e‖) and blocks when the cosine similarity to a forbidden topic description,
max_s cos(e_s, e_topic), reaches ``threshold``.

Streaming (``Guard.stream()``): text arrives in pieces; the wrapper emits a prefix only when no span
can still cover its end. With L = the longest span a guard can match (``max_span``), a span that
covers the cut point c and is not yet complete must reach past the buffer's end, so it is longer than
len(buffer) − c; cutting at c ≤ len(buffer) − L (moved back before any span found in the buffer and
to a whitespace boundary) leaves every span either wholly emitted (redacted) or wholly held back.
With a topic filter, text is also held back until its sentence ends, and a sentence is checked before
it is emitted. A blocked stream emits the block message and nothing after it.
"""
from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigError, DataError, did_you_mean

SENTENCE_END = re.compile(r"[.!?\n]+(?=\s|$)")
BLOCK_MESSAGE = "[blocked by guard: {reason}]"


@dataclasses.dataclass(frozen=True)
class Finding:
    """One guard hit: ``kind`` (``EMAIL_ADDRESS``, ``denylist``, a rule or topic name), its span
    (``None`` for whole-text findings), score and ``action`` (``redact`` or ``block``)."""

    guard: str
    kind: str
    start: int | None
    end: int | None
    score: float = 1.0
    action: str = "redact"

    def describe(self) -> str:
        return f"{self.guard} {self.kind!r}" + (f" (similarity {self.score:.2f})" if self.guard == "topic" else "")


@dataclasses.dataclass
class GuardResult:
    """``text``: the redacted text, or the block message when ``blocked``."""

    text: str
    blocked: bool
    findings: list[Finding]

    def summary(self) -> str:
        if self.blocked:
            return "blocked: " + "; ".join(f.describe() for f in self.findings if f.action == "block")
        counts = Counter(f.kind for f in self.findings if f.action == "redact")
        if not counts:
            return "clean"
        return f"redacted {sum(counts.values())} span(s): " + ", ".join(f"{k} x{n}" for k, n in sorted(counts.items()))


def _check_action(action: str) -> str:
    if action not in ("redact", "block"):
        raise ConfigError(f"guard action must be 'redact' or 'block', got {action!r}")
    return action


class PIIGuard:
    """PII spans (``genzoo.safety.pii``) redacted as ``<ENTITY_TYPE>``."""

    name = "pii"

    def __init__(self, entities: Iterable[str] | None = None, action: str = "redact", min_score: float = 0.0):
        from .pii import PIIDetector

        self.detector = PIIDetector(entities, min_score=min_score)
        self.action = _check_action(action)
        self.max_span = self.detector.max_span

    def find(self, text: str) -> list[Finding]:
        return [Finding(self.name, s.entity, s.start, s.end, s.score, self.action) for s in self.detector.detect(text)]


class RegexGuard:
    """Named regular expressions: ``RegexGuard({"ticket": r"JIRA-\\d+"})``; ``max_span`` bounds a match."""

    name = "regex"

    def __init__(self, rules: dict[str, str], action: str = "redact", max_span: int = 64, flags: int = 0):
        if not rules:
            raise ConfigError("a regex guard needs at least one rule")
        self.rules = {}
        for name, pattern in rules.items():
            try:
                self.rules[name] = re.compile(pattern, flags)
            except re.error as e:
                raise ConfigError(f"regex rule {name!r}: bad pattern {pattern!r} ({e})") from None
            if self.rules[name].fullmatch(""):
                raise ConfigError(f"regex rule {name!r} matches the empty string; give a pattern that needs text")
        self.action, self.max_span = _check_action(action), int(max_span)

    def find(self, text: str) -> list[Finding]:
        return [Finding(self.name, name, m.start(), m.end(), 1.0, self.action)
                for name, rx in self.rules.items() for m in rx.finditer(text) if m.end() > m.start()]


class DenyListGuard(RegexGuard):
    """Words or phrases, matched case-insensitively as whole words (presidio's deny-list regex)."""

    name = "denylist"

    def __init__(self, words: Iterable[str], action: str = "redact"):
        words = sorted({w.strip() for w in words if w.strip()}, key=len, reverse=True)
        if not words:
            raise ConfigError("the deny-list is empty; give at least one word or phrase")
        pattern = r"(?:^|(?<=\W))(?:" + "|".join(re.escape(w) for w in words) + r")(?:(?=\W)|$)"
        super().__init__({"denylist": pattern}, action, max_span=max(map(len, words)) + 1, flags=re.IGNORECASE)


class TopicFilter:
    """Blocks text about a forbidden topic: max over the text and its sentences of the MiniLM cosine
    similarity to each topic description, compared with ``threshold``."""

    name = "topic"
    max_span = 0

    def __init__(self, topics: Iterable[str], threshold: float = 0.35, embedder=None):
        self.topics = [t.strip() for t in topics if t.strip()]
        if not self.topics:
            raise ConfigError("a topic filter needs at least one topic description")
        if not 0.0 < float(threshold) <= 1.0:
            raise ConfigError(f"topic threshold must be in (0, 1], got {threshold}")
        self.threshold = float(threshold)
        if embedder is None:
            from transformers.utils import logging

            from ..features.text import shared_minilm

            bars = logging.is_progress_bar_enabled()
            logging.disable_progress_bar()  # no "Loading weights" bar on a CLI's stderr
            try:
                embedder = shared_minilm()
            finally:
                if bars:
                    logging.enable_progress_bar()
        self.embed = embedder
        self.topic_embeddings = self.embed(self.topics)

    def similarity(self, text: str) -> tuple[str, float]:
        """(closest topic, its similarity) over the whole text and each sentence."""
        parts = [text] + [s for s in split_sentences(text) if s.strip() and s != text]
        sims = self.embed([p for p in parts if p.strip()] or [" "]) @ self.topic_embeddings.T
        best = sims.max(dim=0).values
        k = int(best.argmax())
        return self.topics[k], float(best[k])

    def check(self, text: str) -> Finding | None:
        if not text.strip():
            return None
        topic, sim = self.similarity(text)
        return Finding(self.name, topic, None, None, sim, "block") if sim >= self.threshold else None


def split_sentences(text: str) -> list[str]:
    out, at = [], 0
    for m in SENTENCE_END.finditer(text):
        out.append(text[at:m.end()])
        at = m.end()
    return out + ([text[at:]] if at < len(text) else [])


class Guard:
    """Guards composed: ``Guard([PIIGuard(), DenyListGuard(words), TopicFilter(topics)]).check(text)``.

    Span findings from every span guard are merged (overlaps: the earliest, then longest wins) and
    redacted with ``template``; any ``block`` finding or topic hit blocks the text.
    """

    def __init__(self, guards: Iterable, template: str = "<{kind}>", block_message: str = BLOCK_MESSAGE):
        self.guards = list(guards)
        if not self.guards:
            raise ConfigError("a guard needs at least one check (pii, denylist=FILE, regex=FILE, topic=...)")
        self.span_guards = [g for g in self.guards if hasattr(g, "find")]
        self.text_guards = [g for g in self.guards if hasattr(g, "check")]
        self.template, self.block_message = template, block_message
        self.max_span = max([g.max_span for g in self.span_guards] + [1])

    def spans(self, text: str) -> list[Finding]:
        found = sorted((f for g in self.span_guards for f in g.find(text)), key=lambda f: (f.start, -f.end))
        kept: list[Finding] = []
        for f in found:
            if not kept or f.start >= kept[-1].end:
                kept.append(f)
        return kept

    def check(self, text: str) -> GuardResult:
        if not isinstance(text, str):
            raise DataError(f"a guard checks strings, got {type(text).__name__}")
        findings = self.spans(text) + [f for g in self.text_guards if (f := g.check(text)) is not None]
        blocking = [f for f in findings if f.action == "block"]
        if blocking:
            return GuardResult(self._blocked(blocking), True, findings)
        return GuardResult(self.redact(text, findings), False, findings)

    def redact(self, text: str, findings: list[Finding]) -> str:
        out, at = [], 0
        for f in sorted((f for f in findings if f.start is not None), key=lambda f: f.start):
            out += [text[at:f.start], self.template.format(kind=f.kind)]
            at = f.end
        return "".join(out) + text[at:]

    def _blocked(self, blocking: list[Finding]) -> str:
        return self.block_message.format(reason="; ".join(f.describe() for f in blocking))

    def __call__(self, text: str) -> GuardResult:
        return self.check(text)

    def stream(self) -> "StreamingGuard":
        return StreamingGuard(self)


class StreamingGuard:
    """``feed(piece) -> text safe to emit``; ``flush() -> the rest``; ``findings`` / ``blocked`` so far.

    Emitted text is always a prefix of ``guard.check(all text).text`` for span guards (see the module
    docstring for why no span is ever emitted in part)."""

    def __init__(self, guard: Guard, holdback: int | None = None):
        self.guard = guard
        self.holdback = guard.max_span if holdback is None else int(holdback)
        self.buffer, self.findings, self.blocked, self.offset = "", [], False, 0
        self.wait_for_sentence = bool(guard.text_guards)

    def feed(self, piece: str) -> str:
        if self.blocked:
            return ""
        self.buffer += piece
        return self._release(final=False)

    def flush(self) -> str:
        return "" if self.blocked else self._release(final=True)

    def _cut(self, spans: list[Finding]) -> int:
        cut = len(self.buffer) - self.holdback
        ws = max(self.buffer.rfind(" ", 0, cut + 1), self.buffer.rfind("\n", 0, cut + 1))
        cut = ws + 1 if ws >= 0 else cut  # whole words, when there is a word break
        for f in reversed(spans):  # spans are sorted and disjoint: move back before any that covers the cut
            if f.start < cut < f.end:
                cut = f.start
        if self.wait_for_sentence:
            ends = [m.end() for m in SENTENCE_END.finditer(self.buffer[:max(cut, 0)])]
            cut = ends[-1] if ends else 0
        return max(cut, 0)

    def _release(self, final: bool) -> str:
        spans = self.guard.spans(self.buffer)
        cut = len(self.buffer) if final else self._cut(spans)
        if cut == 0:
            return ""
        ready, done = self.buffer[:cut], [f for f in spans if f.end <= cut]
        for g in self.guard.text_guards:
            for sentence in split_sentences(ready):
                hit = g.check(sentence)
                if hit is not None:
                    self.blocked = True
                    self.findings.append(hit)
                    return self.guard._blocked([hit])
        blocking = [f for f in done if f.action == "block"]
        if blocking:
            self.blocked = True
            self.findings += blocking
            return self.guard._blocked(blocking)
        self.findings += [dataclasses.replace(f, start=f.start + self.offset, end=f.end + self.offset) for f in done]
        self.buffer, self.offset = self.buffer[cut:], self.offset + cut
        return self.guard.redact(ready, done)


# ----------------------------------------------------------------------------- from a spec string
GUARD_NAMES = ("pii", "denylist", "regex", "topic", "threshold", "action")


def _read_lines(path: str, what: str) -> list[str]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"{what} file {path!r} not found; give an existing UTF-8 file, one entry per line")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{what} file {path!r} is not UTF-8 text") from None
    return [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def _regex_rules(path: str) -> dict[str, str]:
    """``NAME: PATTERN`` per line (a line without a name is named ``rule<k>``)."""
    rules = {}
    for k, line in enumerate(_read_lines(path, "regex rules"), 1):
        name, sep, pattern = line.partition(": ")
        name, pattern = (name.strip(), pattern) if sep and re.fullmatch(r"[\w-]+", name.strip()) else (f"rule{k}", line)
        rules[name] = pattern
    return rules


def parse_guard(spec: str, embedder=None) -> Guard:
    """A ``Guard`` from the CLI spec: comma-separated ``pii`` (or ``pii=email+card+...``),
    ``denylist=FILE``, ``regex=FILE`` (``NAME: PATTERN`` lines), ``topic=DESCRIPTION;DESCRIPTION``
    (or ``topic=FILE.txt``), ``threshold=0.35`` (the topic filter's) and ``action=block`` (deny-list and
    regex hits block instead of being redacted)."""
    items = {}
    for part in (p.strip() for p in str(spec).split(",")):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = name.strip().lower()
        if name not in GUARD_NAMES:
            raise ConfigError(f"unknown guard {name!r}{did_you_mean(name, GUARD_NAMES)}")
        if name in items:
            raise ConfigError(f"guard {name!r} is given twice in {spec!r}")
        if name != "pii" and not value.strip():
            raise ConfigError(f"guard {name!r} needs a value: {name}=...")
        items[name] = value.strip()
    action = items.get("action", "redact")
    guards = []
    if "pii" in items:
        guards.append(PIIGuard(items["pii"].split("+") if items["pii"] else None))
    if "denylist" in items:
        guards.append(DenyListGuard(_read_lines(items["denylist"], "deny-list"), action=action))
    if "regex" in items:
        guards.append(RegexGuard(_regex_rules(items["regex"]), action=action))
    if "topic" in items:
        value = items["topic"]
        topics = _read_lines(value, "topic") if value.endswith(".txt") or "/" in value else value.split(";")
        try:
            threshold = float(items.get("threshold", 0.35))
        except ValueError:
            raise ConfigError(f"guard threshold must be a number, got {items['threshold']!r}") from None
        guards.append(TopicFilter(topics, threshold, embedder=embedder))
    elif "threshold" in items:
        raise ConfigError("guard threshold= is the topic filter's; add topic=...")
    if not guards:
        raise ConfigError(f"guard spec {spec!r} names no check; use pii, denylist=FILE, regex=FILE or topic=...")
    return Guard(guards)


def apply_guard(guard: Guard | str | None, text: str) -> GuardResult | None:
    """``guard.check(text)`` for a ``Guard`` or a spec string; ``None`` when there is no guard."""
    if guard is None:
        return None
    return (parse_guard(guard) if isinstance(guard, str) else guard).check(text)


def guarded_generation(pipe, prompts: list[str], single: bool, guard, **kw):
    """``TextGenerationPipeline(prompts, guard=...)``: the input guard on each prompt, the output
    guard on each continuation; a blocked prompt gives the block message and no generation."""
    guard = parse_guard(guard) if isinstance(guard, str) else guard
    checked = [guard.check(p) for p in prompts]
    allowed = [c.text for c in checked if not c.blocked]
    full = kw.pop("return_full_text", True)
    outs = iter(pipe(allowed, return_full_text=False, **kw) if allowed else [])
    results = []
    for c in checked:
        if c.blocked:
            results.append([{"generated_text": c.text, "blocked": True, "guard": {"input": c.summary(), "output": None}}])
            continue
        rows = []
        for row in next(outs):
            out = guard.check(row["generated_text"])
            rows.append({"generated_text": (c.text if full else "") + out.text, "blocked": out.blocked,
                         "guard": {"input": c.summary(), "output": out.summary()}})
        results.append(rows)
    return results[0] if single else results


def GuardedTextStreamer(tokenizer, guard, **kw):
    """A ``genzoo.generation.TextStreamer`` whose emitted text goes through ``guard.stream()``:
    ``generate(..., streamer=GuardedTextStreamer(tok, guard, print_fn=print))`` prints redacted text
    as it is generated and never a part of a span (``.guard_stream.findings`` afterwards)."""
    from ..generation import TextStreamer

    class _Guarded(TextStreamer):
        def __init__(self):
            super().__init__(tokenizer, **kw)
            self.guard_stream = (parse_guard(guard) if isinstance(guard, str) else guard).stream()

        def _emit(self, piece: str) -> None:
            super()._emit(self.guard_stream.feed(piece))

        def end(self) -> None:
            text = self.tokenizer.decode(self._ids)
            super()._emit(self.guard_stream.feed(text[self._emitted:]) + self.guard_stream.flush())
            self._emitted = len(text)
            self._queue.put(None)

    return _Guarded()

"""Issue 25 must-show for the filters and guardrails (``genzoo.safety.pii``, ``image_checker``).

1. PII recall / precision per entity on a labelled set made with Faker (seeded): N sentences, each a
   Faker sentence with one PII value put in a template, plus hard negatives in the filler (ISBN-13,
   EAN-13, dates, prices, versions, postcodes, UUIDs, MD5 hashes). Values: e-mails (``email``,
   ``free_email``, ``company_email``, ``ascii_safe_email``), card numbers (``credit_card_number`` of
   every Faker card type: visa13/16/19, mastercard, amex, discover, diners, jcb15/16, maestro; half
   written in groups with spaces or dashes), phones (``phone_number`` of en_US, en_GB, de_DE, fr_FR,
   en_IN, en_CA, pt_BR, it_IT, es_ES, nl_NL), IBANs (``iban`` of de_DE, fr_FR, en_GB, nl_NL, it_IT,
   es_ES), IPs (``ipv4``, ``ipv4_private``, ``ipv6``) and secrets (AWS, GitHub, ``sk-``, Slack, Google
   keys, PEM blocks, high-entropy values assigned to key/secret/token/password names, drawn from a
   seeded RNG). A detection counts when its type is right and it overlaps the labelled span with
   intersection-over-union ≥ 0.5; "leaked" counts labelled values still present after ``redact``.
2. False-positive rate on ``pystdlib`` (Python's standard library source, 3 M characters): the share
   of non-blank lines with any detection, and per entity with the most frequent flagged strings.
3. The image checker (``ClassifierSafetyChecker(forbidden=[7])``): precision / recall on the held-out
   ``digits`` test split (359 images, not seen by the classifier), and on samples of a class-conditional
   DDPM trained on ``digits`` (``--ddpm RUN``, or a small one trained here for ``--ddpm-steps``, see
   ``DDPM_TRAIN``; 50 DDIM steps, ``--n-per-class`` samples per class), the label being the class the
   sample was conditioned on (so a badly drawn 7 counts against the checker's recall).

    python benchmarks/guardrails_eval.py --out benchmarks/results/guardrails
"""
from __future__ import annotations

import argparse
import bisect
import json
import random
import string
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import torch

PHONE_LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "en_IN", "en_CA", "pt_BR", "it_IT", "es_ES", "nl_NL"]
IBAN_LOCALES = ["de_DE", "fr_FR", "en_GB", "nl_NL", "it_IT", "es_ES"]
CARD_TYPES = ["visa13", "visa16", "visa19", "mastercard", "amex", "discover", "diners", "jcb15", "jcb16", "maestro"]
# a small class-conditional U-Net (16/32 channels, attention at 4x4), cheap enough for a loaded 2-core CPU
DDPM_TRAIN = ["--batch-size", "64", "--set", "block_out_channels=16,32", "--set", "attention_levels=1",
              "--set", "norm_num_groups=8"]
TEMPLATES = {
    "EMAIL_ADDRESS": ["Please write to {v} before Friday.", "Contact: {v}", "{f} You can reach me at {v}.",
                      "cc {v}; {f}"],
    "CREDIT_CARD": ["My card number is {v}, expiring 04/29.", "Charge {v} for the order. {f}", "card={v}",
                    "{f} Paid with {v} yesterday."],
    "PHONE_NUMBER": ["Call me on {v} after six.", "Phone: {v}", "{f} My number is {v}.", "tel {v} / {f}"],
    "IBAN_CODE": ["Transfer it to {v} please.", "IBAN: {v}", "{f} Account {v} is mine."],
    "IP_ADDRESS": ["The server at {v} is down.", "ssh admin@{v} -p 22", "{f} Blocked {v} at the firewall."],
    "SECRET": ["Here is the key {v} for prod.", "{f} token: {v}", "export TOKEN={v}"],
}


def rand_str(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def make_secret(rng: random.Random) -> tuple[str, str, str]:
    """(text to insert, the secret value inside it, kind)."""
    kind = rng.choice(["aws", "github", "sk", "slack", "google", "assigned", "json_password", "pem"])
    up = string.ascii_uppercase + string.digits
    if kind == "aws":
        v = "AKIA" + rand_str(rng, 16, up)
    elif kind == "github":
        v = "ghp_" + rand_str(rng, 36)
    elif kind == "sk":
        v = "sk-proj-" + rand_str(rng, 32)
    elif kind == "slack":
        v = "xoxb-" + "-".join(rand_str(rng, 12, string.digits) for _ in range(2)) + "-" + rand_str(rng, 24)
    elif kind == "google":
        v = "AIza" + rand_str(rng, 35, string.ascii_letters + string.digits + "-_")
    elif kind == "pem":
        body = "\n".join(rand_str(rng, 64, string.ascii_letters + string.digits + "+/") for _ in range(3))
        v = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    else:
        v = rand_str(rng, rng.randint(16, 40), string.ascii_letters + string.digits + "_-")
        name = rng.choice(["api_key", "SECRET_KEY", "auth_token", "db_password", "aws_secret_access_key"])
        text = f'"{name}": "{v}"' if kind == "json_password" else f'{name} = "{v}"'
        return text, v, kind
    return v, v, kind


def group_card(number: str, rng: random.Random) -> str:
    if rng.random() < 0.5 or len(number) != 16:
        return number
    sep = rng.choice([" ", "-"])
    return sep.join(number[i:i + 4] for i in range(0, 16, 4))


def make_labelled_set(n: int, seed: int) -> list[tuple[str, list[tuple[int, int, str, str]]]]:
    """[(sentence, [(start, end, entity, detail)])]: one PII value per sentence, entities in turn."""
    from faker import Faker

    Faker.seed(seed)
    rng = random.Random(seed)
    fakers = {loc: Faker(loc) for loc in sorted(set(PHONE_LOCALES + IBAN_LOCALES))}
    for k, f in enumerate(fakers.values()):
        f.seed_instance(seed + k)
    en = fakers["en_US"]
    distractors = [lambda: f"ISBN {en.isbn13()}", lambda: f"EAN {en.ean13()}", lambda: f"on {en.date()}",
                   lambda: f"for ${en.pricetag()[1:]}", lambda: f"v{rng.randint(1, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}",
                   lambda: f"zip {en.postcode()}", lambda: f"id {en.uuid4()}", lambda: f"md5 {en.md5()}",
                   lambda: en.street_address(), lambda: f"order #{rng.randint(10_000, 99_999_999)}",
                   lambda: f"at {en.time()}"]
    entities = list(TEMPLATES)
    out = []
    for i in range(n):
        entity = entities[i % len(entities)]
        if entity == "EMAIL_ADDRESS":
            f = fakers[rng.choice(PHONE_LOCALES)]
            kind = rng.choice(["email", "free_email", "company_email", "ascii_safe_email"])
            value = getattr(f, kind)()
            insert = value
        elif entity == "CREDIT_CARD":
            kind = CARD_TYPES[(i // len(entities)) % len(CARD_TYPES)]
            value = group_card(en.credit_card_number(card_type=kind), rng)
            insert = value
        elif entity == "PHONE_NUMBER":
            kind = PHONE_LOCALES[(i // len(entities)) % len(PHONE_LOCALES)]
            value = insert = fakers[kind].phone_number()
        elif entity == "IBAN_CODE":
            kind = IBAN_LOCALES[(i // len(entities)) % len(IBAN_LOCALES)]
            value = insert = fakers[kind].iban()
        elif entity == "IP_ADDRESS":
            kind = rng.choice(["ipv4", "ipv4_private", "ipv6"])
            value = insert = getattr(en, kind)()
        else:
            insert, value, kind = make_secret(rng)
        filler = f"{en.sentence()} ({rng.choice(distractors)()}, {rng.choice(distractors)()})"
        template = rng.choice(TEMPLATES[entity])
        head, _, tail = template.partition("{v}")
        head, tail = head.format(f=filler), tail.format(f=filler)
        start = len(head) + insert.index(value)
        out.append((head + insert + tail, [(start, start + len(value), entity, kind)]))
    return out


def iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def pii_scores(data, detector) -> tuple[dict, dict, list]:
    from genzoo.safety.pii import replace_spans

    stats = defaultdict(Counter)
    by_kind = defaultdict(Counter)
    misses, false = [], []
    for text, gold in data:
        spans = detector.detect(text)
        redacted = replace_spans(text, spans)
        for start, end, entity, kind in gold:
            hit = any(s.entity == entity and iou((s.start, s.end), (start, end)) >= 0.5 for s in spans)
            stats[entity]["gold"] += 1
            stats[entity]["found"] += hit
            stats[entity]["leaked"] += text[start:end] in redacted
            by_kind[f"{entity}:{kind}"]["gold"] += 1
            by_kind[f"{entity}:{kind}"]["found"] += hit
            if not hit:
                misses.append((entity, kind, text[start:end], [(s.entity, s.text) for s in spans]))
        for s in spans:
            ok = any(s.entity == e and iou((s.start, s.end), (a, b)) >= 0.5 for a, b, e, _ in gold)
            stats[s.entity]["pred"] += 1
            stats[s.entity]["pred_ok"] += ok
            if not ok:
                false.append((s.entity, s.text, text))
    return stats, by_kind, misses, false


def pystdlib_false_positives(detector, chunk_lines: int = 200) -> dict:
    from genzoo.data.text import pystdlib_text

    lines = pystdlib_text().splitlines()
    flagged, per_entity, strings = set(), defaultdict(set), defaultdict(Counter)
    for at in range(0, len(lines), chunk_lines):
        chunk = "\n".join(lines[at:at + chunk_lines])
        starts = [0]
        for ln in lines[at:at + chunk_lines]:
            starts.append(starts[-1] + len(ln) + 1)
        for s in detector.detect(chunk):
            k = at + bisect.bisect_right(starts, s.start) - 1
            flagged.add(k)
            per_entity[s.entity].add(k)
            strings[s.entity][s.text[:40]] += 1
    nonblank = sum(1 for ln in lines if ln.strip())
    return {"lines": nonblank, "flagged_lines": len(flagged), "rate": len(flagged) / nonblank,
            "per_entity": {e: {"lines": len(v), "rate": len(v) / nonblank, "top": strings[e].most_common(6)}
                           for e, v in sorted(per_entity.items())}}


def precision_recall(flags: torch.Tensor, truth: torch.Tensor) -> dict:
    tp = (flags & truth).sum().item()
    return {"n": len(truth), "positives": int(truth.sum()), "flagged": int(flags.sum()), "tp": tp,
            "precision": tp / max(int(flags.sum()), 1), "recall": tp / max(int(truth.sum()), 1)}


def image_checker_scores(forbid: int, threshold: float, ddpm: Path | None, ddpm_steps: int, out: Path, n_per_class: int):
    import genzoo as gz
    from genzoo.data import load_dataset
    from genzoo.safety.image_checker import ClassifierSafetyChecker

    checker = ClassifierSafetyChecker([forbid], threshold)
    test = load_dataset("digits", split="test")
    res = {"digits_test": precision_recall(checker(test.x).flags, test.y == forbid)}
    if ddpm is None and ddpm_steps > 0:
        ddpm = out / "ddpm-digits"
        if not (ddpm / "config.json").is_file():
            t = time.time()
            subprocess.run([sys.executable, "-m", "genzoo", "train", "ddpm", "--data", "digits", "--steps", str(ddpm_steps),
                            *DDPM_TRAIN, "--out", str(ddpm), "--no-progress", "--overwrite"], check=True)
            res["ddpm_train_seconds"] = round(time.time() - t, 1)
    if ddpm is not None:
        model = gz.load(ddpm)
        labels = torch.arange(10).repeat_interleave(n_per_class)
        with torch.no_grad():
            x = model.sample(len(labels), generator=torch.Generator().manual_seed(0), class_labels=labels, steps=50,
                             sampler="ddim")
        r = checker(x)
        res["ddpm_samples"] = precision_recall(r.flags, labels == forbid)
        res["ddpm_samples"]["classifier_agrees_with_condition"] = (r.predicted == labels).float().mean().item()
        info = Path(ddpm, "run.json")
        res["ddpm_run"] = str(ddpm)
        res["ddpm_train"] = json.loads(info.read_text()) if info.is_file() else None
    return res


def markdown(res: dict) -> str:
    rows = ["| entity | labelled | recall | precision | leaked after redaction |", "|---|---|---|---|---|"]
    for e, c in res["pii"].items():
        rows.append(f"| {e} | {c['gold']} | {c['found'] / c['gold']:.4f} | {c['pred_ok'] / max(c['pred'], 1):.4f} "
                    f"({c['pred'] - c['pred_ok']} false of {c['pred']}) | {c['leaked']} |")
    fp = res["pystdlib"]
    rows += ["", f"pystdlib: {fp['flagged_lines']} of {fp['lines']} non-blank lines flagged = **{fp['rate']:.4%}**", "",
             "| entity | lines | rate | most frequent flagged strings |", "|---|---|---|---|"]
    for e, c in fp["per_entity"].items():
        top = ", ".join(f"`{s!r}` x{n}" for s, n in c["top"])
        rows.append(f"| {e} | {c['lines']} | {c['rate']:.4%} | {top} |")
    rows += ["", "| image checker (forbidden class %d, threshold %.2f) | n | positives | flagged | precision | recall |"
             % (res["images"]["forbid"], res["images"]["threshold"]), "|---|---|---|---|---|---|"]
    for k in ("digits_test", "ddpm_samples"):
        if k in res["images"]:
            c = res["images"][k]
            rows.append(f"| {k} | {c['n']} | {c['positives']} | {c['flagged']} | {c['precision']:.4f} | {c['recall']:.4f} |")
    rows += ["", "recall by kind (misses only): " + (", ".join(
        f"{k} {c['found']}/{c['gold']}" for k, c in res["pii_by_kind"].items() if c["found"] < c["gold"]) or "none")]
    return "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/guardrails"))
    ap.add_argument("--n", type=int, default=1200, help="labelled sentences (one PII value each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--forbid", type=int, default=7)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--ddpm", type=Path, default=None, help="a trained class-conditional ddpm on digits")
    ap.add_argument("--ddpm-steps", type=int, default=1000, help="train one for this many steps (0: skip the samples)")
    ap.add_argument("--n-per-class", type=int, default=50)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    from genzoo.safety.pii import PIIDetector

    t0 = time.time()
    detector = PIIDetector()
    data = make_labelled_set(args.n, args.seed)
    stats, by_kind, misses, false = pii_scores(data, detector)
    t1 = time.time()
    fp = pystdlib_false_positives(detector)
    t2 = time.time()
    images = image_checker_scores(args.forbid, args.threshold, args.ddpm, args.ddpm_steps, args.out, args.n_per_class)
    images.update(forbid=args.forbid, threshold=args.threshold)
    res = {"pii": {e: dict(c) for e, c in stats.items()}, "pii_by_kind": {k: dict(c) for k, c in sorted(by_kind.items())},
           "misses": misses[:50], "false_detections": false[:50], "pystdlib": fp, "images": images, "n": args.n, "seed": args.seed,
           "seconds": {"pii_set": round(t1 - t0, 1), "pystdlib": round(t2 - t1, 1), "images": round(time.time() - t2, 1)}}
    (args.out / "guardrails.json").write_text(json.dumps(res, indent=1, default=str))
    (args.out / "guardrails.md").write_text(markdown(res))
    print(markdown(res))
    print(json.dumps(res["seconds"]))


if __name__ == "__main__":
    main()

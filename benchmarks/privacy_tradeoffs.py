"""Issue 24's privacy trade-offs, from the commands a user types (run here as subprocesses).

    python benchmarks/privacy_tradeoffs.py --out DIR [--part exposure,mia,dedup,tabular] [--scale 1.0]

- exposure: ``genzoo train gpt --data pystdlib --data-arg canaries=1,10,100 [--dp-epsilon E]`` for no DP,
  ε = 8 and ε = 1 (same steps, batch, model), then ``genzoo eval RUN --data pystdlib --metrics
  exposure,nll``: exposure of the secrets inserted 1, 10, 100 times (Carlini et al. 2019; chance is
  ~0-1 bits, the maximum log2 10^6 ≈ 19.9) and the held-out nats/char each privacy level costs.
- mia: ``genzoo train made --data digits-bin --set num_orderings=1 [--dp-epsilon E]``; the loss attack from ``genzoo eval
  RUN --data digits-bin --metrics mia,bpd`` and offline LiRA with reference MADEs trained on held-out
  digits that are audited neither as members nor as non-members (``genzoo.metrics.mia``).
- tabular: a DP generator (MAF, DDPM) on ``fair`` and ``breast-cancer`` with and without DP; TSTR, quality, DCR,
  NNDR and detection AUC of its synthetic release (``genzoo sample RUN --out synth.csv``, ``genzoo eval synth.csv``).
- dedup: duplicates ``--data-arg dedup=exact`` and ``dedup=minhash`` find in pystdlib, and the
  verbatim extraction (``--metrics extraction``) of a GPT trained with and without dedup.

``--scale`` multiplies every step budget (0.05 = a smoke run). Writes DIR/privacy_tradeoffs.md and
DIR/*.json; the commands are printed above each table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

from cli_steps import SRC, genzoo, last_json, once

LEVELS = [("no DP", "nodp", []), ("ε = 8", "eps8", ["--dp-epsilon", "8"]), ("ε = 1", "eps1", ["--dp-epsilon", "1"])]
GPT = ["--set", "n_layer=2", "--set", "n_embd=64", "--set", "n_head=4", "--data-arg", "block_size=64", "--batch-size", "64"]


def train(out: Path, *args: str) -> float:
    return once(out, "train", *args, marker="model.safetensors")


def exposure_part(out: Path, scale: float) -> list[str]:
    steps = max(20, int(3000 * scale))
    lines = ["## Canary exposure: GPT on pystdlib with secrets inserted 1, 10, 100 times", "",
             f"`genzoo train gpt --data pystdlib --data-arg canaries=1,10,100 {' '.join(GPT)} --steps {steps} "
             "[--dp-epsilon E]`, then `genzoo eval RUN --data pystdlib --metrics exposure,nll --max-examples 2000`", "",
             "| privacy | ε spent | exposure k=1 | k=10 | k=100 | control | held-out nats/char | train s |",
             "|---|---|---|---|---|---|---|---|"]
    for label, tag, dp in LEVELS:
        run = out / f"gpt-canaries-{tag}"
        sec = train(run, "gpt", "--data", "pystdlib", "--data-arg", "canaries=1,10,100", *GPT, "--steps", str(steps), *dp)
        r = last_json(genzoo("eval", run, "--data", "pystdlib", "--metrics", "exposure,nll", "--max-examples", "2000", "--json"))
        (out / f"{run.name}.json").write_text(json.dumps(r, indent=1))
        eps = f"{r['dp_epsilon']:.2f}" if "dp_epsilon" in r else "∞"
        lines.append(f"| {label} | {eps} | {r['exposure_k1']:.2f} | {r['exposure_k10']:.2f} | {r['exposure_k100']:.2f} | "
                     f"{r['exposure_control']:.2f} | {r['nll']:.4f} | {sec:.0f} |")
        print(lines[-1], flush=True)
    return lines + [""]


def mia_part(out: Path, scale: float, references: int) -> list[str]:
    sys.path.insert(0, str(SRC))
    import torch

    import genzoo as gz
    from genzoo.data import GenDataset
    from genzoo.metrics.mia import mia_metric, train_reference_models

    steps = max(20, int(3000 * scale))
    test = gz.load_dataset("digits-bin", split="test")
    audit = len(test) // 2  # non-members audited; the other half trains the LiRA reference models
    audited = GenDataset(test.name, "test", test.kind, test.x[:audit], test.y[:audit], levels=test.levels, num_classes=test.num_classes)
    pool = GenDataset(test.name, "test", test.kind, test.x[audit:], test.y[audit:], levels=test.levels, num_classes=test.num_classes)
    # one ordering: with several, a batch shares its drawn ordering while per-example DP gradients would draw
    # one each, so DP-SGD falls back to a per-example loop (4 steps/s); with one, ghost clipping (~50 steps/s)
    refs = train_reference_models("made", pool, references, overrides={"num_orderings": 1}, steps=steps, batch_size=64, lr=1e-3)
    lines = ["## Membership inference: MADE on digits-bin", "",
             f"`genzoo train made --data digits-bin --set num_orderings=1 --steps {steps} [--dp-epsilon E]`; loss attack and offline LiRA "
             f"({references} reference MADEs, {steps} steps each, on the {len(pool)} test digits not audited); "
             f"{audit} members (first training digits) vs {audit} non-members (first test digits)", "",
             "| privacy | ε spent | test bits/dim | loss-attack AUC | TPR@1%FPR | LiRA AUC | LiRA TPR@1%FPR | train s |",
             "|---|---|---|---|---|---|---|---|"]
    for label, tag, dp in LEVELS:
        run = out / f"made-{tag}"
        sec = train(run, "made", "--data", "digits-bin", "--set", "num_orderings=1", "--steps", str(steps), *dp)
        bpd = last_json(genzoo("eval", run, "--data", "digits-bin", "--metrics", "bpd", "--json"))
        model = gz.load(run).eval()
        with torch.no_grad():
            r = mia_metric(model, audited, reference_models=refs, max_examples=audit)
        r.update(bpd)
        (out / f"{run.name}.json").write_text(json.dumps(r, indent=1, default=float))
        eps = f"{bpd['dp_epsilon']:.2f}" if "dp_epsilon" in bpd else "∞"
        lines.append(f"| {label} | {eps} | {bpd['bpd']:.4f} | {r['mia_loss_auc']:.3f} | {r['mia_loss_tpr_at_1fpr']:.3f} | "
                     f"{r['mia_lira_auc']:.3f} | {r['mia_lira_tpr_at_1fpr']:.3f} | {sec:.0f} |")
        print(lines[-1], flush=True)
    return lines + [""]


def dedup_part(out: Path, scale: float) -> list[str]:
    steps = max(20, int(3000 * scale))
    lines = ["## Deduplication of pystdlib and verbatim extraction", "",
             f"`genzoo train gpt --data pystdlib [--data-arg dedup=METHOD] {' '.join(GPT)} --steps {steps}`, then "
             "`genzoo eval RUN --data pystdlib --split train --metrics extraction` (100 training prompts of 32 "
             "tokens, greedy 32-token continuations)", "",
             "| dedup | documents | exact duplicates | near duplicates | extraction_exact (train) | extraction_exact (held out) | extraction_rate |",
             "|---|---|---|---|---|---|---|"]
    for method in ("none", "exact", "minhash"):
        run = out / f"gpt-dedup-{method}"
        extra = [] if method == "none" else ["--data-arg", f"dedup={method}"]
        train(run, "gpt", "--data", "pystdlib", *extra, *GPT, "--steps", str(steps))
        info = json.loads((run / "run.json").read_text())
        cur = info.get("curation") or {}
        r = last_json(genzoo("eval", run, "--data", "pystdlib", "--metrics", "extraction", "--json"))
        (out / f"{run.name}.json").write_text(json.dumps({"curation": cur, **r}, indent=1))
        lines.append(f"| {method} | {cur.get('documents', '-')} | {cur.get('exact_duplicates', '-')} | {cur.get('near_duplicates', '-')} | "
                     f"{r.get('extraction_exact', float('nan')):.3f} | {r.get('extraction_exact_heldout', float('nan')):.3f} | "
                     f"{r.get('extraction_rate', float('nan')):.3f} |")
        print(lines[-1], flush=True)
    return lines + [""]


def tabular_part(out: Path, scale: float, datasets=("fair", "breast-cancer"), families=("maf", "ddpm")) -> list[str]:
    steps = max(20, int(1000 * scale))
    lines = ["## Private synthetic data: DP generators on tables", "",
             f"`genzoo train FAMILY --data NAME --steps {steps} --batch-size 256 [--dp-epsilon E]`, "
             "`genzoo sample RUN -n N_train --out synth.csv`, `genzoo eval synth.csv --data NAME --metrics "
             "tstr,dcr,quality,detection_auc --json` (TSTR: random forest trained on the synthetic rows, scored on the "
             "real test split, over the same with real training rows; DCR: median distance of a synthetic row to its "
             "closest training row, in brackets the same for real test rows; NNDR near 0 = copies)", "",
             "| data | family | privacy | ε spent | TSTR/TRTR | quality | DCR (holdout) | NNDR | detection AUC | train s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    sys.path.insert(0, str(SRC))
    import genzoo as gz

    for data in datasets:
        rows = len(gz.load_dataset(data, split="train"))
        for family in families:
            for label, tag, dp in LEVELS:
                run = out / f"tab-{data}-{family}-{tag}"
                sec = train(run, family, "--data", data, "--steps", str(steps), "--batch-size", "256", *dp)
                synth = run / "synth.csv"
                if not synth.exists():
                    genzoo("sample", run, "-n", str(rows), "--out", synth)
                r = last_json(genzoo("eval", synth, "--data", data, "--metrics", "tstr,dcr,quality,detection_auc", "--json"))
                priv = run / "privacy.json"
                eps = json.loads(priv.read_text())["epsilon"] if priv.exists() else None
                (out / f"{run.name}.json").write_text(json.dumps({"epsilon": eps, **r}, indent=1))
                lines.append(f"| {data} | {family} | {label} | {'∞' if eps is None else f'{eps:.2f}'} | {r['tstr_ratio']:.3f} | "
                             f"{r['quality']:.3f} | {r['dcr']:.2f} ({r['dcr_holdout']:.2f}) | {r['nndr']:.2f} | "
                             f"{r['detection_auc']:.3f} | {sec:.0f} |")
                print(lines[-1], flush=True)
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--part", default="exposure,mia,dedup,tabular")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the step budgets (0.05: smoke run)")
    ap.add_argument("--references", type=int, default=4, help="LiRA reference models")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    lines = [f"# Privacy trade-offs ({cpu}, {os.cpu_count()} cores, scale {args.scale})", ""]
    parts = {"exposure": lambda: exposure_part(args.out, args.scale), "mia": lambda: mia_part(args.out, args.scale, args.references),
             "dedup": lambda: dedup_part(args.out, args.scale), "tabular": lambda: tabular_part(args.out, args.scale)}
    for name in args.part.split(","):
        lines += parts[name]()
        (args.out / "privacy_tradeoffs.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'privacy_tradeoffs.md'}")


if __name__ == "__main__":
    main()

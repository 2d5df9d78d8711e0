"""genzoo's families on mixed-type tables vs the ``ctgan`` package's CTGAN and TVAE, same run, same budget.

    python benchmarks/tabular_vs_ctgan.py --out benchmarks/results/tabular

For each dataset every model gets the same budget: ``--steps`` optimizer steps at batch 256 (genzoo:
``genzoo train FAMILY --data NAME --steps S``, the user's code path, ``genzoo.cli.runs.train_run``)
and the same number of epochs, E = S * 256 / N_train, for CTGAN / TVAE (batch 250: CTGAN's pac=10
needs a multiple of 10). Then ``len(train)`` rows are drawn (``genzoo sample RUN --out synth.csv``'s
``sample_table``; ``ctgan``'s ``sample``) and every row of the table is scored by the same registered
metrics (``genzoo eval synth.csv --data NAME --metrics tstr,quality,dcr,detection_auc``).
Wall and CPU seconds cover training + sampling. One torch thread (a shared 2-core machine).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

DATASETS = ("breast-cancer", "diabetes", "fair", "wine")
FAMILIES = ("vae", "gan", "maf", "ddpm", "gaussian-copula")
BASELINES = ("ctgan:CTGAN", "ctgan:TVAE")
METRICS = ("tstr", "quality", "dcr", "detection_auc")


def genzoo_synth(family: str, data: str, steps: int, out: Path, seed: int):
    import genzoo as gz
    from genzoo.cli.runs import train_run
    from genzoo.pipelines.tabular import sample_table

    run = train_run(family, data, steps=steps, batch_size=256, seed=seed, out=out / f"{family}-{data}",
                    overwrite=True, progress=False)
    n = len(gz.load_dataset(data, split="train"))
    return sample_table(gz.load(run), n, generator=torch.Generator().manual_seed(seed))


def ctgan_synth(name: str, data: str, epochs: int, seed: int):
    import ctgan

    import genzoo as gz

    train = gz.load_dataset(data, split="train")
    discrete = [c["name"] for c in train.transform.columns if c["type"] == "categorical"]
    model = getattr(ctgan, name)(epochs=epochs, batch_size=250, enable_gpu=False)
    model.set_random_state(seed)
    model.fit(train.frame, discrete_columns=discrete)
    return model.sample(len(train))


def run_one(model: str, data: str, steps: int, out: Path, seed: int) -> dict:
    import genzoo as gz

    n = len(gz.load_dataset(data, split="train"))
    epochs = max(1, round(steps * 256 / n))
    t, c = time.time(), time.process_time()
    if model.startswith("ctgan:"):
        synth = ctgan_synth(model.split(":")[1], data, epochs, seed)
    else:
        synth = genzoo_synth(model, data, steps, out, seed)
    wall, cpu = time.time() - t, time.process_time() - c
    scores = gz.evaluate(synth, gz.load_dataset(data, split="test"), metrics=list(METRICS), seed=seed)
    return {"data": data, "model": model, "steps": steps, "epochs": epochs, "wall_s": wall, "cpu_s": cpu, **scores}


def table(rows: list[dict]) -> str:
    head = ("| data | model | TSTR (F1 / R²) | TRTR | TSTR/TRTR | quality | DCR (holdout) | NNDR | detection AUC | wall s | CPU s |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        key = "f1" if "tstr_f1" in r else "r2"
        lines.append(f"| {r['data']} | {r['model'].replace('ctgan:', 'ctgan ')} | {r['tstr_' + key]:.3f} | {r['trtr_' + key]:.3f} | "
                     f"{r['tstr_ratio']:.3f} | {r['quality']:.3f} | {r['dcr']:.2f} ({r['dcr_holdout']:.2f}) | {r['nndr']:.2f} | "
                     f"{r['detection_auc']:.3f} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} |")
    return head + "\n".join(lines) + "\n"


def verdict(rows: list[dict]) -> str:
    out = []
    for data in dict.fromkeys(r["data"] for r in rows):
        mine = [r for r in rows if r["data"] == data and not r["model"].startswith("ctgan:")]
        ref = [r for r in rows if r["data"] == data and r["model"] == "ctgan:CTGAN"]
        if not mine or not ref:
            continue
        best = max(mine, key=lambda r: r["tstr_ratio"])
        ok = best["tstr_ratio"] > ref[0]["tstr_ratio"]
        out.append(f"- {data}: best genzoo {best['model']} TSTR/TRTR {best['tstr_ratio']:.3f} vs CTGAN "
                   f"{ref[0]['tstr_ratio']:.3f}: {'beats' if ok else 'does NOT beat'} CTGAN")
    return "\n".join(out) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data", default=",".join(DATASETS))
    p.add_argument("--models", default=",".join(FAMILIES + BASELINES))
    p.add_argument("--steps", default="breast-cancer=1000,diabetes=1000,fair=1000,wine=1000",
                   help="optimizer steps per dataset (DATA=S,...); CTGAN/TVAE get the same epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", type=Path, default=None, help="where the genzoo runs are saved (default: OUT/runs)")
    args = p.parse_args()
    torch.set_num_threads(1)
    steps = {k: int(v) for k, v in (kv.split("=") for kv in args.steps.split(","))}
    args.out.mkdir(parents=True, exist_ok=True)
    rows_path = args.out / "rows.jsonl"
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()] if rows_path.exists() else []
    done = {(r["data"], r["model"], r["steps"]) for r in rows}
    for data in args.data.split(","):
        for model in args.models.split(","):
            if (data, model, steps[data]) in done:
                continue
            row = run_one(model, data, steps[data], args.runs or args.out / "runs", args.seed)
            print(json.dumps({k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v) for k, v in row.items()}), flush=True)
            rows.append(row)
            with rows_path.open("a") as f:
                f.write(json.dumps(row) + "\n")
    wanted = [r for r in rows if r["data"] in args.data.split(",") and r["model"] in args.models.split(",")
              and r["steps"] == steps[r["data"]]]
    text = table(wanted) + "\n" + verdict(wanted)
    (args.out / "tabular.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

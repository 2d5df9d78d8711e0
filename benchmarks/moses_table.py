"""genzoo's MOSES table beside the published baselines: train, sample, score, time the metrics.

    PYTHONPATH=src python benchmarks/moses_table.py --out runs/moses --budget-minutes 60            # the must-show
    PYTHONPATH=src python benchmarks/moses_table.py --out /tmp/smoke --data moses-small \\
        --budget-minutes 1 --num-samples 1000                                                       # a smoke run

``--resample --temperature T`` draws a second sample of DIR's trained models at temperature T (``genzoo
sample --temperature``) and scores it as the row MODEL@T=T.

For each model (``--models gpt,vae``): the steps that fit ``--budget-minutes`` of training on this CPU
are estimated from a 10-step probe (``gz.Trainer``, in process), then the model is trained with the CLI,
``genzoo train MODEL --data DATA --steps S [--set ...]``, sampled with ``genzoo sample RUN -n N
--out RUN/samples.smi`` and scored with ``genzoo.metrics.molecules`` against the dataset's reference
(moses: MOSES' own test statistics). ``--moses-code`` also scores the same samples with MOSES' own
``get_all_metrics`` (benchmarks/moses_reference.py) and reports both times and the largest difference.
Writes DIR/table.md and DIR/results.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# MOSES README (molecularsets/moses), the numbers issue 29 quotes; the others are left out here
PUBLISHED = {"CharRNN (MOSES)": {"valid": 0.9598, "unique@10000": 0.9993, "FCD/Test": 0.3233},
             "VAE (MOSES)": {"valid": 0.9528, "unique@10000": 0.9992, "FCD/Test": 0.2540}}
COLUMNS = ["valid", "unique@1000", "unique@10000", "Novelty", "IntDiv", "IntDiv2", "FCD/Test", "FCD/TestSF", "SNN/Test",
           "Frag/Test", "Scaf/Test", "Filters", "logP", "SA", "QED", "weight"]


def genzoo(*args: str) -> float:
    """Run ``genzoo ARGS`` and return its wall seconds."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "genzoo", *args], check=True, env=env)
    return time.perf_counter() - t


def seconds_per_step(model: str, data: str, overrides: list[str], batch_size: int | None,
                     data_args: list[str] = ()) -> float:
    """Seconds per optimisation step from a 10-step in-process probe (after 2 warm-up steps)."""
    import genzoo as gz
    from genzoo.data import load_dataset

    ds = load_dataset(data, **dict(o.split("=", 1) for o in data_args))
    sets = dict(o.split("=", 1) for o in overrides)
    trainer = gz.Trainer(gz.build(model, ds, **sets), ds, steps=2, batch_size=batch_size, progress=False)
    trainer.fit()
    trainer = gz.Trainer(gz.build(model, ds, **sets), ds, steps=10, batch_size=batch_size, progress=False)
    t = time.perf_counter()
    trainer.fit()
    return (time.perf_counter() - t) / 10


def fmt(v) -> str:
    return "—" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--data", default="moses", choices=["moses", "moses-small"])
    p.add_argument("--budget-minutes", type=float, default=60.0, help="training minutes per model")
    p.add_argument("--num-samples", type=int, default=30_000)
    p.add_argument("--models", default="gpt,vae")
    p.add_argument("--n-jobs", type=int, default=1)
    p.add_argument("--moses-code", action="store_true", help="also time MOSES' own metric code on the same samples")
    p.add_argument("--set", action="append", default=[], metavar="MODEL:KEY=VALUE", help="a config override, e.g. gpt:n_layer=6")
    p.add_argument("--data-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="a dataset option for every model, e.g. selfies=true (genzoo train --data-arg)")
    p.add_argument("--batch-size", action="append", default=[], metavar="MODEL:N", help="e.g. gpt:128 (default: the family's)")
    p.add_argument("--ema-decay", type=float, default=None, help="passed to genzoo train (0: off; short runs)")
    p.add_argument("--score-only", action="store_true", help="rescore DIR/MODEL/samples.smi of an earlier run")
    p.add_argument("--temperature", type=float, default=None, help="sample at this temperature (genzoo sample "
                   "--temperature); the row is named MODEL@T=...")
    p.add_argument("--resample", action="store_true", help="reuse DIR/MODEL's trained model: only sample and score")
    a = p.parse_args(argv)
    overrides = {m: [o.split(":", 1)[1] for o in a.set if o.startswith(m + ":")] for m in a.models.split(",")}
    batch = {o.split(":")[0]: int(o.split(":")[1]) for o in a.batch_size}
    sys.path.insert(0, str(ROOT / "src"))
    a.out.mkdir(parents=True, exist_ok=True)
    results = {"data": a.data, "num_samples": a.num_samples, "models": {}}
    earlier = a.out / "results.json"
    if earlier.exists():  # rows of other models (or other budgets) from an earlier run into DIR are kept
        old = json.loads(earlier.read_text())
        if a.score_only or (old["data"], old["num_samples"]) == (a.data, a.num_samples):
            results = old
    elif a.score_only or a.resample:
        p.error(f"--score-only and --resample need {earlier} from an earlier run")
    temperature = [] if a.temperature is None else ["--temperature", f"{a.temperature:g}"]
    for model in a.models.split(","):
        run = a.out / model
        if a.resample:
            key = model if a.temperature is None else f"{model}@T={a.temperature:g}"
            smi = run / f"samples{'' if a.temperature is None else f'_T{a.temperature:g}'}.smi"
            sample_s = genzoo("sample", str(run), "-n", str(a.num_samples), "--out", str(smi), *temperature)
            row = {k: results["models"][model][k] for k in ("command", "steps", "budget_minutes", "train_minutes")}
            results["models"][key] = {**row, "temperature": a.temperature, "sample_seconds": sample_s, **score(smi, a.data, a)}
            (a.out / "results.json").write_text(json.dumps(results, indent=1, default=float))
            continue
        if a.score_only:
            row = results["models"][model]
            row.update(score(run / "samples.smi", results["data"], a))
            (a.out / "results.json").write_text(json.dumps(results, indent=1, default=float))
            continue
        per_step = seconds_per_step(model, a.data, overrides[model], batch.get(model), a.data_arg)
        steps = max(10, int(a.budget_minutes * 60 / per_step))
        cmd = ["train", model, "--data", a.data, "--steps", str(steps), "--out", str(run), "--overwrite", "--no-progress"]
        for o in overrides[model]:
            cmd += ["--set", o]
        for o in a.data_arg:
            cmd += ["--data-arg", o]
        if model in batch:
            cmd += ["--batch-size", str(batch[model])]
        if a.ema_decay is not None:
            cmd += ["--ema-decay", str(a.ema_decay)]
        train_s = genzoo(*cmd)
        smi = run / "samples.smi"
        sample_s = genzoo("sample", str(run), "-n", str(a.num_samples), "--out", str(smi), *temperature)
        row = {"command": "genzoo " + " ".join(cmd), "steps": steps, "budget_minutes": a.budget_minutes, "temperature": a.temperature,
               "train_minutes": train_s / 60,
               "sample_seconds": sample_s, **score(smi, a.data, a)}
        results["models"][model] = row
        (a.out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    (a.out / "table.md").write_text(table(results))
    print(table(results))


def score(smi: Path, data: str, a) -> dict:
    """genzoo's metrics of a samples file, timed in a fresh process (reference statistics included,
    as MOSES' own code builds them too), and MOSES' code on the same file with ``--moses-code``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    code = ("import json, sys, time; import genzoo as gz; s = open(sys.argv[1]).read().split('\\n')[:-1]; "
            "t = time.perf_counter(); m = gz.metrics.molecules(s, reference=sys.argv[2], n_jobs=int(sys.argv[3])); "
            "print(json.dumps({'metrics': m, 'metric_seconds': time.perf_counter() - t}))")
    done = subprocess.run([sys.executable, "-c", code, str(smi), data, str(a.n_jobs)], env=env, check=True,
                          capture_output=True, text=True)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    if a.moses_code:
        row["moses_code"] = moses_code(smi, data, smi.parent.parent, row["metrics"], a.n_jobs)
    return row


def moses_code(smi: Path, data: str, out: Path, ours: dict, n_jobs: int) -> dict:
    """MOSES' get_all_metrics on the same samples and reference: its seconds and the largest difference."""
    from genzoo.data.molecules import moses_smiles

    args = [sys.executable, str(ROOT / "benchmarks/moses_reference.py"), str(smi), str(out / "moses_code.json"),
            "--n-jobs", str(n_jobs)]
    if data == "moses-small":
        for split, flag in (("test", "--test"), ("test_scaffolds", "--test-sf"), ("train", "--train")):
            (out / f"{split}.smi").write_text("\n".join(moses_smiles(split, True)) + "\n")
            args += [flag, str(out / f"{split}.smi")]
    try:
        subprocess.run(args, check=True)
    except subprocess.CalledProcessError as e:
        return {"error": str(e)}
    ref = json.loads((out / "moses_code.json").read_text())
    diff = max(abs(v - ours[k]) for k, v in ref["metrics"].items() if k in ours and v == v)
    return {"seconds": ref["seconds"], "max_abs_difference": diff}


def table(results: dict) -> str:
    cols = COLUMNS
    lines = [f"MOSES metrics on `{results['data']}`, {results['num_samples']} samples per model, "
             "each model trained for the CPU-minutes of its row's budget (steps estimated from a probe).", "",
             "| model | budget min | steps | train min | " + " | ".join(cols) + " | metric s | MOSES code s |",
             "|" + "---|" * (len(cols) + 6)]
    for name, row in results["models"].items():
        m, mc = row["metrics"], row.get("moses_code", {})
        budget = row.get("budget_minutes", results.get("budget_minutes"))
        lines.append(f"| genzoo {name} | {budget:g} | {row['steps']} | {row['train_minutes']:.1f} | "
                     + " | ".join(fmt(m.get(c)) for c in cols)
                     + f" | {row['metric_seconds']:.0f} | {fmt(mc.get('seconds')) if 'seconds' in mc else '—'} |")
    for name, m in PUBLISHED.items():
        lines.append(f"| {name} | — | — | — | " + " | ".join(fmt(m.get(c)) for c in cols) + " | — | — |")
    lines += ["", "Commands:"] + [f"- `{row['command']}`" for row in results["models"].values()]
    diffs = {k: r["moses_code"].get("max_abs_difference") for k, r in results["models"].items() if "moses_code" in r}
    if diffs:
        lines.append(f"- largest |genzoo - MOSES code| over all metrics: {diffs}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

"""Issue 23's must-shows: learning from preferences on the pystdlib code model, from the commands a user types.

    python benchmarks/preference.py --out DIR [--parts base,prefs,dpo,rm,ppo,grpo,ppo-rm,winrate] [--scale 1.0]

1. base: ``genzoo train gpt --data pystdlib`` (a small char GPT, ``--base-steps``);
2. prefs: ``genzoo prefs make base --reward python-syntax --prompts 512 --k 8 --seed S --out prefs-seedS.jsonl``
   for S = 0..31 (``--pref-seeds``; ~15 s each), concatenated into prefs.jsonl (~9,200 pairs from the tuning modules:
   the completed function parses or not; the reward model reached 0.81 held-out accuracy on 2 seeds' 593 pairs,
   0.89 on 16 seeds, 0.92 on 32);
3. dpo: ``genzoo finetune base --method dpo --data prefs.jsonl`` (LoRA, the base with the adapter disabled
   as the reference);
4. rm: ``genzoo finetune base --method reward --data prefs.jsonl --steps 1600`` (Bradley-Terry reward model,
   held-out pair accuracy on its 10 % held-out pairs, from its run);
5. ppo / grpo: ``genzoo finetune base --method ppo|grpo --reward python-syntax`` (online; reward and KL
   curves in each run's reward.png);
6. ppo-rm: PPO against the learned reward (``--reward model:DIR/rm``), scored with the true reward
   (reward hacking: learned-reward gain without true-reward gain);
7. every model: ``genzoo eval RUN --data pystdlib --metrics reward --reward python-syntax --json`` on
   prompts of the held-out modules (syntax-valid rate; ``reward_kl`` = KL to the base for adapters);
8. winrate: each tuned model vs the base on the same held-out prompts and seeds, judged by the reward,
   rated with genzoo's Bradley-Terry (``genzoo.metrics.pairwise.rate``).

``--scale`` multiplies every step budget (0.05: a smoke run). Writes DIR/preference.md and DIR/*.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from cli_steps import SRC, genzoo, last_json, once

BASE = ["--set", "n_layer=2", "--set", "n_embd=128", "--set", "n_head=4", "--data-arg", "block_size=128",
        "--batch-size", "32"]
REWARD = "python-syntax"
NEW_TOKENS = "64"  # completion length for pairs, rollouts and evaluation alike


def evaluate(run: Path, prompts: int, k: int) -> dict:
    path = run / "reward_eval.json"
    if not path.exists():
        r = last_json(genzoo("eval", run, "--data", "pystdlib", "--metrics", "reward", "--reward", REWARD,
                             "--num-samples", prompts * k, "--json"))  # k = 4 completions per prompt, 64 new tokens
        path.write_text(json.dumps(r, indent=1))
    return json.loads(path.read_text())


def last_metrics(run: Path) -> dict:
    """The last line of a run's metrics.jsonl (training logs), or {}."""
    path = run / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return json.loads(lines[-1]) if lines else {}


def win_rates(out: Path, runs: dict[str, Path], prompts: int, seed: int = 0) -> list[dict]:
    """Each model's completions of the same held-out prompts (same seeds) against the base's, judged by the reward."""
    sys.path.insert(0, str(SRC))
    import torch

    import genzoo as gz
    from genzoo.finetune.prefs_make import sample_completions, select_prompts
    from genzoo.finetune.rewards import get_reward, score_completions
    from genzoo.metrics.pairwise import rate

    reward = get_reward(REWARD)
    models = {name: gz.load(run).eval() for name, run in runs.items()}
    scores: dict[str, list[float]] = {}
    for name, model in models.items():
        g = torch.Generator().manual_seed(seed)
        chosen = select_prompts(model, REWARD, prompts, int(NEW_TOKENS), g, split="test")
        vals = []
        with torch.inference_mode():
            for i, ((prompt, module), ids) in enumerate(chosen):
                text = sample_completions(model, ids, 1, torch.Generator().manual_seed(seed * 100003 + i),
                                          max_new_tokens=int(NEW_TOKENS), temperature=1.0)
                vals.append(float(score_completions(reward, [prompt], text, REWARD, strict=False, modules=[module]).values[0]))
        scores[name] = vals
    judgements = []
    for name in runs:
        if name == "base":
            continue
        for mine, theirs in zip(scores[name], scores["base"]):
            judgements.append((name, "base", 1.0 if mine > theirs else 0.0 if mine < theirs else 0.5))
    (out / "judgements.jsonl").write_text("".join(json.dumps({"a": a, "b": b, "winner": {1.0: "a", 0.0: "b", 0.5: "tie"}[s]}) + "\n"
                                                  for a, b, s in judgements))
    rows = rate(judgements, bootstrap=200)
    for row in rows:  # the head-to-head win rate against the base, ties counted as half
        mine = [s for a, _, s in judgements if a == row["model"]]
        row["vs_base"] = sum(mine) / len(mine) if mine else None
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--parts", default="base,prefs,dpo,rm,ppo,grpo,ppo-rm,winrate")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--base-steps", type=int, default=3000)
    ap.add_argument("--prompts", type=int, default=512, help="prefs make: tuning prompts (pystdlib's tuning modules have ~490 that fit)")
    ap.add_argument("--k", type=int, default=8, help="prefs make: completions per prompt (best vs worst make the pair)")
    ap.add_argument("--pref-seeds", type=int, default=32, help="prefs make runs with seeds 0..N-1, concatenated")
    ap.add_argument("--eval-prompts", type=int, default=128, help="held-out prompts for the reward metric")
    args = ap.parse_args()
    out, s = args.out, args.scale
    out.mkdir(parents=True, exist_ok=True)
    parts = args.parts.split(",")
    steps = lambda n: str(max(5, int(n * s)))  # noqa: E731
    base, prefs = out / "base", out / "prefs.jsonl"
    runs = {"base": base}
    if "base" in parts:
        once(base, "train", "gpt", "--data", "pystdlib", *BASE, "--steps", steps(args.base_steps), marker="model.safetensors")
    if "prefs" in parts and not prefs.exists():  # one pair per prompt with mixed rewards; more seeds, more pairs
        for seed in range(args.pref_seeds):
            part = out / f"prefs-seed{seed}.jsonl"
            if not part.exists():
                genzoo("prefs", "make", base, "--reward", REWARD, "--prompts", max(8, int(args.prompts * s)), "--k", args.k,
                       "--max-new-tokens", NEW_TOKENS, "--seed", seed, "--out", part, "--no-progress")
        # = cat prefs-seed*.jsonl > prefs.jsonl
        prefs.write_text("".join((out / f"prefs-seed{seed}.jsonl").read_text() for seed in range(args.pref_seeds)))
    tuned = {"dpo": ["--method", "dpo", "--data", prefs, "--steps", steps(400), "--batch-size", "16"],
             "ppo": ["--method", "ppo", "--reward", REWARD, "--steps", steps(400), "--batch-size", "16",
                     "--set", f"max_new_tokens={NEW_TOKENS}"],
             "grpo": ["--method", "grpo", "--reward", REWARD, "--steps", steps(200), "--batch-size", "8",
                      "--set", f"max_new_tokens={NEW_TOKENS}"],
             "ppo-rm": ["--method", "ppo", "--reward", f"model:{out / 'rm'}", "--steps", steps(400), "--batch-size", "16",
                        "--set", f"max_new_tokens={NEW_TOKENS}"]}
    if "rm" in parts or "ppo-rm" in parts:
        once(out / "rm", "finetune", base, "--method", "reward", "--data", prefs, "--steps", steps(1600), "--batch-size", "16")
    for name, cmd in tuned.items():
        if name in parts:
            once(out / name, "finetune", base, *cmd)
            runs[name] = out / name
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    lines = [f"# Learning from preferences on pystdlib ({cpu}, scale {s})", "",
             f"Held-out syntax-valid rate: `genzoo eval RUN --data pystdlib --metrics reward --reward {REWARD}` on "
             f"{args.eval_prompts} prompts of held-out modules, 4 completions each, {NEW_TOKENS} new tokens, temperature 1.", "",
             "| model | command | syntax-valid rate | Δ vs base (points) | KL to base (nats/completion) | last training reward |",
             "|---|---|---|---|---|---|"]
    base_rate = evaluate(base, args.eval_prompts, 4)["reward_mean"]
    for name, run in runs.items():
        r = evaluate(run, args.eval_prompts, 4)
        cmd = "genzoo train gpt --data pystdlib " + " ".join(BASE) if name == "base" else \
            "genzoo finetune base " + " ".join(map(str, tuned[name]))
        kl = r.get("reward_kl")
        train_reward = last_metrics(run).get("reward_mean")
        lines.append(f"| {name} | `{cmd}` | {r['reward_mean']:.3f} | {100 * (r['reward_mean'] - base_rate):+.1f} | "
                     f"{'—' if kl is None else f'{kl:.2f}'} | {'—' if train_reward is None else f'{train_reward:.3f}'} |")
        print(lines[-1], flush=True)
    if (out / "rm" / "run.json").exists():
        info = json.loads((out / "rm" / "run.json").read_text())
        lines += ["", f"Reward model (`genzoo finetune base --method reward --data prefs.jsonl`): held-out pair accuracy "
                  f"{json.dumps({k: v for k, v in info.items() if 'acc' in k})}"]
    if "winrate" in parts and len(runs) > 1:
        rows = win_rates(out, runs, args.eval_prompts)
        lines += ["", "Win rate against the base (same held-out prompts and seeds, one completion each, judged by "
                  f"{REWARD}; Bradley-Terry on the Elo scale with a 95% bootstrap interval):", "",
                  "| model | BT rating | 95% interval | win rate vs base (ties ½) | games |", "|---|---|---|---|---|"]
        for r in rows:
            vs = "—" if r["vs_base"] is None else f"{r['vs_base']:.3f}"
            lines.append(f"| {r['model']} | {r['bt_rating']:.0f} | {r['bt_low']:.0f}–{r['bt_high']:.0f} | {vs} | {r['games']} |")
    (out / "preference.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

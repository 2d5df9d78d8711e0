"""``genzoo demo`` (what ``make demo`` runs): the main job as a tour of a few minutes.

1. a leaderboard subset — several families on a 2-D mixture (exact entropy known) and on digits,
   trained with the shared Trainer, evaluated with the metrics suite;
2. Hugging Face-style text generation: a small character GPT trained on Python's standard library,
   prompted through ``genzoo.pipeline("text-generation", ...)``;
3. diffusers-style image generation: a DDPM U-Net trained on digits, sampled through
   ``DiffusionPipeline.from_pretrained(...)`` with DPM-Solver++;
4. text to image: a latent-diffusion model on captioned shapes, a prompt x seed grid through
   ``genzoo.pipeline("text-to-image", ...)``, judged by the shipped attribute classifier.
Everything lands in ``demo/report.html`` (+ ``report.md``, ``results.json``), headed by the quality
checks the demo promises (``FLOORS``).
"""
from __future__ import annotations

import html
import json
import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

#: the leaderboard subset: each family's cells with the budget it needs to show what it does, per
#: data kind (Trainer steps / batch_size / lr; ``num_samples`` for the metrics). A family without an
#: entry for a kind is left out of that dataset: dropped rather than shown broken.
DEMO_BUDGETS: dict[str, dict[str, dict]] = {
    # CPU seconds per cell on the 2-core AMD EPYC (one thread), measured 2026-12-06 in the comment
    "gaussian": {"2d": {"steps": 100}, "image": {"steps": 50, "num_samples": 256}},                  # 3 s, 3 s
    "nsf": {"2d": {"steps": 400}, "image": {"steps": 800, "num_samples": 256}},                      # 6 s, 41 s
    "made": {"image": {"steps": 2500, "num_samples": 256}},                                          # 47 s
    "pixelcnn": {"image": {"steps": 300, "num_samples": 256}},                                       # 101 s
    "vae": {"2d": {"steps": 1000}, "image": {"steps": 2000, "num_samples": 256}},                    # 15 s, 21 s
    "gan": {"2d": {"steps": 2000}, "image": {"steps": 800, "num_samples": 256}},                     # 36 s, 49 s
    "flow-matching": {"2d": {"steps": 600}},                                                         # 25 s
}
DEMO_DATASETS = ["8gaussians", "digits"]
#: what a newcomer must see (``quality_checks``; tests/cli/test_demo_quality.py runs the demo and
#: asserts them): every family covers every mode of the 2-D mixture, and every trained family puts
#: this much more of its samples within 3 sigma of a mode than the Gaussian baseline; every trained
#: family's FID-digits (256 samples; real digits score ~62) is at most this fraction of the
#: baseline's; the char GPT's test loss is at most this many nats/char
FLOORS = {"high_quality_over_baseline": 0.05, "fid_vs_baseline": 0.9, "text_nll": 1.6, "t2i_all_attributes": 0.3}

GPT_RUN = {"overrides": {"n_layer": 2, "n_head": 4, "n_embd": 64, "block_size": 64},  # 56 s: 1.40 nats/char
           "budget": {"steps": 1200, "batch_size": 32, "lr": 3e-3}, "prompts": ["def ", "import ", "class "],
           "max_new_tokens": 56}  # prompt + new tokens must fit the 64-character context
DDPM_RUN = {"data": "digits", "budget": {"steps": 400, "batch_size": 64, "lr": 2e-3}, "steps": 20, "sampler": "dpm++2m",
            "samples": 256}  # 50 s: FID-digits ~120

#: text to image: the latent-diffusion model of ``genzoo train latent-diffusion --data shapes-captions``
#: at a demo budget (autoencoder steps first, then the U-Net), a prompt x seed grid judged by the
#: shipped attribute classifier
T2I_RUN = {"overrides": {"autoencoder_steps": 600}, "budget": {"steps": 1600, "batch_size": 64, "lr": 1e-3},  # ~5 min: 46-75 %
           "guidance": 3.0, "steps": 25, "seeds": 6}


def _section(title: str, body: str) -> str:
    return f"<h2>{html.escape(title)}</h2>\n{body}\n"


def text_generation_part(out: Path, run: dict) -> tuple[str, str, dict]:
    """``run``: ``GPT_RUN`` (passed in, so worker processes get the caller's settings)."""
    import genzoo as gz

    train = gz.load_dataset("pystdlib", "train", block_size=run["overrides"]["block_size"])
    model = gz.build("gpt", train, **run["overrides"])
    t0 = time.perf_counter()
    gz.Trainer(model, train, seed=0, out=out / "gpt", **run["budget"]).fit()
    seconds = time.perf_counter() - t0
    test = gz.load_dataset("pystdlib", "test", block_size=run["overrides"]["block_size"])
    metrics = gz.evaluate(model, test, metrics=["perplexity"], max_examples=200)
    pipe = gz.pipeline("text-generation", model=str(out / "gpt"))
    gen = torch.Generator().manual_seed(0)
    texts = [pipe(p, max_new_tokens=run["max_new_tokens"], do_sample=True, temperature=0.8, top_k=20, generator=gen)[0]["generated_text"]
             for p in run["prompts"]]
    summary = (f"char GPT ({run['overrides']['n_layer']} layers, {run['overrides']['n_embd']} dims), "
               f"{run['budget']['steps']} steps in {seconds:.0f}s: test {metrics['nll']:.3f} nats/char, "
               f"perplexity {metrics['perplexity']:.2f}")
    md = "## Text generation (pipeline)\n\n" + summary + "\n\n" + "\n".join(f"```python\n{t}\n```" for t in texts) + "\n"
    body = f"<p>{html.escape(summary)}</p>" + "".join(f"<pre>{html.escape(t)}</pre>" for t in texts)
    return md, _section("Text generation: genzoo.pipeline('text-generation')", body), {"text_nll": float(metrics["nll"])}


def diffusion_part(out: Path, run: dict) -> tuple[str, str, dict]:
    """``run``: ``DDPM_RUN``."""
    import genzoo as gz
    from ..leaderboard.report import _img
    from ..pipelines.diffusion import DiffusionPipeline
    from ..plotting import save_samples

    train = gz.load_dataset(run["data"], "train")
    model = gz.build("ddpm", train)
    t0 = time.perf_counter()
    gz.Trainer(model, train, seed=0, out=out / "ddpm", **run["budget"]).fit()
    seconds = time.perf_counter() - t0
    pipe = DiffusionPipeline.from_pretrained(out / "ddpm")
    images = pipe(batch_size=run["samples"], num_inference_steps=run["steps"], sampler=run["sampler"],
                  generator=torch.Generator().manual_seed(0), output_type="tensor").images
    save_samples(images[:64] * 2 - 1, out / "ddpm_pipeline_samples.png")
    fid = gz.evaluate(None, gz.load_dataset(run["data"], "test"), metrics=["fid"], samples=images * 2 - 1)["fid"]
    summary = (f"DDPM U-Net on {run['data']}, {run['budget']['steps']} steps in {seconds:.0f}s; "
               f"{run['samples']} samples with {run['sampler']} in {run['steps']} steps: FID-digits {fid:.4g}")
    md = f"## Image diffusion (diffusers-style pipeline)\n\n{summary}\n\n![ddpm](ddpm_pipeline_samples.png)\n"
    return md, _section("Image diffusion: DiffusionPipeline", f"<p>{html.escape(summary)}</p>" + _img(out / "ddpm_pipeline_samples.png")), {"ddpm_fid": float(fid)}


def text_to_image_part(out: Path, run: dict) -> tuple[str, str, dict]:
    """``run``: ``T2I_RUN``. Column j of the grid is seed j; ``t2i_all_attributes``: the share of grid images
    whose shape, colour, size and position all match their prompt."""
    import genzoo as gz
    from ..data.captions import EXAMPLE_PROMPTS, caption_attributes
    from ..features.attributes import attribute_accuracy
    from ..leaderboard.report import _img
    from ..plotting import save_samples

    train = gz.load_dataset("shapes-captions", "train")
    model = gz.build("latent-diffusion", train, **run["overrides"])
    t0 = time.perf_counter()
    gz.Trainer(model, train, seed=0, out=out / "t2i", **run["budget"]).fit()
    seconds = time.perf_counter() - t0
    pipe = gz.pipeline("text-to-image", model=str(out / "t2i"))
    columns = [pipe(list(EXAMPLE_PROMPTS), guidance_scale=run["guidance"], num_inference_steps=run["steps"],
                    generator=torch.Generator().manual_seed(seed), output_type="tensor").images * 2 - 1
               for seed in range(run["seeds"])]
    grid = torch.stack(columns, 1).flatten(0, 1)  # row = prompt, column = seed
    save_samples(grid, out / "t2i_prompt_seed_grid.png", nrow=run["seeds"], pixel_scale=4)
    wanted = torch.tensor([caption_attributes(p) for p in EXAMPLE_PROMPTS]).repeat_interleave(run["seeds"], 0)
    right = attribute_accuracy(grid, wanted)["all"]
    summary = (f"latent diffusion on shapes-captions ({run['overrides']['autoencoder_steps']} autoencoder + "
               f"{run['budget']['steps'] - run['overrides']['autoencoder_steps']} U-Net steps in {seconds:.0f}s); "
               f"genzoo.pipeline('text-to-image'), guidance {run['guidance']:g}, {run['steps']} steps: rows are the "
               f"prompts, columns seeds 0-{run['seeds'] - 1}; all four attributes right in {right:.0%} (the shipped "
               f"attribute classifier); prompts 1, 7 and 8 name (shape, colour) pairs never seen in training")
    prompts = "".join(f"<li>{html.escape(p)}</li>" for p in EXAMPLE_PROMPTS)
    md = (f"## Text to image (pipeline)\n\n{summary}\n\n" + "\n".join(f"{i + 1}. {p}" for i, p in enumerate(EXAMPLE_PROMPTS))
          + "\n\n![prompt x seed](t2i_prompt_seed_grid.png)\n")
    body = f"<p>{html.escape(summary)}</p><ol>{prompts}</ol>" + _img(out / "t2i_prompt_seed_grid.png")
    return md, _section("Text to image: genzoo.pipeline('text-to-image')", body), {"t2i_all_attributes": right}


PARTS = {"text to image": text_to_image_part, "text generation": text_generation_part, "diffusion": diffusion_part}


def _run_part(name: str, out: Path, run: dict, threads: int | None = None) -> tuple[str, str, dict]:
    """One part of the tour; a part that fails is reported in its section, not raised."""
    if threads:
        torch.set_num_threads(threads)
    try:
        return PARTS[name](out, run)
    except Exception as e:  # show what broke, keep the rest of the report
        return f"## {name}\n\nfailed: {type(e).__name__}: {e}\n", _section(name, f"<p>failed: {html.escape(str(e))}</p>"), {}


def demo_cells(families=None, datasets=None) -> list:
    """The (family, dataset) cells of the demo: those ``DEMO_BUDGETS`` gives a budget for the data kind."""
    import genzoo as gz
    from ..leaderboard.cells import Cell
    from ..registry import MODELS

    cells = []
    for name in datasets or DEMO_DATASETS:
        kind = gz.load_dataset(name, split="train").kind
        cells += [Cell(f, name, kind) for f in (families or DEMO_BUDGETS) if f in MODELS and kind in DEMO_BUDGETS.get(f, {})]
    return cells


def quality_checks(cells: list[dict], parts: dict[str, float]) -> list[tuple[str, bool, str]]:
    """``(what, passed, detail)`` for each floor of ``FLOORS``: what the demo promises a newcomer."""
    checks = []
    base = {c["data"]: c["metrics"] for c in cells if c["model"] == "gaussian" and not c.get("error")}
    baseline = {d: m.get("fid") for d, m in base.items()}
    for c in cells:
        name, m = f"{c['model']} on {c['data']}", c.get("metrics", {})
        if c.get("error"):
            checks.append((name, False, f"failed: {c['error']}"))
        elif c["kind"] == "2d" and "modes" in m:
            hq_floor = 0.0 if c["model"] == "gaussian" else base.get(c["data"], {}).get("high_quality", 0.0) + FLOORS["high_quality_over_baseline"]
            ok = m["modes"] == m["modes_total"] and m["high_quality"] >= hq_floor
            checks.append((name, ok, f"{m['modes']:.0f}/{m['modes_total']:.0f} modes, {m['high_quality']:.0%} high quality "
                                     f"(floor: all modes, {hq_floor:.0%})"))
        elif c["kind"] == "image" and c["model"] == "gaussian":
            checks.append((name, math.isfinite(m.get("fid", math.nan)), f"FID-digits {m.get('fid', math.nan):.4g} (the baseline the others must beat)"))
        elif c["kind"] == "image" and baseline.get(c["data"]):
            limit = FLOORS["fid_vs_baseline"] * baseline[c["data"]]
            checks.append((name, m.get("fid", math.inf) <= limit, f"FID-digits {m.get('fid', math.nan):.4g} (floor: <= {limit:.4g}, "
                                                                  f"{FLOORS['fid_vs_baseline']:.0%} of the Gaussian baseline's)"))
    if "text_nll" in parts:
        checks.append(("char GPT on pystdlib", parts["text_nll"] <= FLOORS["text_nll"],
                       f"test {parts['text_nll']:.3f} nats/char (floor: <= {FLOORS['text_nll']})"))
    if "t2i_all_attributes" in parts:
        checks.append(("text to image on shapes-captions", parts["t2i_all_attributes"] >= FLOORS["t2i_all_attributes"],
                       f"{parts['t2i_all_attributes']:.0%} of the prompt x seed grid right on all four attributes "
                       f"(floor: >= {FLOORS['t2i_all_attributes']:.0%})"))
    if "ddpm_fid" in parts and baseline.get(DDPM_RUN["data"]):
        limit = FLOORS["fid_vs_baseline"] * baseline[DDPM_RUN["data"]]
        checks.append(("DDPM pipeline on digits", parts["ddpm_fid"] <= limit, f"FID-digits {parts['ddpm_fid']:.4g} (floor: <= {limit:.4g})"))
    return checks


def _checks_section(checks) -> tuple[str, str]:
    passed = sum(ok for _, ok, _ in checks)
    title = f"Quality checks: {passed}/{len(checks)} met"
    md = f"## {title}\n\n" + "\n".join(f"- {'met' if ok else 'NOT MET'}: {what}: {detail}" for what, ok, detail in checks) + "\n"
    items = "".join(f"<li>{'met' if ok else '<b>NOT MET</b>'}: {html.escape(what)}: {html.escape(detail)}</li>" for what, ok, detail in checks)
    return md, _section(title, f"<ul>{items}</ul>")


def run_demo(out: Path = Path("demo"), quick: bool = False) -> Path:
    """Run the tour and write ``out/report.html`` and ``out/results.json`` (with the quality checks);
    each part that fails is reported, not fatal."""
    from ..leaderboard import run_leaderboard
    from ..serialization import write_json
    from .runs import _check_writable

    out = Path(out)
    _check_writable(out)
    out.mkdir(parents=True, exist_ok=True)
    cells = demo_cells()
    print(f"genzoo demo: leaderboard subset ({', '.join(dict.fromkeys(c.model for c in cells))} on {', '.join(DEMO_DATASETS)})", flush=True)
    jobs = 2 if (os.cpu_count() or 1) >= 2 else 1  # two cells at a time, one thread each
    run_leaderboard(out / "leaderboard", quick=True, cells=cells, budgets=DEMO_BUDGETS, jobs=jobs)
    board = json.loads((out / "leaderboard" / "results.json").read_text())["cells"]
    board_html = (out / "leaderboard" / "report.html").read_text()
    board_body = board_html.split("<body>", 1)[1].rsplit("</body>", 1)[0].replace("<h1>genzoo leaderboard</h1>", "")
    board_md = (out / "leaderboard" / "report.md").read_text().replace("# genzoo leaderboard", "## Leaderboard subset")
    board_md = board_md.replace("](cells/", "](leaderboard/cells/")
    parts_md, parts_html, part_metrics = [board_md], [_section("Leaderboard subset", board_body)], {}
    if not quick:
        print("genzoo demo: text to image, text generation and diffusion", flush=True)
        names, runs = tuple(PARTS), (T2I_RUN, GPT_RUN, DDPM_RUN)  # the longest first: the others share a worker
        if jobs > 1:  # the parts side by side, one thread each, as the board's cells
            with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                done = list(pool.map(_run_part, names, [out] * len(names), runs, [1] * len(names)))
        else:
            done = [_run_part(name, out, run) for name, run in zip(names, runs)]
        for md, body, metrics in done:
            parts_md.append(md)
            parts_html.append(body)
            part_metrics.update(metrics)
    checks = quality_checks(board, part_metrics)
    checks_md, checks_html = _checks_section(checks)
    write_json(out / "results.json", {"checks": [{"what": w, "met": ok, "detail": d} for w, ok, d in checks],
                                      "parts": part_metrics, "cells": board})
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    (out / "report.md").write_text(f"# genzoo demo\n\nGenerated {stamp}.\n\n" + checks_md + "\n" + "\n".join(parts_md))
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>genzoo demo</title>"
            + board_html.split("<style>", 1)[1].split("</style>", 1)[0].join(["<style>", "</style>"])
            + f"</head><body><h1>genzoo demo</h1><p>Generated {stamp} on the CPU.</p>" + checks_html + "".join(parts_html) + "</body></html>")
    (out / "report.html").write_text(page)
    return out / "report.html"

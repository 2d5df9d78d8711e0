"""``genzoo demo`` (what ``make demo`` runs): the main job as a tour of a few minutes.

1. a leaderboard subset — several families on a 2-D mixture (exact entropy known) and on digits,
   trained with the shared Trainer, evaluated with the metrics suite;
2. Hugging Face-style text generation: a small character GPT trained on Python's standard library,
   prompted through ``genzoo.pipeline("text-generation", ...)``;
3. diffusers-style image generation: a DDPM U-Net trained on digits, sampled through
   ``DiffusionPipeline.from_pretrained(...)`` with DPM-Solver++.
Everything lands in ``demo/report.html`` (+ ``report.md``, ``results.json``).
"""
from __future__ import annotations

import html
import os
import time
from pathlib import Path

import torch

#: the leaderboard subset: families that exist are shown, in this order
DEMO_FAMILIES = ["gaussian", "nsf", "made", "pixelcnn", "vae", "gan", "flow-matching"]
DEMO_DATASETS = ["8gaussians", "digits"]

GPT_RUN = {"overrides": {"n_layer": 2, "n_head": 4, "n_embd": 64, "block_size": 64},
           "budget": {"steps": 300, "batch_size": 32, "lr": 3e-3}, "prompts": ["def ", "import ", "class "],
           "max_new_tokens": 56}  # prompt + new tokens must fit the 64-character context
DDPM_RUN = {"data": "digits", "budget": {"steps": 400, "batch_size": 64, "lr": 2e-3}, "steps": 20, "sampler": "dpm++2m"}


def _section(title: str, body: str) -> str:
    return f"<h2>{html.escape(title)}</h2>\n{body}\n"


def text_generation_part(out: Path) -> tuple[str, str]:
    import genzoo as gz

    train = gz.load_dataset("pystdlib", "train", block_size=GPT_RUN["overrides"]["block_size"])
    model = gz.build("gpt", train, **GPT_RUN["overrides"])
    t0 = time.perf_counter()
    gz.Trainer(model, train, seed=0, out=out / "gpt", **GPT_RUN["budget"]).fit()
    seconds = time.perf_counter() - t0
    test = gz.load_dataset("pystdlib", "test", block_size=GPT_RUN["overrides"]["block_size"])
    metrics = gz.evaluate(model, test, metrics=["perplexity"], max_examples=200)
    pipe = gz.pipeline("text-generation", model=str(out / "gpt"))
    gen = torch.Generator().manual_seed(0)
    texts = [pipe(p, max_new_tokens=GPT_RUN["max_new_tokens"], do_sample=True, temperature=0.8, top_k=20, generator=gen)[0]["generated_text"]
             for p in GPT_RUN["prompts"]]
    summary = (f"char GPT ({GPT_RUN['overrides']['n_layer']} layers, {GPT_RUN['overrides']['n_embd']} dims), "
               f"{GPT_RUN['budget']['steps']} steps in {seconds:.0f}s: test {metrics['nll']:.3f} nats/char, "
               f"perplexity {metrics['perplexity']:.2f}")
    md = "## Text generation (pipeline)\n\n" + summary + "\n\n" + "\n".join(f"```python\n{t}\n```" for t in texts) + "\n"
    body = f"<p>{html.escape(summary)}</p>" + "".join(f"<pre>{html.escape(t)}</pre>" for t in texts)
    return md, _section("Text generation: genzoo.pipeline('text-generation')", body)


def diffusion_part(out: Path) -> tuple[str, str]:
    import genzoo as gz
    from ..pipelines.diffusion import DiffusionPipeline
    from ..plotting import save_samples

    train = gz.load_dataset(DDPM_RUN["data"], "train")
    model = gz.build("ddpm", train)
    t0 = time.perf_counter()
    gz.Trainer(model, train, seed=0, out=out / "ddpm", **DDPM_RUN["budget"]).fit()
    seconds = time.perf_counter() - t0
    pipe = DiffusionPipeline.from_pretrained(out / "ddpm")
    images = pipe(batch_size=64, num_inference_steps=DDPM_RUN["steps"], sampler=DDPM_RUN["sampler"],
                  generator=torch.Generator().manual_seed(0), output_type="tensor").images
    save_samples(images * 2 - 1, out / "ddpm_pipeline_samples.png")
    summary = (f"DDPM U-Net on {DDPM_RUN['data']}, {DDPM_RUN['budget']['steps']} steps in {seconds:.0f}s; "
               f"64 samples with {DDPM_RUN['sampler']} in {DDPM_RUN['steps']} steps")
    md = f"## Image diffusion (diffusers-style pipeline)\n\n{summary}\n\n![ddpm](ddpm_pipeline_samples.png)\n"
    from ..leaderboard.report import _img

    return md, _section("Image diffusion: DiffusionPipeline", f"<p>{html.escape(summary)}</p>" + _img(out / "ddpm_pipeline_samples.png"))


def run_demo(out: Path = Path("demo"), quick: bool = False) -> Path:
    """Run the tour and write ``out/report.html``; each part that fails is reported, not fatal."""
    from ..leaderboard import run_leaderboard
    from ..registry import MODELS
    from .runs import _check_writable

    out = Path(out)
    _check_writable(out)
    out.mkdir(parents=True, exist_ok=True)
    families = [f for f in DEMO_FAMILIES if f in MODELS]
    print(f"genzoo demo: leaderboard subset ({', '.join(families)} on {', '.join(DEMO_DATASETS)})", flush=True)
    jobs = 2 if (os.cpu_count() or 1) >= 2 else 1  # two cells at a time, one thread each
    run_leaderboard(out / "leaderboard", quick=True, families=families, datasets=DEMO_DATASETS, jobs=jobs)
    board_html = (out / "leaderboard" / "report.html").read_text()
    board_body = board_html.split("<body>", 1)[1].rsplit("</body>", 1)[0].replace("<h1>genzoo leaderboard</h1>", "")
    board_md = (out / "leaderboard" / "report.md").read_text().replace("# genzoo leaderboard", "## Leaderboard subset")
    board_md = board_md.replace("](cells/", "](leaderboard/cells/")
    parts_md, parts_html = [board_md], [_section("Leaderboard subset", board_body)]
    for name, part in (("text generation", text_generation_part), ("diffusion", diffusion_part)):
        if quick:
            break
        print(f"genzoo demo: {name}", flush=True)
        try:
            md, body = part(out)
        except Exception as e:  # show what broke, keep the rest of the report
            md, body = f"## {name}\n\nfailed: {type(e).__name__}: {e}\n", _section(name, f"<p>failed: {html.escape(str(e))}</p>")
        parts_md.append(md)
        parts_html.append(body)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    (out / "report.md").write_text(f"# genzoo demo\n\nGenerated {stamp}.\n\n" + "\n".join(parts_md))
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>genzoo demo</title>"
            + board_html.split("<style>", 1)[1].split("</style>", 1)[0].join(["<style>", "</style>"])
            + f"</head><body><h1>genzoo demo</h1><p>Generated {stamp} on the CPU.</p>" + "".join(parts_html) + "</body></html>")
    (out / "report.html").write_text(page)
    return out / "report.html"

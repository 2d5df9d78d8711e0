"""``genzoo scaling sweep|fit|estimate``: scaling sweeps, scaling-law fits and cost estimates (docs/scaling.md)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..errors import ConfigError, DataError

scaling_app = typer.Typer(help="Scaling laws: sweep sizes x tokens, fit Chinchilla/Kaplan laws, estimate costs.",
                          no_args_is_help=True)


@scaling_app.command("sweep")
def sweep_cmd(
    family: str = typer.Option("gpt", "--family", help="Model family (any with a likelihood)."),
    data: str = typer.Option("pystdlib", "--data", help="Dataset."),
    sizes: str = typer.Option(..., "--sizes", help="Comma-separated sizes: LxE (gpt n_layer x n_embd) or "
                              "key=value[+key=value] config overrides (tuples as 64:64)."),
    tokens: Optional[str] = typer.Option(None, "--tokens", help="Comma-separated training budgets D (tokens, or "
                                         "dimensions seen for non-text data), e.g. 1e5,3e5."),
    flops: Optional[str] = typer.Option(None, "--flops", help="Instead of --tokens: compute budgets C; each size "
                                        "trains on D = C/6N (IsoFLOP profiles for Approach 2)."),
    out: Path = typer.Option(Path("runs/sweep"), "--out"),
    batch_size: int = typer.Option(16, "--batch-size"),
    block_size: int = typer.Option(64, "--block-size", help="Context length for text data."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (default: the family's); cosine "
                                       "decay over each cell's own steps."),
    seed: int = typer.Option(0),
    eval_examples: int = typer.Option(256, "--eval-examples", help="Held-out examples scored per cell."),
    jobs: int = typer.Option(1, "--jobs", help="Cells trained at once in worker processes, one thread each."),
    executor: str = typer.Option("local", help="local (this machine, see --jobs) or ray (one task per cell)."),
    address: Optional[str] = typer.Option(None, help="With --executor ray: 'auto' or HOST:PORT (default: a local Ray)."),
    progress: bool = typer.Option(True),
):
    """Train every size x token budget (resumable cell by cell); write results.csv for `genzoo scaling fit`."""
    from ..scaling.sweep import parse_list, parse_tokens, plan, run_sweep

    cells = plan(family, data, parse_list(sizes, "sizes"), tokens and parse_tokens(tokens),
                 flops=flops and parse_tokens(flops, "flops"), batch_size=batch_size,
                 block_size=block_size, lr=lr, seed=seed, eval_examples=eval_examples)
    out = run_sweep(cells, out, jobs=jobs, executor=executor, address=address, progress=progress)
    failed = json.loads((out / "sweep.json").read_text())["failed"]
    typer.echo(f"{len(cells) - len(failed)}/{len(cells)} cells in {out / 'results.csv'}")
    for cell, error in failed.items():
        typer.echo(f"failed: {cell}: {error}", err=True)
    if failed:  # recorded, and retried by the next call with the same --out
        raise typer.Exit(1)


def _section(compute, *args) -> dict:
    try:
        return compute(*args)
    except DataError as e:  # e.g. no IsoFLOP groups in an N x D grid: reported, the rest of the fit stands
        return {"error": str(e)}


@scaling_app.command("fit")
def fit_cmd(
    csv: Path = typer.Option(..., "--csv", help="A CSV with columns N, D (or FLOPs) and loss, or a sweep directory."),
    n_column: str = typer.Option("N", "--n-column", help="Column used as N (a sweep also writes N_total)."),
    flops_column: str = typer.Option("FLOPs", "--flops-column", help="Column used as compute C for Approaches 1-2 "
                                     "(a sweep also writes FLOPs_measured; without the column C = 6ND)."),
    bootstrap: int = typer.Option(4000, "--bootstrap", help="Bootstrap resamples for the intervals (0: none)."),
    level: float = typer.Option(0.95, "--level", help="Confidence level of the intervals."),
    seed: int = typer.Option(0),
    isoflop_tolerance: float = typer.Option(0.05, "--isoflop-tolerance", help="Decades of FLOPs within which "
                                            "points form one IsoFLOP group (Approach 2)."),
    plots: Optional[Path] = typer.Option(None, "--plots", help="Write the PNG figures into this directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
):
    """Chinchilla Approaches 1-3 and Kaplan's power laws fitted to sweep results."""
    from ..scaling.fit import approach1, approach2, fit_chinchilla, kaplan, load_points

    if bootstrap < 0:
        raise ConfigError(f"--bootstrap must be >= 0, got {bootstrap}")
    if not 0 < level < 1:
        raise ConfigError(f"--level must be in (0, 1), got {level}")
    points = load_points(csv, n_column=n_column, flops_column=flops_column)
    fit = fit_chinchilla(points, bootstrap=bootstrap, level=level, seed=seed)
    report = {**fit.to_dict(), "approach1": _section(approach1, points),
              "approach2": _section(approach2, points, isoflop_tolerance), "kaplan": _section(kaplan, points)}
    if plots is not None:
        from ..scaling.plots import save_plots

        report["plots"] = [str(p) for p in save_plots(points, fit, plots, isoflop_tolerance)]
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    iv = fit.intervals
    typer.echo(f"Approach 3 on {fit.n_points} points: L(N, D) = E + A/N^alpha + B/D^beta")
    for name in ("E", "A", "B", "alpha", "beta", "a", "b"):
        band = f"  [{iv[name][0]:.4g}, {iv[name][1]:.4g}]" if name in iv else ""
        typer.echo(f"  {name:5s} = {report[name]:.4g}{band}")
    if fit.bootstrap:
        typer.echo(f"  {level:.0%} intervals from {fit.bootstrap} bootstrap resamples ({fit.bootstrap_failures} did not "
                   f"converge) in {fit.bootstrap_seconds:.1f} s")
    for name in ("approach1", "approach2"):
        r = report[name]
        typer.echo(f"{name}: " + (r["error"] if "error" in r else f"N* ∝ C^{r['a']:.3f}, D* ∝ C^{r['b']:.3f}"))
    k = report["kaplan"]
    typer.echo("kaplan: " + (k["error"] if "error" in k else f"L(N) = (N_c/N)^{k['alpha_N']:.3f}, N_c={k['N_c']:.3g}; "
                             f"L(D) = (D_c/D)^{k['alpha_D']:.3f}, D_c={k['D_c']:.3g}"))
    for p in report.get("plots", []):
        typer.echo(f"wrote {p}")


@scaling_app.command("estimate")
def estimate_cmd(
    params: Optional[float] = typer.Option(None, "--params", help="Parameters N (default: Chinchilla-optimal for --flops)."),
    tokens: Optional[float] = typer.Option(None, "--tokens", help="Training tokens D (default: Chinchilla-optimal for --flops)."),
    flops: Optional[float] = typer.Option(None, "--flops", help="A compute budget: print its Chinchilla-optimal N and D."),
    law: Optional[Path] = typer.Option(None, "--law", help="A `genzoo scaling fit --json` output to use instead of "
                                       "the published Chinchilla law."),
    accelerator_tflops: float = typer.Option(400.0, "--accelerator-tflops", help="Peak TFLOP/s of one accelerator."),
    mfu: float = typer.Option(0.4, "--mfu", help="Model FLOPs utilisation, a fraction of peak."),
    precision: str = typer.Option("mixed", help="mixed (bf16/fp16 + fp32 Adam), fp32 or bf16."),
    seq_len: int = typer.Option(2048, "--seq-len"),
    micro_batch: int = typer.Option(1, "--micro-batch"),
    layers: Optional[int] = typer.Option(None, "--layers", help="n_layer (default: from N with d_model = 128 n_layer)."),
    d_model: Optional[int] = typer.Option(None, "--d-model"),
    heads: Optional[int] = typer.Option(None, "--heads"),
    inference_tokens: Optional[float] = typer.Option(None, "--inference-tokens", help="Tokens to generate."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Training/inference FLOPs, accelerator-hours and memory; Chinchilla-optimal N, D for a compute budget."""
    from ..scaling.estimate import chinchilla_optimal, estimate_costs, format_costs

    report = {}
    if flops is not None:
        fitted = None
        if law is not None:
            try:
                fitted = {k: float(json.loads(law.read_text())[k]) for k in ("E", "A", "B", "alpha", "beta")}
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise DataError(f"--law {law}: not a `genzoo scaling fit --json` output ({type(e).__name__}: {e})") from None
        report["optimal"] = chinchilla_optimal(flops, fitted)
        params = params if params is not None else report["optimal"]["params"]
        tokens = tokens if tokens is not None else report["optimal"]["tokens"]
    elif law is not None:
        raise ConfigError("--law chooses the law for --flops; add --flops C")
    if params is None or tokens is None:
        raise ConfigError("give --params and --tokens, or a compute budget --flops")
    report.update(estimate_costs(params, tokens, accelerator_tflops=accelerator_tflops, mfu=mfu, precision=precision,
                                 seq_len=seq_len, micro_batch=micro_batch, n_layer=layers, d_model=d_model, n_head=heads,
                                 inference_tokens=inference_tokens))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    if "optimal" in report:
        o = report["optimal"]
        source = str(law) if law is not None else "Hoffmann et al. 2022, eq. 10"
        typer.echo(f"Chinchilla-optimal for C={flops:.3g} FLOPs ({source}): N={o['params']:.3g}, D={o['tokens']:.3g} "
                   f"({o['tokens_per_param']:.1f} tokens/param), predicted loss {o['loss']:.3f}")
    typer.echo(f"N={params:.3g} parameters, D={tokens:.3g} tokens")
    typer.echo(format_costs(report))

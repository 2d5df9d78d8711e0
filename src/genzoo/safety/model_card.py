"""Model cards: a Hugging Face ``README.md`` for every saved run and adapter (Mitchell et al. 2019,
"Model Cards for Model Reporting"; the format of https://huggingface.co/docs/hub/model-cards).

The card is rendered from what the run directory holds, so ``genzoo card RUN --write`` can refresh
it at any time: ``config.json`` / ``adapter_config.json`` (the model), ``run.json`` (data, curation,
training settings), ``metrics.jsonl`` (training losses), ``privacy.json`` (DP-SGD's ε, δ),
``canaries.json``, ``eval.json`` (``genzoo eval RUN ... --json > RUN/eval.json``) and watermark
settings (``run.json``'s ``watermark`` or ``watermark.json``; secret keys are never printed).
The YAML metadata is built with ``huggingface_hub.ModelCardData`` (``library_name: genzoo``,
license, datasets, tags, pipeline tag and a ``model-index`` with every metric and its value).
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

from .._version import GENZOO_VERSION
from ..errors import CheckpointError, ConfigError
from .provenance import weights_sha256

CARD = "README.md"
MARKER = "<!-- written by genzoo (genzoo card RUN --write refreshes it; edits below are replaced) -->"
PIPELINE_TAGS = {"image": "unconditional-image-generation", "text": "text-generation"}
NOT_LOSSES = {"step", "lr", "it/s", "elapsed", "grad_norm", "tokens/s", "batch_size", "clipped"}  # logged, not losses
SECRET = re.compile(r"key$|secret|token", re.I)
LAST = 10  # training metrics are averaged over the last LAST logged steps


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: unreadable JSON ({e})") from None


def _kind(config: dict, base: Path | None) -> str:
    """image / text / tabular, from the saved config (an adapter: from its base's)."""
    if not config and base is not None:
        config = _json(base / "config.json")
    shape = config.get("shape")
    if isinstance(shape, list) and len(shape) == 3:
        return "image"
    return "text" if "vocab_size" in config else "tabular" if config else "unknown"


def _dataset_id(data: str | None) -> str | None:
    """A built-in dataset's name for the metadata; local data (``text:PATH``...) has no id."""
    if not data or ":" in data:
        return None
    m = re.match(r"[A-Za-z0-9_.\-]+", data)
    return m.group(0) if m else None


def _local_name(data: str | None) -> str:
    kind, _, path = (data or "unknown:none").partition(":")
    return f"{kind}:{Path(path).name}"


def _data_label(data: str | None) -> str:
    if not data:
        return "none recorded"
    if ":" in data:
        kind, _, path = data.partition(":")
        return f"your own {kind} data (`{Path(path).name}`)"
    return f"`{data}` (built into genzoo)"


def _training_metrics(run: Path, info: dict) -> dict[str, tuple[float, str]]:
    rows = []
    log = run / "metrics.jsonl"
    if log.is_file():
        for line in log.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    rows = rows[-LAST:]
    if not rows and isinstance(info.get("final"), dict):
        rows = [info["final"]]
    out: dict[str, tuple[float, str]] = {}
    series = {key: [r[key] for r in rows if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)]
              for key in (rows[-1] if rows else [])}
    for key, vals in series.items():
        if key not in NOT_LOSSES and vals and (key == "loss" or vals != series.get("loss")):  # nll == loss: once
            out[f"train_{key}"] = (round(sum(vals) / len(vals), 6), f"training {key} (mean of the last {len(vals)} logged steps)")
    return out


def collect(run) -> dict[str, Any]:
    """Everything the card reports, read from the run directory."""
    run = Path(run)
    if not run.is_dir():
        raise ConfigError(f"{run}: no such run directory")
    config, adapter = _json(run / "config.json"), _json(run / "adapter_config.json")
    if not config and not adapter:
        raise CheckpointError(f"{run} holds no saved model (config.json or adapter_config.json); train or fine-tune into it first")
    info, privacy = _json(run / "run.json"), _json(run / "privacy.json") or _json(run / "run.json").get("privacy") or {}
    base = Path(adapter["base_model_name_or_path"]) if adapter.get("base_model_name_or_path") else (
        Path(info["base"]) if info.get("base") else None)
    metrics = _training_metrics(run, info)
    if isinstance(info.get("held_out_accuracy"), (int, float)):
        metrics["held_out_pair_accuracy"] = (info["held_out_accuracy"], "reward model accuracy on held-out preference pairs")
    if privacy.get("epsilon") is not None:
        metrics["dp_epsilon"] = (privacy["epsilon"], f"DP-SGD privacy spent, epsilon at delta={privacy.get('delta')}")
    for key, value in _json(run / "eval.json").items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not key.startswith("dp_"):
            metrics[key] = (value, f"{key} (genzoo eval, eval.json)")
    watermark = info.get("watermark") or _json(run / "watermark.json")
    return {"run": run, "config": config, "adapter": adapter, "info": info, "privacy": privacy, "base": base,
            "kind": _kind(config, base), "metrics": metrics, "canaries": (run / "canaries.json").is_file(),
            "watermark": {k: v for k, v in watermark.items() if not SECRET.search(k)}}


def card_data(facts: dict, license: str = "other"):
    """``huggingface_hub.ModelCardData`` for the facts of ``collect``."""
    from huggingface_hub import EvalResult, ModelCardData

    info, kind = facts["info"], facts["kind"]
    model_type = facts["config"].get("model_type") or facts["adapter"].get("peft_type", "adapter").lower()
    dataset = _dataset_id(info.get("data"))
    tags = ["genzoo", model_type, "generative-model"]
    if facts["adapter"]:
        tags += ["peft", f"adapter-{str(facts['adapter'].get('peft_type', 'unknown')).lower()}"]
    if facts["privacy"]:
        tags.append("differential-privacy")
    results = [EvalResult(task_type=PIPELINE_TAGS.get(kind, "other"), dataset_type=dataset or "custom",
                          dataset_name=dataset or _local_name(info.get("data")), metric_type=key,
                          metric_value=value, metric_name=name)
               for key, (value, name) in facts["metrics"].items()]
    return ModelCardData(library_name="genzoo", license=license, tags=list(dict.fromkeys(tags)),
                         datasets=[dataset] if dataset else None, pipeline_tag=PIPELINE_TAGS.get(kind),
                         metrics=list(facts["metrics"]) or None, model_name=facts["run"].name,
                         eval_results=results or None)


def render(run, license: str | None = None) -> str:
    """The card's text: YAML metadata between ``---`` lines, then the sections."""
    facts = collect(run)
    license = license or _existing_license(Path(run)) or "other"
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", license):
        raise ConfigError(f"--license {license!r}: give a license id such as mit, apache-2.0, cc-by-4.0 or other")
    data = card_data(facts, license)
    return f"---\n{data.to_yaml()}\n---\n{MARKER}\n\n" + "\n".join(_sections(facts, license)) + "\n"


def _existing_license(run: Path) -> str | None:
    path = run / CARD
    if path.is_file():
        from huggingface_hub import ModelCard

        try:
            return ModelCard.load(path).data.license
        except Exception:  # a hand-written README that is not a card: no license to keep
            return None
    return None


def _sections(f: dict, license: str) -> list[str]:
    info, cfg, adapter, run = f["info"], f["config"], f["adapter"], f["run"]
    name = cfg.get("model_type") or "adapter"
    out = [f"# {run.name}", ""]
    if adapter:
        out.append(f"A {adapter.get('peft_type', 'PEFT')} adapter (genzoo {GENZOO_VERSION}, PEFT's file format) for the "
                   f"base model `{f['base'].name if f['base'] else 'unknown'}`, trained with `genzoo finetune --method "
                   f"{info.get('method', '?')}`; only the adapter's weights are in this directory.")
    else:
        out.append(f"A `{name}` generative model trained with genzoo {cfg.get('genzoo_version', GENZOO_VERSION)} "
                   f"(`genzoo sample {run.name}` draws from it; `gz.load` reads it).")
    out += ["", "## Model details", ""]
    shown = {k: v for k, v in (adapter or cfg).items() if k != "genzoo_version" and v not in (None, {}, [])}
    out += [f"- {k}: `{json.dumps(v, default=str)}`" for k, v in sorted(shown.items())]
    for label, where in (("Weights", run), ("Base model weights", f["base"] if adapter else None)):
        found = weights_sha256(where) if where is not None else None
        if found is not None:
            out.append(f"\n{label}: `{found[0]}`, SHA-256 `{found[1]}`.")
    if info.get("trainable_parameters"):
        out.append(f"\nTrainable parameters: {info['trainable_parameters']:,} of {info.get('total_parameters', 0):,}.")

    out += ["", "## Training data and its curation", "", f"- Dataset: {_data_label(info.get('data'))}"]
    if info.get("data_args"):
        out.append(f"- Dataset options: `{json.dumps(info['data_args'], sort_keys=True)}`")
    cur = info.get("curation")
    if cur:
        counts = ", ".join(f"{k}: {v}" for k, v in cur.items())
        out.append(f"- Curation (genzoo.data.curate): {counts}")
    else:
        out.append("- Curation: none recorded (no deduplication or PII scrub; see `--data-arg dedup=exact|minhash`, "
                   "`scrub=...` in docs/privacy.md)")
    if f["canaries"]:
        out.append("- Canaries were planted in the training text (`canaries.json`; `genzoo eval --metrics exposure`).")

    out += ["", "## Training procedure", ""]
    for key in ("method", "steps", "batch_size", "lr", "ema_decay", "seed", "init_from", "world_size", "pairs", "reward"):
        if info.get(key) is not None:
            out.append(f"- {key}: `{info[key]}`")
    if not info:
        out.append("- No `run.json` in this directory: the training settings were not recorded.")

    out += ["", "## Evaluation", ""]
    if f["metrics"]:
        out += ["| metric | value | what |", "|---|---|---|"]
        out += [f"| {k} | {v:.6g} | {what} |" for k, (v, what) in f["metrics"].items()]
    else:
        out.append("No metrics recorded.")
    if not (run / "eval.json").is_file():
        out += ["", f"Training losses are not held-out quality. Add an evaluation with `genzoo eval {run.name} --data DATA "
                f"--metrics ... --json > {run.name}/eval.json`, then `genzoo card {run.name} --write`."]

    out += ["", "## Intended use and limitations", "", _intended_use(f["kind"]),
            "", "Samples are synthetic: they reproduce the patterns of the training data, including its biases and "
            "errors, and can also reproduce training examples verbatim (memorisation), most of all for small or "
            "duplicated data. Do not present them as real records, photographs or facts."]

    out += ["", "## Privacy", ""]
    p = f["privacy"]
    if p:
        eps = f"{p['epsilon']:.4g}" if isinstance(p.get("epsilon"), (int, float)) else "unbounded"
        out.append(f"Trained with DP-SGD (docs/privacy.md): (ε = {eps}, δ = {p.get('delta')})-differential "
                   f"privacy with respect to one training example; noise multiplier σ = {p.get('noise_multiplier')}, "
                   f"clip norm C = {p.get('max_grad_norm')}, sample rate q = {p.get('sample_rate')}, "
                   f"{p.get('steps')} steps, {p.get('accountant')} accountant.")
    else:
        out.append("Trained without differential privacy: no formal bound limits what the weights reveal about any "
                   "one training example. Retrain with `--dp-epsilon` for a guarantee (docs/privacy.md).")

    out += ["", "## Watermark and provenance", ""]
    if f["watermark"]:
        out.append(f"Watermark settings (secret keys left out): `{json.dumps(f['watermark'], sort_keys=True)}`.")
    else:
        out.append("No watermark is embedded by default. Text: `genzoo generate --watermark-key K` (KGW; "
                   "`genzoo watermark detect`).")
    out.append("Images written by `genzoo sample`/`genzoo edit` with `--c2pa-cert CHAIN.pem --c2pa-key KEY.pem` carry a "
               "signed C2PA manifest (c2pa.created, trainedAlgorithmicMedia, this model's weights SHA-256, sampler, "
               "steps, seed); check one with `genzoo provenance verify FILE` (docs/provenance.md).")
    out += ["", "## License", "", f"`{license}`" + (" (not chosen yet: set it with `genzoo card RUN --write --license ID`; "
                                                    "it must respect the training data's license)" if license == "other" else "")]
    return out


def _intended_use(kind: str) -> str:
    what = {"image": "unconditional image generation at the training resolution",
            "text": "text generation in the style of the training text",
            "tabular": "sampling and density estimation for low-dimensional / tabular data"}.get(kind, "generation")
    return (f"Intended use: research and teaching on generative models; {what}. Not intended for decisions about "
            "people, for impersonation, or as a source of facts.")


def write(run, license: str | None = None, force: bool = False) -> Path:
    """Write (or refresh) ``RUN/README.md``. A README that genzoo did not write is kept unless ``force``."""
    path = Path(run) / CARD
    if path.is_file() and MARKER not in path.read_text(errors="replace") and not force:
        raise ConfigError(f"{path} exists and was not written by genzoo; pass --force to replace it")
    text = render(run, license)
    tmp = path.with_name(f".{CARD}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def write_after_save(run) -> Path | None:
    """Called where a run or adapter is saved: the card, or one warning line (the run itself is kept)."""
    try:
        return write(run)
    except Exception as e:  # the weights are saved already: a card problem must not fail the run
        warnings.warn(f"model card not written to {Path(run) / CARD}: {e}", stacklevel=2)
        return None

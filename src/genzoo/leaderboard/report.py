"""Write the leaderboard as ``report.md`` and a static ``report.html`` (pictures embedded as base64)."""
from __future__ import annotations

import base64
import html
import math
import time
from pathlib import Path

KIND_TITLES = {"2d": "2-D densities", "image": "Images", "text": "Text", "tabular": "Tabular", "audio": "Audio"}
#: preferred column order; other metric keys follow alphabetically
ORDER = ["nll", "true_entropy", "bpd", "bpc", "perplexity", "mmd", "energy_distance", "modes_covered",
         "high_quality", "fid", "kid", "kid_std", "precision", "recall", "density", "coverage"]
LOWER_IS_BETTER = {"nll", "bpd", "bpc", "perplexity", "mmd", "energy", "energy_distance", "fid", "kid", "fad", "lsd"}
HIGHER_IS_BETTER = {"modes", "modes_covered", "high_quality", "precision", "recall", "density", "coverage",
                    "pitch_accuracy", "timbre_accuracy"}


def _best(rows: list[dict], col: str) -> dict[str, float]:
    """The best value of ``col`` per dataset (lower or higher as the metric wants), for bold type."""
    sign = -1.0 if col in HIGHER_IS_BETTER else 1.0 if col in LOWER_IS_BETTER else 0.0
    best: dict[str, float] = {}
    for r in rows:
        v = r.get("metrics", {}).get(col)
        if sign and not r.get("error") and isinstance(v, float) and math.isfinite(v):
            best[r["data"]] = min(best.get(r["data"], math.inf), sign * v)
    return {d: sign * v for d, v in best.items()}


def _columns(rows: list[dict]) -> list[str]:
    keys = {k for r in rows for k, v in r.get("metrics", {}).items() if isinstance(v, float)}
    return [k for k in ORDER if k in keys] + sorted(keys - set(ORDER))


def _fmt(v) -> str:
    if not isinstance(v, float):
        return "—"
    if not math.isfinite(v):
        return str(v)
    return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.3e}"


def _bold(text: str, on: bool) -> str:
    return f"**{text}**" if on else text


def tables(results: list[dict]) -> list[tuple[str, list[str], list[list[str]]]]:
    """``[(title, header, rows)]``: one table per data kind, rows sorted by dataset then model."""
    out = []
    kinds = sorted({r.get("kind", "?") for r in results}, key=lambda k: list(KIND_TITLES).index(k) if k in KIND_TITLES else 99)
    for kind in kinds:
        rows = sorted((r for r in results if r.get("kind", "?") == kind), key=lambda r: (r["data"], r["model"]))
        cols = _columns(rows)
        if kind == "image":  # nats of a density on [-1, 1]^D: bits/dim is the comparable figure
            cols = [c for c in cols if c != "nll"]
        best = {c: _best(rows, c) for c in cols}
        header = ["data", "model", "log p"] + cols + ["train s", "samples/s"]
        body = []
        for r in rows:
            if r.get("error"):
                body.append([r["data"], r["model"], "failed: " + r["error"][:80]] + [""] * (len(header) - 3))
                continue
            m = r["metrics"]
            log_p = r.get("log_prob_kind", "") + (f" ({r['likelihood_examples']} ex.)" if r.get("likelihood_examples") else "")
            body.append([r["data"], r["model"], log_p]
                        + [_bold(_fmt(m.get(c)), isinstance(m.get(c), float) and m.get(c) == best[c].get(r["data"])) for c in cols]
                        + [f"{r['train_seconds']:.1f}", f"{r['samples_per_second']:.3g}"])
        out.append((KIND_TITLES.get(kind, kind), header, body))
    return out


def markdown_tables(results: list[dict], heading: str = "##") -> list[str]:
    """One markdown table per data kind, each under ``heading`` title."""
    lines = []
    for title, header, body in tables(results):
        lines += [f"{heading} {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in body] + [""]
    return lines


def _generated(quick: bool, machine: str | None) -> str:
    return (f"{'Quick' if quick else 'Default'} budget, generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
            + (f" on {machine}" if machine else "") + ".")


def _markdown(results, quick, machine=None) -> str:
    lines = ["# genzoo leaderboard", "",
             _generated(quick, machine) + " `log p` says whether a likelihood is exact, a bound or an estimate (and on how many test examples, when slow likelihoods were scored on fewer); "
             "lower is better for " + ", ".join(sorted(LOWER_IS_BETTER)) + "; higher for " + ", ".join(sorted(HIGHER_IS_BETTER))
             + "; the best value per dataset is in bold.", ""]
    lines += markdown_tables(results)
    lines += ["## Pictures", ""]
    for r in results:
        if r.get("pictures"):
            lines += [f"### {r['model']} on {r['data']}", ""] + [f"[{p}]({p})" if p.endswith(".wav") else f"![{p}]({p})"
                                                                 for p in r["pictures"]] + [""]
        if r.get("text_samples"):
            lines += [f"### {r['model']} on {r['data']} (samples)", "", "```"] + [t[:300] for t in r["text_samples"]] + ["```", ""]
    return "\n".join(lines)


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    caption = html.escape(path.stem.replace("_", " "))
    if path.suffix == ".wav":  # audio cells: a player instead of a picture
        return f'<figure><audio controls src="data:audio/wav;base64,{data}"></audio><figcaption>{caption}</figcaption></figure>'
    mime = "image/gif" if path.suffix == ".gif" else "image/png"
    return f'<figure><img src="data:{mime};base64,{data}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'


def _html_cell(text: str) -> str:
    if text.startswith("**") and text.endswith("**") and len(text) > 4:
        return f"<b>{html.escape(text[2:-2])}</b>"
    return html.escape(text)


def _html(results, quick, out: Path, machine=None) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>genzoo leaderboard</title><style>",
             "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:nth-child(-n+3),th{text-align:left}"
             "th{background:#f0f0f0}.cell{display:inline-block;margin:8px;vertical-align:top}"
             ".cell img{width:220px;border:1px solid #ddd}figure{display:inline-block;margin:0 6px 6px 0}"
             "figcaption{font-size:12px;color:#666;text-align:center}b{color:#0a6}pre{background:#f7f7f7;padding:8px;white-space:pre-wrap}",
             "</style></head><body><h1>genzoo leaderboard</h1>",
             f"<p>{html.escape(_generated(quick, machine))}</p>"]
    for title, header, body in tables(results):
        parts.append(f"<h2>{html.escape(title)}</h2><table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>" for row in body]
        parts.append("</table>")
    parts.append("<h2>Pictures</h2>")
    for r in results:
        pics = [out / p for p in r.get("pictures", []) if (out / p).is_file()]
        if pics or r.get("text_samples"):
            parts.append(f"<div class='cell'><h3>{html.escape(r['model'])} on {html.escape(r['data'])}</h3>")
            parts += [_img(p) for p in pics]
            if r.get("text_samples"):
                parts.append("<pre>" + html.escape("\n---\n".join(t[:400] for t in r["text_samples"])) + "</pre>")
            parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_reports(results: list[dict], out: Path, quick: bool = False, machine: str | None = None) -> Path:
    (out / "report.md").write_text(_markdown(results, quick, machine))
    (out / "report.html").write_text(_html(results, quick, out, machine))
    return out / "report.html"

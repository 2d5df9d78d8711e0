"""Ratings from pairwise judgements: Bradley–Terry with bootstrap intervals, and Elo.

Bradley–Terry (1952): P(i beats j) = σ(θᵢ - θⱼ). The maximum-likelihood θ is found with the MM
algorithm of Hunter (2004), in strengths pᵢ = e^θᵢ:

    pᵢ ← Wᵢ / Σⱼ nᵢⱼ / (pᵢ + pⱼ)      (Wᵢ wins of i, nᵢⱼ games between i and j; a tie = ½ win each)

then θ is centred (mean 0). ``prior`` adds that many virtual tied games between every pair that met,
which keeps θ finite for a model that never lost. Ratings are reported on the Elo scale,
1000 + 400 θ / ln 10. Confidence intervals: percentile bootstrap over judgements (resampled with
replacement, seeded). Elo (online): Rᵢ += K (Sᵢ - 1 / (1 + 10^((Rⱼ - Rᵢ)/400))), in file order.

Judgements: JSONL lines ``{"a": "model-x", "b": "model-y", "winner": "a" | "b" | "tie"}`` (also
``model_a``/``model_b`` with ``winner`` = "model_a"/"model_b"/"tie", or the winner's name), or a
SQLite file with a table ``judgements(a, b, winner)``.
"""
from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import torch

from ..errors import DataError

ELO_SCALE = 400 / math.log(10)
Judgement = tuple[str, str, float]  # (a, b, score of a: 1 win, 0 loss, 0.5 tie)


def _score(a: str, b: str, winner, where: str) -> float:
    table = {"a": 1.0, "model_a": 1.0, a: 1.0, "b": 0.0, "model_b": 0.0, b: 0.0, "tie": 0.5, "draw": 0.5}
    if winner not in table:
        raise DataError(f"{where}: winner {winner!r} is not 'a', 'b', 'tie' or a model name")
    return table[winner]


def read_judgements(path) -> list[Judgement]:
    """Read judgements from a JSONL file or a SQLite database (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no judgements file at {path}; pass a .jsonl or SQLite file")
    if path.read_bytes()[:16] == b"SQLite format 3\x00":
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT a, b, winner FROM judgements").fetchall()
        return [(str(a), str(b), _score(str(a), str(b), w, f"{path} row {i}")) for i, (a, b, w) in enumerate(rows, 1)]
    out = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            a, b = str(rec.get("a", rec.get("model_a"))), str(rec.get("b", rec.get("model_b")))
        except (json.JSONDecodeError, AttributeError) as e:
            raise DataError(f"{path} line {i}: not a JSON object ({e})") from None
        if a == "None" or b == "None" or a == b:
            raise DataError(f"{path} line {i}: needs two different models in 'a' and 'b'")
        out.append((a, b, _score(a, b, rec.get("winner"), f"{path} line {i}")))
    return out


def _encode(judgements: list[Judgement]) -> tuple[list[str], torch.Tensor, torch.Tensor, torch.Tensor]:
    """Model names and (a index, b index, score of a) tensors."""
    if not judgements:
        raise DataError("no judgements to rate; collect some pairwise comparisons first")
    names = sorted({j[0] for j in judgements} | {j[1] for j in judgements})
    index = {m: i for i, m in enumerate(names)}
    a = torch.tensor([index[j[0]] for j in judgements])
    b = torch.tensor([index[j[1]] for j in judgements])
    return names, a, b, torch.tensor([j[2] for j in judgements], dtype=torch.float64)


def _fit(a: torch.Tensor, b: torch.Tensor, s: torch.Tensor, k: int, prior: float, weights: torch.Tensor | None = None,
         iters: int = 10_000, tol: float = 1e-10) -> torch.Tensor:
    """Bradley–Terry θ by Hunter's MM iterations; ``weights`` (B, J) counts of each judgement fit B
    resampled data sets at once (the bootstrap), giving (B, K) instead of (K,)."""
    w = torch.ones(1, len(s), dtype=torch.float64) if weights is None else weights.double()
    rows, (ia, ib) = len(w), (a.expand(len(w), -1), b.expand(len(w), -1))
    wins = torch.zeros(rows, k, dtype=torch.float64).scatter_add_(1, ia, w * s).scatter_add_(1, ib, w * (1 - s))
    games = torch.zeros(rows, k * k, dtype=torch.float64).scatter_add_(1, ia * k + ib, w).view(rows, k, k)
    games = games + games.transpose(1, 2)                                              # (B, K, K)
    met = torch.zeros(k, k, dtype=torch.float64)  # pairs that met in the data (not only in a bootstrap resample,
    met[a, b] = met[b, a] = 1.0                    # which may leave a model without games)
    wins, games = wins + prior * met.sum(1) / 2, games + prior * met
    if (wins <= 0).any():
        raise DataError("a model never won or tied: its strength is -inf; pass prior > 0")
    log_p = torch.zeros_like(wins)
    for _ in range(iters):
        p = log_p.exp()
        new = wins.log() - (games / (p[:, :, None] + p[:, None, :])).sum(2).log()
        new = new - new.mean(1, keepdim=True)
        done = (new - log_p).abs().max() < tol
        log_p = new
        if done:
            break
    return log_p[0] if weights is None else log_p


def bradley_terry(judgements: list[Judgement], prior: float = 0.1) -> dict[str, float]:
    """Maximum-likelihood Bradley–Terry θ per model (natural-log scale, mean 0)."""
    names, a, b, s = _encode(judgements)
    return dict(zip(names, _fit(a, b, s, len(names), prior).tolist()))


def elo(judgements: list[Judgement], k: float = 32.0, initial: float = 1000.0) -> dict[str, float]:
    """Online Elo ratings after the judgements in order."""
    ratings: dict[str, float] = {}
    for a, b, s in judgements:
        ra, rb = ratings.setdefault(a, initial), ratings.setdefault(b, initial)
        expected = 1 / (1 + 10 ** ((rb - ra) / 400))
        ratings[a], ratings[b] = ra + k * (s - expected), rb - k * (s - expected)
    return ratings


def rate(judgements, *, bootstrap: int = 200, ci: float = 0.95, seed: int = 0, prior: float = 0.1) -> list[dict]:
    """Leaderboard rows (best first): Bradley–Terry rating (Elo scale) with a bootstrap interval,
    online Elo, games and win rate. ``judgements`` may be a path or a list of (a, b, score)."""
    if isinstance(judgements, (str, Path)):
        judgements = read_judgements(judgements)
    names, a, b, s = _encode(judgements)
    theta = _fit(a, b, s, len(names), prior)
    g = torch.Generator().manual_seed(seed)
    bounds = None
    if bootstrap:
        draws = torch.randint(0, len(s), (bootstrap, len(s)), generator=g)
        counts = torch.zeros(bootstrap, len(s)).scatter_add_(1, draws, torch.ones(bootstrap, len(s)))
        q = torch.tensor([(1 - ci) / 2, (1 + ci) / 2], dtype=torch.float64)
        bounds = _fit(a, b, s, len(names), prior, weights=counts).quantile(q, dim=0)
    online = elo(judgements)
    rows = []
    for i, m in enumerate(names):
        played = (a == i) | (b == i)
        won = torch.where(a == i, s, 1 - s)[played].sum()
        row = {"model": m, "bt_rating": 1000 + ELO_SCALE * float(theta[i]), "elo": online[m],
               "games": int(played.sum()), "win_rate": float(won / played.sum())}
        if bounds is not None:
            row.update(bt_low=1000 + ELO_SCALE * float(bounds[0, i]), bt_high=1000 + ELO_SCALE * float(bounds[1, i]))
        rows.append(row)
    return sorted(rows, key=lambda r: -r["bt_rating"])

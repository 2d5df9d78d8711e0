"""Scaling-law fits: Chinchilla's three approaches and Kaplan's power laws.

Approach 3 (Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", eq. 2 and D.2):

    L(N, D) = E + A / N^alpha + B / D^beta

fitted in log space with ``a = log A, b = log B, e = log E``:

    min_{a,b,e,alpha,beta}  sum_i Huber_delta( LSE(a - alpha log N_i, b - beta log D_i, e) - log L_i ),  delta = 1e-3

by L-BFGS(-B) started from the best points of Chinchilla's grid of initialisations (alpha, beta in
{0, 0.5, ..., 2}, e in {-1, -0.5, ..., 1}, a, b in {0, 5, ..., 25}). Confidence intervals are percentile
bootstrap intervals: each resample is the same points with multinomial counts as weights, fitted
warm-started from the point estimate (Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt").

The compute-optimal allocation under ``C = 6 N D`` follows (Hoffmann et al. eq. 4):
``N*(C) = G (C/6)^a``, ``D*(C) = G^-1 (C/6)^b`` with ``a = beta/(alpha+beta)``, ``b = alpha/(alpha+beta)``,
``G = (alpha A / (beta B))^(1/(alpha+beta))``.

Approach 1 (envelope): the points with lower loss than every point of smaller compute make the frontier;
``log N`` and ``log D`` of its points are regressed on ``log C``. Approach 2 (IsoFLOP profiles): points of
(nearly) equal compute are grouped, a parabola in ``log N`` locates each group's minimum, and the minima's
``N*`` and ``D* = C / 6N*`` are regressed on ``log C``. Kaplan et al. 2020 ("Scaling Laws for Neural Language
Models", eqs. 1.1-1.2): ``L(N) = (N_c/N)^alpha_N`` on the largest-D run of each size and ``L(D) = (D_c/D)^alpha_D``
on the largest-N run of each token budget, both straight lines in log-log space.
"""
from __future__ import annotations

import csv
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError, GenzooError

#: the Approach-3 parameters, in the order of the fitted vector (log-space a, b, e are reported as A, B, E)
PARAMS = ("A", "B", "E", "alpha", "beta")
HUBER_DELTA = 1e-3
#: Chinchilla's grid of initialisations (Hoffmann et al. 2022, appendix D.2)
INIT_GRID = dict(alpha=np.arange(0, 2.01, 0.5), beta=np.arange(0, 2.01, 0.5), e=np.arange(-1, 1.01, 0.5),
                 a=np.arange(0, 25.1, 5), b=np.arange(0, 25.1, 5))
#: L-BFGS runs started from this many of the grid's best points
STARTS = 8


class FitNotConverged(GenzooError):
    """The optimiser stopped without converging; the message gives the best point it reached."""


@dataclass
class Points:
    """Observations of final loss for ``N`` parameters trained on ``D`` tokens (``C = 6ND`` unless measured)."""
    N: np.ndarray
    D: np.ndarray
    loss: np.ndarray
    C: np.ndarray

    def __len__(self) -> int:
        return len(self.loss)


def make_points(N, D, loss, C=None) -> Points:
    """Validated points: finite and positive N, D, loss (one-line DataError otherwise)."""
    N, D, loss = (np.asarray(v, dtype=float).ravel() for v in (N, D, loss))
    C = 6 * N * D if C is None else np.asarray(C, dtype=float).ravel()
    if not len(N) == len(D) == len(loss) == len(C):
        raise DataError(f"N, D, loss need one value per point; got {len(N)}, {len(D)}, {len(loss)}")
    for name, v in (("N", N), ("D", D), ("loss", loss), ("FLOPs", C)):
        bad = np.flatnonzero(~(np.isfinite(v) & (v > 0)))
        if len(bad):
            raise DataError(f"{name} must be finite and positive; point {bad[0] + 1} has {name}={v[bad[0]]:g}")
    return Points(N, D, loss, C)


def load_points(path, n_column: str = "N", flops_column: str = "FLOPs") -> Points:
    """Points from a CSV with columns N, D (or FLOPs, then D = FLOPs / 6N) and loss, or from a sweep
    directory (its ``results.csv``). ``n_column``: the column used as N (a sweep also writes ``N_total``);
    ``flops_column``: the compute C of Approaches 1-2 (a sweep also writes ``FLOPs_measured``; 6ND without one)."""
    path = Path(path)
    if path.is_dir():
        if not (path / "results.csv").is_file():
            raise DataError(f"{path} has no results.csv; run `genzoo scaling sweep --out {path}` or pass a CSV")
        path = path / "results.csv"
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
        header = rows[0].keys() if rows else (f.seek(0) or next(csv.reader(f), []))
    columns = {str(h).strip().lower(): h for h in header if h is not None}
    missing = [name for name in (n_column, "D", "loss") if name.lower() not in columns]
    if flops_column != "FLOPs" and flops_column.lower() not in columns:
        missing.append(flops_column)
    if "D" in missing and flops_column.lower() in columns:
        missing.remove("D")
    if missing:
        names = ", ".join("D (or FLOPs)" if m == "D" else m for m in missing)
        raise DataError(f"{path} lacks column(s) {names}; it has: {', '.join(columns.values()) or 'no header'}")
    if not rows:
        raise DataError(f"{path} has a header but no rows")

    def column(name: str) -> np.ndarray | None:
        if name.lower() not in columns:
            return None
        values = []
        for i, row in enumerate(rows, start=2):
            text = (row[columns[name.lower()]] or "").strip()
            try:
                values.append(float(text))
            except ValueError:
                raise DataError(f"{path} line {i}: {name}={text!r} is not a number") from None
        return np.array(values)

    N, loss, flops = column(n_column), column("loss"), column(flops_column)
    D = column("D")
    if D is None:
        if np.any(N <= 0):
            make_points(N, np.ones_like(N), loss)  # names the bad point
        D = flops / (6 * N)
    return make_points(N, D, loss, flops if flops is not None else None)


# ---------------------------------------------------------------- Approach 3

def _terms(theta: np.ndarray, logN: np.ndarray, logD: np.ndarray) -> np.ndarray:
    """The three log-terms ``(a - alpha log N, b - beta log D, e)``, shape (..., n, 3); theta (..., 5) = a, b, e, alpha, beta."""
    a, b, e, alpha, beta = (theta[..., i, None] for i in range(5))
    return np.stack(np.broadcast_arrays(a - alpha * logN, b - beta * logD, e + 0 * logN), axis=-1)


def _objective(theta, logN, logD, logL, weights, delta=HUBER_DELTA):
    """Weighted Huber loss of log-residuals (divided by delta, so its gradient is O(1)) and its gradient."""
    t = _terms(theta, logN, logD)
    m = t.max(axis=-1, keepdims=True)
    ex = np.exp(t - m)
    s = ex.sum(axis=-1, keepdims=True)
    r = (m + np.log(s))[..., 0] - logL
    soft = ex / s
    absr = np.abs(r)
    huber = np.where(absr <= delta, 0.5 * r * r / delta, absr - 0.5 * delta)
    psi = weights * np.clip(r, -delta, delta) / delta
    grad = np.stack([(psi * soft[..., 0]).sum(-1), (psi * soft[..., 1]).sum(-1), (psi * soft[..., 2]).sum(-1),
                     -(psi * soft[..., 0] * logN).sum(-1), -(psi * soft[..., 1] * logD).sum(-1)], axis=-1)
    return (weights * huber).sum(-1), grad


def _grid() -> np.ndarray:
    g = INIT_GRID
    mesh = np.meshgrid(g["a"], g["b"], g["e"], g["alpha"], g["beta"], indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=-1)


def _minimise(theta0, logN, logD, logL, weights):
    from scipy.optimize import minimize

    return minimize(_objective, theta0, args=(logN, logD, logL, weights), jac=True, method="L-BFGS-B",
                    options=dict(maxiter=2000, ftol=1e-13, gtol=1e-9))


def _converged(res, n_points: int) -> bool:
    """L-BFGS-B's own test, or a line search that could not improve a point whose gradient is already
    tiny (the Huber loss of delta=1e-3 has kinks at |r| = delta that stop line searches near the optimum)."""
    return bool(res.success) or (np.all(np.isfinite(res.x)) and np.linalg.norm(res.jac) < 1e-4 * max(n_points, 1))


def _describe(theta) -> str:
    a, b, e, alpha, beta = theta
    return f"E={math.exp(e):.4g}, A={math.exp(a):.4g}, B={math.exp(b):.4g}, alpha={alpha:.4g}, beta={beta:.4g}"


@dataclass
class ScalingFit:
    """An Approach-3 fit: the point estimate, bootstrap intervals and the compute-optimal exponents."""
    E: float
    A: float
    B: float
    alpha: float
    beta: float
    n_points: int
    huber_loss: float
    intervals: dict = field(default_factory=dict)
    bootstrap: int = 0
    bootstrap_failures: int = 0
    bootstrap_seconds: float = 0.0
    level: float = 0.95

    @property
    def a(self) -> float:
        """Exponent of N*(C) ∝ C^a."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of D*(C) ∝ C^b."""
        return self.alpha / (self.alpha + self.beta)

    def predict(self, N, D) -> np.ndarray:
        return self.E + self.A / np.asarray(N, float) ** self.alpha + self.B / np.asarray(D, float) ** self.beta

    def optimal(self, C) -> tuple[np.ndarray, np.ndarray]:
        """(N*, D*) minimising L under 6ND = C (Hoffmann et al. 2022, eq. 4)."""
        G = (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))
        C = np.asarray(C, float) / 6
        return G * C ** self.a, C ** self.b / G

    def to_dict(self) -> dict:
        return {**asdict(self), "a": self.a, "b": self.b}


def refit_batch(theta0, logN, logD, logL, weights, iters: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Minimise the weighted Huber objective for every row of ``weights`` (B, n) at once from ``theta0``:
    Levenberg-Marquardt steps on the iteratively reweighted least-squares model of the Huber loss
    (Huber 1981, sec. 7.8: weights min(1, delta/|r|)), a step kept only where it lowers the true objective.
    One vectorised solve of B 5x5 systems per iteration replaces B scipy runs (4000 resamples: seconds).
    Returns (thetas (B, 5), converged (B,) bools)."""
    theta = np.tile(np.asarray(theta0, float), (len(weights), 1))
    lam = np.full(len(weights), 1e-3)
    f = _objective(theta, logN, logD, logL, weights)[0]
    active = np.arange(len(weights))  # the resamples still moving
    eye = np.eye(5)
    for _ in range(iters):
        th, w = theta[active], weights[active]
        t = _terms(th, logN, logD)
        m = t.max(-1, keepdims=True)
        soft = np.exp(t - m)
        s = soft.sum(-1, keepdims=True)
        soft /= s
        r = (m + np.log(s))[..., 0] - logL
        u = w * np.minimum(1.0, HUBER_DELTA / np.maximum(np.abs(r), 1e-300))
        J = np.stack(np.broadcast_arrays(soft[..., 0], soft[..., 1], soft[..., 2],
                                         -soft[..., 0] * logN, -soft[..., 1] * logD), axis=-1)
        Ju = (J * u[..., None]).transpose(0, 2, 1)
        H = Ju @ J
        g = (Ju @ r[..., None])[..., 0]
        diag = np.einsum("bii->bi", H)[..., None] * eye
        step = np.linalg.solve(H + lam[active, None, None] * diag + 1e-12 * eye, -g[..., None])[..., 0]
        f_old = f[active]
        f_new = _objective(th + step, logN, logD, logL, w)[0]
        better = f_new < f_old
        theta[active[better]] += step[better]
        f[active[better]] = f_new[better]
        lam[active] = np.where(better, lam[active] / 3, lam[active] * 4)
        done = (better & (f_old - f_new <= 1e-12 * np.maximum(f_old, 1e-300))) | (lam[active] > 1e10)
        active = active[~done]
        if not len(active):
            break
    grad = _objective(theta, logN, logD, logL, weights)[1]
    ok = np.isfinite(theta).all(-1) & (np.linalg.norm(grad, axis=-1) < 1e-4 * len(logL))
    return theta, ok


def fit_chinchilla(points: Points, *, bootstrap: int = 4000, level: float = 0.95, seed: int = 0) -> ScalingFit:
    """Chinchilla Approach 3 with ``bootstrap`` resamples for the ``level`` percentile intervals.
    Raises DataError for fewer points than parameters and FitNotConverged (with its best point)."""
    if len(points) <= len(PARAMS):
        raise DataError(f"Approach 3 fits {len(PARAMS)} parameters and needs more points than that; got {len(points)}")
    logN, logD, logL = np.log(points.N), np.log(points.D), np.log(points.loss)
    ones = np.ones_like(logL)
    grid = _grid()
    start_losses = np.concatenate([_objective(chunk, logN, logD, logL, ones)[0]
                                   for chunk in np.array_split(grid, max(1, len(grid) // 512))])
    results = [_minimise(grid[i], logN, logD, logL, ones) for i in np.argsort(start_losses)[:STARTS]]
    best = min(results, key=lambda r: r.fun if np.isfinite(r.fun) else np.inf)
    if not _converged(best, len(points)):
        raise FitNotConverged(f"the Approach-3 fit did not converge ({best.message}); best point {_describe(best.x)}, "
                              f"Huber loss {best.fun * HUBER_DELTA:.3g}")
    a, b, e, alpha, beta = best.x
    fit = ScalingFit(E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=float(alpha), beta=float(beta),
                     n_points=len(points), huber_loss=float(best.fun * HUBER_DELTA), level=level)
    if bootstrap > 0:
        t0 = time.perf_counter()
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(len(points), np.full(len(points), 1 / len(points)), size=bootstrap).astype(float)
        thetas, ok = refit_batch(best.x, logN, logD, logL, counts)
        thetas, failures = thetas[ok], int((~ok).sum())
        thetas = np.array(thetas).reshape(-1, 5)
        values = {"A": np.exp(thetas[:, 0]), "B": np.exp(thetas[:, 1]), "E": np.exp(thetas[:, 2]),
                  "alpha": thetas[:, 3], "beta": thetas[:, 4]}
        values["a"] = values["beta"] / (values["alpha"] + values["beta"])
        values["b"] = values["alpha"] / (values["alpha"] + values["beta"])
        q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
        fit.intervals = {k: [float(x) for x in np.percentile(v, q)] for k, v in values.items()} if len(thetas) else {}
        fit.bootstrap, fit.bootstrap_failures = bootstrap, failures
        fit.bootstrap_seconds = time.perf_counter() - t0
    return fit


# ---------------------------------------------------------------- Approaches 1 and 2, Kaplan

def _power_law(x: np.ndarray, y: np.ndarray, what: str) -> tuple[float, float]:
    """(exponent, prefactor) of y = k x^p by least squares in log-log space."""
    if len(np.unique(x)) < 2:
        raise DataError(f"{what} needs points at two or more distinct values; got {len(np.unique(x))}")
    p, logk = np.polyfit(np.log(x), np.log(y), 1)
    return float(p), float(math.exp(logk))


def envelope(points: Points) -> np.ndarray:
    """Indices of Approach 1's frontier: each point whose loss is below that of every point of smaller compute."""
    order = np.argsort(points.C, kind="stable")
    keep, best = [], np.inf
    for i in order:
        if points.loss[i] < best:
            keep.append(i)
            best = points.loss[i]
    return np.array(keep, dtype=int)


def approach1(points: Points) -> dict:
    """N*(C) ∝ C^a and D*(C) ∝ C^b fitted on the lowest-loss-per-compute envelope."""
    idx = envelope(points)
    a, ka = _power_law(points.C[idx], points.N[idx], "Approach 1")
    b, kb = _power_law(points.C[idx], points.D[idx], "Approach 1")
    return {"a": a, "b": b, "N_coef": ka, "D_coef": kb, "frontier": idx.tolist()}


def isoflop_groups(points: Points, tolerance: float = 0.05) -> list[np.ndarray]:
    """Points whose compute lies within ``tolerance`` decades of the group's smallest, for each group
    that spans at least three model sizes (the least a parabola needs)."""
    order = np.argsort(points.C)
    logC = np.log10(points.C)
    groups, current = [], [order[0]]
    for i in order[1:]:
        if logC[i] - logC[current[0]] <= tolerance:
            current.append(i)
        else:
            groups.append(np.array(current))
            current = [i]
    groups.append(np.array(current))
    return [g for g in groups if len(np.unique(points.N[g])) >= 3]


def approach2(points: Points, tolerance: float = 0.05) -> dict:
    """IsoFLOP profiles: a parabola of loss in log N per compute group gives N*; D* = C / 6N*."""
    groups = isoflop_groups(points, tolerance)
    if len(groups) < 2:
        raise DataError(f"Approach 2 needs two or more IsoFLOP groups (points of equal FLOPs within {tolerance} "
                        f"decades, each at three or more sizes); found {len(groups)}")
    C_opt, N_opt, parabolas = [], [], []
    for g in groups:
        c2, c1, c0 = np.polyfit(np.log(points.N[g]), points.loss[g], 2)
        if c2 <= 0:
            continue  # no minimum: the group's sizes do not bracket the optimum
        C = float(np.exp(np.mean(np.log(points.C[g]))))
        C_opt.append(C)
        N_opt.append(math.exp(-c1 / (2 * c2)))
        parabolas.append({"C": C, "coef": [float(c2), float(c1), float(c0)], "points": g.tolist()})
    if len(C_opt) < 2:
        raise DataError("Approach 2: fewer than two IsoFLOP groups have a minimum (a convex parabola); widen the sizes")
    C_opt, N_opt = np.array(C_opt), np.array(N_opt)
    a, ka = _power_law(C_opt, N_opt, "Approach 2")
    b, kb = _power_law(C_opt, C_opt / (6 * N_opt), "Approach 2")
    return {"a": a, "b": b, "N_coef": ka, "D_coef": kb, "C_opt": C_opt.tolist(), "N_opt": N_opt.tolist(),
            "parabolas": parabolas}


def kaplan(points: Points) -> dict:
    """Kaplan's L(N) = (N_c/N)^alpha_N (largest D per N) and L(D) = (D_c/D)^alpha_D (largest N per D)."""
    out = {}
    for name, x, other in (("N", points.N, points.D), ("D", points.D, points.N)):
        idx = np.array([np.flatnonzero(x == v)[np.argmax(other[x == v])] for v in np.unique(x)])
        p, k = _power_law(x[idx], points.loss[idx], f"Kaplan's L({name})")
        alpha = -p
        out[f"alpha_{name}"] = alpha
        out[f"{name}_c"] = k ** (1 / alpha) if alpha != 0 else math.inf
    return out

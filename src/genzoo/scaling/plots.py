"""Scaling-law figures (PNG, Agg canvas): loss vs compute per size, IsoFLOP profiles, the fitted
compute-optimal frontier, and the Approach-3 residuals."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .fit import Points, ScalingFit, approach2, envelope


def _figure(title: str, xlabel: str, ylabel: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return fig, ax


def save_plots(points: Points, fit: ScalingFit | None, out, isoflop_tolerance: float = 0.05) -> list[Path]:
    """Write the figures under ``out``; return their paths (IsoFLOP only when the points have profiles)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    sizes = np.unique(points.N)
    colours = [f"C{i % 10}" for i in range(len(sizes))]

    fig, ax = _figure("loss vs compute per size", "training FLOPs C", "held-out loss")
    for n, c in zip(sizes, colours):
        i = np.flatnonzero(points.N == n)
        i = i[np.argsort(points.C[i])]
        ax.plot(points.C[i], points.loss[i], "o-", color=c, ms=3, label=f"N={n:.3g}")
    frontier = envelope(points)
    ax.plot(points.C[frontier], points.loss[frontier], "k--", lw=1, label="envelope (Approach 1)")
    ax.set_xscale("log")
    ax.legend(fontsize=6)
    written.append(_save(fig, out / "loss_vs_compute.png"))

    try:
        iso = approach2(points, isoflop_tolerance)
    except Exception:  # no IsoFLOP profiles in these points (a plain N x D grid): no figure
        iso = None
    if iso is not None:
        fig, ax = _figure("IsoFLOP profiles (Approach 2)", "parameters N", "held-out loss")
        for k, p in enumerate(iso["parabolas"]):
            g = np.array(p["points"])
            x = np.linspace(np.log(points.N[g]).min(), np.log(points.N[g]).max(), 100)
            ax.plot(points.N[g], points.loss[g], "o", color=f"C{k % 10}", ms=3)
            ax.plot(np.exp(x), np.polyval(p["coef"], x), "-", color=f"C{k % 10}", label=f"C={p['C']:.2g}")
        ax.set_xscale("log")
        ax.legend(fontsize=6)
        written.append(_save(fig, out / "isoflop.png"))

    if fit is not None:
        C = np.logspace(np.log10(points.C.min()), np.log10(points.C.max()) + 2, 100)
        N_opt, D_opt = fit.optimal(C)
        fig, ax = _figure("fitted compute-optimal frontier", "training FLOPs C", "N*(C), D*(C)")
        ax.plot(C, N_opt, "-", label=f"N* ∝ C^{fit.a:.3f}")
        ax.plot(C, D_opt, "-", label=f"D* ∝ C^{fit.b:.3f}")
        ax.plot(points.C[frontier], points.N[frontier], "o", ms=3, color="C0", label="envelope N")
        ax.plot(points.C[frontier], points.D[frontier], "s", ms=3, color="C1", label="envelope D")
        ax.set(xscale="log", yscale="log")
        ax.legend(fontsize=6)
        written.append(_save(fig, out / "frontier.png"))

        residual = np.log(fit.predict(points.N, points.D)) - np.log(points.loss)
        fig, ax = _figure("Approach-3 residuals", "training FLOPs C", "log L_fit - log L")
        ax.axhline(0, color="k", lw=0.5)
        for n, c in zip(sizes, colours):
            i = points.N == n
            ax.plot(points.C[i], residual[i], "o", color=c, ms=3, label=f"N={n:.3g}")
        ax.set_xscale("log")
        ax.legend(fontsize=6)
        written.append(_save(fig, out / "residuals.png"))
    return written


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=120)
    return path

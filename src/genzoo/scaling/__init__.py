"""Compute and scaling laws: sweeps of model size x data (``sweep``), Chinchilla/Kaplan fits (``fit``)
and training/inference cost estimates (``estimate``). See docs/scaling.md."""
from .estimate import chinchilla_optimal, estimate_costs
from .fit import ScalingFit, fit_chinchilla, load_points

__all__ = ["ScalingFit", "chinchilla_optimal", "estimate_costs", "fit_chinchilla", "load_points"]

"""``scheduler/scheduler_config.json`` in diffusers' format <-> genzoo sampler settings.

genzoo names: ``ddpm`` (DDPMScheduler), ``ddim`` (DDIMScheduler), ``dpm++2m``
(DPMSolverMultistepScheduler, dpmsolver++ order 2), ``euler`` (EulerDiscreteScheduler), ``heun``
(HeunDiscreteScheduler). Options a genzoo sampler cannot reproduce raise a one-line ConfigError.
"""
from __future__ import annotations

from typing import Any

from ..errors import ConfigError

CLASS_NAMES = {"ddpm": "DDPMScheduler", "ddim": "DDIMScheduler", "dpm++2m": "DPMSolverMultistepScheduler",
               "euler": "EulerDiscreteScheduler", "heun": "HeunDiscreteScheduler"}
SAMPLER_FOR_CLASS = {v: k for k, v in CLASS_NAMES.items()}
SCHEDULE_KEYS = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "prediction_type")
SAMPLER_KEYS = ("timestep_spacing", "steps_offset", "clip_sample", "clip_sample_range", "use_karras_sigmas", "variance_type")
#: settings that change the result and that genzoo does not implement: key -> the only accepted value
UNSUPPORTED = {"trained_betas": None, "thresholding": False, "rescale_betas_zero_snr": False, "solver_order": 2,
               "algorithm_type": "dpmsolver++", "solver_type": "midpoint", "final_sigmas_type": "zero",
               "euler_at_final": False, "use_exponential_sigmas": False, "use_beta_sigmas": False,
               "use_lu_lambdas": False, "use_flow_sigmas": False, "timestep_type": "discrete",
               "interpolation_type": "linear", "set_alpha_to_one": True, "lower_order_final": True}
BETA_SCHEDULE_NAMES = {"cosine": "squaredcos_cap_v2"}


def to_diffusers(sampler: str, schedule: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """diffusers scheduler config for ``sampler`` with ``schedule`` (SCHEDULE_KEYS) and sampler ``options``."""
    cfg = {"_class_name": CLASS_NAMES[sampler], "_diffusers_version": "0.42.1", **schedule}
    cfg["beta_schedule"] = BETA_SCHEDULE_NAMES.get(cfg["beta_schedule"], cfg["beta_schedule"])
    allowed = {"ddpm": ("timestep_spacing", "steps_offset", "clip_sample", "clip_sample_range", "variance_type"),
               "ddim": ("timestep_spacing", "steps_offset", "clip_sample", "clip_sample_range"),
               "dpm++2m": ("timestep_spacing", "steps_offset", "use_karras_sigmas"),
               "euler": ("timestep_spacing", "steps_offset", "use_karras_sigmas"),
               "heun": ("timestep_spacing", "steps_offset", "use_karras_sigmas", "clip_sample", "clip_sample_range")}
    cfg.update({k: v for k, v in options.items() if k in allowed[sampler] and v is not None})
    if sampler == "dpm++2m":
        cfg.update(algorithm_type="dpmsolver++", solver_order=2)
    return cfg


def from_diffusers(cfg: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(sampler name, schedule fields, sampler options)`` from a diffusers scheduler config."""
    name = cfg.get("_class_name")
    if name not in SAMPLER_FOR_CLASS:
        raise ConfigError(f"scheduler {name!r} is not supported; use one of {', '.join(SAMPLER_FOR_CLASS)}")
    for key, ok in UNSUPPORTED.items():
        if key in cfg and cfg[key] != ok and not (key == "lower_order_final" and name != "DPMSolverMultistepScheduler"):
            raise ConfigError(f"scheduler_config.json: {key}={cfg[key]!r} is not supported by genzoo's samplers (needs {ok!r})")
    defaults = {"num_train_timesteps": 1000, "beta_start": 1e-4, "beta_end": 0.02, "beta_schedule": "linear",
                "prediction_type": "epsilon"}
    if name == "HeunDiscreteScheduler":
        defaults.update(beta_start=0.00085, beta_end=0.012)
    schedule = {k: cfg.get(k, defaults[k]) for k in SCHEDULE_KEYS}
    class_defaults = {"DDPMScheduler": {"clip_sample": True, "timestep_spacing": "leading"},
                      "DDIMScheduler": {"clip_sample": True, "timestep_spacing": "leading"},
                      "HeunDiscreteScheduler": {"clip_sample": False}}
    options = {**class_defaults.get(name, {}), **{k: cfg[k] for k in SAMPLER_KEYS if k in cfg}}
    if name in ("EulerDiscreteScheduler", "HeunDiscreteScheduler", "DPMSolverMultistepScheduler"):
        options.setdefault("use_karras_sigmas", False)
    return SAMPLER_FOR_CLASS[name], schedule, options

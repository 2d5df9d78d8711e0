"""Differentially private training (docs/privacy.md): DP-SGD through the Trainer's ``privacy=`` option.

``Trainer(model, data, privacy=PrivacyConfig(target_epsilon=8, delta=1e-5, max_grad_norm=1.0))``;
Opacus is the accountant and the noise calibrator (``accountant.py``), the step is ``dp.py``.
"""
from .accountant import ACCOUNTANTS, calibrate, epsilon, make_accountant
from .dp import PRIVACY_JSON, PrivacyConfig, PrivateTraining, check_layers, check_resume, poisson_indices

__all__ = ["ACCOUNTANTS", "PRIVACY_JSON", "PrivacyConfig", "PrivateTraining", "calibrate", "check_layers",
           "check_resume", "epsilon", "make_accountant", "poisson_indices"]

"""DP-SGD for the GAN: only the discriminator reads data, so only its gradients are privatised.

Each step (Xie et al. 2018, "Differentially private generative adversarial network"):

    D: per-example losses ℓ_D(x_i) = the discriminator loss on real x_i and one fresh fake (and the
       R1 / gradient penalties on x_i), clipped, summed, noised and divided by qN as in ``dp.py``;
    G: its usual loss on round(qN) fresh fakes through D -- a function of D's (private) weights and
       of noise only, so it costs no privacy (post-processing).

Refused: PacGAN (``pack > 1`` judges several real examples together), unrolled D (G's loss would read
the real batch) and class-conditional GANs (G would be fed the real labels).
"""
from __future__ import annotations

from ..errors import ConfigError
from .per_example import make_engine


def check_gan(model) -> None:
    c = model.config
    for bad, why in ((c.pack > 1, "pack > 1 (PacGAN judges several real examples at once)"),
                     (c.unrolled, "unrolled > 0 (the generator's loss would read the real batch)"),
                     (c.num_classes, "num_classes > 0 (the generator would be fed the real labels)")):
        if bad:
            raise ConfigError(f"DP-SGD on a GAN privatises its discriminator and cannot handle {why}; "
                              "train with --set pack=1 unrolled=0 num_classes=0")


def gan_step(private, trainer, batch) -> dict[str, float]:
    """One private D update (``private``: the run's ``PrivateTraining``), one G update every ``n_critic`` steps."""
    from .dp import private_gradients

    model = trainer.model
    opt_g, opt_d = trainer.optimizers
    loss = _DiscriminatorLoss(model)
    if private.grads is None:
        private.grads = make_engine(model, loss, batch, private.config.max_grad_norm, private._engine,
                                    part=model.discriminator)
    logs = private_gradients(private.grads, batch, private.config.max_grad_norm, private.noise_multiplier,
                             private.expected_batch)
    opt_d.step()
    if trainer.step % model.config.n_critic == 0:
        g_loss, g_logs = model.generator_loss(max(1, round(private.expected_batch)))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward(inputs=list(model.generators.parameters()))
        opt_g.step()
        logs.update(g_logs)
    logs = {"d_loss": logs.pop("loss", float("nan")), **logs}
    logs["loss"] = logs["d_loss"] + logs.get("g_loss", 0.0)
    if batch is not None:
        trainer._check_finite(logs, ("loss",))
    return logs


class _DiscriminatorLoss:
    """``batch -> {"loss": L_D}`` (the discriminator's loss on this real batch and as many fresh fakes)."""

    def __init__(self, model):
        self.model = model

    def __call__(self, batch):
        x, y = self.model._xy(batch)
        return {"loss": self.model.discriminator_loss(x, y)[0]}

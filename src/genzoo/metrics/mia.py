"""Membership inference: can an attacker tell training examples from unseen ones?

Scores s(x) are "higher = more likely a member". Reported: ROC AUC (0.5 = no leakage; the
Mann-Whitney U statistic with ties counted half) and TPR at 1% FPR (Carlini et al. 2022, "Membership
Inference Attacks From First Principles": low-FPR power matters more than AUC).

- Loss attack (Yeom et al. 2018): s(x) = log p_θ(x), the model's own log-likelihood.
- Offline LiRA (Carlini et al. 2022): reference models θ₁..θ_R trained WITHOUT x (on disjoint data,
  ``train_reference_models``) give the "out" distribution of log p(x); s(x) = (log p_θ(x) - μ_out(x)) / σ_out(x), the one-sided
  likelihood-ratio test under a Gaussian fit. It calibrates per example: examples that every model
  finds easy no longer look like members.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import DataError
from ..registry import register_metric


def _scores(x, name: str) -> Tensor:
    t = torch.as_tensor(x, dtype=torch.float64).flatten()
    if len(t) == 0 or not torch.isfinite(t).all():
        raise DataError(f"{name} must be a non-empty vector of finite scores")
    return t


def roc_auc(member_scores, nonmember_scores) -> float:
    """P(s(member) > s(non-member)) + ½ P(tie): the area under the ROC curve."""
    m, n = _scores(member_scores, "member scores"), _scores(nonmember_scores, "non-member scores")
    both = torch.cat([m, n])
    order = both.argsort()
    ranks = torch.empty_like(both)
    ranks[order] = torch.arange(1, len(both) + 1, dtype=torch.float64)
    uniq, inverse = torch.unique(both, return_inverse=True)  # average ranks over ties
    sums = torch.zeros(len(uniq), dtype=torch.float64).index_add_(0, inverse, ranks)
    counts = torch.bincount(inverse, minlength=len(uniq)).double()
    ranks = (sums / counts)[inverse]
    u = ranks[: len(m)].sum() - len(m) * (len(m) + 1) / 2
    return float(u / (len(m) * len(n)))


def tpr_at_fpr(member_scores, nonmember_scores, fpr: float = 0.01) -> float:
    """Largest fraction of members flagged by a threshold that flags at most ``fpr`` of non-members."""
    m, n = _scores(member_scores, "member scores"), _scores(nonmember_scores, "non-member scores")
    allowed = int(fpr * len(n))  # non-members allowed strictly above the threshold
    threshold = n.sort(descending=True).values[allowed] if allowed < len(n) else -float("inf")
    return float((m > threshold).double().mean())


def attack_report(member_scores, nonmember_scores, prefix: str) -> dict[str, float]:
    return {f"{prefix}_auc": roc_auc(member_scores, nonmember_scores),
            f"{prefix}_tpr_at_1fpr": tpr_at_fpr(member_scores, nonmember_scores, 0.01)}


def lira_offline_scores(target_log_probs, reference_log_probs, min_std: float = 1e-3) -> Tensor:
    """(N,) calibrated scores from the target's log p(x) (N,) and out-reference log p's (R, N)."""
    target = _scores(target_log_probs, "target log-probs")
    ref = torch.as_tensor(reference_log_probs, dtype=torch.float64)
    if ref.dim() != 2 or ref.shape[1] != len(target) or len(ref) < 2:
        raise DataError(f"reference log-probs must be (R >= 2, {len(target)}), got {tuple(ref.shape)}; "
                        "train at least two reference models")
    return (target - ref.mean(0)) / ref.std(0).clamp_min(min_std)


def train_reference_models(model_name: str, pool, count: int = 4, *, overrides: dict | None = None,
                           **trainer_kw) -> list:
    """Offline-LiRA reference models: ``count`` copies of ``model_name`` trained (``genzoo.Trainer``,
    seeds 0..count-1) on disjoint equal chunks of ``pool``, a dataset holding none of the examples
    being audited (e.g. the training split minus the target's members)."""
    import genzoo as gz

    from ..data import GenDataset

    if count < 2 or len(pool) < 2 * count:
        raise DataError(f"need count >= 2 reference models and at least 2 examples each; got count={count}, "
                        f"pool of {len(pool)}")
    size, models = len(pool) // count, []
    for i in range(count):
        rows = slice(i * size, (i + 1) * size)
        chunk = GenDataset(pool.name, pool.split, pool.kind, pool.x[rows], None if pool.y is None else pool.y[rows],
                           levels=pool.levels, num_classes=pool.num_classes, tokenizer=pool.tokenizer, info=pool.info)
        model = gz.build(model_name, data=chunk, **(overrides or {}))
        gz.Trainer(model, chunk, seed=i, progress=False, **trainer_kw).fit()
        models.append(model.eval())
    return models


@torch.no_grad()
def per_example_log_prob(model, x: Tensor, batch_size: int = 256) -> Tensor:
    from ..errors import NotSupported
    from ..utils import model_device

    if not hasattr(model, "log_prob"):
        raise NotSupported(f"{type(model).__name__} has no log_prob; membership inference needs a likelihood")
    device = model_device(model) if isinstance(model, torch.nn.Module) else torch.device("cpu")
    return torch.cat([model.log_prob(chunk.to(device)).double().cpu() for chunk in x.split(batch_size)])


@register_metric("mia")
def mia_metric(model, data, *, train=None, reference_models=(), max_examples: int = 1000, **_) -> dict[str, float]:
    """Loss attack (and offline LiRA with ``reference_models=`` trained on disjoint data): members are
    the first examples of ``train`` (a dataset or tensor; default: the dataset's train split), non-members
    the first of ``data``."""
    from ..data.loading import load_split_like

    train = load_split_like(data, "train") if train is None else train
    train_x = train.x if hasattr(train, "x") else torch.as_tensor(train)
    n = min(len(train_x), len(data), max_examples)
    members, nonmembers = train_x[:n], data.x[:n]
    lp_in, lp_out = per_example_log_prob(model, members), per_example_log_prob(model, nonmembers)
    out = {"mia_examples": n, **attack_report(lp_in, lp_out, "mia_loss")}
    if reference_models:
        ref_in = torch.stack([per_example_log_prob(r, members) for r in reference_models])
        ref_out = torch.stack([per_example_log_prob(r, nonmembers) for r in reference_models])
        out.update(attack_report(lira_offline_scores(lp_in, ref_in), lira_offline_scores(lp_out, ref_out), "mia_lira"))
    return out

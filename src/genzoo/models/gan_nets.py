"""Networks of the GAN family: MLP (2-D, tabular) and DCGAN-style conv (8x8 / 16x16 / 32x32 images)
generators, a discriminator with optional minibatch features and a projection head.

- DCGAN (Radford et al. 2016): strided (transposed) convolutions, LeakyReLU in D, tanh output.
  Group norm replaces batch norm in G so that sampling never depends on batch statistics.
- Projection discriminator (Miyato & Koyama 2018): D(x, y) = ψ(φ(x)) + ⟨e_y, φ(x)⟩.
- Minibatch discrimination (Salimans et al. 2016, §3.2): M_i = φ(x_i) T ∈ R^{B×C},
  o(x_i)_b = Σ_{j≠i} exp(−‖M_{i,b} − M_{j,b}‖₁), concatenated to φ(x_i).
- Minibatch standard deviation (Karras et al. 2018, §3): the feature-averaged std over a group of
  examples, appended as one extra feature.
- MGAN head (Hoang et al. 2018): D also outputs K logits classifying which generator made a sample.
- PacGAN packing (Lin et al. 2018, "PacGAN: the power of two samples in generative adversarial
  networks"): D judges k samples at once, D(x₁ ⊕ … ⊕ x_k), all real or all fake. A collapsed G
  gives packs of near-identical samples, which D tells apart from real packs easily, so packing
  penalises mode collapse; k consecutive rows are concatenated along the feature / channel axis.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import ConfigError


def mlp(d_in: int, hidden: int, depth: int, d_out: int | None, act=lambda: nn.LeakyReLU(0.2)) -> nn.Sequential:
    """``depth`` hidden layers of width ``hidden``; a final linear layer to ``d_out`` unless None."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(d_in if i == 0 else hidden, hidden), act()]
    if d_out is not None:
        layers.append(nn.Linear(hidden if depth else d_in, d_out))
    return nn.Sequential(*layers)


def conv_levels(shape: tuple[int, ...]) -> int:
    """Number of ×2 resolution steps between 4×4 and the image size (8 → 1, 16 → 2, 32 → 3)."""
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] < 8 or shape[1] & (shape[1] - 1):
        raise ConfigError(f"arch=dcgan needs square images of side 8, 16, 32 ..., got shape {tuple(shape)}; use arch=mlp")
    return int(math.log2(shape[1] // 4))


def packed_shape(shape: tuple[int, ...], pack: int) -> tuple[int, ...]:
    """The shape of one D input when ``pack`` samples of ``shape`` are concatenated (features/channels)."""
    return (shape[0] * pack, *shape[1:])


def pack_samples(x: Tensor, pack: int) -> Tensor:
    """(B, C, ...) → (B / pack, pack·C, ...): row i holds samples i·pack … i·pack + pack − 1."""
    if pack == 1:
        return x
    if len(x) % pack:
        raise ConfigError(f"pack={pack} needs a batch size divisible by {pack}, got {len(x)}; change --batch-size or pack=")
    return x.reshape(len(x) // pack, pack * x.shape[1], *x.shape[2:])


class Generator(nn.Module):
    """G(z, y): z (and a class embedding when conditional) → a sample of ``shape``."""

    def __init__(self, shape: tuple[int, ...], z_dim: int, arch: str, hidden: int, depth: int,
                 channels: int, num_classes: int = 0):
        super().__init__()
        self.shape, self.arch = tuple(shape), arch
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        d_in = z_dim * (2 if num_classes else 1)
        if arch == "mlp":
            self.net = mlp(d_in, hidden, depth, math.prod(shape), act=nn.ReLU)
        else:
            n_up = conv_levels(shape)
            width = channels * 2 ** n_up
            layers: list[nn.Module] = [nn.Linear(d_in, width * 16), nn.Unflatten(1, (width, 4, 4)),
                                       nn.GroupNorm(min(8, width), width), nn.ReLU()]
            for _ in range(n_up):
                layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1), nn.GroupNorm(min(8, width // 2), width // 2), nn.ReLU()]
                width //= 2
            layers += [nn.Conv2d(width, shape[0], 3, 1, 1), nn.Tanh()]
            self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        return self.net(z).view(len(z), *self.shape)


def grouped_forward(modules: nn.ModuleList, z: Tensor, y: Tensor | None, which: Tensor) -> Tensor:
    """Row i of the output is ``modules[which[i]](z[i], y[i])``, for K modules of one architecture
    computed as one batched call (MGAN's K generators).

    The rows are sorted by module into a zero-padded (K, m, ...) buffer, m = the largest group;
    the K modules' parameters are stacked (``torch.stack``, so gradients reach each module) and
    the template module runs once under ``torch.func.vmap`` (Linear layers become one batched
    matmul over K). Padding rows are computed and dropped: they get no gradient.
    """
    from torch.func import functional_call, vmap

    k, n = len(modules), len(z)
    counts = torch.bincount(which, minlength=k)
    order = torch.argsort(which, stable=True)
    group = which[order]
    slot = torch.arange(n, device=z.device) - (torch.cumsum(counts, 0) - counts)[group]
    m = int(counts.max()) if n else 0
    zs = z.new_zeros(k, m, *z.shape[1:])
    zs[group, slot] = z[order]
    ys = None
    if y is not None:
        ys = y.new_zeros(k, m)
        ys[group, slot] = y[order]
    names = [name for name, _ in modules[0].named_parameters()]
    per_module = [dict(mod.named_parameters()) for mod in modules]
    stacked = {name: torch.stack([p[name] for p in per_module]) for name in names}
    run = lambda params, zk, yk: functional_call(modules[0], params, (zk, yk))  # noqa: E731
    out_k = vmap(run, in_dims=(0, 0, None if ys is None else 0))(stacked, zs, ys)
    out = out_k.new_empty(n, *out_k.shape[2:])
    out[order] = out_k[group, slot]
    return out


class PairwiseL1(torch.autograd.Function):
    """L[k, i, j] = Σ_d |m[k, i, d] − m[k, j, d]| for m of shape (K, B, D), with
    ∂/∂m[k, i, d] = Σ_j (G[k, i, j] + G[k, j, i]) sign(m[k, i, d] − m[k, j, d]) for the incoming G.

    Forward is ``torch.cdist(p=1)``; the backward is written in plain (differentiable) ops, so WGAN-GP
    and unrolled D can differentiate through it twice (cdist's own backward has no derivative). It
    never builds the (B, B, K, D) difference tensor of the broadcast form, which autograd reduced twice
    per step: this made a 2-D GAN step with minibatch discrimination 1.3-2x faster at B = 256.
    """

    @staticmethod
    def forward(ctx, m: Tensor) -> Tensor:
        ctx.save_for_backward(m)
        return torch.cdist(m, m, p=1)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        (m,) = ctx.saved_tensors
        a = g + g.transpose(1, 2)
        return torch.stack([(a * torch.sign(c.unsqueeze(2) - c.unsqueeze(1))).sum(2) for c in m.unbind(2)], 2)


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016: ``n_kernels`` closeness features of each example to the rest of the batch."""

    def __init__(self, d_in: int, n_kernels: int, kernel_dim: int = 8):
        super().__init__()
        self.T = nn.Parameter(torch.randn(d_in, n_kernels * kernel_dim) * 0.1)
        self.n_kernels, self.kernel_dim = n_kernels, kernel_dim

    def forward(self, h: Tensor) -> Tensor:
        m = (h @ self.T).view(len(h), self.n_kernels, self.kernel_dim).transpose(0, 1)   # (K, B, kd)
        o = torch.exp(-PairwiseL1.apply(m)).sum(2).t() - 1.0         # drop the j = i term (exp 0 = 1)
        return torch.cat([h, o], dim=1)


class MinibatchStdDev(nn.Module):
    """Karras et al. 2018: append mean_f std_group(h_f) computed over groups of ``group_size`` examples."""

    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = group_size

    def forward(self, h: Tensor) -> Tensor:
        b = len(h)
        g = self.group_size if b % self.group_size == 0 else b
        std = (h.view(g, b // g, -1).var(0, unbiased=False) + 1e-8).sqrt().mean(1)  # (b // g,)
        return torch.cat([h, std.repeat(g).unsqueeze(1)], dim=1)


class Discriminator(nn.Module):
    """D(x, y) → (logit (B,), generator-classifier logits (B, pack·K) or None).

    φ = MLP or strided conv body; optional minibatch features; head ψ; projection ⟨e_y, φ(x)⟩ when
    class-conditional; an extra K-way head when ``n_generators > 1`` (MGAN), one per member of a
    pack (``shape`` is then the packed shape, ``packed_shape``).
    """

    def __init__(self, shape: tuple[int, ...], arch: str, hidden: int, depth: int, channels: int, *,
                 num_classes: int = 0, minibatch_disc: int = 0, mbstd: bool = False, n_generators: int = 1,
                 pack: int = 1):
        super().__init__()
        if arch == "mlp":
            self.body = nn.Sequential(nn.Flatten(), mlp(math.prod(shape), hidden, depth, None))
            feat = hidden
        else:
            n_down, width, layers = conv_levels(shape), channels, []
            c_in = shape[0]
            for _ in range(n_down):
                layers += [nn.Conv2d(c_in, width, 4, 2, 1), nn.LeakyReLU(0.2)]
                c_in, width = width, width * 2
            layers += [nn.Conv2d(c_in, c_in, 3, 1, 1), nn.LeakyReLU(0.2), nn.Flatten(),
                       nn.Linear(c_in * 16, hidden), nn.LeakyReLU(0.2)]
            self.body, feat = nn.Sequential(*layers), hidden
        extras: list[nn.Module] = []
        if minibatch_disc:
            extras.append(MinibatchDiscrimination(feat, minibatch_disc))
        if mbstd:
            extras.append(MinibatchStdDev())
        self.minibatch = nn.Sequential(*extras)
        feat_out = feat + minibatch_disc + int(mbstd)
        self.head = nn.Linear(feat_out, 1)
        self.embed = nn.Embedding(num_classes, feat) if num_classes else None
        self.gen_head = nn.Linear(feat_out, n_generators * pack) if n_generators > 1 else None

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        phi = self.body(x)
        h = self.minibatch(phi)
        logit = self.head(h).squeeze(1)
        if self.embed is not None:
            logit = logit + (self.embed(y) * phi).sum(1)
        return logit, (self.gen_head(h) if self.gen_head is not None else None)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """W → W / σ₁(W) on every Linear/Conv layer (Miyato et al. 2018), via torch's parametrization."""
    from torch.nn.utils.parametrizations import spectral_norm

    for m in list(module.modules()):
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            spectral_norm(m)
    return module


def table_head(x: Tensor, blocks: tuple[int, ...], uniform, tau: float = 0.2, jitter: float = 0.5) -> Tensor:
    """CTGAN's output activations for an encoded table (Xu et al. 2019, sec. 4.3): tanh on the scalar
    dimensions, Gumbel-softmax(tau) on each one-hot block ``blocks = (start, width, ...)``, plus the
    dequantisation noise U(-jitter/2, jitter/2) that the real rows get (``data/tables.py``), so D
    cannot tell the two apart by it. ``uniform(*shape)`` draws the noise."""
    out = torch.tanh(x).clone()
    for start, width in zip(blocks[::2], blocks[1::2]):
        logits = x[:, start:start + width]
        gumbel = -torch.log(-torch.log(uniform(len(x), width).clamp(1e-10, 1 - 1e-10)))
        out[:, start:start + width] = ((logits + gumbel) / tau).softmax(1) + (uniform(len(x), width) - 0.5) * jitter
    return out

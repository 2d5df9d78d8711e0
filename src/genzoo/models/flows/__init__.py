"""Normalizing flows: small invertible transforms composed into flows (zuko-style), and the models
``realnvp``, ``glow``, ``maf``, ``iaf``, ``nsf``, ``ffjord`` built from them. See docs/flows.md."""
from .actnorm import ActNorm
from .autoregressive import MaskedAutoregressive
from .base import Compose, Flow, Invert, Transform
from .conv1x1 import InvertibleConv1x1
from .coupling import Coupling, ImageCoupling
from .elementwise import Affine, Elementwise, RQSpline
from .permutation import Permutation, Reverse
from .squeeze import MultiScale, Squeeze

__all__ = [
    "Transform", "Compose", "Invert", "Flow", "ActNorm", "MaskedAutoregressive", "InvertibleConv1x1",
    "Coupling", "ImageCoupling", "Affine", "RQSpline", "Elementwise", "Permutation", "Reverse",
    "Squeeze", "MultiScale",
]

"""Weight policies for the relaxation weight w in ``e_hat = e_soft + sg(w * (e_hard - e_soft))``.

A policy maps the normalized entropy h in [0, 1] of each masked position to w in [0, 1]:
``zero`` is Expectation (continuous relaxation), ``one`` is APS (straight-through),
``entropy`` is EntRGi (w = h). The rest are ablations. Policies are named by a short spec
string, so they sweep from the command line: ``entropy``, ``constant:0.5``, ``threshold:0.5``,
``power:2``, ``one_minus_entropy``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from entrgi.engine.plugins import names, resolve


class WeightPolicy(ABC):
    uses_entropy: bool = True
    spec: str
    # False when w = 0 everywhere: e_hat = softmax(phi / tau) @ E_R, so the input does not depend on the hard draw
    depends_on_draw: bool = True

    @abstractmethod
    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        """[...] normalized entropy -> [...] weight."""


class ZeroWeight(WeightPolicy):
    uses_entropy = False
    depends_on_draw = False
    spec = "zero"
    aliases = ("expectation",)

    def __call__(self, h):
        return torch.zeros_like(h)


class OneWeight(WeightPolicy):
    uses_entropy = False
    spec = "one"
    aliases = ("ste",)

    def __call__(self, h):
        return torch.ones_like(h)


class EntropyWeight(WeightPolicy):
    spec = "entropy"

    def __call__(self, h):
        return h


class OneMinusEntropyWeight(WeightPolicy):
    spec = "one_minus_entropy"

    def __call__(self, h):
        return 1.0 - h


class ConstantWeight(WeightPolicy):
    uses_entropy = False
    spec, takes_value, default_value = "constant", True, None  # the instance's spec: constant:<value>

    def __init__(self, value: float):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"guidance.weight constant must lie in [0, 1], got {value}")
        self.value = float(value)
        self.spec = f"constant:{value:g}"

    def __call__(self, h):
        return torch.full_like(h, self.value)


class ThresholdWeight(WeightPolicy):
    """w = 1 where h >= theta (uncertain positions get the hard token), else 0."""

    spec, takes_value = "threshold", True

    def __init__(self, theta: float = 0.5):
        if not 0.0 <= theta <= 1.0:
            raise ValueError(f"guidance.weight threshold must lie in [0, 1], got {theta}")
        self.theta = float(theta)
        self.spec = f"threshold:{theta:g}"

    def __call__(self, h):
        return (h >= self.theta).to(h.dtype)


class PowerWeight(WeightPolicy):
    """w = h ** gamma."""

    spec, takes_value = "power", True

    def __init__(self, gamma: float = 2.0):
        if not gamma > 0:
            raise ValueError(f"guidance.weight power must be > 0, got {gamma}")
        self.gamma = float(gamma)
        self.spec = f"power:{gamma:g}"

    def __call__(self, h):
        return h.clamp_min(0.0) ** self.gamma


def parse_weight(spec: str | float | WeightPolicy) -> WeightPolicy:
    """``"entropy"``, ``"constant:0.5"``, ``0.5`` (constant), or a policy instance (``engine/plugins.resolve``
    over every ``WeightPolicy`` with a ``spec``, yours included once imported)."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return ConstantWeight(float(spec))
    return resolve(WeightPolicy, spec, "guidance.weight")


def weight_policies() -> list[str]:
    """The shorthands ``guidance.weight`` accepts."""
    return names(WeightPolicy)

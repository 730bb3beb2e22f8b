"""Adam on the rows of phi, sync-free, where a row can skip a step (a numerical fault).

A trajectory whose soft reward or reward gradient is not finite at an inner step (NaN / inf from the
reward model) takes no step there: its rows of phi, Adam's m and v stay exactly as they were, and
every other row computes exactly what it would in a run without the fault.
"""

from __future__ import annotations

from typing import Protocol

import torch


def finite_rows(reward: torch.Tensor, grad_embeds: torch.Tensor) -> torch.Tensor:
    """[N] bool: the trajectory's reward [N] and its gradient w.r.t. the response embeddings
    [N, L, D] are all finite. Stays on the device."""
    return torch.isfinite(reward) & torch.isfinite(grad_embeds).flatten(1).all(-1)


class RowUpdate(Protocol):
    """What :meth:`GradientGuidance.ascend` drives with each chunk's gradient of phi: :class:`RowAdam` steps on
    it, :class:`GradientCapture` keeps it."""

    def begin_step(self) -> None: ...

    def update(self, rows: slice, grad: torch.Tensor, keep: torch.Tensor | None = None) -> None: ...


class GradientCapture:
    """A :class:`RowUpdate` that writes each chunk's gradient into ``out`` [R, V] instead of stepping."""

    def __init__(self, out: torch.Tensor):
        self.out = out

    def begin_step(self) -> None:
        pass

    def update(self, rows: slice, grad: torch.Tensor, keep: torch.Tensor | None = None) -> None:
        self.out[rows] = grad


class RowAdam:
    """Adam (PyTorch's defaults) on the rows of one [R, V] tensor, updated chunk by chunk, with the
    step count on the host.

    ``torch.optim.Adam`` reads its step tensor with ``.item()`` (a device sync per inner step)
    unless ``capturable``, which CPU tensors do not support; this keeps the loop sync-free.

    ``update(rows, grad, keep)``: rows where ``keep`` [r] is False skip the step (their gradient rows
    must be finite, e.g. zeros, so NaN never enters m or v); the step count is shared and still
    advances. The skip is carried by [r, 1] coefficients (lerp weight 0, v's decay 1, eps = inf, so
    the parameter moves by m / inf = 0), so no vocabulary-sized pass is added and a row that takes the
    step gets the bits the scalar update gives.
    """

    def __init__(self, param: torch.Tensor, lr: float, *, betas=(0.9, 0.999), eps: float = 1e-8):
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = 0

    def begin_step(self) -> None:
        self.t += 1

    @torch.no_grad()
    def update(self, rows: slice, grad: torch.Tensor, keep: torch.Tensor | None = None) -> None:
        """Apply step ``t`` to ``param[rows]`` with its gradient [r, V]; ``keep`` [r] bool or None (all)."""
        b1, b2 = self.betas
        m, v = self.m[rows], self.v[rows]
        if keep is None:
            w1, decay2, eps = 1 - b1, b2, self.eps
        else:
            keep = keep[:, None]  # [r, 1]
            w1 = torch.where(keep, 1 - b1, 0.0).to(m.dtype)  # lerp wants its own dtype; fp32 phi: exact
            decay2 = torch.where(keep, b2, 1.0)
            eps = torch.where(keep, self.eps, float("inf"))
        m.lerp_(grad, w1)
        v.mul_(decay2).addcmul_(grad, grad, value=1 - b2)
        denom = (v / (1 - b2**self.t)).sqrt_().add_(eps)
        self.param[rows].addcdiv_(m, denom, value=-self.lr / (1 - b1**self.t))

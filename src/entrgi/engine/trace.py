"""The denoising trace: per-step, per-trajectory statistics, kept on the device until the batch ends.

The denoiser's own keys are :data:`DENOISER_KEYS`; a guidance method's statistics
(:data:`entrgi.engine.guidance.GuidanceStats`, any names) are added as they come, each [T, N] and nan at
the steps that did not report it (unguided steps, say) — a key first seen at a later step too.
``guided`` is the denoiser's (1.0 at the steps ``guidance.guides`` picks, 0.0 elsewhere) unless
the method reports it per trajectory. Recording never reads the device from the host.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

DENOISER_KEYS = ("entropy_mean", "entropy_min", "entropy_max", "committed", "guided")
_METHOD_MAY_SET = ("guided",)


class StepTrace:
    """``values[key]`` [T, N] float32 on ``device``; :meth:`host` gives [B, K, T] on the CPU."""

    def __init__(self, steps: int, n: int, device: torch.device | str):
        self.steps, self.n, self.device = steps, n, device
        self.values: dict[str, torch.Tensor] = {key: self._empty() for key in DENOISER_KEYS}

    def _empty(self) -> torch.Tensor:
        return torch.full((self.steps, self.n), float("nan"), device=self.device)

    def add_guidance(self, step: int, stats: Mapping[str, torch.Tensor] | None, source: str = "guidance") -> None:
        """Record one guided step's statistics (name -> [N]); ``source`` names the method in errors."""
        for key, value in (stats or {}).items():
            if not isinstance(key, str) or not key:
                raise TypeError(f"{source}.optimize returned a statistic named {key!r}; names are non-empty str")
            if key in DENOISER_KEYS and key not in _METHOD_MAY_SET:
                raise ValueError(
                    f"{source}.optimize returned the statistic {key!r}, which the denoiser records itself; rename it"
                )
            if not isinstance(value, torch.Tensor) or value.shape != (self.n,) or value.is_complex():
                got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(
                    f"{source}.optimize returned stats[{key!r}] of shape {got}; each statistic is a real "
                    f"[N] = [{self.n}] tensor, one value per trajectory"
                )
            if key not in self.values:
                self.values[key] = self._empty()
            self.values[key][step] = value.to(self.device)

    def host(self, b: int, k: int) -> dict[str, torch.Tensor]:
        """Every key as [B, K, T] on the CPU (one transfer per key, after the loop)."""
        return {key: v.T.reshape(b, k, self.steps).cpu() for key, v in self.values.items()}


def concat_traces(traces: list[dict[str, torch.Tensor]], batch_sizes: list[int]) -> dict[str, torch.Tensor]:
    """The traces [b_i, K, T] of consecutive sub-batches as one [sum b_i, K, T]; a key some sub-batch
    lacks (a statistic its steps never reported) is nan there. Keys in first-seen order."""
    keys = list(dict.fromkeys(key for trace in traces for key in trace))
    shapes = [next(iter(trace.values())).shape[1:] for trace in traces if trace]
    if not keys or not shapes:
        return {}
    rest = shapes[0]
    return {
        key: torch.cat(
            [trace.get(key, torch.full((b, *rest), float("nan"))) for trace, b in zip(traces, batch_sizes, strict=True)]
        )
        for key in keys
    }

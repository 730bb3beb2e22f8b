"""The guidance contract: turn the dLLM logits at masked positions into guided logits phi.

A guidance method is a :class:`Guidance` subclass and a ``conf/guidance/<name>.yaml`` selecting it by
``_target_``. Each guided denoising step calls ``optimize`` once for all N trajectories; it returns
phi and its per-step statistics, a :data:`GuidanceStats` mapping that the denoiser adds to the trace
under the names it is given (``generations.jsonl`` records, W&B ``denoise/<name>`` curves). The
shipped methods: :class:`~entrgi.engine.guidance.bon.NoGuidance` (Best-of-N) and
:class:`~entrgi.engine.guidance.gradient.GradientGuidance` (Expectation, APS, EntRGi, weight ablations).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from entrgi.engine.guidance.relaxed_reward import RelaxedReward
from entrgi.engine.positions import StepPositions
from entrgi.engine.schedule.sampling import TokenSampler

GuidanceStats = dict[str, torch.Tensor]
"""One guided step's statistics: name -> [N] float tensor, one value per trajectory, on the device.

Any names; the denoiser traces each as ``trace[name]`` [B, K, T] (nan at steps that did not report
it). Names the project reads: ``guided`` (1.0 where the trajectory's phi was updated; the denoiser
writes 1.0 at guided steps and 0.0 at the others unless the method reports it) and ``faults``
(inner steps skipped for a non-finite value, summed into ``metrics.json``'s ``faults``); EntRGi's
``w_mean``, ``w_min``, ``w_max``, ``reward_soft_before``, ``reward_soft_after`` have plots of their
own. A method must not report the denoiser's ``entropy_mean``, ``entropy_min``, ``entropy_max``
or ``committed``.
"""


class Guidance(ABC):
    """A guidance method.

    ``name`` says what ran: the method and its hyper-parameters, e.g. ``entrgi(M=3,eta=0.5)``
    (metrics.json ``guidance``, the log); deterministic, and different when a hyper-parameter that
    changes the generations differs. ``method`` is the short label results are grouped and plotted by
    (records' and metrics.json's ``method``): by default ``name`` up to its first ``(``.
    ``requires_reward``: whether ``optimize`` needs the relaxed reward (the denoiser builds it and
    the vocabulary bridge only then; otherwise ``reward_fn`` is None). ``fp32_logits``: whether the
    logits arrive upcast to fp32 (the default) or in the dLLM's own dtype (bf16 on GPU: half the memory).
    """

    requires_reward: bool = True
    fp32_logits: bool = True  # False: the denoiser hands ``optimize`` the logits in the dLLM's own dtype
    name: str

    @property
    def method(self) -> str:
        return self.name.split("(", 1)[0]

    def guides(self, step: int, steps: int) -> bool:
        """Whether denoising step ``step`` (of ``steps``) is guided at all; host-known, so an unguided
        step costs nothing. The denoiser passes the logits through unchanged when False."""
        return True

    @abstractmethod
    def optimize(
        self,
        logits: torch.Tensor,
        tokens: torch.Tensor,
        reward_fn: RelaxedReward | None,
        sampler: TokenSampler,
        at: StepPositions,
        entropy: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, GuidanceStats]:
        """logits [N, G, V] at ``at.positions``, tokens [N, L] -> (phi [N, G, V], stats).

        Only rows at ``at.active`` (the masked positions) may change. ``entropy`` [N, G] may pass the
        normalized entropy (temperature 1, log V) of the logits. ``logits`` arrive in fp32, or in the
        dLLM's own dtype (``DiffusionLM.logits_dtype``) when ``fp32_logits`` is False. Implementations may reuse the
        ``logits`` tensor's memory for phi. No host reads (``.item()``): the loop stays sync-free.
        """

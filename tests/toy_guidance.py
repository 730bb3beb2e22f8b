"""A toy guidance method, the whole of it: one class here and one yaml (``_target_: toy_guidance.ToyGuidance``).

Nothing in src/ knows it. ``tests/integration/test_toy_guidance.py`` writes its yaml into a config
folder of its own and runs the pipeline and the CLI with ``guidance=toy`` (this folder, tests/, on the
Python path: conftest.py puts it there, the CLI test passes it in PYTHONPATH); the guidance contract
(``tests/contracts/test_guidance_contract.py``) runs it with every method of ``conf/guidance/``.
"""

from __future__ import annotations

from entrgi.engine.guidance import Guidance


class ToyGuidance(Guidance):
    """Adds ``bias`` to the logit of token ``token_id`` at every masked position; reports
    ``bias_applied``, the number of positions it biased per trajectory. Needs no reward."""

    requires_reward = False

    def __init__(self, token_id: int, bias: float = 1.0):
        self.token_id, self.bias = int(token_id), float(bias)

    @property
    def name(self) -> str:
        return f"toy(token={self.token_id},bias={self.bias:g})"

    def optimize(self, logits, tokens, reward_fn, sampler, at, entropy=None):
        active = at.active.to(logits.dtype)  # [N, G]
        logits[..., self.token_id] += self.bias * active  # in place: phi takes the logits' memory
        return logits, {"bias_applied": active.sum(-1)}

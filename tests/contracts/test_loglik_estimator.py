"""The LogLikEstimator contract (entrgi.engine.posttrain.estimators), run by every estimator that names itself
with a ``spec`` (``objective.estimator=<spec>``), on the shipped testbed dLLM.

What every estimator promises:

- ``token_logps`` is [N, L], finite, zero outside the completions' mask, and at most 0 inside it (a
  log-probability or a weighted sum of them);
- a completion's contributions do not depend on the other rows of the batch (randomness is keyed by its
  (seed, sample, trajectory) key) and are the same when computed twice;
- ``sequence_logps`` is the contributions summed over each completion over its length;
- its ``spec`` selects it again (``engine/plugins.resolve``).
"""

import pytest
import torch
from completions import LONG, RESPONSES, SHORT, completions

from entrgi.engine.plugins import implementations, resolve
from entrgi.engine.posttrain import LogLikEstimator


@pytest.fixture(scope="module")
def lm():
    from entrgi.testbed import load_dllm

    return load_dllm(device="cpu")


def contract_violations(est: LogLikEstimator, lm) -> list[str]:
    bad = []
    both = completions(lm, [SHORT, LONG], RESPONSES, k=2)
    with torch.no_grad():
        logps = est.token_logps(lm, both)
        again = est.token_logps(lm, both)
        alone = est.token_logps(lm, completions(lm, [SHORT], RESPONSES[:2], k=2))  # unpadded, same keys
        seq = est.sequence_logps(lm, both)
    if logps.shape != both.mask.shape or not torch.isfinite(logps).all():
        bad.append("shape or non-finite")
    elif bool((logps[~both.mask] != 0).any()):
        bad.append("non-zero outside the mask")
    elif bool((logps[both.mask] > 1e-6).any()):
        bad.append("positive log-likelihood")
    if not torch.equal(logps, again):
        bad.append("not deterministic")
    if not torch.allclose(logps[:2], alone, atol=1e-5, rtol=1e-5):
        bad.append("depends on the other rows of the batch")
    if not torch.allclose(seq, logps.sum(-1) / both.lengths, atol=1e-6):
        bad.append("sequence_logps is not the mean over the completion")
    if type(resolve(LogLikEstimator, est.spec, "objective.estimator")) is not type(est):
        bad.append("its spec does not select it")
    return bad


@pytest.mark.parametrize("cls", implementations(LogLikEstimator), ids=lambda c: c.__name__)
def test_every_estimator_keeps_the_contract(cls, lm):
    assert contract_violations(cls(), lm) == []


def test_a_planted_estimator_that_breaks_the_contract_fails(lm):
    class Leaky(LogLikEstimator):
        spec = name = "leaky_for_the_test"

        def __init__(self):
            super().__init__(p_mask_prompt=0.0, attend_past_stop=False)

        def token_logps(self, lm, c):
            return -torch.ones(c.mask.shape)  # log p = -1 everywhere, the positions past the stop token included

    assert contract_violations(Leaky(), lm) == ["non-zero outside the mask"]

"""The ConfidenceRule contract (``schedule.alg``, entrgi.engine.schedule.confidence), run by every rule that names
itself with a ``spec``, so a new one joins by being defined.

What every rule promises:

- a rule with a score (not ``per_position``) maps a chunk of R rows to [R] finite confidences that depend on
  each row alone (the same scored in any order, any chunking);
- ``uses_pre`` exactly when it ranks by a pre-guidance statistic: then ``pre_guidance`` (and
  ``filtered_pre_guidance``) give [R] finite values, else None;
- a ``per_position`` rule (``origin``) has no score; the schedule never gathers positions for it;
- its ``spec`` selects it again (``schedule.alg=<spec>``).
"""

import pytest
import torch

from entrgi.engine.plugins import implementations
from entrgi.engine.schedule import DenoisingSchedule
from entrgi.engine.schedule.confidence import ConfidenceInputs, ConfidenceRule, check_alg
from entrgi.engine.schedule.sampling import TokenSampler

R, V = 6, 9


def _inputs(perm: torch.Tensor | None = None) -> ConfidenceInputs:
    g = torch.Generator().manual_seed(3)
    phi = torch.randn(R, V, generator=g)
    log_probs = TokenSampler(0.7, top_p=0.9).log_probs(phi)
    tokens = log_probs.argmax(-1)
    pre = torch.randn(R, generator=g)
    x = ConfidenceInputs(tokens, log_probs, phi, pre)
    if perm is None:
        return x
    return ConfidenceInputs(x.tokens[perm], x.log_probs[perm], x.phi[perm], x.pre[perm])


def contract_violations(rule: ConfidenceRule) -> list[str]:
    bad = []
    if type(check_alg(rule.spec)) is not type(rule):
        bad.append("its spec does not select it")
    logits = torch.randn(R, V)
    pre = rule.pre_guidance(logits, 0.7)
    filtered = rule.filtered_pre_guidance(TokenSampler(0.7, top_p=0.9).log_probs(logits))
    if rule.uses_pre != (pre is not None) or (pre is not None and (pre.shape != (R,) or filtered is None)):
        bad.append("uses_pre disagrees with pre_guidance")
    if rule.per_position:
        return bad
    score = rule.score(_inputs())
    perm = torch.randperm(R, generator=torch.Generator().manual_seed(1))
    if score.shape != (R,) or not torch.isfinite(score).all():
        bad.append("score is not [R] finite")
    elif not torch.allclose(rule.score(_inputs(perm)), score[perm]):
        bad.append("a row's score depends on the other rows")
    return bad


@pytest.mark.parametrize("cls", implementations(ConfidenceRule), ids=lambda c: c.spec)
def test_every_rule_keeps_the_contract(cls):
    assert contract_violations(cls()) == []


def test_every_shipped_alg_is_a_rule_and_a_bad_one_names_the_key():
    assert {c.spec for c in implementations(ConfidenceRule)} >= {"origin", "maskgit_plus", "topk_margin", "entropy"}
    assert DenoisingSchedule(steps=4, max_new_tokens=8, alg="topk_margin").rule.spec == "topk_margin"
    with pytest.raises(ValueError, match=r"schedule\.alg='maskgit'"):
        DenoisingSchedule(steps=4, max_new_tokens=8, alg="maskgit")


def test_a_planted_rule_that_breaks_the_contract_fails():
    class BatchMean(ConfidenceRule):
        spec = "batch_mean_for_the_test"

        def score(self, x):
            return x.phi.mean(-1).cumsum(0)  # depends on the rows before it in the chunk

    assert contract_violations(BatchMean()) == ["a row's score depends on the other rows"]

"""The WeightPolicy contract (entrgi.engine.guidance.weights), run by every policy that names itself with a
``spec``: those of entrgi and any other imported (``engine/plugins.implementations``), so a new policy joins by
being defined.

What every policy promises:

- w = policy(h) has h's shape and dtype, is finite and lies in [0, 1] for h in [0, 1];
- ``uses_entropy = False``: w does not depend on h (the guidance then skips computing it);
- ``depends_on_draw = False``: w = 0 everywhere (e_hat is then the soft input alone, whatever the hard draw);
- its ``spec`` selects it again: ``guidance.weight=<spec>`` builds a policy with the same spec (the label
  results are grouped by and runs resume on).
"""

import pytest
import torch

from entrgi.engine.guidance.weights import WeightPolicy, parse_weight
from entrgi.engine.plugins import implementations

H = torch.tensor([[0.0, 0.1, 0.25], [0.5, 0.9, 1.0]])


def build(cls: type[WeightPolicy]) -> WeightPolicy:
    return cls(0.5) if getattr(cls, "takes_value", False) else cls()


def contract_violations(policy: WeightPolicy) -> list[str]:
    bad = []
    w = policy(H)
    if w.shape != H.shape or w.dtype != H.dtype:
        bad.append(f"shape / dtype {tuple(w.shape)} {w.dtype}")
    elif not (torch.isfinite(w).all() and (w >= 0).all() and (w <= 1).all()):
        bad.append("w outside [0, 1]")
    if not policy.uses_entropy and not torch.equal(policy(H), policy(H.flip(-1))):
        bad.append("uses_entropy=False but w depends on h")
    if not policy.depends_on_draw and bool(w.any()):
        bad.append("depends_on_draw=False but w is not 0")
    if parse_weight(policy.spec).spec != policy.spec:
        bad.append(f"spec {policy.spec!r} does not select it again")
    return bad


@pytest.mark.parametrize("cls", implementations(WeightPolicy), ids=lambda c: c.__name__)
def test_every_policy_keeps_the_contract(cls):
    assert contract_violations(build(cls)) == []


def test_the_suite_runs_on_every_shipped_policy():
    shipped = {c.__name__ for c in implementations(WeightPolicy) if c.__module__ == "entrgi.engine.guidance.weights"}
    assert {"ZeroWeight", "OneWeight", "EntropyWeight", "ConstantWeight", "ThresholdWeight", "PowerWeight"} <= shipped


def test_a_planted_policy_that_breaks_the_contract_fails():
    class Doubled(WeightPolicy):
        spec = "doubled_for_the_test"

        def __call__(self, h):
            return 2 * h

    class Lying(WeightPolicy):
        spec = "lying_for_the_test"
        uses_entropy = False

        def __call__(self, h):
            return h

    assert contract_violations(Doubled()) == ["w outside [0, 1]"]
    assert contract_violations(Lying()) == ["uses_entropy=False but w depends on h"]
    assert isinstance(parse_weight("doubled_for_the_test"), Doubled)  # selectable by its spec once defined

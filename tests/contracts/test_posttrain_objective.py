"""The post-training Objective contract (entrgi.engine.posttrain.objectives), run by every option of
``conf/objective/`` (its ``loss`` node, built as Hydra builds it), so a new objective joins by its yaml.

What every objective promises, for rewards [B, K]:

- ``weights`` are [B, K], finite, and each prompt's weights depend on that prompt's rewards alone;
- ``trains_on`` is a [B, K] bool mask that keeps every completion of non-zero weight;
- ``loss`` of M trained completions is a finite scalar: -sum(w * log p) over the prompts (``reduction=mean``)
  or summed (``sum``: the authors' per-device sum), so ``sum`` is ``mean`` times the prompts.
"""

from pathlib import Path

import pytest
import torch
import yaml
from hydra.utils import instantiate

from entrgi.engine.posttrain.objectives import RGRL, Objective

CONF = Path(__file__).resolve().parents[2] / "conf" / "objective"
B, K = 3, 4


def options() -> dict[str, Objective]:
    return {p.stem: instantiate(yaml.safe_load(p.read_text())["loss"]) for p in sorted(CONF.glob("*.yaml"))}


def contract_violations(objective: Objective) -> list[str]:
    bad = []
    rewards = torch.randn(B, K, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    w = objective.weights(rewards)
    if w.shape != (B, K) or not torch.isfinite(w).all():
        return ["weights are not [B, K] finite"]
    alone = objective.weights(rewards[1:2])
    if not torch.allclose(alone, w[1:2]):
        bad.append("a prompt's weights depend on the other prompts")
    mask = objective.trains_on(w)
    if mask.dtype != torch.bool or mask.shape != (B, K) or bool((w[~mask] != 0).any()):
        bad.append("trains_on drops a completion of non-zero weight")
    seq = torch.randn(int(mask.sum()), dtype=torch.float64)
    loss = objective.loss(seq, w[mask], B)
    expected = -(w[mask] * seq).sum() / (B if objective.reduction == "mean" else 1)
    if loss.dim() != 0 or not torch.isfinite(loss) or not torch.allclose(loss, expected):
        bad.append("loss is not -sum(w log p), reduced as its reduction says")
    return bad


@pytest.mark.parametrize("name", list(options()))
def test_every_objective_keeps_the_contract(name):
    assert contract_violations(options()[name]) == []


def test_a_planted_objective_that_breaks_the_contract_fails():
    class Normalized(RGRL):
        def weights(self, rewards):
            return rewards / rewards.abs().sum()  # normalized over the whole batch: prompts depend on each other

    assert contract_violations(Normalized()) == ["a prompt's weights depend on the other prompts"]

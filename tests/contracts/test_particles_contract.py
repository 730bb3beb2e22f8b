"""The Particles contract (entrgi.engine.particles.base): every method the denoiser calls, run by every option
of ``conf/particles/`` (``fk`` also with each potential), so a new particle strategy joins by its yaml.

What every implementation promises, for N = B*K trajectories (sample-major):

- ``start(n, device)`` is a ``ParticleState`` of [N] tensors when ``needs_reward``, else None; ``due`` is a
  host bool (a schedule known in advance);
- ``estimates`` returns [N, L] canvases that keep every committed token and fill only masked positions;
  ``combine_rewards`` turns one [N] reward per estimate into one [N] reward;
- ``update`` returns rows [N] where each slot's ancestor is a row of its own prompt (resampling never crosses
  prompts, so results do not depend on the batch), and statistics that are each [N]; the same inputs give the
  same rows (keyed randomness, no global generator).

Every potential of ``particles.potential`` (``engine/particles/potentials.py``) is a ``Potential`` class
selectable by its ``spec``; a planted implementation that crosses prompts fails the suite.
"""

from pathlib import Path

import pytest
import torch
import yaml
from hydra.utils import instantiate

from entrgi.engine import rng
from entrgi.engine.particles import FKSteering, NoParticles, Particles, ParticleState
from entrgi.engine.particles.potentials import Potential, potentials
from entrgi.engine.plugins import implementations, resolve
from entrgi.engine.positions import StepPositions

CONF = Path(__file__).resolve().parents[2] / "conf" / "particles"
B, K, L, V, MASK = 3, 4, 6, 11, 10


def options() -> dict[str, Particles]:
    out = {p.stem: instantiate(yaml.safe_load(p.read_text())) for p in sorted(CONF.glob("*.yaml"))}
    out |= {f"fk_{name}": FKSteering(potential=name, lam=3.0) for name in potentials()}
    return out


def contract_violations(particles: Particles) -> list[str]:
    n, bad = B * K, []
    state = particles.start(n, "cpu")
    if particles.needs_reward != isinstance(state, ParticleState):
        bad.append("start: a ParticleState exactly when needs_reward")
    if not isinstance(particles.due(5, 6), bool):
        bad.append("due is not a host bool")
    g = torch.Generator().manual_seed(0)
    resp = torch.randint(0, MASK, (n, L), generator=g)
    resp[:, 3:] = MASK  # the last three positions still masked
    keys = rng.trajectory_keys(1, torch.arange(B), K)
    at = StepPositions.masked(4, keys, resp == MASK, n_masked=3, count=1)
    phi = torch.randn(n, 3, V, generator=g)
    est = particles.estimates(resp, phi, at, MASK, 4)
    if not est or any(e.shape != (n, L) or not torch.equal(e[:, :3], resp[:, :3]) for e in est):
        bad.append("estimates change committed tokens or the shape")
    reward = particles.combine_rewards([torch.randn(n, generator=g) for _ in est])
    if reward.shape != (n,):
        bad.append("combine_rewards is not [N]")
    if state is None:
        state = ParticleState.start(n, "cpu")
    twin = ParticleState(*(t.clone() for t in (state.log_weight, state.prev_reward, state.log_potentials)))
    rows, stats = particles.update(state, reward, keys[::K], K, 5, 6)
    again, _ = particles.update(twin, reward, keys[::K], K, 5, 6)
    if rows.shape != (n,) or not torch.equal(rows // K, torch.arange(n) // K):
        bad.append("a slot's ancestor is outside its prompt")
    if not torch.equal(rows, again):
        bad.append("update is not deterministic")
    if any(v.shape != (n,) for v in stats.values()):
        bad.append("statistics are not [N]")
    return bad


@pytest.mark.parametrize("name", list(options()))
def test_every_option_keeps_the_contract(name):
    assert contract_violations(options()[name]) == []


def test_every_potential_is_a_class_selectable_by_its_spec():
    assert set(potentials()) >= {"diff", "max", "add", "current"}
    for cls in implementations(Potential):
        assert type(resolve(Potential, cls.spec, "particles.potential")) is cls
    with pytest.raises(ValueError, match="particles.potential"):
        FKSteering(potential="maximum")


def test_a_planted_implementation_that_crosses_prompts_fails():
    class Crossing(NoParticles):
        name = "crossing_for_the_test"

        def update(self, state, reward, prompt_keys, k, step, steps):
            return torch.zeros(reward.shape[0], dtype=torch.long), {}  # every slot copies row 0

    assert contract_violations(Crossing()) == ["a slot's ancestor is outside its prompt"]

"""The Guidance contract (entrgi.engine.guidance.guidance), run by every guidance method in the project.

Every option of ``conf/guidance/`` joins by itself (composed and instantiated as a run would), plus a
gated EntRGi (``every`` / ``until``: steps it does not guide) and the toy method of ``tests/toy_guidance.py``.
A new method passes these tests; a new hyper-parameter gets an alternative value in ``ALTERNATIVES``
(its name must change with it). The reward is ``fakes.LinearReward`` (exact float64 gradients).

(Named ``test_guidance_contract.py``: ``tests/unit/test_guidance.py`` owns the module name ``test_guidance``.)
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources

import pytest
import torch
from fakes import LinearReward
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

from entrgi.engine import rng
from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import Guidance, RelaxedReward
from entrgi.engine.positions import StepPositions
from entrgi.engine.schedule import DenoisingSchedule, TokenSampler
from entrgi.engine.trace import DENOISER_KEYS
from entrgi.engine.types import PromptItem

OPTIONS = sorted(
    p.name[: -len(".yaml")]
    for p in (resources.files("entrgi.conf") / "guidance").iterdir()
    if p.name.endswith(".yaml") and not p.name.startswith("_")
)
TOY = {"_target_": "toy_guidance.ToyGuidance", "token_id": 4, "bias": 3.0}
# a different valid value per hyper-parameter: the name must differ when it does
ALTERNATIVES = {
    "weight": "constant:0.5",
    "inner_steps": 1,
    "lr": 0.25,
    "normalization": "log_support",
    "fp32": False,
    "every": 3,
    "until": 0.25,
    "min_entropy": 0.2,
    "token_id": 7,
    "bias": -1.0,
}
NOT_IN_NAME = {"_target_", "track_final_reward"}  # track_final_reward adds a trace entry, never changes phi


def option_config(option: str, *overrides: str) -> dict:
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return OmegaConf.to_container(compose("run", [f"guidance={option}", *overrides]).guidance)


def configs() -> dict[str, dict]:
    out = {option: option_config(option) for option in OPTIONS}
    out["entrgi_every2_until60"] = option_config("entrgi", "guidance.every=2", "guidance.until=0.6")
    out["toy"] = dict(TOY)
    return out


CONFIGS = configs()
assert {"bon", "expectation", "aps", "entrgi"} <= set(CONFIGS)


def build(config: dict) -> Guidance:
    return instantiate(config)


def step_inputs(seed: int = 0, n: int = 3, length: int = 6, vocab: int = 11, dim: int = 5):
    """fp32 logits [N, L, V] (what the denoiser passes), tokens, positions (some unmasked) and an reward_fn."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, length, vocab, generator=g)
    tokens = torch.randint(1, vocab, (n, length), generator=g)
    masked = torch.rand(n, length, generator=g) < 0.6
    masked[:, 0], masked[:, -1] = True, False
    at = StepPositions.every(0, rng.trajectory_keys(seed, torch.arange(n), 1), masked)
    reward = LinearReward(dim, seed=1)  # float64: exact comparisons
    bridge = torch.randn(vocab, dim, generator=g, dtype=torch.float64)  # E_R
    reward_fn = RelaxedReward(reward, bridge, None, torch.tensor([0]))
    return logits, tokens, at, reward_fn, reward


def run_step(guidance: Guidance, seed: int = 0):
    logits, tokens, at, reward_fn, reward = step_inputs(seed)
    given = logits.clone()  # optimize may take the logits' memory
    reward_fn = reward_fn if guidance.requires_reward else None
    phi, stats = guidance.optimize(given, tokens, reward_fn, TokenSampler(temperature=0.8, top_p=0.95), at)
    return logits, phi, stats, at, reward


@pytest.fixture(params=sorted(CONFIGS))
def config(request) -> dict:
    return CONFIGS[request.param]


def test_phi_has_the_logits_shape_and_dtype_and_moves_only_masked_rows(config):
    guidance = build(config)
    logits, phi, _, at, _ = run_step(guidance)
    assert phi.shape == logits.shape and phi.dtype == logits.dtype and phi.device == logits.device
    assert torch.equal(phi[~at.active], logits[~at.active])  # unmasked positions: exactly the logits
    if guidance.guides(0, 4) and config["_target_"] != "entrgi.engine.guidance.NoGuidance":
        assert not torch.equal(phi[at.active], logits[at.active])  # a guiding method moves the masked ones


def test_stats_are_a_mapping_of_per_trajectory_float_tensors(config):
    guidance = build(config)
    logits, _, stats, _, _ = run_step(guidance)
    assert isinstance(stats, Mapping)
    for key, value in stats.items():
        assert isinstance(key, str) and key and (key not in DENOISER_KEYS or key == "guided"), key
        assert isinstance(value, torch.Tensor) and value.shape == (logits.shape[0],), key
        assert value.dtype.is_floating_point and value.device == logits.device, key


def test_same_inputs_same_phi_and_stats(config):
    """Determinism: all randomness comes from the step's keys (the seed), none from global state."""
    _, phi, stats, _, _ = run_step(build(config), seed=4)
    torch.manual_seed(123)  # global RNG state must not matter
    _, again, stats_again, _, _ = run_step(build(config), seed=4)
    assert torch.equal(phi, again)
    assert list(stats) == list(stats_again)
    for key in stats:
        assert torch.equal(stats[key].nan_to_num(7.0), stats_again[key].nan_to_num(7.0)), key


def test_requires_reward_is_honoured_on_a_step(config):
    """A method that needs the reward uses it; one that does not gets ``reward_fn=None`` and copes."""
    guidance = build(config)
    assert isinstance(guidance.requires_reward, bool)
    _, _, _, _, reward = run_step(guidance)  # reward_fn=None when not required: must not fail
    if guidance.requires_reward:
        assert reward.calls > 0


def test_name_is_deterministic_and_says_every_hyper_parameter(config):
    guidance = build(config)
    assert isinstance(guidance.name, str) and guidance.name and guidance.name == build(config).name
    assert isinstance(guidance.method, str) and guidance.method and len(guidance.method) <= len(guidance.name)
    for key in sorted(set(config) - NOT_IN_NAME):
        assert key in ALTERNATIVES, f"add a different valid value for {key!r} to ALTERNATIVES"
        assert config[key] != ALTERNATIVES[key], key
        other = build(config | {key: ALTERNATIVES[key]})
        assert other.name != guidance.name, (key, other.name)
    if "track_final_reward" in config:
        assert build(config | {"track_final_reward": not config["track_final_reward"]}).name == guidance.name


PROMPTS = [PromptItem("c1", "the cat"), PromptItem("c2", "a big dog eat food today")]


def generate(lm, reward, guidance, steps=5):
    schedule = DenoisingSchedule(steps=steps, max_new_tokens=6, temperature=0.7, top_p=0.95)
    return GuidedDenoiser(lm, reward, guidance, schedule, samples_per_prompt=2, seed=11).generate(PROMPTS)


def test_in_the_denoiser_unguided_steps_pass_the_logits_through(config, lm, reward):
    """``optimize`` runs at exactly the steps ``guides`` picks (elsewhere the logits are sampled
    unchanged); the trace holds the method's statistics there only; the same seed gives the same run;
    the reward is called for guidance only when ``requires_reward``."""
    guidance, steps = build(config), 5
    called = []
    optimize = guidance.optimize

    def spy(logits, *args, **kwargs):
        called.append(len(called))
        return optimize(logits, *args, **kwargs)

    guidance.optimize = spy
    out = generate(lm, reward, guidance, steps)
    on = [t for t in range(steps) if guidance.guides(t, steps)]
    assert len(called) == len(on) == out.counters["guided_steps"]
    off = [t for t in range(steps) if t not in on]
    assert (out.trace["guided"][..., off] == 0).all()
    for key in set(out.trace) - set(DENOISER_KEYS):
        assert torch.isnan(out.trace[key][..., off]).all(), key
    again = generate(lm, reward, build(config), steps)
    assert torch.equal(out.tokens, again.tokens) and out.responses == again.responses
    assert list(out.trace) == list(again.trace)
    if not guidance.requires_reward or not on:
        assert out.counters["reward_calls"] == 1  # the final text score only
    else:
        assert out.counters["reward_calls"] > 1

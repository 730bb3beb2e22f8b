"""The shipped testbed models: they load through the helpers, pass their quality gates, and guide.

The gates of the testbed issue, checked on small fixed samples (the full measurements, on larger
samples, are in README "The embedded testbed"): unguided samples at the default schedule are
grammatical >= 90% and on topic >= 80% (128 samples: at 32, a few responses cut at
max_new_tokens make the share too noisy for a 90% gate); the reward model ranks >= 85% of held-out
oracle-labelled pairs correctly, both pairs from the training distribution and pairs of two
natural responses. EntRGi raises reward-model Top@1 over BoN by >= MARGIN on 16 prompts (the
quality benchmark measures +0.89 on 64 prompts x 3 seeds; bench/quality/results.md).
"""

from __future__ import annotations

from importlib.resources import files

import pytest
import torch
from omegaconf import OmegaConf
from transformers import Qwen3ForSequenceClassification

from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import GradientGuidance, NoGuidance
from entrgi.engine.schedule import DenoisingSchedule
from entrgi.engine.types import PromptItem
from entrgi.testbed import ASSETS, load_dllm, load_reward
from entrgi.testbed.judge import TestbedJudge
from entrgi.testbed.language import sample_prompts
from entrgi.testbed.oracle import is_on_topic, score
from entrgi.testbed.training.reward import natural_pairs, ordered_pairs, pairwise_accuracy, ranked_groups

# The testbed default schedule, as the default run uses it.
SCHEDULE = OmegaConf.to_container(OmegaConf.load(files("entrgi.conf") / "schedule" / "testbed.yaml"))
SCHEDULE.pop("_target_")
GATE_SEED = 1234  # prompts and sampler keys of the unguided gate; held-out data of the reward gate
GATE_GRAMMATICAL, GATE_ON_TOPIC = 0.90, 0.80
GATE_PAIRS = GATE_NATURAL = 0.85
MARGIN = 0.5  # reward-model units


@pytest.fixture(scope="module")
def lm():
    return load_dllm()


@pytest.fixture(scope="module")
def reward():
    return load_reward()


def items_for(prompts) -> list[PromptItem]:
    return [PromptItem(f"gate-{i}", p.text) for i, p in enumerate(prompts)]


def test_assets_are_small_safetensors_with_tokenizers():
    shipped = [p for p in ASSETS.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in shipped) < 20 * 2**20
    for name in ("dllm", "reward"):
        names = {p.name for p in (ASSETS / name).iterdir()}
        assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert "modeling_tiny_dllm.py" in {p.name for p in (ASSETS / "dllm").iterdir()}  # trust_remote_code path


def test_helpers_load_the_shipped_models(lm, reward):
    assert lm.mask_token_id == lm.tokenizer.mask_token_id
    assert lm.vocab_size == len(lm.tokenizer)
    assert lm.model.config.auto_map["AutoModel"].endswith("TinyDLMForMaskedDiffusion")
    assert isinstance(reward.model, Qwen3ForSequenceClassification)
    assert reward.model.config.num_labels == 1
    assert reward.model.config.pad_token_id == reward.tokenizer.pad_token_id
    assert next(lm.model.parameters()).dtype == next(reward.model.parameters()).dtype == torch.float32


def test_helpers_load_an_explicit_path_and_explain_a_missing_one(tmp_path):
    assert load_reward(ASSETS / "reward").model.config.hidden_size > 0
    with pytest.raises(FileNotFoundError, match="no testbed dllm checkpoint"):
        load_dllm(tmp_path)


@pytest.mark.slow
def test_unguided_samples_pass_the_grammar_and_topic_gates(lm, reward):
    prompts = sample_prompts(32, GATE_SEED)
    out = GuidedDenoiser(
        lm, reward, NoGuidance(), DenoisingSchedule(**SCHEDULE), samples_per_prompt=4, seed=GATE_SEED
    ).generate(items_for(prompts))
    pairs = [(p, r) for p, responses in zip(prompts, out.responses, strict=True) for r in responses]
    assert len(pairs) == 128
    grammatical = sum(score(p, r).grammatical for p, r in pairs) / len(pairs)
    on_topic = sum(is_on_topic(p, r) for p, r in pairs) / len(pairs)
    assert grammatical >= GATE_GRAMMATICAL
    assert on_topic >= GATE_ON_TOPIC


def accuracy(reward, triples) -> float:
    hits = pairwise_accuracy(reward, triples)
    return sum(hits) / len(hits)


def test_reward_ranks_held_out_pairs(reward):
    """Held-out groups of the training distribution (natural, perturbed and off-topic responses)."""
    triples = ordered_pairs(ranked_groups(24, seed=GATE_SEED))  # the reward model trained on seed 0
    assert len(triples) > 500
    assert accuracy(reward, triples) >= GATE_PAIRS


def test_reward_ranks_held_out_natural_pairs(reward):
    """Two unperturbed responses to one prompt: only sentiment, repetition and length tell them apart."""
    assert accuracy(reward, natural_pairs(200, seed=GATE_SEED)) >= GATE_NATURAL


@pytest.mark.slow
def test_entrgi_raises_top1_reward_over_best_of_n(lm, reward):
    items = items_for(sample_prompts(16, 7))
    schedule = DenoisingSchedule(**SCHEDULE)

    def top1(guidance) -> float:
        out = GuidedDenoiser(lm, reward, guidance, schedule, samples_per_prompt=4, seed=7).generate(items)
        return out.rewards.max(dim=1).values.mean().item()

    bon = top1(NoGuidance())
    entrgi = top1(GradientGuidance(weight="entropy", inner_steps=3, lr=0.5))
    assert entrgi - bon >= MARGIN


def test_judge_reports_oracle_fields_and_rejects_unknown_prompts():
    judge = TestbedJudge()
    good = "the delicious bread tastes wonderfully . i love the fresh soup . my tasty cake is very lovely ."
    verdict = judge("tell me about food .", good)
    assert set(verdict) == {"oracle_total", "grammatical", "on_topic", "sentiment", "repetition"}
    assert verdict["grammatical"] is True and verdict["on_topic"] == 1.0 and verdict["sentiment"] == 1.0
    assert judge("tell me about food .", good + " bread")["oracle_total"] == 0.0  # ungrammatical
    with pytest.raises(ValueError, match="not a testbed prompt"):
        judge("tell me about quantum physics .", good)


def test_shipped_modeling_file_is_the_package_one():
    """The copy next to the weights (loaded by trust_remote_code) must not drift from entrgi's module."""
    package = files("entrgi.testbed") / "modeling_tiny_dllm.py"
    assert (ASSETS / "dllm" / "modeling_tiny_dllm.py").read_text() == package.read_text()

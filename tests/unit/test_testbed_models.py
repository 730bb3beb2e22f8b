"""The shipped testbed models: they load through the helpers, pass their quality gates, and guide.

Gates on small samples sit a margin below the full gates measured with the shipped weights
(see bench/quality/README.md): unguided samples grammatical >= 0.85 (full gate 0.90) and on
topic >= 0.75 (full gate 0.80) on 32 samples; reward pairwise accuracy >= 0.80 (full gate 0.85)
on 200 held-out natural pairs.
"""

from __future__ import annotations

import pytest
import torch
from transformers import Qwen3ForSequenceClassification

from entrgi.denoiser import GuidedDenoiser
from entrgi.guidance import GradientGuidance, NoGuidance
from entrgi.schedule import DenoisingSchedule
from entrgi.testbed import ASSETS, load_dllm, load_reward
from entrgi.testbed.judge import TestbedJudge
from entrgi.testbed.language import sample_prompts
from entrgi.testbed.oracle import is_on_topic, score
from entrgi.testbed.train_reward import natural_pairs
from entrgi.types import PromptItem

# The testbed default schedule (conf/schedule/testbed.yaml).
SCHEDULE = dict(steps=24, max_new_tokens=48, temperature=0.7, top_p=0.95, alg="entropy")
GATE_SEED = 1234  # prompts and sampler keys of the unguided gate


@pytest.fixture(scope="module")
def lm():
    return load_dllm()


@pytest.fixture(scope="module")
def reward():
    return load_reward()


def items_for(prompts) -> list[PromptItem]:
    return [PromptItem(f"gate-{i}", p.text) for i, p in enumerate(prompts)]


def test_assets_are_small_safetensors_with_tokenizers():
    files = [p for p in ASSETS.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 20 * 2**20
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


def test_unguided_samples_pass_the_grammar_and_topic_gates(lm, reward):
    prompts = sample_prompts(8, GATE_SEED)
    out = GuidedDenoiser(lm, reward, NoGuidance(), DenoisingSchedule(**SCHEDULE), samples_per_prompt=4,
                         seed=GATE_SEED).generate(items_for(prompts))
    pairs = [(p, r) for p, responses in zip(prompts, out.responses) for r in responses]
    assert len(pairs) == 32
    grammatical = sum(score(p, r).grammatical for p, r in pairs) / len(pairs)
    on_topic = sum(is_on_topic(p, r) for p, r in pairs) / len(pairs)
    assert grammatical >= 0.85
    assert on_topic >= 0.75


def test_reward_ranks_held_out_natural_pairs(reward):
    triples = natural_pairs(200, seed=GATE_SEED)  # the reward model trained on seed 0
    messages = [[{"role": "user", "content": p.text}] for p, _, _ in triples]
    chosen = reward.score_text(messages, [c for _, c, _ in triples])
    rejected = reward.score_text(messages, [r for _, _, r in triples])
    assert (chosen > rejected).float().mean().item() >= 0.80


def test_entrgi_raises_top1_reward_over_best_of_n(lm, reward):
    """Measured with the shipped weights: Top@1 BoN {BON_MEASURED}, EntRGi {ENTRGI_MEASURED}."""
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

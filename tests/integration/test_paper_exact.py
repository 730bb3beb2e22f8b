"""``+experiment=paper_exact``: it only sets the keys that reproduce the authors' numerics, it composes with
every model, reward and method, and runs on the testbed; ``reward.position_ids=authors`` is their layout."""

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

from entrgi.engine.guidance import GradientGuidance, NoGuidance
from entrgi.engine.models import SequenceClassifierReward
from entrgi.pipeline.phases import run

PAPER_EXACT = {
    "model.stop_tokens": [],
    "reward.position_ids": "authors",
    "reward.vocab_fallback": "unk",
    "schedule.filter_order": "top_p_first",
    "schedule.entropy_filter": "authors",
    "guidance.fp32": False,
}


def _compose(overrides):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return compose("run", overrides=overrides + ["paths.output_dir=x"])


def _flat(cfg) -> dict:
    out = {}

    def walk(node, prefix):
        for k, v in node.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                walk(v, f"{key}.")
            else:
                out[key] = v

    walk(OmegaConf.to_container(cfg, resolve=False), "")
    return out


@pytest.mark.parametrize("base", [[], ["+experiment=paper_main"]])
def test_paper_exact_sets_exactly_its_keys(base):
    plain = _flat(_compose(base))
    exact_overrides = ["+experiment=[paper_main,paper_exact]"] if base else ["+experiment=paper_exact"]
    exact = _flat(_compose(exact_overrides))
    changed = {k for k in exact if plain.get(k) != exact[k]} - {"experiment_name"}
    assert changed <= set(PAPER_EXACT)  # nothing else changes
    if base:  # on Dream the defaults differ in every key it sets (the testbed already stops at eos only)
        assert changed == set(PAPER_EXACT)
    assert {k: exact[k] for k in PAPER_EXACT} == PAPER_EXACT


@pytest.mark.parametrize("method", ["bon", "expectation", "aps", "entrgi"])
def test_paper_exact_composes_with_every_method(method):
    cfg = _compose(["+experiment=[paper_main,paper_exact]", f"guidance={method}", "reward=causal_lm_loglik"])
    guidance = instantiate(cfg.guidance)
    assert isinstance(guidance, NoGuidance) or (isinstance(guidance, GradientGuidance) and not guidance.fp32)
    assert cfg.reward.position_ids == "authors" and cfg.model.stop_tokens == []


@pytest.mark.slow
def test_paper_exact_runs_on_the_testbed(tmp_path):
    overrides = ["data.limit=1", "schedule.steps=3", "schedule.max_new_tokens=8", "judge=none"]
    cfg = _compose(["+experiment=[smoke,paper_exact]", "logger=none", *overrides])
    cfg.paths.output_dir = str(tmp_path)
    metrics = run(cfg)
    assert metrics["num_prompts"] == 1 and metrics["guidance"] == "entrgi(M=3,eta=0.5,fp32=false)"
    assert (tmp_path / "generations.jsonl").read_text().count("\n") == 1


def test_authors_layout_equals_their_forward_and_differs_after_an_early_stop(tiny_dir):
    """The classifier's embedding score with ``position_ids=authors`` equals the authors' call,
    ``model(inputs_embeds=[prefix | all L slots | suffix], attention_mask=...)`` with default positions;
    ``contiguous`` agrees on a row with no stop and differs on a row that stops early."""
    scores = {}
    for layout in ("authors", "contiguous"):
        reward = SequenceClassifierReward.from_pretrained(
            str(tiny_dir["reward"]), dtype="float32", device="cpu", position_ids=layout
        )
        ctx = reward.context([[{"role": "user", "content": "the cat eat food"}]]).repeat(2)
        g = torch.Generator().manual_seed(0)
        embeds = torch.randn(2, 6, reward.embedding_matrix.shape[1], generator=g)
        mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]], dtype=torch.bool)
        scores[layout] = reward.score_embeds(ctx, embeds, mask).detach()
    emb = reward.model.get_input_embeddings()
    suffix = ctx.suffix_ids.expand(2, -1)
    full = torch.cat([emb(ctx.prefix_ids), embeds, emb(suffix)], 1)
    att = torch.cat([ctx.prefix_mask, mask, torch.ones_like(suffix, dtype=torch.bool)], 1).long()
    with torch.no_grad():
        theirs = reward.model(inputs_embeds=full, attention_mask=att).logits[:, 0]
    torch.testing.assert_close(scores["authors"], theirs, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(scores["contiguous"][0], theirs[0], atol=1e-5, rtol=1e-5)
    assert (scores["contiguous"][1] - theirs[1]).abs() > 1e-3

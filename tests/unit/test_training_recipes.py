"""The testbed training recipes: pinned data draws, and inputs identical to what inference feeds the models."""

from __future__ import annotations

import hashlib
import json
import random

import pytest
import torch
import torch.nn.functional as F

from entrgi.engine.models.hf import BidirectionalLM
from entrgi.testbed import load_reward
from entrgi.testbed.language import default_grammar, split_sentences
from entrgi.testbed.training import dllm, reward
from entrgi.testbed.training.common import VALIDATION_SEED_OFFSET
from entrgi.testbed.training.perturb import ResponsePerturber


def digest(data) -> str:
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:16]


def test_data_draws_are_pinned():
    """The shipped models were trained on these draws (seed 0); a change here changes what retraining ships.

    Both recipes draw sequentially, so the first examples of the full-size sets are these.
    """
    pairs = dllm.DiffusionPairsData(num_pairs=4, val_pairs=2, seed=0)
    groups = reward.RankedResponsesData(num_groups=2, val_pairs=2, seed=0)
    pairs.setup()
    groups.setup()
    assert digest(pairs.train_set) == "6bd45f099161ede8"
    assert digest(pairs.val_set) == "b39be171722ea3f6"
    assert digest(groups.train_set) == "dcfc794352f15d8e"
    assert digest(groups.val_set) == "6aa946348b22b913"


def test_both_recipes_hold_out_the_same_seed_offset():
    pairs = dllm.DiffusionPairsData(num_pairs=2, val_pairs=3, seed=5)
    pairs.setup()
    assert pairs.val_set == pairs._encode(3, 5 + VALIDATION_SEED_OFFSET)
    groups = reward.RankedResponsesData(num_groups=1, val_pairs=2, seed=5)
    groups.setup()
    held_out = reward.natural_pairs(2, 5 + VALIDATION_SEED_OFFSET)
    assert groups.val_set[0][0] == reward.encode_chats(groups.tokenizer, held_out[0][0].text, list(held_out[0][1:]))


def test_dllm_training_loss_reads_the_logits_inference_computes():
    """The diffusion loss equals cross-entropy over ``BidirectionalLM.response_logits`` on the same noisy batch
    (same 4D mask and positions), with left-padded prompts of different lengths."""
    torch.manual_seed(0)
    trainer = dllm.MaskedDiffusionTrainer(hidden_size=32, num_hidden_layers=1, intermediate_size=64)
    data = dllm.DiffusionPairsData(num_pairs=8, val_pairs=2, seed=0)
    data.setup()
    batch = dllm.collate(data.train_set, data.tokenizer.pad_token_id)
    assert not batch["attention_mask"].all()  # some prompt is padded
    loss = trainer.diffusion_loss(batch, torch.Generator().manual_seed(3))

    tokens, attention, response = batch["tokens"], batch["attention_mask"], batch["response"]
    generator = torch.Generator().manual_seed(3)  # the same draws, in the same order
    eps = trainer.hparams.eps
    t = eps + (1 - eps) * torch.rand(tokens.shape[0], 1, generator=generator)
    masked = response & (torch.rand(tokens.shape, generator=generator) < t)
    noisy = tokens.masked_fill(masked, trainer.tokenizer.mask_token_id)
    prompt_len = int((~response[0]).sum())
    lm = BidirectionalLM(trainer.model, trainer.tokenizer)
    logits = lm.response_logits(noisy, attention, prompt_len)  # [B, L, V]
    expected = F.cross_entropy(logits[masked[:, prompt_len:]], tokens[masked])
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-6)
    prompt = "tell me about food ."
    assert lm.prompt_ids([[{"role": "user", "content": prompt}]])[0] == dllm.encode_prompt(trainer.tokenizer, prompt)


def test_reward_training_ids_score_as_inference_scores_text():
    """Right-padded training ids through the classifier give the scores ``score_text`` gives the same texts."""
    rm = load_reward(device="cpu")
    group = reward.ranked_groups(1, seed=11)[0]
    ids = reward.encode_chats(rm.tokenizer, group.prompt.text, list(group.responses))
    assert all(x[-1] == rm.tokenizer.convert_tokens_to_ids("<|im_end|>") for x in ids)  # the pooled token
    batch = reward.collate([(ids, list(group.totals))], rm.tokenizer.pad_token_id)
    with torch.no_grad():
        trained = rm.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, 0]
    messages = [[{"role": "user", "content": group.prompt.text}]] * len(group.responses)
    inferred = rm.score_text(messages, list(group.responses))
    torch.testing.assert_close(trained.float(), inferred, rtol=1e-5, atol=1e-5)


def test_split_sentences_keeps_a_trailing_unfinished_sentence():
    words = "the sun shines . i love rain . the cold".split()
    assert split_sentences(words) == [["the", "sun", "shines", "."], ["i", "love", "rain", "."], ["the", "cold"]]
    assert split_sentences([]) == []


def test_perturbations_are_seeded_and_do_what_they_say():
    grammar, perturb = default_grammar(), ResponsePerturber()
    prompt = grammar.sample_prompt(random.Random(0))
    response = grammar.sample_response(prompt, random.Random(1))
    for kind in ResponsePerturber.KINDS:
        assert perturb.corrupt(kind, prompt, response, random.Random(2)) == perturb.corrupt(
            kind, prompt, response, random.Random(2)
        )
    assert len(perturb.corrupt("drop_word", prompt, response, random.Random(2)).split()) == len(response.split()) - 1
    kept = perturb.corrupt("keep_first_sentences", prompt, response, random.Random(2))
    assert response.startswith(kept) and kept.endswith(".") and len(kept) < len(response)
    with pytest.raises(ValueError, match="unknown corruption kind 'x'; one of swap_sentences_topic"):
        perturb.corrupt("x", prompt, response, random.Random(2))

"""Training recipe for the testbed reward model: Bradley–Terry on oracle-ranked responses.

Each training example is one prompt with a group of candidate responses: natural ones,
corruptions of them of the kinds guided sampling produces (``training.perturb``), and natural
responses about another topic (which only the prompt tells apart). Every candidate is labelled
by the oracle's total; the loss is ``-logsigmoid(r_i - r_j)`` averaged over all ordered pairs of
the group with ``total_i > total_j`` (ties skipped). The model is a tiny
``Qwen3ForSequenceClassification`` reading the reward tokenizer's chat template over [user prompt,
assistant response], encoded by the functions ``SequenceClassifierReward`` scores text with
(``entrgi.engine.models.chat_template``) and right-padded, so HF pools the last non-pad token
(``<|im_end|>``) exactly as at inference.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from functools import partial

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from transformers import Qwen3Config, Qwen3ForSequenceClassification

from entrgi.engine.models.chat_template import encode_with_bos, split_chat_template
from entrgi.engine.models.padding import pad_rows
from entrgi.testbed import oracle
from entrgi.testbed.language import TestbedPrompt, default_grammar, sample_prompts
from entrgi.testbed.tokenizers import build_reward_tokenizer
from entrgi.testbed.training.common import VALIDATION_SEED_OFFSET, PretrainedRecipe, seeded_loader
from entrgi.testbed.training.perturb import ResponsePerturber

TIE = 1e-6  # oracle totals closer than this are a tie (no preference)


@dataclass(frozen=True)
class RankedGroup:
    """One prompt's candidate responses and their oracle totals."""

    prompt: TestbedPrompt
    responses: tuple[str, ...]
    totals: tuple[float, ...]


def ranked_groups(n: int, seed: int, natural: int = 6, perturbed: int = 4, off_topic: int = 2) -> list[RankedGroup]:
    """``n`` prompts, each with candidate responses labelled by the oracle's total.

    Per prompt: ``natural`` natural responses, ``perturbed`` corruptions of them, and ``off_topic``
    natural responses to the same request about another topic (only the prompt tells those apart).
    """
    grammar, rng = default_grammar(), random.Random(seed)
    perturb = ResponsePerturber(grammar)
    groups = []
    for _ in range(n):
        prompt = grammar.sample_prompt(rng)
        responses = [grammar.sample_response(prompt, rng) for _ in range(natural)]
        responses += [perturb(prompt, rng.choice(responses[:natural]), rng) for _ in range(perturbed)]
        for _ in range(off_topic):
            other = rng.choice([t for t in grammar.topics if t != prompt.topic])
            responses.append(grammar.sample_response(TestbedPrompt(prompt.text, other, prompt.sentiment), rng))
        totals = tuple(oracle.score(prompt, r).total for r in responses)
        groups.append(RankedGroup(prompt, tuple(responses), totals))
    return groups


def natural_pairs(n: int, seed: int) -> list[tuple[TestbedPrompt, str, str]]:
    """``n`` held-out (prompt, chosen, rejected) triples of two natural responses; ties are redrawn."""
    grammar, rng = default_grammar(), random.Random(seed)
    pairs = []
    for prompt in sample_prompts(n, seed):
        while True:
            a, b = grammar.sample_response(prompt, rng), grammar.sample_response(prompt, rng)
            ta, tb = oracle.score(prompt, a).total, oracle.score(prompt, b).total
            if abs(ta - tb) > TIE:
                pairs.append((prompt, a, b) if ta > tb else (prompt, b, a))
                break
    return pairs


def ordered_pairs(groups: list[RankedGroup]) -> list[tuple[TestbedPrompt, str, str]]:
    """Every (prompt, better, worse) pair within each group whose oracle totals differ by more than ``TIE``."""
    pairs = []
    for g in groups:
        for i, j in itertools.combinations(range(len(g.responses)), 2):
            if abs(g.totals[i] - g.totals[j]) > TIE:
                better, worse = (i, j) if g.totals[i] > g.totals[j] else (j, i)
                pairs.append((g.prompt, g.responses[better], g.responses[worse]))
    return pairs


def pairwise_accuracy(reward, triples: list[tuple[TestbedPrompt, str, str]]) -> list[bool]:
    """Per (prompt, chosen, rejected) triple: whether ``reward`` scores chosen higher."""
    messages = [[{"role": "user", "content": p.text}] for p, _, _ in triples]
    chosen = reward.score_text(messages, [c for _, c, _ in triples])
    rejected = reward.score_text(messages, [r for _, _, r in triples])
    return (chosen > rejected).tolist()


def encode_chats(tokenizer, prompt: str, responses: list[str]) -> list[list[int]]:
    """Reward input ids of each response: the chat template over [user prompt, assistant response].

    The template is split around the response and each text encoded exactly as
    ``SequenceClassifierReward.score_text`` does at inference (``entrgi.engine.models.chat_template``).
    """
    prefix, suffix = split_chat_template(tokenizer, [{"role": "user", "content": prompt}])
    return [encode_with_bos(tokenizer, prefix + r + suffix) for r in responses]


def collate(groups: list[tuple[list[list[int]], list[float]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad every response of every group. -> ``input_ids`` / ``attention_mask`` [B*G, S], ``totals`` [B, G]."""
    input_ids, attention = pad_rows([ids for sequences, _ in groups for ids in sequences], pad_id)
    totals = torch.tensor([t for _, t in groups], dtype=torch.float32)
    return {"input_ids": input_ids, "attention_mask": attention.long(), "totals": totals}


class RankedResponsesData(L.LightningDataModule):
    """Training groups (natural, perturbed, off-topic) and held-out natural pairs, tokenized once."""

    def __init__(
        self,
        num_groups: int = 20_000,
        val_pairs: int = 512,
        batch_size: int = 16,
        seed: int = 0,
        natural: int = 6,
        perturbed: int = 4,
        off_topic: int = 2,
    ):
        super().__init__()
        self.num_groups, self.val_pairs, self.batch_size, self.seed = num_groups, val_pairs, batch_size, seed
        self.natural, self.perturbed, self.off_topic = natural, perturbed, off_topic
        self.tokenizer = build_reward_tokenizer()
        self._collate = partial(collate, pad_id=self.tokenizer.pad_token_id)
        self.train_set: list[tuple[list[list[int]], list[float]]] = []
        self.val_set: list[tuple[list[list[int]], list[float]]] = []

    def setup(self, stage: str | None = None) -> None:
        if self.train_set:
            return
        for g in ranked_groups(self.num_groups, self.seed, self.natural, self.perturbed, self.off_topic):
            self.train_set.append((encode_chats(self.tokenizer, g.prompt.text, list(g.responses)), list(g.totals)))
        for prompt, chosen, rejected in natural_pairs(self.val_pairs, self.seed + VALIDATION_SEED_OFFSET):
            # totals [1, 0]: only the order matters
            self.val_set.append((encode_chats(self.tokenizer, prompt.text, [chosen, rejected]), [1.0, 0.0]))

    def train_dataloader(self) -> DataLoader:
        return seeded_loader(self.train_set, self.batch_size, True, self.seed, self._collate)

    def val_dataloader(self) -> DataLoader:
        return seeded_loader(self.val_set, 64, False, self.seed, self._collate)


def bradley_terry(rewards: torch.Tensor, totals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``-logsigmoid(r_i - r_j)`` and accuracy over ordered pairs with ``total_i > total_j``.

    rewards, totals [B, G] -> (loss, accuracy) scalars.
    """
    better = totals[:, :, None] > totals[:, None, :] + TIE  # [B, G, G]
    margin = (rewards[:, :, None] - rewards[:, None, :])[better]
    return -F.logsigmoid(margin).mean(), (margin > 0).float().mean()


class BradleyTerryTrainer(PretrainedRecipe):
    """Trains a ``Qwen3ForSequenceClassification`` (one label) as the testbed reward model."""

    def __init__(
        self,
        hidden_size: int = 128,
        num_hidden_layers: int = 3,
        num_attention_heads: int = 4,
        num_key_value_heads: int = 2,
        head_dim: int = 32,
        intermediate_size: int = 256,
        max_position_embeddings: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        warmup_fraction: float = 0.05,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.tokenizer = build_reward_tokenizer()
        config = Qwen3Config(
            vocab_size=len(self.tokenizer),
            hidden_size=hidden_size,
            intermediate_size=intermediate_size,
            num_hidden_layers=num_hidden_layers,
            num_attention_heads=num_attention_heads,
            num_key_value_heads=num_key_value_heads,
            head_dim=head_dim,
            max_position_embeddings=max_position_embeddings,
            num_labels=1,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
            bos_token_id=None,
            tie_word_embeddings=False,
        )
        self.model = Qwen3ForSequenceClassification(config)

    def rewards(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Scores of every response, [B, G]."""
        logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits  # [B*G, 1]
        return logits[:, 0].view(batch["totals"].shape)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, accuracy = bradley_terry(self.rewards(batch), batch["totals"])
        self.log_dict({"train/loss": loss, "train/accuracy": accuracy}, prog_bar=True, batch_size=len(batch["totals"]))
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, accuracy = bradley_terry(self.rewards(batch), batch["totals"])
        self.log_dict({"val/loss": loss, "val/accuracy": accuracy}, prog_bar=True, batch_size=len(batch["totals"]))

"""What the reward kinds built on a transformers checkpoint share: loading, the constructor's checks,
the chat template around the response with its prompt-prefix cache, and the backbone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

import torch
from transformers import AutoTokenizer

from entrgi.engine.checks import require_bool, require_choice, require_positive, require_range
from entrgi.engine.models.dtypes import dtype_kwarg, resolve_device, resolve_dtype
from entrgi.engine.models.reward_base import RewardContext, RewardModel
from entrgi.engine.models.reward_layout import check_layout
from entrgi.engine.models.reward_prefix import prefix_kv, template_ids
from entrgi.engine.models.usage import ModelUsage
from entrgi.engine.models.vocab import FALLBACKS as VOCAB_FALLBACKS

_R = TypeVar("_R", bound="HFRewardModel")


def check_options(
    score_batch_size: Any,
    min_vocab_coverage: Any,
    cache_prefix: Any,
    position_ids: Any = "contiguous",
    vocab_fallback: Any = "encode",
) -> None:
    """The user values every transformers-backed reward takes, checked before anything loads."""
    require_positive(score_batch_size, "reward.score_batch_size")
    require_range(min_vocab_coverage, "reward.min_vocab_coverage", 0.0, 1.0)
    require_bool(cache_prefix, "reward.cache_prefix")
    check_layout(position_ids)
    require_choice(vocab_fallback, "reward.vocab_fallback", VOCAB_FALLBACKS)


class HFRewardModel(RewardModel):
    """A frozen transformers model whose tokenizer has a chat template, read as a reward.

    A subclass says how a score is read off the model (``score_embeds``, ``score_text``) and sets:

    - ``auto_class``: the transformers auto class ``from_pretrained`` loads the model with, and
      ``load_kwargs``: what that load takes besides the shared keys (``num_labels=1``, say).
    - ``uncached_prefix_columns``: the prefix's last columns ``context`` leaves out of the key/value
      cache, because they run with the response (a causal LM's last prefix column predicts the first
      response token).
    - ``needs_suffix``: the score is read at a token the template writes after the response.
    """

    auto_class: ClassVar[type]
    load_kwargs: ClassVar[dict[str, Any]] = {}
    uncached_prefix_columns: ClassVar[int] = 0
    needs_suffix: ClassVar[bool] = False

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        *,
        score_batch_size: int = 32,
        min_vocab_coverage: float = 0.5,
        cache_prefix: bool = True,
        position_ids: str = "contiguous",
        vocab_fallback: str = "encode",
    ):
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError(
                "the reward tokenizer has no chat_template; reward.path must be a chat model (rewards are "
                "scored on chat-formatted text)"
            )
        check_options(score_batch_size, min_vocab_coverage, cache_prefix, position_ids, vocab_fallback)
        self.position_ids = position_ids  # reward input layout (entrgi.engine.models.reward_layout)
        self.vocab_fallback = vocab_fallback  # dLLM tokens with no exact match (entrgi.engine.models.vocab)
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.score_batch_size = score_batch_size  # responses per forward when scoring decoded text
        self.min_vocab_coverage = min_vocab_coverage  # demanded of the vocabulary bridge to a dLLM
        self.cache_prefix = cache_prefix  # prompt prefix keys/values computed once per batch, reused every call
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_token_id = 0 if pad is None else pad  # fills padding columns only
        self.calls = 0
        self.usage = ModelUsage()  # passes and token positions, for compute accounting

    @classmethod
    def from_pretrained(
        cls: type[_R],
        path: str,
        *,
        dtype: str | torch.dtype = "bfloat16",
        device: str | None = None,
        trust_remote_code: bool = False,
        score_batch_size: int = 32,
        min_vocab_coverage: float = 0.5,
        cache_prefix: bool = True,
        attn_implementation: str | None = None,
        position_ids: str = "contiguous",
        vocab_fallback: str = "encode",
    ) -> _R:
        """Load tokenizer and model (hub id or folder) onto ``device``; every value is checked before
        anything is read (see ``resolve_device`` and ``HFDiffusionLM.from_pretrained`` for how weights
        reach the device)."""
        device = resolve_device(device, "reward.device")
        kwargs = dtype_kwarg(resolve_dtype(dtype, "reward.dtype"))
        check_options(score_batch_size, min_vocab_coverage, cache_prefix, position_ids, vocab_fallback)
        require_bool(trust_remote_code, "reward.trust_remote_code")
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = cls.auto_class.from_pretrained(path, trust_remote_code=trust_remote_code, **cls.load_kwargs, **kwargs)
        model.to(device)
        return cls(
            model,
            tokenizer,
            score_batch_size=score_batch_size,
            min_vocab_coverage=min_vocab_coverage,
            cache_prefix=cache_prefix,
            position_ids=position_ids,
            vocab_fallback=vocab_fallback,
        )

    @property
    def embedding_matrix(self) -> torch.Tensor:
        """E_R: the input-embedding matrix [V_R, D]."""
        return self.model.get_input_embeddings().weight

    @property
    def _backbone(self) -> torch.nn.Module:
        """The model without its head (transformers' ``base_model``): returns hidden states and caches."""
        return self.model.base_model

    def _template(self, messages: Sequence[list[dict[str, str]]]) -> RewardContext:
        """Prefix / suffix token ids for each prompt, on ``device``, with no cache."""
        ids, mask, suffix = template_ids(self.tokenizer, messages, self.pad_token_id)
        if self.needs_suffix and not suffix:
            raise ValueError(
                "the reward chat template writes nothing after the response; the score position "
                "would be a response token"
            )
        dev = self.device
        return RewardContext(ids.to(dev), mask.to(dev), torch.tensor(suffix, dtype=torch.long, device=dev))

    def context(self, messages: Sequence[list[dict[str, str]]]) -> RewardContext:
        """Prefix / suffix token ids for each prompt (one row per prompt); with ``cache_prefix`` the
        keys/values of the prefix's columns but the last ``uncached_prefix_columns``."""
        ctx = self._template(messages)
        cached = ctx.prefix_ids.shape[1] - self.uncached_prefix_columns
        if self.cache_prefix and cached > 0:
            ids, mask = ctx.prefix_ids[:, :cached], ctx.prefix_mask[:, :cached]
            ctx.prefix_kv = prefix_kv(self._backbone, self.model.get_input_embeddings(), ids, mask)
            self.calls += 1
            self.usage.forward(ids.numel())
        return ctx

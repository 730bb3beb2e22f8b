"""LMUnit: a causal LM answers natural-language unit tests about a response with a 1-5 score.

The paper's held-out check (ContextualAI/LMUnit-qwen2.5-72b, five unit tests, Top@1 response).
For each (prompt, response, unit test) the judge model reads one input (``template`` filled with
the query, the response and the test, inside the tokenizer's chat template when it has one) and
the next-token distribution restricted to the tokens "1".."5" gives the expected score::

    test_i = sum_s s * p(s) / sum_s p(s),   s in 1..5       (in [1, 5])
    score  = mean_i test_i

Backends: ``transformers`` (one batched forward per chunk, left padding; what the tests check)
and ``vllm`` (one generated token with its top-20 log-probabilities; a score token outside the
top 20 counts as probability 0; not run in the test suite, as vLLM is not installed there).
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from entrgi.checks import require_choice, require_positive
from entrgi.judges.base import Judge, check_batch, json_number, last_user_turn
from entrgi.models.dtypes import dtype_kwarg, resolve_device, resolve_dtype
from entrgi.models.padding import pad_rows

SCORE_TOKENS = ("1", "2", "3", "4", "5")
# LMUnit's input layout (its model card); the model answers with the score right after it.
LMUNIT_TEMPLATE = "Query: {query}\n\nResponse: {response}\n\nUnit Test: {unit_test}"
# Five checks in the spirit of the paper's (see conf/judge/lmunit.yaml; set judge.unit_tests for others).
DEFAULT_UNIT_TESTS = (
    "Does the response do what the user asked, engaging directly with the request?",
    "Are the facts and claims in the response accurate and trustworthy?",
    "Is the response clearly organized and easy to read, in fluent language?",
    "Does the response cover every part of the question, leaving nothing important out?",
    "Does the response stay free of harmful, offensive or biased content?",
)
BACKENDS = ("auto", "transformers", "vllm")
VLLM_TOP_LOGPROBS = 20


def score_token_ids(tokenizer) -> list[int]:
    """The ids of the single tokens "1".."5" (``ValueError`` naming the digit if one is missing)."""
    ids = []
    for s in SCORE_TOKENS:
        enc = tokenizer.encode(s, add_special_tokens=False)
        unk = getattr(tokenizer, "unk_token_id", None)
        if len(enc) != 1 or enc[0] == unk or tokenizer.decode(enc).strip() != s:
            raise ValueError(
                f"the judge tokenizer has no single token for the score {s!r} (it encodes as {enc}); "
                "LMUnitJudge reads the next-token probabilities of '1'..'5', so judge.path must be a "
                "model whose tokenizer has one token per digit (LMUnit / Qwen2.5 / Llama-3 do)"
            )
        ids.append(enc[0])
    return ids


def expected_score(score_logits: torch.Tensor) -> torch.Tensor:
    """[N, 5] logits (or log-probs; -inf = absent) of the tokens "1".."5" -> [N] expected score in [1, 5]
    (NaN where all five are -inf)."""
    probs = torch.softmax(score_logits.double(), dim=-1)  # = p(s) / sum_s p(s)
    values = torch.arange(1, len(SCORE_TOKENS) + 1, dtype=probs.dtype, device=probs.device)
    return (probs * values).sum(-1)


class TransformersScorer:
    """Expected scores with a transformers causal LM: left-padded chunks, positions contiguous over
    attended tokens (so a prompt scores the same alone or in a batch), logits of the last position only."""

    def __init__(self, model: torch.nn.Module, pad_token_id: int, batch_size: int = 8):
        self.model = model.eval().requires_grad_(False)
        self.pad_token_id, self.batch_size = pad_token_id, batch_size

    @torch.no_grad()
    def __call__(self, ids: Sequence[list[int]], score_ids: list[int]) -> list[float]:
        device = next(self.model.parameters()).device
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # similar lengths share a chunk
        out = [math.nan] * len(ids)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            tok, att = pad_rows([ids[i] for i in chunk], self.pad_token_id, left=True)
            att = att.long()
            pos = (att.cumsum(-1) - 1).clamp_min(0)
            logits = self.model(
                input_ids=tok.to(device), attention_mask=att.to(device), position_ids=pos.to(device), logits_to_keep=1
            ).logits[:, -1]  # [n, V]
            for i, s in zip(chunk, expected_score(logits[:, score_ids]).tolist(), strict=True):
                out[i] = s
        return out


class VLLMScorer:
    """Expected scores with vLLM: one greedy token with its top-20 log-probabilities per input.
    Not run in the test suite (vLLM is not installed there); the transformers path is the tested one."""

    def __init__(self, path: str, dtype: torch.dtype, trust_remote_code: bool = False, tensor_parallel_size: int = 1):
        from vllm import LLM, SamplingParams

        self.llm = LLM(
            model=path,
            dtype=str(dtype).removeprefix("torch."),
            trust_remote_code=trust_remote_code,
            tensor_parallel_size=tensor_parallel_size,
        )
        self.params = SamplingParams(max_tokens=1, temperature=0.0, logprobs=VLLM_TOP_LOGPROBS)

    def __call__(self, ids: Sequence[list[int]], score_ids: list[int]) -> list[float]:
        outputs = self.llm.generate([{"prompt_token_ids": list(x)} for x in ids], self.params, use_tqdm=False)
        top = [o.outputs[0].logprobs[0] for o in outputs]  # per input: {token_id: Logprob}
        logprobs = torch.tensor([[t[i].logprob if i in t else -math.inf for i in score_ids] for t in top])
        return expected_score(logprobs).tolist()


class LMUnitJudge(Judge):
    """Fields ``score`` (mean over the unit tests, in [1, 5]) and ``test_1`` .. ``test_<n>``
    (one per configured unit test, in order; null where vLLM saw none of the five score tokens)."""

    name = "lmunit"

    def __init__(
        self, tokenizer, scorer, unit_tests: Sequence[str] = DEFAULT_UNIT_TESTS, template: str = LMUNIT_TEMPLATE
    ):
        """``scorer(token_ids_list, score_ids) -> expected scores``: a :class:`TransformersScorer` or
        :class:`VLLMScorer`."""
        unit_tests = list(unit_tests) if unit_tests is not None else []
        if not unit_tests or not all(isinstance(t, str) and t.strip() for t in unit_tests):
            raise ValueError(f"judge.unit_tests={unit_tests!r} must be a non-empty list of questions about a response")
        for field in ("{query}", "{response}", "{unit_test}"):
            if field not in template:
                raise ValueError(f"judge.template must contain {field} (it has: {template!r})")
        self.tokenizer, self.scorer = tokenizer, scorer
        self.unit_tests, self.template = unit_tests, template
        self.score_ids = score_token_ids(tokenizer)

    @classmethod
    def from_pretrained(
        cls,
        path: str,
        dtype: str | torch.dtype = "bfloat16",
        device: str | torch.device | None = None,
        trust_remote_code: bool = False,
        batch_size: int = 8,
        backend: str = "auto",
        unit_tests: Sequence[str] = DEFAULT_UNIT_TESTS,
        template: str = LMUNIT_TEMPLATE,
        tensor_parallel_size: int = 1,
        attn_implementation: str | None = None,
    ) -> LMUnitJudge:
        """Load the judge model (hub id or folder). ``backend=auto``: vLLM when it is installed and
        ``device`` is CUDA, else transformers. Tokens "1".."5" are checked before weights load."""
        require_choice(backend, "judge.backend", BACKENDS)
        require_positive(batch_size, "judge.batch_size", hint="judge inputs per forward")
        device, dtype = resolve_device(device, "judge.device"), resolve_dtype(dtype, "judge.dtype")
        has_vllm = importlib.util.find_spec("vllm") is not None
        if backend == "vllm" and not has_vllm:
            raise ValueError(
                "judge.backend=vllm but vllm is not installed; `pip install vllm`, or use judge.backend=transformers"
            )
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        score_token_ids(tokenizer)  # fail before loading tens of GB of weights
        if backend == "vllm" or (backend == "auto" and has_vllm and device.type == "cuda"):
            scorer = VLLMScorer(path, dtype, trust_remote_code, tensor_parallel_size)  # GPUs: CUDA_VISIBLE_DEVICES
        else:
            kwargs = dtype_kwarg(dtype) | ({"attn_implementation": attn_implementation} if attn_implementation else {})
            model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=trust_remote_code, **kwargs).to(device)
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            scorer = TransformersScorer(model, pad if pad is not None else 0, batch_size)
        return cls(tokenizer, scorer, unit_tests, template)

    def judge_input(self, query: str, response: str, unit_test: str) -> list[int]:
        """Token ids of one judge input (chat-formatted with a generation prompt when the tokenizer has a template)."""
        content = self.template.format(query=query, response=response, unit_test=unit_test)
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
            )
            return self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self.tokenizer(content, add_special_tokens=True)["input_ids"]

    def score(self, messages: list[list[dict[str, str]]], responses: list[list[str]]) -> list[list[dict]]:
        check_batch(messages, responses)
        ids = [
            self.judge_input(last_user_turn(chat), r, t)
            for chat, rs in zip(messages, responses, strict=True)
            for r in rs
            for t in self.unit_tests
        ]
        flat = self.scorer(ids, self.score_ids) if ids else []
        n, out, start = len(self.unit_tests), [], 0
        for rs in responses:
            per_prompt = []
            for _ in rs:
                tests = flat[start : start + n]
                start += n
                finite = [s for s in tests if math.isfinite(s)]
                fields = {"score": json_number(sum(finite) / len(finite)) if finite else None}
                fields |= {f"test_{i + 1}": json_number(s) for i, s in enumerate(tests)}
                per_prompt.append(fields)
            out.append(per_prompt)
        return out

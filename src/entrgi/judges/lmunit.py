"""LMUnit: a causal LM answers natural-language unit tests about a response with a score.

The paper's held-out check (ContextualAI/LMUnit-qwen2.5-72b, its authors' five unit tests, Top@1
response), scored as ContextualAI's ``lmunit`` library scores it. For each (prompt, response, unit
test) the judge model reads ``template`` filled with the query, the response and the test (inside the
tokenizer's chat template with a generation prompt, when it has one), writes at most 10 tokens
greedily (it answers ``{"score": 4}``) and keeps the top-20 log-probabilities of each written token;
:func:`entrgi.judges.lmunit_parse.parse_score` reads the score from them::

    test_i = sum_d d * p(d) / sum_d p(d),  d in "0".."6" among the top-20 at the score token  (in [0, 6])
    score  = mean of the tests that have a score

The scale is the library's digits 0..6; the LMUnit models answer 1..5 in practice. Where an answer
has no score (no score token, not a digit, no digit in the top-20) the library returns 0; here the
test is null and counted in the response's ``failures`` (``judge_failures`` in metrics.json).

Backends: ``transformers`` (batched greedy decoding with a KV cache, left padding; what the tests
check) and ``vllm`` (``SamplingParams(temperature=0, max_tokens=10, logprobs=20)``, as the authors
ran it; not run in the test suite, as vLLM is not installed there).
"""

from __future__ import annotations

import importlib.util
import logging
from collections import Counter
from collections.abc import Sequence

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

from entrgi.engine.checks import require_choice, require_positive
from entrgi.engine.models.dtypes import dtype_kwarg, resolve_device, resolve_dtype
from entrgi.engine.models.padding import pad_rows
from entrgi.judges.base import Judge, check_batch, json_number, last_user_turn
from entrgi.judges.lmunit_parse import DIGITS, Generation, parse_generation

log = logging.getLogger(__name__)

# LMUnit's input layout (its model card); the model answers it with {"score": d}.
LMUNIT_TEMPLATE = "Query: {query}\n\nResponse: {response}\n\nUnit Test: {unit_test}"
# The EntRGi authors' five unit tests (main_expts/lmunit_eval.py), word for word: protocol data.
DEFAULT_UNIT_TESTS = (
    "Does the response directly and effectively address the user's request?",
    "Is the information in the response correct and reliable?",
    "Is the response well-structured, clear, and fluent?",
    "Does the response appropriately address the full scope of the question?",
    "Is the response free from harmful, biased, or inappropriate content?",
)
BACKENDS = ("auto", "transformers", "vllm")
MAX_NEW_TOKENS = 10  # the authors' SamplingParams(max_tokens=10)
TOP_LOGPROBS = 20  # ... and logprobs=20


def digit_token_ids(tokenizer, path: str | None = None) -> list[int]:
    """The ids of the single tokens "0".."6" (``ValueError`` naming the digit and judge.path if one is missing)."""
    ids = []
    for s in DIGITS:
        enc = tokenizer.encode(s, add_special_tokens=False)
        unk = getattr(tokenizer, "unk_token_id", None)
        if len(enc) != 1 or enc[0] == unk or tokenizer.decode(enc).strip() != s:
            where = f" of judge.path={path}" if path else ""
            raise ValueError(
                f"the judge tokenizer{where} has no single token for the score {s!r} (it encodes as {enc}); "
                "LMUnitJudge reads the score digits '0'..'6' as single tokens, so judge.path must be a "
                "model whose tokenizer has one token per digit (LMUnit / Qwen2.5 / Llama-3 do)"
            )
        ids.append(enc[0])
    return ids


class TransformersScorer:
    """Greedy answers with a transformers causal LM: left-padded chunks, positions contiguous over
    attended tokens and a KV cache (a row's answer does not depend on its chunk), at most
    ``max_new_tokens`` per row, a row stops at its first eos token (kept in its ids)."""

    def __init__(
        self,
        model: torch.nn.Module,
        pad_token_id: int,
        eos_token_ids: Sequence[int] = (),
        batch_size: int = 8,
        max_new_tokens: int = MAX_NEW_TOKENS,
        top_logprobs: int = TOP_LOGPROBS,
    ):
        self.model = model.eval().requires_grad_(False)
        self.pad_token_id, self.eos_token_ids = pad_token_id, sorted(set(eos_token_ids))
        self.batch_size, self.max_new_tokens, self.top_logprobs = batch_size, max_new_tokens, top_logprobs

    @torch.no_grad()
    def __call__(self, ids: Sequence[list[int]]) -> list[Generation]:
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # similar lengths share a chunk
        out: list[Generation | None] = [None] * len(ids)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            for i, gen in zip(chunk, self._generate([ids[i] for i in chunk]), strict=True):
                out[i] = gen
        return out

    def _generate(self, rows: list[list[int]]) -> list[Generation]:
        device = next(self.model.parameters()).device
        tok, att = pad_rows(rows, self.pad_token_id, left=True)
        tok, att = tok.to(device), att.long().to(device)
        pos = (att.cumsum(-1) - 1).clamp_min(0)
        eos = torch.tensor(self.eos_token_ids, dtype=torch.long, device=device)
        cache, gens = DynamicCache(), [Generation([], [], []) for _ in rows]
        live = torch.ones(len(rows), dtype=torch.bool, device=device)
        logits = self.model(
            input_ids=tok, attention_mask=att, position_ids=pos, past_key_values=cache, use_cache=True, logits_to_keep=1
        ).logits[:, -1]
        pos = pos[:, -1:]
        for step in range(self.max_new_tokens):
            logp = torch.log_softmax(logits.float(), dim=-1)
            top_lp, top_id = logp.topk(min(self.top_logprobs, logp.shape[-1]), dim=-1)
            nxt = logp.argmax(-1)  # greedy: the first of tied maxima
            for r in live.nonzero().flatten().tolist():
                gens[r].ids.append(int(nxt[r]))
                gens[r].top_ids.append(top_id[r].tolist())
                gens[r].top_logprobs.append(top_lp[r].tolist())
            live &= ~torch.isin(nxt, eos)
            if step + 1 == self.max_new_tokens or not bool(live.any()):
                break
            att, pos = torch.cat([att, torch.ones_like(att[:, :1])], dim=-1), pos + 1
            logits = self.model(
                input_ids=nxt[:, None], attention_mask=att, position_ids=pos, past_key_values=cache, use_cache=True
            ).logits[:, -1]
        return gens


class VLLMScorer:
    """Greedy answers with vLLM, as the authors ran LMUnit: ``SamplingParams(temperature=0.0,
    max_tokens=10, logprobs=20)``. Not run in the test suite (vLLM is not installed there); the
    transformers path is the tested one."""

    def __init__(
        self,
        path: str,
        dtype: torch.dtype,
        trust_remote_code: bool = False,
        tensor_parallel_size: int = 1,
        max_new_tokens: int = MAX_NEW_TOKENS,
        top_logprobs: int = TOP_LOGPROBS,
    ):
        from vllm import LLM, SamplingParams

        self.llm = LLM(
            model=path,
            dtype=str(dtype).removeprefix("torch."),
            trust_remote_code=trust_remote_code,
            tensor_parallel_size=tensor_parallel_size,
        )
        self.params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens, logprobs=top_logprobs)

    def __call__(self, ids: Sequence[list[int]]) -> list[Generation]:
        outputs = self.llm.generate([{"prompt_token_ids": list(x)} for x in ids], self.params, use_tqdm=False)
        gens = []
        for o in outputs:
            answer = o.outputs[0]
            tops = [sorted(t.items(), key=lambda kv: _rank(kv[1])) for t in (answer.logprobs or [])]
            gens.append(
                Generation(
                    list(answer.token_ids),
                    [[i for i, _ in t] for t in tops],
                    [[float(lp.logprob) for _, lp in t] for t in tops],
                )
            )
        return gens


def _rank(logprob) -> float:
    """A vLLM ``Logprob``'s rank (1 = most likely); its dict order where it has none."""
    rank = getattr(logprob, "rank", None)
    return float("inf") if rank is None else float(rank)


class LMUnitJudge(Judge):
    """Fields ``score`` (mean over the unit tests that have a score, in [0, 6]; null if none has),
    ``test_1`` .. ``test_<n>`` (one per configured unit test, in order; null where the answer had no
    score) and ``failures`` (how many of the response's tests are null)."""

    name = "lmunit"

    def __init__(
        self, tokenizer, scorer, unit_tests: Sequence[str] = DEFAULT_UNIT_TESTS, template: str = LMUNIT_TEMPLATE
    ):
        """``scorer(token_ids_list) -> list[Generation]``: a :class:`TransformersScorer` or :class:`VLLMScorer`."""
        unit_tests = list(unit_tests) if unit_tests is not None else []
        if not unit_tests or not all(isinstance(t, str) and t.strip() for t in unit_tests):
            raise ValueError(f"judge.unit_tests={unit_tests!r} must be a non-empty list of questions about a response")
        for field in ("{query}", "{response}", "{unit_test}"):
            if field not in template:
                raise ValueError(f"judge.template must contain {field} (it has: {template!r})")
        self.tokenizer, self.scorer = tokenizer, scorer
        self.unit_tests, self.template = unit_tests, template
        digit_token_ids(tokenizer, getattr(tokenizer, "name_or_path", None))
        self._strings: dict[int, str] = {}

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
        max_new_tokens: int = MAX_NEW_TOKENS,
        top_logprobs: int = TOP_LOGPROBS,
        allow_guidance_reward: bool = False,
    ) -> LMUnitJudge:
        """Load the judge model (hub id or folder). ``backend=auto``: vLLM when it is installed and
        ``device`` is CUDA, else transformers. Tokens "0".."6" are checked before weights load.
        ``allow_guidance_reward`` is read before any model loads (``judges/held_out.py``), not here."""
        require_choice(backend, "judge.backend", BACKENDS)
        require_positive(batch_size, "judge.batch_size", hint="judge inputs per forward")
        require_positive(max_new_tokens, "judge.max_new_tokens", hint="tokens of each judge answer")
        require_positive(top_logprobs, "judge.top_logprobs", hint="log-probabilities kept per answer token")
        device, dtype = resolve_device(device, "judge.device"), resolve_dtype(dtype, "judge.dtype")
        has_vllm = importlib.util.find_spec("vllm") is not None
        if backend == "vllm" and not has_vllm:
            raise ValueError(
                "judge.backend=vllm but vllm is not installed; `pip install vllm`, or use judge.backend=transformers"
            )
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        digit_token_ids(tokenizer, path)  # fail before loading tens of GB of weights
        if backend == "vllm" or (backend == "auto" and has_vllm and device.type == "cuda"):
            # GPUs: CUDA_VISIBLE_DEVICES
            scorer = VLLMScorer(path, dtype, trust_remote_code, tensor_parallel_size, max_new_tokens, top_logprobs)
        else:
            kwargs = dtype_kwarg(dtype) | ({"attn_implementation": attn_implementation} if attn_implementation else {})
            model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=trust_remote_code, **kwargs).to(device)
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            eos = eos_ids(tokenizer, model)
            scorer = TransformersScorer(model, pad or 0, eos, batch_size, max_new_tokens, top_logprobs)
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

    def token_string(self, token_id: int) -> str:
        """One token decoded alone (as the library decodes them), cached."""
        s = self._strings.get(token_id)
        if s is None:
            s = self._strings[token_id] = self.tokenizer.decode([token_id])
        return s

    def score(self, messages: list[list[dict[str, str]]], responses: list[list[str]]) -> list[list[dict]]:
        check_batch(messages, responses)
        ids = [
            self.judge_input(last_user_turn(chat), r, t)
            for chat, rs in zip(messages, responses, strict=True)
            for r in rs
            for t in self.unit_tests
        ]
        parsed = [parse_generation(g, self.token_string) for g in self.scorer(ids)] if ids else []
        reasons = Counter(p.reason for p in parsed if p.reason is not None)
        if reasons:
            log.warning(
                "LMUnit: %d of %d answers had no score (%s); those tests are null and counted in judge_failures",
                sum(reasons.values()),
                len(parsed),
                ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items())),
            )
        n, out, start = len(self.unit_tests), [], 0
        for rs in responses:
            per_prompt = []
            for _ in rs:
                tests = [p.score for p in parsed[start : start + n]]
                start += n
                finite = [s for s in tests if s is not None]
                fields = {"score": json_number(sum(finite) / len(finite)) if finite else None}
                fields |= {f"test_{i + 1}": None if s is None else json_number(s) for i, s in enumerate(tests)}
                fields["failures"] = n - len(finite)
                per_prompt.append(fields)
            out.append(per_prompt)
        return out


def eos_ids(tokenizer, model) -> list[int]:
    """The tokenizer's eos id and the model's generation_config eos id(s): where an answer stops."""
    found = [tokenizer.eos_token_id]
    config = getattr(model, "generation_config", None)
    extra = getattr(config, "eos_token_id", None)
    found += extra if isinstance(extra, (list, tuple)) else [extra]
    return sorted({int(i) for i in found if i is not None})

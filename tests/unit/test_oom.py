"""Out of memory: a batch is split in half down to one prompt; a prompt that never fits is skipped.

The OOM is injected (no GPU here): a wrapper around ``GuidedDenoiser.generate`` raises
``torch.cuda.OutOfMemoryError`` for batches above a size or for one sample_id.
"""

import json
import logging

import pytest
import torch
from hydra import compose, initialize_config_module

from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import GradientGuidance
from entrgi.engine.models import DreamLM, SequenceClassifierReward
from entrgi.engine.schedule import DenoisingSchedule
from entrgi.engine.types import PromptItem
from entrgi.pipeline import phases as pipeline
from entrgi.pipeline.module import GuidedDenoisingModule
from entrgi.pipeline.oom import concat_outputs, generate_with_split, is_out_of_memory, memory_needed

PROMPTS = [
    PromptItem(f"p{i}", text)
    for i, text in enumerate(["the cat", "a big dog eat food today and night", "music", "rain or sun", "the bird song"])
]
OOM = "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.10 GiB total capacity)"


@pytest.fixture(scope="module")
def denoiser(tiny_dir):
    lm = DreamLM.from_pretrained(str(tiny_dir["dllm"]), dtype="float32", device="cpu")
    reward = SequenceClassifierReward.from_pretrained(str(tiny_dir["reward"]), dtype="float32", device="cpu")
    schedule = DenoisingSchedule(steps=4, max_new_tokens=8, temperature=0.7, top_p=0.95)
    return GuidedDenoiser(
        lm, reward, GradientGuidance(weight="entropy", inner_steps=2, lr=0.5), schedule, samples_per_prompt=2, seed=5
    )


def failing(generate, max_batch=None, never=(), calls=None):
    """``generate`` that runs out of memory above ``max_batch`` prompts or whenever a ``never`` id is in the batch."""

    def wrapped(items):
        if calls is not None:
            calls.append([it.sample_id for it in items])
        if (max_batch is not None and len(items) > max_batch) or any(it.sample_id in never for it in items):
            raise torch.cuda.OutOfMemoryError(OOM)
        return generate(items)

    return wrapped


def assert_same(a, b):
    """Two outputs with the same prompts: tokens and texts equal; floats equal up to reward-batch rounding."""
    assert [it.sample_id for it in a.items] == [it.sample_id for it in b.items]
    assert a.responses == b.responses and a.token_pieces == b.token_pieces
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.commit_step, b.commit_step)
    torch.testing.assert_close(a.rewards, b.rewards, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a.entropy_map, b.entropy_map, equal_nan=True)
    assert a.trace.keys() == b.trace.keys()
    for key in a.trace:
        torch.testing.assert_close(a.trace[key], b.trace[key], atol=1e-5, rtol=1e-5, equal_nan=True)


def test_split_down_to_single_prompts_equals_the_unsplit_batch(denoiser):
    whole = denoiser.generate(PROMPTS)
    calls = []
    split, skipped = generate_with_split(failing(denoiser.generate, max_batch=1, calls=calls), PROMPTS)
    assert skipped == []
    ids = [it.sample_id for it in PROMPTS]
    # 5 -> 2 + 3 -> 1 + 1, 1 + 2 -> 1 + 1: every batch above one prompt fails once, then its halves run
    assert calls == [ids, ids[:2], ids[:1], ids[1:2], ids[2:], ids[2:3], ids[3:], ids[3:4], ids[4:]]
    assert_same(split, whole)
    assert split.counters["dllm_calls"] == 5 * whole.counters["dllm_calls"]  # five single-prompt runs of T steps
    assert split.counters["guided_steps"] == 5 * whole.counters["guided_steps"]
    assert split.wall_s > 0


def test_a_prompt_that_never_fits_is_skipped_and_named(denoiser, caplog):
    whole = denoiser.generate(PROMPTS)
    with caplog.at_level(logging.WARNING, logger="entrgi.pipeline.oom"):
        out, skipped = generate_with_split(failing(denoiser.generate, never={"p3"}), PROMPTS)
    assert skipped == ["p3"]
    assert [it.sample_id for it in out.items] == ["p0", "p1", "p2", "p4"]
    for i, j in enumerate([0, 1, 2, 4]):
        assert out.responses[i] == whole.responses[j] and torch.equal(out.tokens[i], whole.tokens[j])
    message = [r.getMessage() for r in caplog.records if "does not fit even alone" in r.getMessage()]
    assert len(message) == 1 and "'p3'" in message[0] and "tried to allocate 2.00 GiB" in message[0]


def test_nothing_fits(denoiser):
    out, skipped = generate_with_split(failing(denoiser.generate, never={"p0", "p1"}), PROMPTS[:2])
    assert out is None and skipped == ["p0", "p1"]


def test_other_errors_propagate_and_oom_is_recognized():
    def broken(items):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        generate_with_split(broken, PROMPTS)
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("x"))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert not is_out_of_memory(ValueError("out of memory"))
    assert memory_needed(RuntimeError(OOM)).startswith("tried to allocate 2.00 GiB")
    assert memory_needed(RuntimeError("out of memory")) == (
        "unknown" if not torch.cuda.is_available() else memory_needed(RuntimeError("out of memory"))
    )


def test_concat_of_one_is_itself_and_of_parts_is_the_whole(denoiser):
    whole = denoiser.generate(PROMPTS[:3])
    assert concat_outputs([whole]) is whole
    merged = concat_outputs([denoiser.generate(PROMPTS[:1]), denoiser.generate(PROMPTS[1:3])])
    assert_same(merged, whole)


def test_predict_step_counts_skipped_prompts(denoiser, monkeypatch):
    module = GuidedDenoisingModule(denoiser)
    monkeypatch.setattr(denoiser, "generate", failing(denoiser.generate, never={"p1", "p2"}))
    out = module.predict_step(PROMPTS[:3], 0)
    assert [it.sample_id for it in out.items] == ["p0"] and out.counters["oom_skipped"] == 2
    empty = module.predict_step(PROMPTS[1:3], 1)
    assert empty.items == [] and empty.counters == {"oom_skipped": 2} and empty.tokens.numel() == 0
    assert module.oom_skipped_ids == ["p1", "p2", "p1", "p2"]


def run_config(out, batch_size=4):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return compose(
            "run",
            overrides=[
                "schedule.steps=4",
                "schedule.max_new_tokens=8",
                "samples_per_prompt=2",
                "data.limit=6",
                f"data.batch_size={batch_size}",
                "logger=none",
                f"paths.output_dir={out}",
            ],
        )


def read(out):
    return [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]


def test_run_with_injected_oom_matches_an_unsplit_run(tmp_path, monkeypatch, caplog):
    """Through the pipeline: the second batch splits, one prompt never fits; the others' records equal an
    unsplit run's, the lost prompt is absent from generations.jsonl and counted in metrics.json."""
    plain = pipeline.run(run_config(tmp_path / "plain"))
    expected = read(tmp_path / "plain")
    never = expected[4]["sample_id"]
    original = GuidedDenoiser.generate
    batches = []

    def generate(self, items):
        batches.append(len(items))
        if (len(batches) >= 2 and len(items) > 1) or any(it.sample_id == never for it in items):
            raise torch.cuda.OutOfMemoryError(OOM)
        return original(self, items)

    monkeypatch.setattr(GuidedDenoiser, "generate", generate)
    with caplog.at_level(logging.WARNING, logger="entrgi.pipeline.oom"):
        metrics = pipeline.run(run_config(tmp_path / "split"))
    records = read(tmp_path / "split")
    assert batches[0] == 4 and len(batches) > 2  # the first batch ran whole; the second split
    assert [r["sample_id"] for r in records] == [r["sample_id"] for r in expected if r["sample_id"] != never]
    for got, want in zip(records, [r for r in expected if r["sample_id"] != never], strict=True):
        assert got["responses"] == want["responses"] and got["best_index"] == want["best_index"]
        assert got["rewards"] == pytest.approx(want["rewards"], abs=1e-5)
        for key, values in want["trace"].items():
            assert got["trace"][key] == pytest.approx(values, abs=1e-5, nan_ok=True)
    assert metrics["skipped"] == {"out_of_memory": 1} and metrics["num_prompts"] == 5
    assert json.loads((tmp_path / "split" / "metrics.json").read_text())["skipped"] == {"out_of_memory": 1}
    assert plain["skipped"] == {} and plain["num_prompts"] == 6
    assert any(never in r.getMessage() for r in caplog.records)

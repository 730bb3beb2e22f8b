"""The end-of-run console block, from hand-made metrics and records."""

import pytest

from entrgi.pipeline.console import print_summary, shorten, si, summary_text


def metrics(**extra):
    base = {
        "num_prompts": 4,
        "top1_reward_mean": 0.8125,
        "avgN_reward_mean": 0.25,
        "method": "entrgi",
        "seed": 2,
        "samples_per_prompt": 4,
        "generation_wall_s": 10.0,
        "total_wall_s": 12.5,
        "gpu_s": None,
        "compute": {
            "dllm_forwards": 48,
            "reward_forwards": 96,
            "reward_backwards": 90,
            "flops": 2.5e12,
            "flops_per_prompt": 6.25e11,
            "formula": "2*P*tokens",
        },
        "skipped": {"too_long": 0},
    }
    return base | extra


def record(sid, best, reward, prompt="What is 2+2?"):
    return {
        "sample_id": sid,
        "prompt": prompt,
        "responses": ["worse", best, "other", "x"],
        "rewards": [0, reward, 0, 0],
        "best_index": 1,
        "top1_reward": reward,
        "avgN_reward": reward / 4,
    }


RECORDS = [
    record("q1", "Four.", 1.5),
    record("q2", "The answer is " + "very " * 100 + "long.", 0.125, prompt="Explain\n  addition  in detail"),
    record("q3", "hidden", 9.0),
]


def test_rewards_with_k_and_identity():
    text = summary_text(metrics(), RECORDS, "/runs/a")
    assert text.splitlines()[0] == "entrgi: entrgi, 4 prompts x K=4, seed 2"
    assert "Top@1    0.8125" in text and "Avg@N    0.2500" in text and "K=4" in text


def test_compute_with_si_prefix_wall_and_passes():
    text = summary_text(metrics(), RECORDS, "/runs/a")
    assert "2.5 TFLOP (625 GFLOP/prompt)" in text
    assert "generation 10.0 s (2.50 s/prompt)" in text and "total 12.5 s" in text
    assert "GPU" not in text  # gpu_s is None on CPU
    assert "dLLM fwd 48, reward fwd 96, reward bwd 90" in text
    assert "GPU 7.5 s" in summary_text(metrics(gpu_s=7.5), RECORDS, "/runs/a")


def test_judge_only_when_present():
    assert "Judge" not in summary_text(metrics(), RECORDS, "/runs/a")
    text = summary_text(metrics(judge="oracle", judge_score_mean=0.75, judge_correct_mean=0.5), RECORDS, "/runs/a")
    assert "Judge    oracle: score 0.7500  (correct 0.5000)" in text


def test_best_response_of_the_first_two_prompts_truncated():
    text = summary_text(metrics(), RECORDS, "/runs/a")
    assert "[q1] What is 2+2?" in text and "best (reward 1.5000): Four." in text
    assert "[q2] Explain addition in detail" in text  # one line, whitespace collapsed
    (line,) = [ln for ln in text.splitlines() if "The answer is" in ln]
    assert line.endswith("...") and len(line.split("): ", 1)[1]) == 200
    assert "q3" not in text and "hidden" not in text


def test_where_the_outputs_are_and_the_next_step(tmp_path):
    text = summary_text(metrics(), RECORDS, tmp_path)
    lines = text.splitlines()
    assert f"Outputs in {tmp_path}" in lines
    assert any(str(tmp_path / "generations.jsonl") in ln for ln in lines)
    assert any(str(tmp_path / "metrics.json") in ln for ln in lines)
    assert lines[-1] == f"Next: python -m entrgi.report {tmp_path}"


def test_skipped_missing_values_and_no_records():
    text = summary_text({"num_prompts": 0, "top1_reward_mean": None, "skipped": {"too_long": 2, "bad": 0}}, [], "o")
    assert "Top@1    n/a" in text and "Skipped  too_long 2" in text and "bad" not in text
    assert "Best responses" not in text and "K=?" in text
    assert "Compute" not in text


@pytest.mark.parametrize(
    "value, out",
    [(2.5e12, "2.5 TFLOP"), (999.0, "999 FLOP"), (1.5e18, "1.5 EFLOP"), (123456.0, "123 kFLOP"), (0.0, "0 FLOP")],
)
def test_si(value, out):
    assert si(value, "FLOP") == out


def test_shorten():
    assert shorten("a\n b", 10) == "a b"
    assert shorten("x" * 50, 10) == "xxxxxxx..."


def test_print_summary_prints_on_rank_zero(capsys):
    print_summary(metrics(), RECORDS, "/runs/a")
    out = capsys.readouterr().out
    assert "Top@1" in out and "Next: python -m entrgi.report /runs/a" in out


# Console hygiene (entrgi.pipeline.logs): one line per message, no product tips, no wandb "anonymous" warning.


@pytest.fixture
def saved_logging():
    """Restore the loggers quiet_third_party_logs changes."""
    import logging

    from entrgi.pipeline.logs import LIGHTNING_LOGGERS, RANK_ZERO_LOGGERS

    names = (*LIGHTNING_LOGGERS, *RANK_ZERO_LOGGERS, "")
    saved = {
        n: (list(logging.getLogger(n).handlers), list(logging.getLogger(n).filters), logging.getLogger(n).propagate)
        for n in names
    }
    yield
    for n, (handlers, filters, propagate) in saved.items():
        lg = logging.getLogger(n)
        lg.handlers[:], lg.filters[:], lg.propagate = handlers, filters, propagate


def test_lightning_prints_through_the_root_handler_once_and_without_tips(saved_logging):
    import io
    import logging

    from entrgi.pipeline.logs import quiet_third_party_logs

    root_stream = io.StringIO()
    logging.getLogger().addHandler(logging.StreamHandler(root_stream))  # what Hydra's job logging installs
    lightning = logging.getLogger("lightning")
    own = logging.StreamHandler(io.StringIO())
    lightning.addHandler(own)  # what `import lightning` installs
    quiet_third_party_logs()
    quiet_third_party_logs()  # idempotent
    assert own not in lightning.handlers and lightning.propagate
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    assert len(rank_zero.filters) == len(set(map(type, rank_zero.filters)))
    rank_zero.info("GPU available: False, used: False")
    rank_zero.info("💡 Tip: For seamless cloud logging, try installing [litlogger](https://pypi.org/project/x/)")
    assert root_stream.getvalue().splitlines() == ["GPU available: False, used: False"]
    assert own.stream.getvalue() == ""


def test_wandb_logger_drops_the_anonymous_argument(tmp_path):
    from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger

    from entrgi.pipeline.logs import WandbLogger

    logger = WandbLogger(project="p", mode="offline", save_dir=str(tmp_path), group="g")
    assert isinstance(logger, LightningWandbLogger)
    assert "anonymous" not in logger._wandb_init and logger._wandb_init["group"] == "g"
    assert "anonymous" in LightningWandbLogger(project="p", mode="offline", save_dir=str(tmp_path))._wandb_init


def test_a_prompt_without_a_finite_reward_is_said_not_crashed_on():
    from entrgi.pipeline.callbacks.wandb_logging import prompt_rows

    rec = {
        "sample_id": "s",
        "prompt": "p",
        "responses": ["a", "b"],
        "rewards": [None, None],
        "best_index": None,
        "top1_reward": None,
        "avgN_reward": None,
    }
    text = summary_text({"num_prompts": 1, "top1_reward_mean": None, "avgN_reward_mean": None}, [rec], "/tmp/o")
    assert "[s] no finite reward among its 2 responses" in text
    assert prompt_rows([rec]) == [{"prompt/index": 0}]

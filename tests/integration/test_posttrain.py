"""``python -m entrgi.posttrain`` end to end on the testbed, at toy scale: the files a run writes, that a
step lowers its own loss, resume equal to an uninterrupted run, 2 DDP processes equal to 1, the
generation inside training equal to ``python -m entrgi.run``, ``model.adapter=`` loading the result,
and the configs (every model, objective and estimator composes; bad values fail before any load).

The runs share one setting (``TINY``/``TRAIN``): 2 training prompts (``data.limit=2``) so that every
step trains on the same 2 prompts, K=2, 8 tokens in 4 denoising steps, EntRGi with M=1, lr 0.01 (large,
so that a few steps visibly change the model). Runs in this process (``posttrain_here``) and CLI runs
(``run_posttrain``) start from the same adapter: its initialization is seeded by ``seed``.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_runs import cli_env, read_run
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf
from safetensors.torch import load_file

from entrgi.engine import rng
from entrgi.engine.models.adapters import add_lora
from entrgi.engine.posttrain import RGRL, Completions, OneStepEstimator, through_first_stop
from entrgi.outputs.guard import FolderHasResults
from entrgi.outputs.posttrain import read_history, read_samples
from entrgi.pipeline import phases
from entrgi.pipeline.posttrain import job
from entrgi.pipeline.posttrain.data import StepBatches, step_prompts
from entrgi.pipeline.posttrain.module import step_seed
from entrgi.pipeline.preempt import RunStopped, StopSignals
from entrgi.testbed import load_dllm

REPO = Path(__file__).resolve().parents[2]
SEED = 1
# Shared by posttrain and entrgi.run: what the guided generation does.
TINY = [
    "schedule.steps=4",
    "schedule.max_new_tokens=8",
    "samples_per_prompt=2",
    "guidance.inner_steps=1",
    "logger=none",
]
TRAIN = [
    *TINY,
    "trainer.enable_progress_bar=false",
    f"seed={SEED}",
    "data.limit=2",  # every step trains on the same 2 prompts
    "posttrain.batch_size=2",
    "posttrain.lr=0.01",
    "posttrain.checkpoint_every=2",
    "eval.every=2",
    "eval.data.limit=2",
    "eval.samples_per_prompt=2",
    "eval.batch_size=2",
]
# entrgi.run's data for step 0's prompts: the training split with the run's data seed (data.source.seed
# follows ${seed} by default, and entrgi.run's seed is the step seed here), the same ids testbed-train-1-<i>
STEP0_DATA = ["data=testbed_train", "data.limit=2", f"data.source.seed={SEED}"]
STOPPED_AT_2 = ["posttrain.max_steps=4", "trainer.max_steps=2"]
DDP = ["trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu"]
STEP_KEYS = {"loss", "reward_mean", "reward_std", "w_mean", "length_mean", "gen_flops", "trained", "wall_s"}
EVAL_KEYS = {"reward_k1", "reward_top1", "reward_avg", "judge_k1", "judge_top1", "judge_avg", "prompts"}
TESTBED_TARGETS = ["qkv", "proj", "mlp.0", "mlp.2"]  # conf/model/testbed.yaml


def compose_posttrain(overrides: list[str]):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return compose("posttrain", overrides=overrides)


def posttrain_here(out: Path, *overrides: str) -> dict:
    """``python -m entrgi.posttrain`` in this process (no interpreter start-up): ``job.run``."""
    return job.run(compose_posttrain([*TRAIN, f"paths.output_dir={out}", *overrides]))


def run_here(out: Path, *overrides: str) -> dict:
    """``python -m entrgi.run`` in this process (no interpreter start-up): ``phases.run``."""
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        cfg = compose("run", overrides=[*overrides, f"paths.output_dir={out}"])
    return phases.run(cfg)


def run_posttrain(args: list[str], cwd: Path, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m entrgi.posttrain`` as a user runs it, in ``cwd``."""
    proc = subprocess.run(
        [sys.executable, "-m", "entrgi.posttrain", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"entrgi.posttrain {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def adapter_weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "adapter_model.safetensors"))


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=0.0, atol=atol), (key, (a[key] - b[key]).abs().max())


def rows_of(folder: Path, kind: str) -> list[dict]:
    return [r for r in read_history(folder) if r["kind"] == kind]


def step_loss(lm, rows: list[dict], step: int) -> float:
    """The RGRL loss (one-step estimator, p_mask_prompt=0.3: the defaults) of the completions step
    ``step`` trained on, recomputed under ``lm``: the prompt masking keyed as in training, the
    responses re-tokenized from their text (exact here: word-level tokens, 8 of them, no stop)."""
    mine = [r for r in rows if r["step"] == step]
    logps = []
    for row in mine:
        response = torch.tensor([lm.tokenizer(t, add_special_tokens=False).input_ids for t in row["responses"]])
        k, length = response.shape
        assert length == 8 and lm.decode(response) == row["responses"]  # the round trip is exact
        enc = lm.encode([row["messages"]], length)
        prompt = enc.tokens[:, : enc.prompt_len].repeat(k, 1)
        hashes = torch.tensor([rng.stable_id_hash(row["sample_id"])])
        c = Completions(
            torch.cat([prompt, response], dim=1),
            enc.attention_mask[:, : enc.prompt_len].repeat(k, 1),
            enc.prompt_len,
            through_first_stop(response, torch.tensor(lm.stop_token_ids)),
            rng.trajectory_keys(step_seed(SEED, step), hashes, k),
        )
        with torch.no_grad():
            logps.append(OneStepEstimator().sequence_logps(lm, c))
    seq = torch.cat(logps)
    return float(RGRL().loss(seq, torch.full_like(seq, 1.0 / k), len(mine)))


# ----------------------------------------------------------------------------------------- the runs
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A CLI run of 4 steps (checkpoints at 2 and 4, held-out evaluations at 0, 2, 4; the learning rate
    decays linearly to 0 at step 4)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    run_posttrain([*TRAIN, "posttrain.max_steps=4", f"paths.output_dir={out}"], cwd=out.parent)
    return out


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> tuple[Path, Path]:
    """``trained``'s run stopped after 2 of its 4 steps (``trainer.max_steps=2``: the learning rate
    schedule still runs over posttrain.max_steps=4, as in a run killed there), in this process;
    -> (its folder, a copy of its adapter after 2 steps, kept aside: the resume test continues the folder)."""
    root = tmp_path_factory.mktemp("split")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(12345)  # not the CLI's start state: the run seeds its adapter's initialization itself
        posttrain_here(root / "run", *STOPPED_AT_2)
    shutil.copytree(root / "run" / "adapter", root / "adapter_step2")
    return root / "run", root / "adapter_step2"


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """``entrgi.run`` on the base model with step 0's seed, on the training prompts (in this process; the
    CLI itself is tested elsewhere, and the posttrain CLI by ``trained``)."""
    out = tmp_path_factory.mktemp("base_run") / "run"
    run_here(out, *TINY, *STEP0_DATA, f"seed={step_seed(SEED, 0)}", "save_entropy_maps=false")
    return out


# ------------------------------------------------------------------------------ 1. a short CLI run
@pytest.mark.slow
def test_cli_run_writes_its_files(trained):
    adapter_config = json.loads((trained / "adapter" / "adapter_config.json").read_text())
    assert sorted(adapter_config["target_modules"]) == sorted(TESTBED_TARGETS) and adapter_config["r"] == 8
    assert (trained / "adapter" / "adapter_model.safetensors").is_file()
    last = torch.load(trained / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == 4
    assert not list((trained / "checkpoints").glob("last-v*.ckpt"))
    steps, evals = rows_of(trained, "step"), rows_of(trained, "eval")
    assert [r["step"] for r in steps] == [0, 1, 2, 3]
    assert [r["step"] for r in evals] == [0, 2, 4]
    for r in steps:
        assert STEP_KEYS <= set(r) and r["loss"] > 0 and r["gen_flops"] > 0 and r["trained"] == 4  # RGRL: all B*K
        assert r["length_mean"] == 8.0 and r["w_mean"] is not None and 0.0 < r["w_mean"] <= 1.0
    for r in evals:
        assert EVAL_KEYS <= set(r) and r["prompts"] == 2
        assert all(r[key] is not None for key in EVAL_KEYS)  # the oracle judged every held-out prompt
    samples = read_samples(trained)
    assert (trained / "train_samples" / "rank0.jsonl").is_file()
    assert [(r["step"], r["seed"]) for r in samples] == [(s, step_seed(SEED, s)) for s in range(4) for _ in range(2)]
    assert {r["sample_id"] for r in samples} == {f"testbed-train-{SEED}-0", f"testbed-train-{SEED}-1"}
    for r in samples:
        assert len(r["responses"]) == len(r["rewards"]) == 2 and r["weights"] == [0.5, 0.5]
    # reward_mean / reward_std are those of the completions in train_samples
    for r in steps:
        rewards = torch.tensor(
            [x for s in samples if s["step"] == r["step"] for x in s["rewards"]], dtype=torch.float64
        )
        assert r["reward_mean"] == pytest.approx(float(rewards.mean()), abs=1e-6)
        assert r["reward_std"] == pytest.approx(float(rewards.std(unbiased=False)), abs=1e-6)
    summary = json.loads((trained / "posttrain.json").read_text())
    assert (summary["objective"], summary["estimator"], summary["steps"], summary["seed"]) == ("rgrl", "one_step", 4, 1)
    assert summary["before"] == evals[0] and summary["after"] == evals[-1]
    assert summary["gen_flops"] == pytest.approx(sum(r["gen_flops"] for r in steps))
    assert summary["trainable_params"] > 0
    config = OmegaConf.load(trained / "config.yaml")
    assert config.posttrain.max_steps == 4 and config.lora.target_modules == TESTBED_TARGETS


@pytest.mark.slow
def test_a_training_step_lowers_its_own_loss(split):
    """The step loss of successive steps (new completions every step) is too noisy to compare; this
    is not: the loss of the completions a step trained on, recomputed with the very estimator draws
    of training, reproduces the logged loss under the weights the step started from (step 0: the base
    model, the LoRA B matrices being zero) and is lower under the weights after it (step 1: the
    adapter after 2 steps)."""
    run, adapter = split
    samples = read_samples(run)
    logged = {r["step"]: r["loss"] for r in rows_of(run, "step")}
    base = load_dllm(device="cpu")
    assert step_loss(base, samples, 0) == pytest.approx(logged[0], abs=1e-4)
    after = step_loss(load_dllm(device="cpu", adapter=str(adapter)), samples, 1)
    assert after < logged[1] - 0.01, (after, logged)


# ---------------------------------------------------------------------------------------- 2. resume
@pytest.mark.slow
def test_resume_continues_the_uninterrupted_run(trained, split):
    """Stopped after 2 of 4 steps, then resume=true == 4 steps at once (the CLI run): the same adapter and
    the same history, step and evaluation rows, the evaluation the stopped run added at its end dropped.
    (Not posttrain.max_steps=2 then 4: with posttrain.lr_schedule=linear the first 2 steps would decay
    the rate over 2 steps, not 4: another run by design.)"""
    run, _ = split
    assert [r["step"] for r in rows_of(run, "eval")] == [0, 2]
    posttrain_here(run, "posttrain.max_steps=4", "resume=true")
    assert_same_weights(adapter_weights(run / "adapter"), adapter_weights(trained / "adapter"), atol=1e-6)
    for kind in ("step", "eval"):
        got, want = rows_of(run, kind), rows_of(trained, kind)
        assert [r["step"] for r in got] == [r["step"] for r in want]
        for a, b in zip(got, want, strict=True):
            for key in set(b) - {"wall_s"}:
                assert a[key] == pytest.approx(b[key], abs=1e-5), (kind, a["step"], key)
    assert [(r["step"], r["responses"]) for r in read_samples(run)] == [
        (r["step"], r["responses"]) for r in read_samples(trained)
    ]
    assert torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"] == 4
    assert not list((run / "checkpoints").glob("last-v*.ckpt"))  # last.ckpt itself moved on
    assert json.loads((run / "posttrain.json").read_text())["steps"] == 4


@pytest.mark.slow
def test_a_stop_signal_ends_after_the_step_and_resume_continues_the_uninterrupted_run(trained, tmp_path, monkeypatch):
    """The run's lifecycle in post-training: SIGTERM (here: arriving during step 2) ends the job after that step
    with checkpoints/last.ckpt, raising RunStopped that says how to resume; resume=true then reaches the
    uninterrupted run's adapter."""

    class TermDuringStep2(StopSignals):
        checks = 0

        @property
        def requested(self):
            type(self).checks += 1  # read once after each step
            if type(self).checks >= 2 and self.signum is None:
                self.signum = signal.SIGTERM
            return self.signum is not None

    monkeypatch.setattr(job, "StopSignals", TermDuringStep2)
    out = tmp_path / "run"
    with pytest.raises(RunStopped, match=r"SIGTERM once the step in flight was checkpointed \(2 of 4 optimizer steps"):
        posttrain_here(out, "posttrain.max_steps=4")
    assert torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"] == 2
    assert not (out / "posttrain.json").exists() and not (out / "adapter").exists()
    assert json.loads((out / "run_info.json").read_text())["method"] == "posttrain"
    monkeypatch.undo()
    posttrain_here(out, "posttrain.max_steps=4", "resume=true")
    assert_same_weights(adapter_weights(out / "adapter"), adapter_weights(trained / "adapter"), atol=1e-6)
    assert [r["step"] for r in rows_of(out, "step")] == [r["step"] for r in rows_of(trained, "step")]


def test_resume_in_an_empty_folder_names_the_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"checkpoints/last\.ckpt"):
        posttrain_here(tmp_path / "empty", "resume=true")


@pytest.mark.slow
def test_a_fresh_run_into_a_run_folder_is_refused_unless_overwrite(trained, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(trained, out)
    with pytest.raises(FolderHasResults, match="overwrite=true"):
        posttrain_here(out, "posttrain.max_steps=1")
    assert len(rows_of(out, "step")) == 4  # untouched
    posttrain_here(out, "posttrain.max_steps=1", "eval.every=0", "overwrite=true")
    (moved,) = list((out / "overwritten").iterdir())
    assert len(rows_of(moved, "step")) == 4 and (moved / "adapter").is_dir() and (moved / "checkpoints").is_dir()
    assert [r["step"] for r in read_history(out)] == [0]
    assert torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"] == 1


# ------------------------------------------------------------------------------------------- 3. DDP
@pytest.mark.slow
def test_two_ddp_processes_take_the_step_one_process_takes(split, tmp_path):
    """posttrain.batch_size=2 over 2 CPU processes (1 prompt each) == 1 process with both prompts, for 2
    steps (step 1 generates with the weights step 0 left, so the ranks' models stayed in sync).

    The tolerance, 2e-4 (2% of one step's change, lr = 0.01) and 99% of the weights within 1e-5: the
    gradients differ by float rounding (~1e-7 relative: DDP averages two 1-prompt backwards, one process
    runs one 2-prompt backward), and Adam's second update, m / sqrt(v), amplifies it where the two steps'
    gradients nearly cancel (measured: 8e-5 at most, 33 of 65536 weights beyond 1e-5). A missing or wrong
    all-reduce moves most weights by O(lr). (Adam is invariant to a uniform gradient scale: a DDP loss
    scaled by a constant would pass here.)"""
    _, one = split
    out = tmp_path / "ddp"
    run_posttrain([*TRAIN, *DDP, *STOPPED_AT_2, f"paths.output_dir={out}"], cwd=tmp_path)
    ddp, one_process = adapter_weights(out / "adapter"), adapter_weights(one)
    assert_same_weights(ddp, one_process, atol=2e-4)
    diff = torch.cat([(ddp[k] - one_process[k]).abs().flatten() for k in ddp])
    assert (diff > 1e-5).float().mean() < 0.01, diff.max()  # most weights agree to 1e-5
    assert sorted(p.name for p in (out / "train_samples").iterdir()) == ["rank0.jsonl", "rank1.jsonl"]
    ranks = [
        [json.loads(line) for line in (out / "train_samples" / f"rank{r}.jsonl").read_text().splitlines()]
        for r in (0, 1)
    ]
    assert all(len(rows) == 2 for rows in ranks)  # 1 prompt per rank and step
    one_samples = read_samples(one.parent / "run")
    one_losses = [r["loss"] for r in rows_of(one.parent / "run", "step") if r["step"] < 2]
    assert [r["loss"] for r in rows_of(out, "step")] == pytest.approx(one_losses, abs=1e-5)
    assert [(r["step"], r["sample_id"], r["responses"]) for r in read_samples(out)] == [
        (r["step"], r["sample_id"], r["responses"]) for r in one_samples if r["step"] < 2
    ]


def test_a_batch_that_does_not_split_over_the_processes_is_refused():
    items = [object()] * 5
    with pytest.raises(ValueError, match=r"posttrain\.batch_size=3 .* 2 processes"):
        StepBatches(items, batch_size=3, seed=0, start=0, rank=0, world=2)
    # the ranks' shares of a step make up its global batch; a resumed stream starts at its step
    shares = [next(iter(StepBatches(list(range(7)), batch_size=4, seed=3, start=5, rank=r, world=2))) for r in (0, 1)]
    assert sorted(shares[0] + shares[1]) == sorted(step_prompts(list(range(7)), 4, 3, 5))


# --------------------------------------------------------------------- 4. generation == entrgi.run
@pytest.mark.slow
def test_step_zero_generates_what_entrgi_run_generates(trained, base_run):
    """Step 0 (LoRA B = 0: the base model) with seed step_seed(seed, 0) draws what ``python -m entrgi.run
    seed=<that>`` draws for the same prompts, with the same schedule, guidance and K."""
    step0 = {r["sample_id"]: r for r in read_samples(trained) if r["step"] == 0}
    records, _ = read_run(base_run)
    assert {r["sample_id"] for r in records} == set(step0)
    for r in records:
        assert r["responses"] == step0[r["sample_id"]]["responses"]
        assert r["rewards"] == pytest.approx(step0[r["sample_id"]]["rewards"], abs=1e-5)


# --------------------------------------------------------------------- 5. model.adapter= in entrgi.run
@pytest.mark.slow
def test_entrgi_run_loads_the_trained_adapter(trained, base_run, tmp_path):
    out = tmp_path / "adapted"
    adapter = trained / "adapter"
    args = [*TINY, *STEP0_DATA, f"seed={step_seed(SEED, 0)}", "save_entropy_maps=false"]
    run_here(out, *args, f"model.adapter={adapter}")
    assert OmegaConf.load(out / "config.yaml").model.adapter == str(adapter)
    adapted, _ = read_run(out)
    base, _ = read_run(base_run)
    assert [r["sample_id"] for r in adapted] == [r["sample_id"] for r in base]
    assert [r["responses"] for r in adapted] != [r["responses"] for r in base]


@pytest.mark.slow
def test_the_saved_adapter_is_the_trained_model(trained):
    """``load_dllm(adapter=...)`` (what model.adapter= does) computes what the module trained: a fresh
    LoRA model given the checkpoint's trainable weights (last.ckpt, step 4). Not the base model."""
    adapted = load_dllm(device="cpu", adapter=str(trained / "adapter"))
    fresh = load_dllm(device="cpu")
    fresh.model = add_lora(fresh.model, r=8, alpha=16, dropout=0.0, target_modules=TESTBED_TARGETS)
    state = torch.load(trained / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    assert state and all(k.startswith("dllm.") and ".lora_" in k for k in state)
    missing, unexpected = fresh.model.load_state_dict(
        {k.removeprefix("dllm."): v for k, v in state.items()}, strict=False
    )
    assert not unexpected and not [k for k in missing if ".lora_" in k]
    base = load_dllm(device="cpu")
    enc = base.encode([[{"role": "user", "content": "describe travel in a positive way ."}]], 8)
    want = fresh.response_logits(enc.tokens, enc.attention_mask, enc.prompt_len)
    got = adapted.response_logits(enc.tokens, enc.attention_mask, enc.prompt_len)
    torch.testing.assert_close(got, want, rtol=0.0, atol=1e-5)
    assert (got - base.response_logits(enc.tokens, enc.attention_mask, enc.prompt_len)).abs().max() > 1e-2


# ----------------------------------------------------------------------------------------- 6. configs
@pytest.mark.parametrize("objective", ["rgrl", "reward_weighted", "bon_sft"])
@pytest.mark.parametrize("estimator", ["one_step", "elbo"])
@pytest.mark.parametrize(
    "model, reward",
    [("testbed", "testbed"), ("dream_7b", "skywork_v2_qwen3_0_6b"), ("llada_8b", "skywork_v2_qwen3_0_6b")],
)
def test_posttrain_composes(model, reward, objective, estimator):
    cfg = compose_posttrain(
        [
            f"model={model}",
            f"reward={reward}",
            f"objective={objective}",
            f"objective.estimator={estimator}",
            "paths.output_dir=x",
        ]
    )
    OmegaConf.to_yaml(cfg, resolve=True)  # every interpolation resolves
    assert list(cfg.lora.target_modules) == list(cfg.model.lora_target_modules) and cfg.lora.target_modules
    assert (cfg.model.adapter, cfg.model.quantization) == (None, None)
    assert job.build_estimator(cfg.objective).name == estimator
    assert instantiate(cfg.objective.loss).name == objective
    assert cfg.data.source.split == "train" and cfg.eval.data.source.split == "heldout"
    if model == "testbed":  # the hub models are not in the cache here: check_config stops at their ids
        job.check_posttrain_config(cfg)


@pytest.mark.parametrize(
    "override, key",
    [
        ("model.quantization=4bit", "model.quantization"),
        ("model.quantization=8bit", "model.quantization"),
        ("objective.estimator=foo", "objective.estimator"),
        ("posttrain.batch_size=0", "posttrain.batch_size"),
        ("eval.every=-1", "eval.every"),
        ("objective.one_step.p_mask_prompt=1.5", "p_mask_prompt"),
    ],
)
def test_bad_values_fail_before_anything_loads(override, key, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        posttrain_here(out, override)
    assert not out.exists()  # failed in check_posttrain_config, before the run folder


def test_4bit_names_the_cpu():
    cfg = compose_posttrain(["model.quantization=4bit", "paths.output_dir=x"])
    with pytest.raises(ValueError, match=r"model\.quantization=4bit needs a CUDA device.*cpu"):
        job.check_posttrain_config(cfg)


@pytest.mark.parametrize("adapter", ["DreamLM", "LLaDALM"])
def test_lora_on_the_tiny_dream_and_llada_checkpoints(tiny_dir, adapter):
    """The tiny checkpoints in Dream's and LLaDA's adapters take a LoRA adapter and train it through
    ``train_logits``. They are the testbed architecture (qkv, proj, mlp.0, mlp.2), not Dream's or
    LLaDA's: their yaml lists (q_proj, ..., attn_out, ff_proj, ff_out) cannot be checked offline here,
    and on these checkpoints add_lora refuses them, naming the missing modules."""
    from entrgi.engine import models

    kwargs = {"mask_token_id": 3} if adapter == "LLaDALM" else {}
    lm = getattr(models, adapter).from_pretrained(str(tiny_dir["dllm"]), dtype="float32", device="cpu", **kwargs)
    for name in ("dream_7b", "llada_8b"):
        targets = list(OmegaConf.load(REPO / "conf" / "model" / f"{name}.yaml").lora_target_modules)
        with pytest.raises(ValueError, match="lora.target_modules names"):
            add_lora(lm.model, r=4, alpha=8, dropout=0.0, target_modules=targets)
    torch.manual_seed(0)
    lm.model = add_lora(lm.model, r=4, alpha=8, dropout=0.0, target_modules=TESTBED_TARGETS)
    trainable = {n for n, p in lm.model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    enc = lm.encode([[{"role": "user", "content": "the cat"}], [{"role": "user", "content": "a dog runs fast"}]], 4)
    frozen = lm.response_logits(enc.tokens, enc.attention_mask, enc.prompt_len)
    logits = lm.train_logits(enc.tokens, enc.attention_mask, enc.prompt_len)
    torch.testing.assert_close(logits.detach(), frozen)  # B = 0: the base model, with or without autograd
    logits.logsumexp(-1).sum().backward()
    grads = {n: p.grad for n, p in lm.model.named_parameters() if p.requires_grad}
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if ".lora_B." in n)

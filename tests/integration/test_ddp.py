"""Two CPU processes with Lightning DDP: every prompt once, results equal to one process (with particles:
FK resampling is within a prompt, so it does not depend on the number of processes either)."""

import pytest
from cli_runs import read_run, run_cli

ARGS = [
    "schedule.steps=4",
    "schedule.max_new_tokens=12",
    "samples_per_prompt=2",
    "data.limit=5",
    "data.batch_size=2",
    "logger=none",
    "save_entropy_maps=false",
]
PARTICLES = ["particles=fk", "particles.every=2"]


@pytest.mark.slow
def test_ddp_two_cpu_processes_match_one_process(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    run_cli([*ARGS, *PARTICLES, f"paths.output_dir={one}"], cwd=tmp_path)
    ddp = ["trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu"]
    run_cli([*ARGS, *PARTICLES, *ddp, f"paths.output_dir={two}"], cwd=tmp_path)
    r1, m1 = read_run(one)
    r2, m2 = read_run(two)
    ids = [r["sample_id"] for r in r2]
    assert len(ids) == len(set(ids)) == 5
    assert m2["world_size"] == 2
    for a, b in zip(r1, r2, strict=True):  # same tokens; rewards up to float rounding of a different text batch
        assert (a["sample_id"], a["responses"], a["best_index"]) == (b["sample_id"], b["responses"], b["best_index"])
        assert a["rewards"] == pytest.approx(b["rewards"], abs=1e-4)
        assert a["ancestry"] == b["ancestry"] and a["ancestry"]["steps"] == [1, 3]
    assert not list((two / "shards").glob("*"))  # merged and cleaned up
    # Hydra's files and the DDP child's log live in the run folder, none in the working directory
    assert (two / "run.log").is_file() and (two / "train_ddp_process_1.log").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]


def test_multirun_with_ddp_is_refused(tmp_path):
    proc = run_cli(
        ["-m", "seed=1,2", "trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu", *ARGS],
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode != 0
    assert "launcher=slurm" in proc.stderr

"""Seeing it: the denoising GIF for any run or sweep (a panel per group), a particle run's lineage and
resamplings in it, and the ESS plot of particle runs (``plots/ess.png``)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from report_runs import STEPS, config, write_method_sweep, write_run

from entrgi import report
from entrgi.analysis.animation import DPI, HEADER_IN, denoising_frames, write_denoising_gif
from entrgi.analysis.lineage import ancestry, compose_parents, origins_at, resampled_at

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run_5efa032"
FK = {"particles._target_": "entrgi.engine.particles.FKSteering"}  # stands in for particles=fk
ANCESTRY = {"steps": [1, 2], "parents": [[0, 0, 2, 2], [1, 1, 1, 3]]}


def _frames(panels: list[tuple[str, dict]]) -> list[np.ndarray]:
    """The GIF's frames as rendered (before the GIF's palette), the header (which counts the steps) cut off."""
    return [frame[int(HEADER_IN * DPI) - 3 :] for frame in denoising_frames(panels)]


def _make_particle_run(folder: Path, seed: int = 1) -> None:
    """A run whose records carry what particle runs write: ``ancestry``, ``trace.ess`` and ``trace.resampled``."""
    write_run(folder, "entrgi", seed, [2.0, 1.0], cfg=config("entrgi", seed, folder, **FK))
    path = folder / "generations.jsonl"
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    for rec in recs:
        rec["responses"] = ["a b c"] * 4
        rec["ancestry"] = ANCESTRY
        rec["trace"]["ess"] = [4.0, 1.5, 1.2, None]
        rec["trace"]["resampled"] = [0.0, 1.0, 1.0, 0.0]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_composing_ancestry_gives_each_slot_its_original_trajectory():
    assert compose_parents([[0, 0, 2, 2], [1, 1, 1, 3]]) == [0, 0, 0, 2]
    assert compose_parents([[0, 0, 2, 2]]) == [0, 0, 2, 2]
    assert compose_parents([], k=3) == [0, 1, 2]
    assert compose_parents([[3, 3, 1, 0], [2, 0, 0, 1]]) == [1, 3, 3, 3]
    assert [origins_at(ANCESTRY, step, 4) for step in range(4)] == [
        [0, 1, 2, 3],
        [0, 0, 2, 2],
        [0, 0, 0, 2],
        [0, 0, 0, 2],
    ]
    assert [resampled_at(ANCESTRY, step) for step in range(4)] == [False, True, True, False]
    assert ancestry({"sample_id": "p0"}) is None
    with pytest.raises(ValueError, match=r"parents\[1\].*slot in 0..3"):
        compose_parents([[0, 0, 2, 2], [0, 4, 0, 0]])
    with pytest.raises(ValueError, match=r"parents\[0\] has 3 slots, expected 4"):
        compose_parents([[0, 0, 2]], k=4)


def test_a_particle_gif_changes_on_the_frames_where_a_resampling_happens(tmp_path):
    order = {"tokens": ["the", "cat", "sat"], "commit_step": [0, 0, 0]}  # the text never changes after frame 0
    plain = {"sample_id": "p0", "prompt": "say p0", "responses": ["a"] * 4, "order": order}
    particle = plain | {"ancestry": {"steps": [2], "parents": [[0, 0, 2, 2]]}}
    trace = {"committed": [3, 3, 3, 3, 3]}  # five frames
    plain_frames = _frames([("bon", plain | {"trace": trace})])
    frames = _frames([("fk", particle | {"trace": trace})])
    assert len(frames) == len(plain_frames) == 5
    assert all(np.array_equal(plain_frames[0], f) for f in plain_frames)  # no ancestry: no change
    same = [np.array_equal(a, b) for a, b in zip(frames, frames[1:], strict=False)]
    assert same == [True, False, False, True]  # the resampling at step 2 flashes, the lineage stays changed
    assert not np.array_equal(frames[1], frames[3])

    def red(frame):
        return int(np.sum((frame[..., 0] > 220) & (frame[..., 1] < 60) & (frame[..., 2] < 60)))

    assert red(frames[2]) > 50 and red(frames[1]) == red(frames[3]) == 0  # the mark on the resampling frame only
    path = write_denoising_gif(
        [("bon", plain | {"trace": trace}), ("fk", particle | {"trace": trace})], tmp_path / "a.gif"
    )
    with Image.open(path) as gif:
        assert gif.n_frames == 5


def test_a_sweep_without_bon_gets_a_gif_with_a_panel_per_group(tmp_path):
    for i, lr in enumerate((0.5, 1.0)):
        write_run(
            tmp_path / str(i),
            "entrgi",
            1,
            [1.0 + i, 1.0],
            cfg=config("entrgi", 1, tmp_path / str(i), **{"guidance.lr": lr}),
        )
    rep = report.load(tmp_path)
    assert not any(g.method == "bon" for g in rep.groups)
    panels = rep.gif_panels()
    assert [title for title, _ in panels] == ["entrgi lr=0.5 (seed 1)", "entrgi lr=1.0 (seed 1)"]  # full labels
    assert all(rec["sample_id"] == "p0" for _, rec in panels)
    assert [rec["sample_id"] for _, rec in rep.gif_panels("p1")] == ["p1", "p1"]
    report.main([str(tmp_path), "--no-wandb"])
    with Image.open(tmp_path / "plots" / "denoising.gif") as gif:
        assert gif.n_frames == STEPS
    assert "![denoising](plots/denoising.gif)" in (tmp_path / "report.md").read_text()


def test_ess_is_plotted_for_the_groups_that_record_it(tmp_path):
    write_run(tmp_path / "0", "entrgi", 1, [1.0, 1.0])
    _make_particle_run(tmp_path / "1")
    rep = report.load(tmp_path)
    fig = rep.plot_ess()
    assert fig is not None
    assert fig.axes[0].get_legend_handles_labels()[1] == ["entrgi+fk"]  # one line: the particle group
    report.main([str(tmp_path), "--no-wandb"])
    assert (tmp_path / "plots" / "ess.png").stat().st_size > 10_000
    md = (tmp_path / "report.md").read_text()
    assert "![ess](plots/ess.png)" in md and "No ess.png" not in md
    with Image.open(tmp_path / "plots" / "denoising.gif") as gif:  # two panels, the particle one with its lineage
        assert gif.n_frames == STEPS


def test_ess_is_skipped_with_its_reason_when_no_run_records_it(tmp_path):
    write_method_sweep(tmp_path)
    assert report.load(tmp_path).plot_ess() is None
    report.main([str(tmp_path), "--no-wandb"])
    assert not (tmp_path / "plots" / "ess.png").exists()
    assert "No ess.png: no run records `trace.ess`" in (tmp_path / "report.md").read_text()


def test_the_old_run_folder_gets_its_gif_and_no_ess(tmp_path):
    old = tmp_path / "run"
    shutil.copytree(FIXTURE, old)
    report.main([str(old), "--no-wandb"])
    with Image.open(old / "plots" / "denoising.gif") as gif:  # one entrgi run, no BoN: one panel
        assert gif.n_frames == 4
    assert "No ess.png" in (old / "report.md").read_text()

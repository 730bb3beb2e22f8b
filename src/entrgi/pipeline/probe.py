"""The soft-input probe as a job (``python -m entrgi.probe``): does the reward model read soft inputs as it
reads hard ones, by entropy, and which method's gradient follows the expected hard reward?

``run(cfg)`` composes like a run (``conf/probe.yaml`` = ``conf/run.yaml`` + ``probe.*`` keys): the dLLM,
the reward, the schedule and the prompt source from their groups; ``guidance`` and ``particles`` are not used. The
trajectories are unguided (BoN-like: the probe rides the denoiser as a guidance that never changes
the logits, :class:`entrgi.engine.probe.SoftReadProbe`), measured at ``probe.stages`` of the steps;
the report goes to ``probe.output_dir`` (:mod:`entrgi.analysis.probe_report`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from entrgi.analysis.probe_report import write_probe_report
from entrgi.engine.checks import require_positive
from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.probe import ProbeSettings, SoftReadProbe, stage_steps
from entrgi.outputs.files import PROBE_CSV, PROBE_ROWS_CSV
from entrgi.pipeline.builders import load_models
from entrgi.pipeline.preflight import check_config, model_devices
from entrgi.pipeline.run_folder import open_job, record_run

log = logging.getLogger(__name__)


def settings_of(cfg: DictConfig) -> ProbeSettings:
    p = cfg.probe
    return ProbeSettings(
        bins=p.bins,
        draws=p.draws,
        st_draws=p.st_draws,
        methods=tuple(p.methods),
        exact_limit=p.exact_limit,
        filtered=p.filtered,
        max_rows=p.max_rows,
    )


def run(cfg: DictConfig, command: str | None = None) -> dict[str, Path]:
    """Generate ``probe.prompts`` prompts x K unguided trajectories, probe them, write the report.
    Returns the written files (``markdown``, ``csv``, ``rows``, ``plot``)."""
    start = time.perf_counter()
    check_probe_config(cfg)
    with open_job(cfg, cfg.probe.output_dir) as output_dir:  # locked, a folder with results refused
        record_run(cfg, output_dir, "probe")
        return _probe(cfg, output_dir, command, start)


def check_probe_config(cfg: DictConfig) -> None:
    """A run's checks (``preflight.check_config``) and the probe's own; no model is loaded."""
    check_config(cfg)
    settings_of(cfg)
    require_positive(cfg.probe.prompts, "probe.prompts")
    if not cfg.probe.get("output_dir"):
        raise ValueError("probe.output_dir is required (the job folder by default)")
    stage_steps(list(cfg.probe.stages), instantiate(cfg.schedule).steps)


def _probe(cfg: DictConfig, output_dir: Path, command: str | None, start: float) -> dict[str, Path]:
    settings = settings_of(cfg)
    schedule = instantiate(cfg.schedule)
    steps = stage_steps(list(cfg.probe.stages), schedule.steps)
    stage_of = {}
    for stage in sorted(cfg.probe.stages):
        stage_of.setdefault(stage_steps([stage], schedule.steps)[0], float(stage))
    items = instantiate(cfg.data.source).load().items[: cfg.probe.prompts]
    if not items:
        raise ValueError("the data gave no prompt to probe (see data.*)")
    devices = model_devices(cfg)
    lm, reward = load_models(cfg, devices)
    probe = SoftReadProbe(steps, settings)
    k = cfg.samples_per_prompt
    denoiser = GuidedDenoiser(
        lm, reward, probe, schedule, samples_per_prompt=k, seed=cfg.seed, max_chunk_bytes=cfg.get("max_chunk_bytes")
    )
    rows, finals = [], []
    for first in range(0, len(items), cfg.data.batch_size):
        batch = items[first : first + cfg.data.batch_size]
        out = denoiser.generate(batch)
        measured = probe.take_rows()
        for r in measured:
            r |= {"stage": stage_of[r["step"]], "sample_id": batch[r["row"] // k].sample_id, "k": r["row"] % k}
        rows += measured
        finals += out.rewards.flatten().tolist()
        log.info("probed %d / %d prompts", min(first + len(batch), len(items)), len(items))
    wall = time.perf_counter() - start
    header = _header(cfg, command, steps, schedule, len(items), finals, wall, torch.get_num_threads())
    written = write_probe_report(output_dir, rows, header, plots=cfg.probe.get("draw_plot", True))
    log.info("probe report: %s (%.0f s)", written["markdown"], wall)
    return written


def _header(cfg, command, steps, schedule, prompts, finals, wall, threads) -> str:
    s = settings_of(cfg)
    target = (
        f"exact (enumerated) where a trajectory's bin has at most {s.exact_limit} joint outcomes, else "
        f"the score-function estimate (REINFORCE, mean baseline) over {s.draws} hard draws"
        if s.exact_limit > 0
        else f"the score-function estimate (REINFORCE, mean baseline) over {s.draws} hard draws"
    )
    dist = "the schedule's top-k / top-p filtered softmax(phi / tau)" if s.filtered else "softmax(phi / tau)"
    name = lambda group: OmegaConf.select(cfg, f"{group}._target_") or "?"  # noqa: E731
    mean_final = sum(finals) / len(finals) if finals else float("nan")
    lines = [
        "# Soft-input probe",
        "",
        f"Command: `{command}`" if command else "",
        f"Models: dLLM `{name('model')}` (path {cfg.model.get('path')}), reward `{name('reward')}` "
        f"(path {cfg.reward.get('path')}); data `{name('data.source')}`; seed {cfg.seed}.",
        f"Trajectories: {prompts} prompts x K={cfg.samples_per_prompt}, unguided, T={schedule.steps}, "
        f"tau={schedule.sampler.temperature}, top_p={schedule.sampler.top_p}, top_k={schedule.sampler.top_k}, "
        f"alg={schedule.alg}; mean final reward {mean_final:.3f}.",
        f"Probed at stages {list(cfg.probe.stages)} of the steps = steps {steps}; {s.bins} equal-width bins of "
        f"H / log V (entropy at temperature 1, EntRGi's w); wall {wall:.0f} s on {threads} CPU threads.",
        "",
        f"One bin at a time, its masked positions are relaxed, every other masked position holds one shared "
        f"hard draw. p = {dist}. `soft − hard` = R(sum_i p_i E_R[i]) − mean R(E_R[x]) over x ~ p; "
        f"`<method> − hard`: the input that method feeds the reward instead (Expectation: softmax(phi / tau) "
        f"unfiltered; APS: a hard draw; EntRGi: the entropy-weighted interpolation; {s.st_draws} draws). "
        f"`cos <method>`: cosine (over the bin's rows of phi) of that method's gradient w.r.t. the logits, one "
        f"draw per inner step, with the gradient of the expected hard reward E_p R; that target is {target} "
        "(the column `target`; `split`: the cosine of the two halves' estimates, the estimate's own noise; "
        "`ceiling` = sqrt(2 split / (1 + split)), the cosine the full estimate is expected to have with the exact "
        "gradient, which caps every `cos` column: a method's cosine with the exact gradient is roughly its `cos` "
        "over the ceiling). Mean ± SEM over trajectories; `÷ hard sd`: the mean "
        "gap over the mean sd of the hard draws' rewards. Every column and per-trajectory row: "
        f"{PROBE_CSV}, {PROBE_ROWS_CSV}.",
    ]
    return "\n".join(line for line in lines if line is not None)

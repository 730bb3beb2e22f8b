"""``python -m entrgi.posttrain [overrides]``: post-train a dLLM on guided completions (RGRL and
variants; the body: :mod:`entrgi.pipeline.posttrain.job`, the config: ``conf/posttrain.yaml``)."""

import hydra
from omegaconf import DictConfig

from entrgi.pipeline import job_dir

job_dir.register()  # before Hydra composes: hydra.run.dir follows paths.output_dir


@hydra.main(version_base="1.3", config_path="pkg://entrgi.conf", config_name="posttrain")
def main(cfg: DictConfig) -> None:
    from entrgi.pipeline.logs import quiet_third_party_logs
    from entrgi.pipeline.posttrain.job import run

    quiet_third_party_logs()
    summary = run(cfg)
    if summary:  # global rank 0
        what = f"{summary['objective']}, {summary['estimator']}"
        print(f"post-trained {summary['steps']} steps ({what}) -> {summary['adapter']}")
        for when in ("before", "after"):
            row = summary.get(when)
            if row:
                judge = "" if row.get("judge_top1") is None else f", judge Top@1 {row['judge_top1']:.4f}"
                print(
                    f"  held-out {when} (step {row['step']}, unguided): reward K=1 {row['reward_k1']:.4f}, "
                    f"Top@1 {row['reward_top1']:.4f}, Avg@N {row['reward_avg']:.4f}{judge}"
                )


if __name__ == "__main__":
    main()

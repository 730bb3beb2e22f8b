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
    run(cfg)


if __name__ == "__main__":
    main()

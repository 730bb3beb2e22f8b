"""``python -m entrgi.run [overrides]``: compose the config with Hydra and run the pipeline."""

import hydra
from omegaconf import DictConfig

from entrgi.pipeline import job_dir

job_dir.register()  # before Hydra composes: hydra.run.dir follows paths.output_dir


@hydra.main(version_base="1.3", config_path="pkg://entrgi.conf", config_name="run")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from entrgi.pipeline.logs import quiet_third_party_logs

    quiet_third_party_logs()  # after Hydra set up logging: one line per message, no product tips
    from entrgi.pipeline import phases as pipeline

    try:
        pipeline.run(cfg)
    except BaseException:  # refused before its first write (a bad value, a busy folder): no folder left behind
        job_dir.discard_if_empty(HydraConfig.get().runtime.output_dir, stop_at=cfg.paths.root_dir)
        raise


if __name__ == "__main__":
    main()

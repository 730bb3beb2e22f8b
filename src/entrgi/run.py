"""``python -m entrgi.run [overrides]``: compose the config with Hydra and run the pipeline."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="pkg://entrgi.conf", config_name="run")
def main(cfg: DictConfig) -> None:
    from entrgi.pipeline.logs import quiet_third_party_logs

    quiet_third_party_logs()  # after Hydra set up logging: one line per message, no product tips
    from entrgi.pipeline import phases as pipeline

    pipeline.run(cfg)


if __name__ == "__main__":
    main()

"""``python -m entrgi.probe [overrides]``: does the reward model read soft inputs as it reads hard ones?

Composes ``conf/probe.yaml`` (the run config plus ``probe.*``) and runs ``pipeline/probe.py``: unguided
trajectories, probed at a few stages; probe.md, probe.csv, probe_rows.csv and probe.png in the job folder.
"""

import sys

import hydra
from omegaconf import DictConfig

from entrgi.pipeline import job_dir

job_dir.register()  # before Hydra composes: hydra.run.dir follows paths.output_dir


@hydra.main(version_base="1.3", config_path="pkg://entrgi.conf", config_name="probe")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from entrgi.pipeline.logs import quiet_third_party_logs

    quiet_third_party_logs()
    from entrgi.pipeline import probe

    try:
        probe.run(cfg, command=" ".join(["python -m entrgi.probe", *sys.argv[1:]]))
    except BaseException:  # refused before its first write: no folder left behind
        job_dir.discard_if_empty(HydraConfig.get().runtime.output_dir, stop_at=cfg.paths.root_dir)
        raise


if __name__ == "__main__":
    main()

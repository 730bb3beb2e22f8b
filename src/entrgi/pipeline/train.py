"""``python -m entrgi.train train=dllm|reward [overrides]``: train a testbed model and ship it.

Composes ``conf/train.yaml`` with a recipe from ``conf/train/``, seeds everything, validates
before and after ``Trainer.fit``, saves the model with ``save_pretrained`` (default: the
package's ``testbed/assets/<name>``) and writes ``training.json`` next to it (validation
metrics before / after, wall time, the resolved config). ``train(cfg)`` is callable from tests.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from entrgi.engine.checks import require_integer, require_positive
from entrgi.testbed import ASSETS


@dataclass
class TrainingResult:
    output_dir: str
    steps: int
    wall_s: float  # inside Trainer.fit (data built and tokenized before)
    before: dict[str, float]  # validation metrics of the initial weights
    after: dict[str, float]  # validation metrics of the trained weights


def _validate(trainer: L.Trainer, module: L.LightningModule, data: L.LightningDataModule) -> dict[str, float]:
    (metrics,) = trainer.validate(module, datamodule=data, verbose=False)
    return {key: float(value) for key, value in metrics.items()}


def check_config(cfg: DictConfig) -> None:
    """Reject bad values before any data is generated or model built, naming the key."""
    # max_steps=-1 would make Lightning train 1000 epochs
    for key, kind in (("max_steps", int), ("batch_size", int), ("lr", float)):
        require_positive(cfg.get(key), key, kind, f"e.g. `python -m entrgi.train train={cfg.name} {key}=...`")
    require_integer(cfg.seed, "seed")


def train(cfg: DictConfig) -> TrainingResult:
    """Train the recipe ``cfg`` describes and save it; returns what ``training.json`` records."""
    check_config(cfg)
    L.seed_everything(cfg.seed, workers=True)
    module = instantiate(cfg.module)
    data = instantiate(cfg.data)
    trainer = instantiate(cfg.trainer)
    data.setup("fit")
    before = _validate(trainer, module, data)
    start = time.perf_counter()
    trainer.fit(module, datamodule=data)
    wall_s = time.perf_counter() - start
    after = _validate(trainer, module, data)
    output_dir = Path(cfg.output_dir) if cfg.output_dir is not None else ASSETS / cfg.name
    module.save_pretrained(output_dir)
    result = TrainingResult(str(output_dir), trainer.global_step, round(wall_s, 1), before, after)
    summary = {
        "recipe": cfg.name,
        "seed": cfg.seed,
        **asdict(result),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    summary.pop("output_dir")  # the file sits in it; an absolute path would tie it to one machine
    (output_dir / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return result


@hydra.main(version_base="1.3", config_path="pkg://entrgi.conf", config_name="train")
def main(cfg: DictConfig) -> None:
    if cfg.output_dir is None:
        print(
            f"output_dir=null: the trained model replaces the shipped one in {ASSETS / cfg.name} "
            "(in a git checkout, `git diff --stat` shows whether it changed; pass output_dir=... to keep it)",
            flush=True,
        )
    result = train(cfg)
    print(
        f"trained {cfg.name} for {result.steps} steps in {result.wall_s:.0f} s -> {result.output_dir}\n"
        f"validation before: {result.before}\nvalidation after:  {result.after}"
    )


if __name__ == "__main__":
    main()

"""What a run checks and decides before any model loads: bad values fail fast, naming the key.

``check_config`` is the pipeline's first phase; ``model_devices`` says where this rank loads each
model (``device_kwarg`` passes it to a model group's constructor).
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig, OmegaConf

from entrgi.engine.checks import require_bool, require_positive
from entrgi.engine.models.dtypes import resolve_device
from entrgi.judges.held_out import check_held_out_judge
from entrgi.pipeline.hub_check import check_hub_paths

_MODEL_GROUPS = ("model", "reward", "judge")
_PRE_LAUNCH_STRATEGIES = ("spawn", "fork", "notebook")  # start their ranks after this process built the models


def check_config(cfg: DictConfig) -> None:
    """Checks that need no model: fail fast, naming the key."""
    require_positive(cfg.get("samples_per_prompt"), "samples_per_prompt (K)")
    require_positive(cfg.data.get("batch_size"), "data.batch_size")
    if cfg.get("max_chunk_bytes") is not None:
        require_positive(
            cfg.max_chunk_bytes, "max_chunk_bytes", hint="bytes per [rows, V] chunk, or null for the default"
        )
    if OmegaConf.is_missing(cfg.data, "path"):  # (`"path" in cfg.data` is False for a missing value)
        raise ValueError(
            "data.path is required for this data option: pass data.path=/path/to/prompts.jsonl (a local file) "
            "or a hub dataset id"
        )
    for key in ("resume", "overwrite", "save_entropy_maps"):
        require_bool(cfg.get(key), key)
    check_held_out_judge(cfg.get("judge"), cfg.get("reward"))  # not the guidance reward as its own judge
    _guard_multirun_ddp(cfg)
    model_devices(cfg)
    check_hub_paths(cfg)  # hub ids: in the cache when offline, the hub answering when online


def model_devices(cfg: DictConfig) -> dict[str, torch.device]:
    """Where this rank loads each model (``{"model": ..., "reward": ...}``, for groups with a ``device``).

    ``device: auto`` is this rank's GPU (``resolve_device``: ``cuda:<local rank>``, or the local
    rank's entry of a ``trainer.devices`` list) when CUDA is available, so each rank loads straight
    onto its own GPU and Lightning's move is a no-op. It is ``cpu`` when ``trainer.accelerator=cpu``
    (where a GPU device is an error) and under spawn/fork strategies, whose ranks start after the
    models are built in this process (Lightning moves them). Bad values fail here, naming the key.
    """
    trainer = cfg.get("trainer") or {}
    accelerator = trainer.get("accelerator")
    pre_launch = any(name in str(trainer.get("strategy", "")) for name in _PRE_LAUNCH_STRATEGIES)
    devices = trainer.get("devices")
    if isinstance(devices, str) and "," in devices:  # Lightning's "0,1" form
        devices = [d for d in devices.split(",") if d.strip()]
    gpu_ids = [int(d) for d in devices] if OmegaConf.is_list(devices) or isinstance(devices, (list, tuple)) else None
    placed = {}
    for group in _MODEL_GROUPS:
        if group not in cfg or "device" not in cfg[group]:
            continue
        device = cfg[group].device
        if pre_launch and device in (None, "auto"):
            device = "cpu"
        placed[group] = resolve_device(device, f"{group}.device", accelerator, gpu_ids)
    return placed


def device_kwarg(devices: dict[str, torch.device], group: str) -> dict[str, str]:
    """``{"device": "cuda:1"}`` for a group placed by :func:`model_devices`, ``{}`` otherwise."""
    return {"device": str(devices[group])} if group in devices else {}


def _guard_multirun_ddp(cfg: DictConfig) -> None:
    """Lightning-spawned DDP inside a Hydra multirun re-runs the whole sweep in each child rank."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN or "BasicLauncher" not in str(hc.launcher.get("_target_", "")):
        return
    devices, nodes = cfg.trainer.get("devices", 1), cfg.trainer.get("num_nodes", 1)
    if str(devices) not in ("1", "auto") or nodes != 1 or "ddp" in str(cfg.trainer.get("strategy", "")):
        raise ValueError(
            "a Hydra multirun with the basic launcher cannot use multi-device DDP "
            f"(trainer.devices={devices}, trainer.num_nodes={nodes}, trainer.strategy={cfg.trainer.get('strategy')}): "
            "Lightning's spawned ranks would re-run the whole sweep. Use launcher=slurm (one SLURM job per run), "
            "or launch one single run per configuration without -m."
        )

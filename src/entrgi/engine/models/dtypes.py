"""Loading helpers shared by the dLLM and reward adapters."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import transformers
from packaging.version import Version

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "float64": torch.float64,
}


def resolve_dtype(dtype: str | torch.dtype, key: str = "model.dtype") -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"{key}={dtype!r} is not a dtype; choose one of {sorted(_DTYPES)}")
    return _DTYPES[dtype]


_RANK_VARS = ("LOCAL_RANK", "SLURM_LOCALID")  # Lightning's launcher and torchrun set the first, srun the second
_DEVICE_TYPES = ("cpu", "cuda", "mps")


def local_rank() -> int:
    """This process's rank on its node: ``LOCAL_RANK``, else ``SLURM_LOCALID``, else 0."""
    for var in _RANK_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            if not value.isdigit():
                raise ValueError(f"{var}={value!r} is not a local rank (a non-negative integer)")
            return int(value)
    return 0


def resolve_device(
    device: str | int | torch.device | None = None,
    key: str = "model.device",
    accelerator: str | None = None,
    gpu_ids: Sequence[int] | None = None,
) -> torch.device:
    """The device this rank loads a model onto; errors name ``key`` and come before any weights load.

    ``auto`` (or None) is this rank's GPU when CUDA is available, else ``cpu``. This rank's GPU is
    ``cuda:<local rank>`` (see ``local_rank``), or ``cuda:<gpu_ids[local rank]>`` when the trainer
    lists its GPUs (``trainer.devices=[2,3]``); a bare ``cuda`` means the same. ``cpu``, ``cuda:N``
    and ``mps`` are taken as given. ``accelerator`` is the trainer's: under ``"cpu"``, ``auto`` is
    ``cpu`` and a GPU device is an error, so a CPU trainer never gets a model on a GPU.
    """
    hint = f"use {key}=auto (this rank's GPU, else cpu), cpu, cuda or cuda:N"
    on_cpu = accelerator is not None and str(accelerator).lower() == "cpu"
    given = "auto" if device is None else device  # named in errors
    if device is None or device == "auto":
        if on_cpu or not torch.cuda.is_available():
            return torch.device("cpu")
        device = "cuda"
    if isinstance(device, int) and not isinstance(device, bool):
        device = f"cuda:{device}"  # `model.device=1` on the command line
    try:
        dev = device if isinstance(device, torch.device) else torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"{key}={given!r} is not a device; {hint}") from None
    if dev.type not in _DEVICE_TYPES:
        raise ValueError(f"{key}={given!r} is not a device models run on here; {hint}")
    if on_cpu and dev.type != "cpu":
        raise ValueError(
            f"{key}={given!r} puts the model on {dev.type} but trainer.accelerator=cpu; use {key}=auto or {key}=cpu"
        )
    if dev.type != "cuda":
        return dev
    if not torch.cuda.is_available():
        raise ValueError(f"{key}={given!r} but CUDA is not available to this process; {hint}")
    if dev.index is None:
        rank = local_rank()
        if gpu_ids is not None and rank >= len(gpu_ids):
            raise ValueError(f"{key}={given!r}: local rank {rank} has no entry in trainer.devices={list(gpu_ids)}")
        dev = torch.device("cuda", int(gpu_ids[rank]) if gpu_ids is not None else rank)
    count = torch.cuda.device_count()
    if dev.index >= count:
        raise ValueError(
            f"{key}={given!r} resolves to {dev} (local rank {local_rank()}), but this process sees "
            f"{count} CUDA device(s) (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}); "
            f"set {key}=cuda:N explicitly"
        )
    return dev


def dtype_kwarg(dtype: torch.dtype) -> dict:
    """``from_pretrained`` renamed ``torch_dtype`` to ``dtype`` in transformers 4.56."""
    key = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
    return {key: dtype}

"""Loading helpers shared by the dLLM and reward adapters."""

from __future__ import annotations

import torch
import transformers
from packaging.version import Version

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16, "float64": torch.float64}


def resolve_dtype(dtype: str | torch.dtype, key: str = "model.dtype") -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"{key}={dtype!r} is not a dtype; choose one of {sorted(_DTYPES)}")
    return _DTYPES[dtype]


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def dtype_kwarg(dtype: torch.dtype) -> dict:
    """``from_pretrained`` renamed ``torch_dtype`` to ``dtype`` in transformers 4.56."""
    key = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
    return {key: dtype}

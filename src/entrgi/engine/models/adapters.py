"""LoRA adapters (peft) and 4-bit loading (bitsandbytes) of a dLLM, for post-training and for
evaluating a post-trained model with ``model.adapter=PATH``.

An adapter is saved in peft's own format (``adapter_config.json`` + ``adapter_model.safetensors``),
so ``peft.PeftModel.from_pretrained`` reads it anywhere. The base weights are never changed: only
the LoRA matrices train, and a loaded adapter is kept unmerged (the same computation as in training).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from entrgi.engine.checks import require_positive

log = logging.getLogger(__name__)

QUANTIZATIONS = ("4bit",)


def check_quantization(quantization: str | None, device: torch.device, key: str = "model.quantization") -> None:
    """``null`` or ``4bit``; 4-bit needs CUDA (bitsandbytes' kernels). Raises before any weights load."""
    if quantization in (None, "none"):
        return
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"{key}={quantization!r} is not a quantization; choose null or 4bit")
    if device.type != "cuda":
        raise ValueError(
            f"{key}=4bit needs a CUDA device (bitsandbytes' 4-bit kernels), but this model loads onto {device}; "
            f"set {key}=null to train in full precision on the CPU"
        )


def quantization_kwargs(quantization: str | None, device: torch.device, key: str = "model.quantization") -> dict:
    """``from_pretrained`` keyword arguments for ``quantization`` (none for ``null``): NF4 weights with
    bf16 compute and double quantization, placed on ``device`` (QLoRA's recipe)."""
    check_quantization(quantization, device, key)
    if quantization in (None, "none"):
        return {}
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ImportError(f"{key}=4bit needs bitsandbytes: pip install bitsandbytes") from None
    from transformers import BitsAndBytesConfig

    config = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=torch.bfloat16,
        bnb_4bit_use_double_quant=True,
    )
    return {"quantization_config": config, "device_map": {"": device}}


def add_lora(
    model: torch.nn.Module,
    *,
    r: int,
    alpha: float,
    dropout: float,
    target_modules: Sequence[str],
    quantized: bool = False,
) -> torch.nn.Module:
    """Wrap ``model`` in a fresh LoRA adapter (peft): only the adapter's matrices require gradients.
    ``target_modules``: the names of the linear layers to adapt (``model.lora_target_modules``)."""
    require_positive(r, "lora.r")
    require_positive(alpha, "lora.alpha", float)
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"lora.dropout must be in [0, 1), got {dropout!r}")
    if not target_modules:
        raise ValueError(
            "lora.target_modules is empty; name the linear layers to adapt (model.lora_target_modules sets them "
            "per model family, e.g. [q_proj, k_proj, v_proj, o_proj, up_proj, down_proj, gate_proj])"
        )
    from peft import LoraConfig, get_peft_model

    names = [name for name, _ in model.named_modules() if name]
    missing = [t for t in target_modules if not any(n == t or n.endswith(f".{t}") for n in names)]
    if missing:  # peft matches a target against the end of each module's dotted name
        leaves = sorted({n.rsplit(".", 1)[-1] for n in names})
        raise ValueError(
            f"lora.target_modules names {missing}, which the model does not have; its module names end in {leaves[:30]}"
        )
    if quantized:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    config = LoraConfig(
        r=int(r), lora_alpha=float(alpha), lora_dropout=float(dropout), target_modules=list(target_modules)
    )
    return get_peft_model(model, config)


def load_adapter(model: torch.nn.Module, path: str | Path) -> torch.nn.Module:
    """``model`` with the LoRA adapter saved at ``path`` (peft's format), frozen, unmerged."""
    path = Path(path)
    if not (path / "adapter_config.json").is_file():
        raise FileNotFoundError(
            f"model.adapter={str(path)!r} holds no adapter_config.json; point it at a folder written by "
            "python -m entrgi.posttrain (its adapter/ folder) or by peft's save_pretrained"
        )
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(path), is_trainable=False)


def enable_gradient_checkpointing(model: torch.nn.Module) -> bool:
    """Turn on activation checkpointing when the model supports it; returns whether it did."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not getattr(base, "supports_gradient_checkpointing", False):
        log.warning("%s does not support gradient checkpointing; training without it", type(base).__name__)
        return False
    base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if hasattr(base, "enable_input_require_grads"):
        base.enable_input_require_grads()
    return True

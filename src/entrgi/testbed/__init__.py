"""The embedded testbed: a synthetic language, its oracle, and the shipped tiny dLLM and reward model.

``load_dllm()`` / ``load_reward()`` load the weights shipped under ``ASSETS`` (trained by
``python -m entrgi.train train=dllm|reward``) through the same ``from_pretrained`` code paths
real checkpoints use; pass ``path`` to load another directory in the same format. ``device="auto"``
is this rank's GPU when CUDA is available, else cpu (``entrgi.engine.models.dtypes.resolve_device``).

Here: the language (``lexicon`` tables, ``language`` sampler), its ``oracle`` and ``judge``, the
``tokenizers`` and the dLLM's modeling file. The recipes that trained the assets are in ``testbed.training``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from entrgi.engine.models.hf import BidirectionalLM
from entrgi.engine.models.reward import SequenceClassifierReward

ASSETS = Path(__file__).parent / "assets"


def _checkpoint(path: str | Path | None, name: str) -> str:
    directory = Path(path) if path is not None else ASSETS / name
    if not (directory / "config.json").is_file():
        hint = f"train it with `python -m entrgi.train train={name}`" if path is None else "check the path"
        raise FileNotFoundError(f"no testbed {name} checkpoint in {directory} (config.json missing); {hint}")
    return str(directory)


def load_dllm(
    path: str | Path | None = None,
    device: str = "auto",
    dtype: str = "float32",
    stop_tokens: Sequence[str] = (),
    adapter: str | None = None,
    quantization: str | None = None,
    lora_target_modules: Sequence[str] = (),
) -> BidirectionalLM:
    """The testbed dLLM (``path=None``: the shipped weights), loaded with ``trust_remote_code``: its
    modeling code is this package's own (``testbed/modeling_tiny_dllm.py``, copied next to the weights).
    ``stop_tokens``: stops besides eos and pad (``model.stop_tokens``); ``adapter``, ``quantization``,
    ``lora_target_modules``: as for ``HFDiffusionLM.from_pretrained`` (a post-trained LoRA adapter)."""
    return BidirectionalLM.from_pretrained(
        _checkpoint(path, "dllm"),
        dtype=dtype,
        device=device,
        trust_remote_code=True,
        stop_tokens=stop_tokens,
        adapter=adapter,
        quantization=quantization,
        lora_target_modules=lora_target_modules,
    )


def load_reward(
    path: str | Path | None = None, device: str = "auto", dtype: str = "float32", **options
) -> SequenceClassifierReward:
    """The testbed reward model (``path=None``: the shipped weights); ``options``: the keys every
    transformers-backed reward takes (``position_ids``, ``vocab_fallback``, ...; ``HFRewardModel``)."""
    return SequenceClassifierReward.from_pretrained(_checkpoint(path, "reward"), dtype=dtype, device=device, **options)

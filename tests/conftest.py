import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

import tiny_models  # noqa: E402


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """A tiny dLLM and reward model checkpoint pair on disk."""
    root = tmp_path_factory.mktemp("tiny")
    return {"dllm": tiny_models.save_dllm(root / "dllm"), "reward": tiny_models.save_reward(root / "reward")}


@pytest.fixture(scope="module")
def lm(tiny_dir):
    """The tiny dLLM through the Dream adapter, fp32 on CPU (one per test module)."""
    from entrgi.engine.models import DreamLM

    return DreamLM.from_pretrained(str(tiny_dir["dllm"]), dtype="float32", device="cpu")


@pytest.fixture(scope="module")
def reward(tiny_dir):
    """The tiny sequence-classification reward model, fp32 on CPU (one per test module)."""
    from entrgi.engine.models import SequenceClassifierReward

    return SequenceClassifierReward.from_pretrained(str(tiny_dir["reward"]), dtype="float32", device="cpu")

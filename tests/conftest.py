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

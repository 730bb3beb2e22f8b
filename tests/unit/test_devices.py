"""Where each rank loads its models (``device: auto``), and the memory stats of a run.

CUDA is simulated by monkeypatching ``torch.cuda.is_available`` / ``device_count``: no test here
puts a tensor on a GPU.
"""

import json

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from entrgi.engine.models import DreamLM, SequenceClassifierReward
from entrgi.engine.models import hf as hf_mod
from entrgi.engine.models import hf_reward as hf_reward_mod
from entrgi.engine.models import reward as reward_mod
from entrgi.engine.models.dtypes import local_rank, resolve_device
from entrgi.pipeline import phases as pipeline
from entrgi.pipeline.callbacks import writer as writer_mod
from entrgi.pipeline.preflight import device_kwarg, model_devices


@pytest.fixture
def no_rank_env(monkeypatch):
    for var in ("LOCAL_RANK", "SLURM_LOCALID"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.fixture
def cuda(no_rank_env):
    """Pretend this process sees 8 GPUs."""
    no_rank_env.setattr(torch.cuda, "is_available", lambda: True)
    no_rank_env.setattr(torch.cuda, "device_count", lambda: 8)
    return no_rank_env


@pytest.fixture
def no_cuda(no_rank_env):
    no_rank_env.setattr(torch.cuda, "is_available", lambda: False)
    return no_rank_env


def compose_run(overrides):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return compose("run", overrides=[*overrides, "paths.output_dir=x"])


def test_auto_is_this_ranks_gpu(cuda):
    assert resolve_device("auto") == resolve_device(None) == torch.device("cuda", 0)  # no rank env: rank 0
    cuda.setenv("SLURM_LOCALID", "5")
    assert local_rank() == 5 and resolve_device("auto") == torch.device("cuda", 5)
    cuda.setenv("LOCAL_RANK", "3")  # Lightning / torchrun's variable wins over SLURM's
    assert local_rank() == 3 and resolve_device("auto") == torch.device("cuda", 3)
    assert resolve_device("cuda") == torch.device("cuda", 3)  # a bare "cuda" is this rank's GPU too
    assert resolve_device("cuda:6") == torch.device("cuda", 6)  # explicit devices are taken as given
    assert resolve_device(1) == torch.device("cuda", 1)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto", gpu_ids=[4, 5, 6, 7]) == torch.device("cuda", 7)  # trainer.devices=[4,5,6,7]


def test_auto_without_cuda_is_cpu_on_every_rank(no_cuda):
    no_cuda.setenv("LOCAL_RANK", "3")
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"model\.device='cuda:0' but CUDA is not available"):
        resolve_device("cuda:0")


def test_cpu_trainer_never_gets_a_gpu(cuda):
    cuda.setenv("LOCAL_RANK", "2")
    assert resolve_device("auto", accelerator="cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"reward\.device='cuda:1'.*trainer\.accelerator=cpu"):
        resolve_device("cuda:1", "reward.device", accelerator="cpu")
    cfg = compose_run(["trainer=cpu"])
    assert model_devices(cfg) == {"model": torch.device("cpu"), "reward": torch.device("cpu")}
    cfg = compose_run(["trainer=gpu"])
    assert model_devices(cfg) == {"model": torch.device("cuda", 2), "reward": torch.device("cuda", 2)}
    cfg = compose_run(["trainer=ddp", "trainer.devices=[6,7]", "trainer.strategy=ddp"])
    cuda.setenv("LOCAL_RANK", "1")
    assert model_devices(cfg)["model"] == torch.device("cuda", 7)
    cfg = compose_run(["trainer=ddp", "trainer.strategy=ddp_spawn"])  # ranks start after this process loads
    assert model_devices(cfg)["reward"] == torch.device("cpu")


@pytest.mark.parametrize("value", ["gpu0", "meta", "cuda:x", ""])
def test_bad_values_name_the_key(no_cuda, value):
    with pytest.raises(ValueError, match=rf"model\.device={value!r} is not a device"):
        resolve_device(value)
    with pytest.raises(ValueError, match=r"reward\.device="):
        resolve_device(value, "reward.device")


def test_local_rank_out_of_range_and_bad_env(cuda):
    cuda.setenv("LOCAL_RANK", "9")
    with pytest.raises(ValueError, match=r"model\.device='auto' resolves to cuda:9 .* sees 8 CUDA device"):
        resolve_device("auto")
    cuda.setenv("LOCAL_RANK", "one")
    with pytest.raises(ValueError, match="LOCAL_RANK='one'"):
        resolve_device("auto")


def test_bad_device_fails_before_any_file_is_read(no_cuda):
    def loaded(*args, **kwargs):
        raise AssertionError("from_pretrained read files before checking the device")

    for mod, name in (
        (hf_mod, "AutoModel"),
        (hf_mod, "AutoTokenizer"),
        (hf_reward_mod, "AutoTokenizer"),
        (reward_mod, "AutoModelForSequenceClassification"),
    ):
        no_cuda.setattr(getattr(mod, name), "from_pretrained", loaded)
    with pytest.raises(ValueError, match=r"model\.device='gpu0'"):
        DreamLM.from_pretrained("org/absent", device="gpu0")
    with pytest.raises(ValueError, match=r"reward\.device='gpu0'"):
        SequenceClassifierReward.from_pretrained("org/absent", device="gpu0")
    # the run checks both keys first: a bad reward.device fails before the dLLM loads
    cfg = compose_run(["reward.device=gpu0"])
    with pytest.raises(ValueError, match=r"reward\.device='gpu0'"):
        pipeline.run(cfg)


def test_tiny_checkpoints_load_onto_the_resolved_device_through_the_configs(no_cuda, tiny_dir):
    cfg = compose_run(
        [
            "model=dream_7b",
            f"model.path={tiny_dir['dllm']}",
            "model.dtype=float32",
            "reward=skywork_v2_qwen3_0_6b",
            f"reward.path={tiny_dir['reward']}",
            "reward.dtype=float32",
            "trainer=cpu",
        ]
    )
    assert cfg.model.device == cfg.reward.device == "auto"
    devices = model_devices(cfg)
    lm = instantiate(cfg.model, **device_kwarg(devices, "model"))
    reward = instantiate(cfg.reward, **device_kwarg(devices, "reward"))
    assert lm.device == devices["model"] == torch.device("cpu")
    assert reward.device == devices["reward"] == torch.device("cpu")
    assert lm.model.config._attn_implementation == reward.model.config._attn_implementation == "sdpa"
    # the shipped testbed models take the same route
    cfg = compose_run([])
    devices = model_devices(cfg)
    assert devices == {"model": torch.device("cpu"), "reward": torch.device("cpu")}
    assert instantiate(cfg.model, **device_kwarg(devices, "model")).device == torch.device("cpu")


class _Module:
    def __init__(self, device):
        self.device = torch.device(device)


class _Trainer:
    global_rank, world_size, is_global_zero = 0, 1, True

    class strategy:  # noqa: N801
        @staticmethod
        def barrier(name):
            pass

        @staticmethod
        def broadcast(obj, src=0):
            return obj


def test_memory_stats_on_cpu(tmp_path):
    w = writer_mod.JsonlPredictionWriter(output_dir=tmp_path, method="bon", seed=0, order={})
    w.on_predict_start(_Trainer(), _Module("cpu"))
    w.on_predict_end(_Trainer(), _Module("cpu"))
    assert w.merged_stats["peak_gpu_memory_bytes"] is None
    assert w.merged_stats["peak_memory_bytes"] > 0  # the process's peak host RSS


def test_gpu_peak_is_reset_at_predict_start_and_maxed_over_ranks(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device: calls.append(("reset", device)))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: 7 << 30)
    w = writer_mod.JsonlPredictionWriter(output_dir=tmp_path, method="bon", seed=0, order={})
    w.on_predict_start(_Trainer(), _Module("cuda:1"))
    assert calls == [("reset", torch.device("cuda", 1))]
    other = {
        "generation_wall_s": 1.0,
        "generated_tokens": 0,
        "dllm_calls": 0,
        "reward_calls": 0,
        "peak_memory_bytes": 1,
        "peak_gpu_memory_bytes": 9 << 30,
    }
    (tmp_path / "shards" / "rank1.stats.json").write_text(json.dumps(other))
    w.on_predict_end(_Trainer(), _Module("cuda:1"))
    assert w.merged_stats["peak_gpu_memory_bytes"] == 9 << 30
    assert w.merged_stats["world_size"] == 1

"""Hub ids that cannot load fail in check_config, before any model loads, in one line naming the key."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import datasets.config
import huggingface_hub.constants
import pytest
import transformers.utils.hub
from hydra import compose, initialize_config_module
from omegaconf import open_dict

from entrgi.pipeline.hub_check import HUB_KEYS, HubIdUnavailable, check_hub_paths, hub_id
from entrgi.pipeline.preflight import check_config

OPTIONS = [  # (overrides, the key named, the hub id)
    (["model=dream_7b"], "model.path", "Dream-org/Dream-v0-Instruct-7B"),
    (["reward=skywork_v2_qwen3_0_6b"], "reward.path", "Skywork/Skywork-Reward-V2-Qwen3-0.6B"),
    (["judge=reward_model"], "judge.path", "Skywork/Skywork-Reward-V2-Qwen3-4B"),
    (["data=rm_bench"], "data.path", "THU-KEG/RM-Bench"),
]


def config(overrides: list[str]):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return compose("run", [*overrides, "paths.output_dir=x"])


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty hub cache and datasets cache of the test's own; no proxy between the test and 127.0.0.1."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(transformers.utils.hub, "TRANSFORMERS_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def offline(cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


@pytest.fixture
def online(cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    return cache


def put_in_cache(root: Path, repo_id: str, kind: str) -> None:
    """What a download leaves: a snapshot of the repo in the hub cache."""
    folder = root / "hub" / f"{kind}s--{repo_id.replace('/', '--')}"
    (folder / "snapshots" / "abc123").mkdir(parents=True)
    (folder / "snapshots" / "abc123" / "config.json").write_text("{}")
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("abc123")


@pytest.mark.parametrize("overrides, key, repo_id", OPTIONS)
def test_offline_and_not_cached_fails_in_one_line_naming_the_key(offline, overrides, key, repo_id):
    started = time.monotonic()
    with pytest.raises(HubIdUnavailable) as err:
        check_config(config(overrides))
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{key}={repo_id!r}")
    assert f"{key}=/path/to/local/" in message and "HF_HUB_OFFLINE" in message
    assert time.monotonic() - started < 5  # not a minute of retries


@pytest.mark.parametrize("overrides, key, repo_id", OPTIONS)
def test_offline_and_cached_passes(offline, overrides, key, repo_id):
    put_in_cache(offline, repo_id, "dataset" if key.startswith("data") else "model")
    check_config(config(overrides))


def test_a_model_in_transformers_own_cache_counts_as_cached(offline, monkeypatch):
    monkeypatch.setattr(transformers.utils.hub, "TRANSFORMERS_CACHE", str(offline / "transformers" / "hub"))
    put_in_cache(offline / "transformers", "Dream-org/Dream-v0-Instruct-7B", "model")
    check_config(config(["model=dream_7b"]))


def test_a_dataset_prepared_by_datasets_counts_as_cached(offline):
    (offline / "datasets" / "THU-KEG___rm-bench" / "default" / "0.0.0" / "f00").mkdir(parents=True)
    check_config(config(["data=rm_bench"]))


def test_local_paths_and_the_testbed_are_not_checked(offline, tiny_dir, tmp_path):
    check_config(config([]))  # the testbed: package assets, path null
    check_config(config(["model=dream_7b", f"model.path={tiny_dir['dllm']}", f"reward.path={tiny_dir['reward']}"]))
    data = tmp_path / "prompts.jsonl"
    data.write_text('{"prompt": "a"}\n')
    check_config(config(["data=jsonl", f"data.path={data}"]))


@pytest.mark.parametrize(
    "value, kind, expected",
    [
        ("org/name", "model", "org/name"),
        ("gpt2", "model", "gpt2"),
        ("/abs/model", "model", None),
        ("./rel/model", "model", None),
        ("~/model", "model", None),
        ("a/b/c", "model", None),
        (None, "model", None),
        ("prompts.jsonl", "dataset", None),
        ("THU-KEG/RM-Bench", "dataset", "THU-KEG/RM-Bench"),
    ],
)
def test_what_reads_as_a_hub_id(value, kind, expected):
    assert hub_id(value, kind) == expected


def test_the_keys_are_a_list_not_a_branch_per_model():
    cfg = config([])
    with open_dict(cfg):
        cfg.model.my_weights = "org/uncached"  # a new key joins by one entry
    check_hub_paths(cfg)
    with pytest.raises(HubIdUnavailable, match=r"^model\.my_weights='org/uncached'"):
        check_hub_paths(cfg, {**HUB_KEYS, "model.my_weights": "model"})


def silent_endpoint() -> tuple[socket.socket, str]:
    """A port that accepts connections and never answers (as a hub behind a dead proxy)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_online_with_a_silent_hub_fails_within_a_second_or_so(online, monkeypatch):
    sock, url = silent_endpoint()
    monkeypatch.setenv("HF_ENDPOINT", url)
    started = time.monotonic()
    try:
        with pytest.raises(HubIdUnavailable) as err:
            check_config(config(["model=dream_7b"]))
    finally:
        sock.close()
    message = str(err.value)
    assert "\n" not in message and message.startswith("model.path='Dream-org/Dream-v0-Instruct-7B'")
    assert url in message and "HF_ENDPOINT" in message and "model.path=/path/to/local/snapshot" in message
    assert time.monotonic() - started < 5


def test_online_with_a_silent_hub_and_a_cached_id_warns(online, monkeypatch, caplog):
    put_in_cache(online, "Dream-org/Dream-v0-Instruct-7B", "model")
    sock, url = silent_endpoint()
    monkeypatch.setenv("HF_ENDPOINT", url)
    try:
        check_config(config(["model=dream_7b"]))
    finally:
        sock.close()
    assert "HF_HUB_OFFLINE=1" in caplog.text and "model.path='Dream-org/Dream-v0-Instruct-7B'" in caplog.text


class _Hub(BaseHTTPRequestHandler):
    def do_HEAD(self):  # noqa: N802 (http.server's name)
        self.send_response(401)  # any answer: the hub is reachable
        self.end_headers()

    def log_message(self, *args):
        pass


def test_online_with_a_hub_that_answers_passes(online, monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        check_config(config(["model=dream_7b", "data=rm_bench"]))
    finally:
        server.shutdown()
        server.server_close()

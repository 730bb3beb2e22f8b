"""Hub ids in a run's config, checked before any model loads: one line within a second, not a minute of retries.

``HUB_KEYS`` lists the config keys that may hold a Hugging Face Hub id and the kind of repository
each names; a new model group or data option with a ``path`` joins by one entry, never a branch.
A value is checked when it is a string that is not an existing local file or folder and reads as
a hub id (``org/name`` or ``name``; a data path written as a path or a data file is local,
``entrgi.data.origin.is_local``). Offline (``HF_HUB_OFFLINE=1``, or ``TRANSFORMERS_OFFLINE`` /
``HF_DATASETS_OFFLINE`` for that kind), the id must be in the local cache; online, the hub
(``HF_ENDPOINT``) must answer within ``PROBE_SECONDS``, else an id not in the cache is an error
and one in the cache a warning (the loaders would wait for the hub before using the cache).
"""

from __future__ import annotations

import glob
import logging
import os
import threading
import urllib.error
import urllib.request

import datasets.config
from datasets.naming import camelcase_to_snakecase
from huggingface_hub import constants, try_to_load_from_cache
from huggingface_hub.errors import HFValidationError
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.utils import validate_repo_id
from omegaconf import DictConfig, OmegaConf

from entrgi.data.origin import is_local

log = logging.getLogger(__name__)

# config key -> the kind of hub repository it may name (data.source.path is data.path by interpolation)
HUB_KEYS: dict[str, str] = {
    "model.path": "model",
    "reward.path": "model",
    "judge.path": "model",
    "data.path": "dataset",
    "data.source.path": "dataset",
}
PROBE_SECONDS = 1.0  # how long the hub may take to answer
_OFFLINE_VARIABLES = {
    "model": ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"),
    "dataset": ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"),
}
_REPO_TYPE_FLAG = {"model": "", "dataset": " --repo-type dataset"}
_LOCAL_EXAMPLE = {"model": "/path/to/local/snapshot", "dataset": "/path/to/local/dataset"}


class HubIdUnavailable(ValueError):
    """A config key names a hub id that this run cannot load (offline and not cached, or the hub unreachable)."""


def check_hub_paths(cfg: DictConfig, keys: dict[str, str] = HUB_KEYS) -> None:
    """Raise ``HubIdUnavailable`` (one line: the key, the id, the fix) for the first hub id that cannot load."""
    answers: bool | None = None  # the hub probed once, and only when an online id needs it
    seen: set[tuple[str, str]] = set()
    for key, kind in keys.items():
        repo_id = hub_id(_value(cfg, key), kind)
        if repo_id is None or (repo_id, kind) in seen:
            continue
        seen.add((repo_id, kind))
        cached = is_cached(repo_id, kind)
        fix = f"point it at a local folder ({key}={_LOCAL_EXAMPLE[kind]})"
        variable = offline(kind)
        if variable:
            if not cached:
                raise HubIdUnavailable(
                    f"{key}={repo_id!r} is neither a local path nor a Hugging Face Hub {kind} in the local cache "
                    f"({_cache_dir(kind)}), and {variable}=1 forbids downloading it: {fix}, or unset {variable} "
                    "where the hub is reachable."
                )
            continue
        if answers is None:
            answers = hub_answers(endpoint())
        if answers:
            continue
        if cached:
            log.warning(
                "the Hugging Face Hub (%s) did not answer within %.0f s; %s=%r is in the local cache: set "
                "HF_HUB_OFFLINE=1 to load it from there without waiting for the hub.",
                endpoint(),
                PROBE_SECONDS,
                key,
                repo_id,
            )
            continue
        raise HubIdUnavailable(
            f"{key}={repo_id!r} is neither a local path nor a Hugging Face Hub {kind} in the local cache, and the hub "
            f"({endpoint()}, HF_ENDPOINT) did not answer within {PROBE_SECONDS:.0f} s: {fix}, or download it where "
            f"there is network (huggingface-cli download{_REPO_TYPE_FLAG[kind]} {repo_id}) and set HF_HUB_OFFLINE=1."
        )


def hub_id(value: object, kind: str) -> str | None:
    """``value`` if it reads as a hub id and is no existing local path, else None."""
    if not isinstance(value, str) or not value or os.path.exists(os.path.expanduser(value)):
        return None
    if kind == "dataset" and is_local(value):
        return None
    try:
        validate_repo_id(value)  # refuses "/x", "./x", "~/x", "a/b/c", "C:\\x"
    except HFValidationError:
        return None
    return value


def offline(kind: str) -> str | None:
    """The variable that keeps the loaders of ``kind`` off the hub (as set now, or as read at import), or None."""
    for name in _OFFLINE_VARIABLES[kind]:
        if _truthy(os.environ.get(name)):
            return name
    imported = datasets.config.HF_HUB_OFFLINE if kind == "dataset" else constants.HF_HUB_OFFLINE
    return "HF_HUB_OFFLINE" if imported else None


def is_cached(repo_id: str, kind: str) -> bool:
    """Whether the local cache holds ``repo_id``: a hub cache snapshot, or (a dataset) one in ``datasets``' cache."""
    for cache in _hub_caches(kind):
        if kind == "model" and isinstance(try_to_load_from_cache(repo_id, "config.json", cache_dir=cache), str):
            return True
        snapshots = os.path.join(cache, repo_folder_name(repo_id=repo_id, repo_type=kind), "snapshots")
        if os.path.isdir(snapshots) and os.listdir(snapshots):
            return True
    if kind != "dataset":
        return False
    parts = repo_id.split("/")  # as datasets' CachedDatasetModuleFactory finds a prepared dataset
    parts[-1] = camelcase_to_snakecase(parts[-1])
    root = os.path.join(os.path.expanduser(str(datasets.config.HF_DATASETS_CACHE)), "___".join(parts))
    return any(os.path.isdir(p) for p in glob.glob(os.path.join(glob.escape(root), "*", "*", "*")))


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def hub_answers(url: str, seconds: float = PROBE_SECONDS) -> bool:
    """True when ``url`` gives any HTTP answer within ``seconds`` (name resolution included)."""
    answered: list[bool] = []

    def probe() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=seconds).close()
        except urllib.error.HTTPError:  # an HTTP status is an answer
            pass
        except (OSError, ValueError):
            return
        answered.append(True)

    thread = threading.Thread(target=probe, name="entrgi-hub-probe", daemon=True)
    thread.start()
    thread.join(seconds)
    return bool(answered)


def _hub_caches(kind: str) -> list[str]:
    """The hub caches the loaders of ``kind`` read: transformers' own (``TRANSFORMERS_CACHE``) may differ."""
    caches = [str(constants.HF_HUB_CACHE)]
    if kind == "model":
        from transformers.utils import hub as transformers_hub

        caches.append(str(transformers_hub.TRANSFORMERS_CACHE))
    return list(dict.fromkeys(caches))


def _cache_dir(kind: str) -> str:
    caches = _hub_caches(kind) + ([str(datasets.config.HF_DATASETS_CACHE)] if kind == "dataset" else [])
    return " or ".join(caches)


def _value(cfg: DictConfig, key: str) -> object:
    try:
        return OmegaConf.select(cfg, key, default=None)
    except Exception:  # a missing or broken interpolation: the checks before this one name it
        return None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}

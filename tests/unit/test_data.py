"""Prompt sources on tiny local datasets written in the real hub formats (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import huggingface_hub.constants
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from torch.utils.data import DataLoader

from entrgi.data import PromptDataset, PromptSource, TestbedPromptSource, collate_prompts, filter_done
from entrgi.data.origin import is_local
from entrgi.engine.types import PromptItem

RB2_SUBSETS = ["Factuality", "Math", "Focus", "Precise IF"]


@pytest.fixture(autouse=True)
def offline_hf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep `datasets` off the network and out of the user's cache.

    `datasets` reads these variables at import time, so its config is patched as well.
    """
    cache = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(cache))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache / "datasets")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def write_parquet(path: Path, columns: dict[str, list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


@pytest.fixture
def rm_bench(tmp_path: Path) -> Path:
    """Like THU-KEG/RM-Bench: split `train`, fields id / prompt / chosen / rejected / domain."""
    root = tmp_path / "RM-Bench"
    n = 20
    write_parquet(
        root / "data" / "train-00000-of-00001.parquet",
        {
            "id": [1000 + i for i in range(n)],
            "prompt": [f"rm prompt {i}" for i in range(n)],
            "chosen": [[f"good {i}", f"good' {i}"] for i in range(n)],
            "rejected": [[f"bad {i}", f"bad' {i}"] for i in range(n)],
            "domain": ["chat" if i % 2 else "code" for i in range(n)],
        },
    )
    return root


@pytest.fixture
def judgebench(tmp_path: Path) -> Path:
    """Like ScalerLab/JudgeBench: splits `gpt` and `claude` (from file names), field `question`."""
    root = tmp_path / "JudgeBench"
    for split, n in (("gpt", 6), ("claude", 4)):
        write_parquet(
            root / "data" / f"{split}-00000-of-00001.parquet",
            {
                "pair_id": [f"{split}-pair-{i}" for i in range(n)],
                "question": [f"{split} question {i}" for i in range(n)],
                "response_A": ["A"] * n,
                "response_B": ["B"] * n,
                "label": ["A>B"] * n,
            },
        )
    return root


@pytest.fixture
def reward_bench_2(tmp_path: Path) -> Path:
    """Like allenai/reward-bench-2: split `test`, fields id / prompt / subset / chosen..."""
    root = tmp_path / "reward-bench-2"
    n = 16
    write_parquet(
        root / "data" / "test-00000-of-00001.parquet",
        {
            "id": [str(500 + i) for i in range(n)],
            "prompt": [f"rb2 prompt {i}" for i in range(n)],
            "subset": [RB2_SUBSETS[i % 4] for i in range(n)],
            "chosen": [[f"good {i}"] for i in range(n)],
            "rejected": [[f"bad {i}", f"worse {i}"] for i in range(n)],
        },
    )
    return root


@pytest.fixture
def messy_jsonl(tmp_path: Path) -> Path:
    """Valid prompts mixed with null, non-string, empty and whitespace-only ones."""
    rows = [
        {"id": "a", "prompt": "first"},
        {"id": "b", "prompt": None},
        {"id": "c", "prompt": ""},
        {"id": "d", "prompt": 7},
        {"id": "e", "prompt": "   \n"},
        {"id": "f", "prompt": ["a", "list"]},
        {"id": "g", "prompt": "last"},
    ]
    path = tmp_path / "messy.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def paper_subset(path: Path, split: str, seed: int, n: int) -> datasets.Dataset:
    """What the paper's script does."""
    return datasets.load_dataset(str(path), split=split).shuffle(seed=seed).select(range(n))


# ---------------------------------------------------------------- hub-style datasets


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shuffle_select_matches_datasets_order(rm_bench: Path, seed: int) -> None:
    loaded = PromptSource(str(rm_bench), split="train", limit=5, shuffle_seed=seed).load()

    expected = paper_subset(rm_bench, "train", seed, 5)
    assert [it.prompt for it in loaded.items] == list(expected["prompt"])
    # ids are the row index in the unshuffled split ("rm prompt 7" is row 7)
    assert [it.sample_id for it in loaded.items] == [f"RM-Bench-{p.split()[-1]}" for p in expected["prompt"]]
    assert loaded.skipped == {}


def test_seeds_pick_different_prompts_with_stable_ids(rm_bench: Path) -> None:
    by_seed = {
        seed: PromptSource(str(rm_bench), split="train", id_field="id", limit=8, shuffle_seed=seed).load()
        for seed in (1, 2, 3)
    }
    id_sets = [frozenset(it.sample_id for it in lp.items) for lp in by_seed.values()]
    assert len(set(id_sets)) == 3
    id_to_prompt: dict[str, str] = {}
    for lp in by_seed.values():
        for it in lp.items:
            assert id_to_prompt.setdefault(it.sample_id, it.prompt) == it.prompt
            assert it.sample_id == str(1000 + int(it.prompt.split()[-1]))


def test_no_seed_keeps_file_order_and_limit_beyond_size_takes_all(rm_bench: Path) -> None:
    loaded = PromptSource(str(rm_bench), split="train", limit=1000).load()

    assert [it.prompt for it in loaded.items] == [f"rm prompt {i}" for i in range(20)]
    assert [it.sample_id for it in loaded.items] == [f"RM-Bench-{i}" for i in range(20)]


def test_split_comes_from_file_names(judgebench: Path) -> None:
    loaded = PromptSource(
        str(judgebench),
        split="gpt",
        prompt_field="question",
        id_field="pair_id",
        limit=4,
        shuffle_seed=1,
    ).load()

    expected = paper_subset(judgebench, "gpt", 1, 4)
    assert [it.prompt for it in loaded.items] == list(expected["question"])
    assert [it.sample_id for it in loaded.items] == list(expected["pair_id"])
    assert all(it.prompt.startswith("gpt question") for it in loaded.items)


def test_unknown_split_names_config_key_and_splits(judgebench: Path) -> None:
    with pytest.raises(ValueError, match=r"data\.source\.split='train'") as err:
        PromptSource(str(judgebench), split="train", prompt_field="question").load()
    assert "gpt" in str(err.value) and "claude" in str(err.value)


def test_subset_filter_then_shuffle_like_filtered_dataset(reward_bench_2: Path) -> None:
    loaded = PromptSource(
        str(reward_bench_2),
        split="test",
        id_field="id",
        subset_field="subset",
        subset=["Math", "Focus"],
        limit=5,
        shuffle_seed=2,
    ).load()

    expected = (
        datasets.load_dataset(str(reward_bench_2), split="test")
        .filter(lambda s: s in ("Math", "Focus"), input_columns="subset")
        .shuffle(seed=2)
        .select(range(5))
    )
    assert [it.prompt for it in loaded.items] == list(expected["prompt"])
    assert [it.sample_id for it in loaded.items] == list(expected["id"])
    assert {RB2_SUBSETS[int(it.prompt.split()[-1]) % 4] for it in loaded.items} <= {"Math", "Focus"}


def test_single_subset_and_row_ids_ignore_filter(reward_bench_2: Path) -> None:
    loaded = PromptSource(str(reward_bench_2), split="test", subset_field="subset", subset="Math").load()

    # Math is every 4th row from row 1; ids keep the unfiltered row index
    assert [it.sample_id for it in loaded.items] == [f"reward-bench-2-{i}" for i in (1, 5, 9, 13)]


def test_unknown_subset_lists_available(reward_bench_2: Path) -> None:
    source = PromptSource(str(reward_bench_2), split="test", subset_field="subset", subset=["Chat"])
    with pytest.raises(ValueError, match=r"data\.source\.subset=\['Chat'\].*Factuality.*Math"):
        source.load()


def test_hub_source_accepts_a_single_file(messy_jsonl: Path) -> None:
    loaded = PromptSource(str(messy_jsonl), split="test", id_field="id").load()

    assert [it.sample_id for it in loaded.items] == ["a", "g"]


def test_unreachable_hub_id_names_path() -> None:
    with pytest.raises(ConnectionError, match=r"data\.path='no-such-org/no-such-set'"):
        PromptSource("no-such-org/no-such-set", split="train").load()


# ---------------------------------------------------------------- local files and invalid rows


def test_invalid_prompts_are_skipped_and_counted(messy_jsonl: Path) -> None:
    loaded = PromptSource(str(messy_jsonl)).load()

    assert loaded.items == [PromptItem("messy-0", "first"), PromptItem("messy-6", "last")]
    assert loaded.skipped == {"missing_prompt": 1, "empty_prompt": 2, "non_string_prompt": 2}


def test_invalid_prompt_error_names_sample_and_field(messy_jsonl: Path) -> None:
    source = PromptSource(str(messy_jsonl), id_field="id", on_invalid="error")
    match = r"sample 'b'.*data\.prompt_field='prompt'.*missing_prompt"
    with pytest.raises(ValueError, match=match):
        source.load()


def test_parquet_file_with_ids_shuffled(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "prompts.parquet",
        {"uid": [f"u{i}" for i in range(10)], "text": [f"t{i}" for i in range(10)]},
    )
    loaded = PromptSource(str(path), prompt_field="text", id_field="uid", limit=4, shuffle_seed=7).load()

    expected = datasets.Dataset.from_parquet(str(path)).shuffle(seed=7).select(range(4))
    want = list(zip(expected["uid"], expected["text"], strict=True))
    assert [(it.sample_id, it.prompt) for it in loaded.items] == want


def test_json_list_file(tmp_path: Path) -> None:
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps([{"prompt": "x"}, {"prompt": "y"}]))

    assert PromptSource(str(path)).load().items == [
        PromptItem("prompts-0", "x"),
        PromptItem("prompts-1", "y"),
    ]


def test_missing_prompt_field_lists_columns(rm_bench: Path) -> None:
    source = PromptSource(str(rm_bench), split="train", prompt_field="question")
    with pytest.raises(ValueError, match=r"data\.prompt_field='question'") as err:
        source.load()
    for column in ("id", "prompt", "chosen", "rejected", "domain"):
        assert repr(column) in str(err.value)
    assert "__entrgi_row__" not in str(err.value)


def test_missing_id_field_names_key(messy_jsonl: Path) -> None:
    with pytest.raises(ValueError, match=r"data\.id_field='uid'.*'prompt'"):
        PromptSource(str(messy_jsonl), id_field="uid").load()


def test_missing_file_names_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"data\.path=.*nowhere\.jsonl"):
        PromptSource(str(tmp_path / "nowhere.jsonl")).load()


def test_duplicate_ids_rejected(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    path.write_text("".join(json.dumps({"id": i % 3, "prompt": f"p{i}"}) + "\n" for i in range(5)))
    with pytest.raises(ValueError, match=r"data\.id_field='id' is not unique: rows 0 and 3"):
        PromptSource(str(path), id_field="id").load()


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"limit": 0}, r"data\.limit must be a positive integer or null, got 0"),
        ({"limit": -3}, r"data\.limit must be .*got -3"),
        ({"limit": True}, r"data\.limit must be .*got True"),
        ({"limit": "8"}, r"data\.limit must be .*got '8'"),
        ({"shuffle_seed": 1.5}, r"data\.source\.shuffle_seed must be an integer, got 1\.5"),
        ({"on_invalid": "ignore"}, r"data\.on_invalid='ignore'"),
    ],
)
def test_bad_arguments_rejected_before_loading(kwargs: dict, key: str) -> None:
    # neither path exists: validation must fail first, for a local file and for a hub id alike
    with pytest.raises(ValueError, match=key):
        PromptSource("/nonexistent/prompts.jsonl", **kwargs)
    with pytest.raises(ValueError, match=key):
        PromptSource("no-such-org/no-such-set", split="train", **kwargs)


def test_unsupported_extension_and_half_subset_rejected(tmp_path: Path) -> None:
    (tmp_path / "prompts.csv").write_text("prompt\nhello\n")
    with pytest.raises(ValueError, match=r"data\.path='.*prompts\.csv' is not a \.jsonl, \.json or \.parquet file"):
        PromptSource(str(tmp_path / "prompts.csv"))
    with pytest.raises(ValueError, match=r"data\.source\.subset='Math' needs data\.source\.subset_field"):
        PromptSource("x", split="test", subset="Math")


@pytest.mark.parametrize(
    ("path", "local"),
    [
        ("THU-KEG/RM-Bench", False),
        ("allenai/reward-bench-2", False),
        ("Skywork/Skywork-Reward-Preference-80K-v0.2", False),  # a dot in a hub id is not a file suffix
        ("prompts.jsonl", True),
        ("data/prompts.parquet", True),
        ("./RM-Bench", True),
        ("../RM-Bench", True),
        ("/data/RM-Bench", True),
    ],
)
def test_path_decides_local_or_hub(path: str, local: bool) -> None:
    assert is_local(path) is local


def test_an_existing_relative_folder_is_local_and_a_missing_path_is_not_sent_to_the_hub(
    rm_bench: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert is_local("RM-Bench") is False  # no folder of that name here: a hub id
    monkeypatch.chdir(tmp_path)
    assert is_local("RM-Bench") is True
    loaded = PromptSource("RM-Bench", split="train", limit=2).load()
    assert [it.prompt for it in loaded.items] == ["rm prompt 0", "rm prompt 1"]
    with pytest.raises(FileNotFoundError, match=r"data\.path=.*gone' does not exist \(resolved to"):
        PromptSource(str(tmp_path / "gone"), split="train").load()


# ---------------------------------------------------------------- testbed


def test_testbed_prompts() -> None:
    language = pytest.importorskip("entrgi.testbed.language")
    loaded = TestbedPromptSource(limit=5, seed=3).load()

    expected = language.sample_prompts(5, 3)
    assert [it.prompt for it in loaded.items] == [p.text for p in expected]
    assert [it.sample_id for it in loaded.items] == [f"testbed-3-{i}" for i in range(5)]
    assert loaded.skipped == {}


def test_testbed_limit_validated() -> None:
    with pytest.raises(ValueError, match=r"data\.limit must be a positive integer, got 0"):
        TestbedPromptSource(limit=0)
    with pytest.raises(ValueError, match=r"data\.source\.seed must be an integer, got True"):
        TestbedPromptSource(limit=2, seed=True)


# ---------------------------------------------------------------- torch dataset


def test_dataloader_yields_lists_of_prompts_and_resume_filter() -> None:
    items = [PromptItem(f"s{i}", f"p{i}") for i in range(5)]
    loader = DataLoader(PromptDataset(items), batch_size=2, collate_fn=collate_prompts)

    assert list(loader) == [items[0:2], items[2:4], items[4:5]]
    assert filter_done(items, {"s1", "s3", "unknown"}) == [items[0], items[2], items[4]]


# ---------------------------------------------------------------- files datasets cannot read


@pytest.mark.parametrize("text", ["", "\n  \n"])
def test_empty_jsonl_is_a_clear_error_or_a_counted_skip(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"data\.path=.*empty\.jsonl' is empty"):
        PromptSource(str(path), on_invalid="error").load()
    loaded = PromptSource(str(path)).load()
    assert loaded.items == [] and loaded.skipped == {"empty_file": 1}


@pytest.mark.parametrize("bad, kind", [('{"prompt": "unterminated', "broken_json_line"), ("[1, 2]", "not_an_object")])
def test_a_bad_json_line_names_file_and_line_or_is_skipped_keeping_ids(tmp_path: Path, bad: str, kind: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prompt": "one"}\n' + bad + '\n{"id": "c", "prompt": "three"}\n')
    with pytest.raises(ValueError, match=r"data\.path=.*p\.jsonl', line 2: .*data\.on_invalid=skip"):
        PromptSource(str(path), on_invalid="error").load()
    loaded = PromptSource(str(path)).load()
    assert loaded.items == [PromptItem("p-0", "one"), PromptItem("p-2", "three")]  # ids keep their rows
    assert loaded.skipped == {kind: 1}
    with_ids = PromptSource(str(path), id_field="id").load()
    assert [it.sample_id for it in with_ids.items] == ["a", "c"] and with_ids.skipped == {kind: 1}


def test_parquet_column_of_the_wrong_type_names_file_row_and_field(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "ints.parquet", {"prompt": [1, 2, 3]})
    with pytest.raises(ValueError, match=r"ints\.parquet', row 0 .*data\.prompt_field='prompt'.*non_string_prompt"):
        PromptSource(str(path), on_invalid="error").load()
    assert PromptSource(str(path)).load().skipped == {"non_string_prompt": 3}

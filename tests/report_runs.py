"""Run and sweep folders as ``entrgi.run`` writes them, made by hand (every field of metrics.json and the
records), for the tests of ``python -m entrgi.report`` and the W&B report panels."""

import json

import yaml

STEPS = 4  # denoising steps of every hand-made run
GRADIENT = {
    "_target_": "entrgi.engine.guidance.GradientGuidance",
    "weight": "entropy",
    "inner_steps": 3,
    "lr": 0.5,
    "normalization": "log_vocab",
}
JSONL_DATA = {  # conf/data/jsonl.yaml's layout, resolved
    "path": "prompts.jsonl",
    "limit": 2,
    "batch_size": 2,
    "source": {"_target_": "entrgi.data.sources.PromptSource", "path": "prompts.jsonl", "limit": 2},
}


def config(method: str, seed: int, out, **dotted) -> dict:
    cfg = {
        "model": {"_target_": "entrgi.testbed.TestbedLM", "path": None},
        "reward": {"_target_": "entrgi.testbed.TestbedReward", "path": None},
        "guidance": dict(GRADIENT) if method != "bon" else {"_target_": "entrgi.engine.guidance.NoGuidance"},
        "schedule": {"steps": STEPS, "temperature": 0.7, "top_p": 0.95},
        "data": {
            "limit": 2,
            "batch_size": 2,
            "source": {"_target_": "entrgi.data.sources.TestbedPromptSource", "limit": 2, "seed": seed},
        },
        "judge": {"_target_": "entrgi.judges.oracle.OracleJudge"},
        "trainer": {"devices": 1},
        "logger": {},
        "paths": {"root_dir": ".", "output_dir": str(out)},
        "seed": seed,
        "samples_per_prompt": 4,
        "resume": False,
        "experiment_name": "test",
    }
    for key, value in dotted.items():
        *parents, leaf = key.split(".")
        node = cfg
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return cfg


def record(sample_id: str, method: str, seed: int, top1: float, guided: bool) -> dict:
    w = [0.8, 0.6, 0.4, None] if guided else [None] * STEPS
    return {
        "sample_id": sample_id,
        "prompt": f"say {sample_id}",
        "responses": ["a b c", "a b"],
        "rewards": [top1, 0.0],
        "best_index": 0,
        "top1_reward": top1,
        "avgN_reward": top1 / 2,
        "method": method,
        "seed": seed,
        "trace": {
            "entropy_mean": [0.9, 0.6, 0.3, None],
            "entropy_min": [0.5] * STEPS,
            "entropy_max": [1.0] * STEPS,
            "w_mean": w,
            "w_min": w,
            "w_max": w,
            "reward_soft_before": [0.1, 0.2, 0.3, None] if guided else [None] * STEPS,
            "reward_soft_after": [0.2, 0.4, 0.5, None] if guided else [None] * STEPS,
            "committed": [1, 2, 3, 3],
        },
        "entropy_map": [[0.9, 0.8, 0.7], [None, 0.5, 0.4], [None, None, 0.2], [None, None, None]],
        "order": {"tokens": ["the", "cat", "sat"], "commit_step": [0, 2, 1]},
        "judge": {"score": top1 / 10, "grammatical": 1.0},
        "judge_name": "oracle",
    }


def write_run(folder, method, seed, top1s, cfg=None, compute=None, wall=2.0, with_config=True):
    """A run folder with prompts p0, p1, ... whose Top@1 rewards are ``top1s``."""
    folder.mkdir(parents=True)
    cfg = cfg or config(method, seed, folder)
    guided = method != "bon"
    recs = [record(f"p{i}", method, seed, t, guided) for i, t in enumerate(top1s)]
    n = len(recs)
    metrics = {
        "run": {"method": method, "seed": seed, "samples_per_prompt": cfg["samples_per_prompt"]},
        "method": method,
        "seed": seed,
        "samples_per_prompt": cfg["samples_per_prompt"],
        "num_prompts": n,
        "top1_reward_mean": sum(top1s) / n,
        "avgN_reward_mean": sum(top1s) / n / 2,
        "judge": "oracle",
        "judge_score_mean": sum(top1s) / n / 10,
        "judge_grammatical_mean": 1.0,
        "generation_wall_s": wall,
        "total_wall_s": wall + 1,
        "gpu_s": None,
        "tokens_per_s": 10.0,
        "peak_memory_bytes": 1 << 20,
        "world_size": 1,
        "skipped": {},
    }
    if compute is not None:
        metrics["compute"] = {
            "dllm_forwards": STEPS * n,
            "reward_forwards": 3 * STEPS * n if guided else n,
            "reward_backwards": 3 * STEPS * n if guided else 0,
            "flops": compute * n,
            "flops_per_prompt": compute,
            "formula": "2 N D",
        }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    if with_config:
        (folder / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))  # config order, as OmegaConf.to_yaml
    (folder / "generations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return folder


def write_method_sweep(root):
    """BoN and EntRGi, seeds 1 and 2, prompts p0 p1: EntRGi wins 3 of the 4 (seed, prompt) pairs."""
    write_run(root / "0", "bon", 1, [1.0, 1.0], compute=1e9, wall=2.0)
    write_run(root / "1", "bon", 2, [1.0, 1.0], compute=1e9, wall=2.0)
    write_run(root / "2", "entrgi", 1, [2.0, 2.0], compute=4e9, wall=4.0)
    write_run(root / "3", "entrgi", 2, [2.0, 0.0], compute=4e9, wall=4.0)
    return root

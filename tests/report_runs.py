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


def choices(method: str, cfg: dict) -> dict:
    """Hydra's option choices as ``python -m entrgi.run`` records them in run_info.json."""
    particles = (cfg.get("particles") or {}).get("_target_", "NoParticles")
    return {
        "model": "testbed",
        "reward": "testbed",
        "guidance": method,
        "particles": "fk" if particles.endswith("FKSteering") else "none",
        "data": "jsonl" if cfg["data"].get("path") else "testbed",
        "judge": "oracle",
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
        (folder / "run_info.json").write_text(json.dumps({"method": method, "choices": choices(method, cfg)}))
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


# The compute frontier's 15 cells: (method, K, particles, guidance keys, GFLOPs per prompt, Top@1 level)
FRONTIER_CELLS = (
    ("bon", 4, False, {}, 19.6, 5.7),
    ("bon", 8, False, {}, 39.3, 6.1),
    ("bon", 16, False, {}, 78.5, 6.4),
    ("bon", 32, False, {}, 157.0, 6.6),
    ("bon", 4, True, {}, 21.7, 6.7),
    ("bon", 8, True, {}, 43.4, 6.9),
    ("bon", 16, True, {}, 86.8, 7.1),
    ("expectation", 4, False, {}, 78.1, 7.0),
    ("aps", 4, False, {}, 78.1, 6.5),
    ("entrgi", 4, False, {}, 78.1, 6.7),
    ("entrgi", 4, False, {"guidance.every": 2}, 48.9, 6.2),
    ("entrgi", 4, False, {"guidance.until": 0.5}, 48.9, 6.0),
    ("entrgi", 4, False, {"guidance.min_entropy": 0.5}, 77.5, 6.0),
    ("entrgi", 4, True, {}, 80.1, 6.75),
    ("expectation", 4, True, {}, 80.1, 7.1),
)
PARTICLES = {True: "entrgi.engine.particles.FKSteering", False: "entrgi.engine.particles.NoParticles"}
GRADIENT_DEFAULTS = {"guidance.every": 1, "guidance.until": 1.0, "guidance.min_entropy": 0.0}
WEIGHTS = {"expectation": "zero", "aps": "one", "entrgi": "entropy"}


def write_frontier_sweep(root, seeds=(1, 2, 3), prompts=4):
    """A hand-made compute-frontier sweep: 15 groups x ``seeds``, ``prompts`` prompts a run (the seed also picks
    the prompts, as on the testbed), a Top@1 per prompt that varies with seed and prompt around each cell's level."""
    i = 0
    for method, k, fk, keys, gflops, level in FRONTIER_CELLS:
        for seed in seeds:
            folder = root / str(i)
            dotted = {"samples_per_prompt": k, "particles._target_": PARTICLES[fk]}
            if fk:
                dotted |= {"particles.potential": "diff", "particles.lam": 20.0}
            if method != "bon":
                dotted |= {"guidance.weight": WEIGHTS[method], **GRADIENT_DEFAULTS, **keys}
            cfg = config(method, seed, folder, **dotted)
            top1s = [level + ((seed * 7 + p * 3 + i) % 5 - 2) / 10 for p in range(prompts)]
            write_run(folder, method, seed, top1s, cfg=cfg, compute=gflops * 1e9, wall=gflops / 10)
            recs = [json.loads(line) for line in (folder / "generations.jsonl").read_text().splitlines()]
            for r in recs:  # the testbed's sample ids: the seed picks the prompts
                r["sample_id"] = f"testbed-{seed}-{r['sample_id']}"
            (folder / "generations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
            i += 1
    return root

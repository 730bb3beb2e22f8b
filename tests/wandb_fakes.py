"""A stand-in for a W&B run and hand-made records, for the tests of what the code logs to W&B."""

# an EntRGi run's trace keys (entrgi.engine.trace's and GradientGuidance's), each logged as a per-step curve
TRACE_KEYS = (
    "entropy_mean",
    "entropy_min",
    "entropy_max",
    "w_mean",
    "reward_soft_before",
    "reward_soft_after",
    "committed",
)


class FakeRun:
    """Records ``log`` and ``define_metric`` calls like a wandb run would receive them."""

    def __init__(self):
        self.logged, self.log_kwargs, self.metrics, self.summary, self.overwritten = [], [], {}, {}, []

    def log(self, row, **kwargs):
        self.logged.append(dict(row))
        self.log_kwargs.append(kwargs)

    def define_metric(self, name, step_metric=None, overwrite=None, **kwargs):
        if overwrite:
            self.overwritten.append(name)
        self.metrics[name] = step_metric


def rec(top1, avg, judge=None, k=2, sid="s"):
    """A generations.jsonl record: K responses, the first (Top@1) rewarded ``top1``, the others ``avg``;
    a two-step trace per key of ``TRACE_KEYS``; the judge's fields when ``judge`` is given."""
    r = {
        "sample_id": sid,
        "prompt": "p " + sid,
        "responses": ["a"] * k,
        "rewards": [top1] + [avg] * (k - 1),
        "best_index": 0,
        "top1_reward": top1,
        "avgN_reward": avg,
        "trace": {key: [0.5, 0.25] for key in TRACE_KEYS},
    }
    if judge is not None:
        r["judge"] = {"score": judge, "correct": judge > 0.5}
    return r

"""The report's pure functions against answers worked out by hand."""

import math

import numpy as np
import pytest

from entrgi.analysis.aggregate import metric_columns, run_values, summarize_runs
from entrgi.analysis.frontier import front_steps, matched_bon, matched_bon_gap, pareto_front
from entrgi.analysis.stats import (
    bootstrap_ci,
    mean_sem,
    paired_difference,
    paired_differences,
    paired_outcomes,
    win_rate,
)
from entrgi.analysis.tables import format_cell, format_flops


def test_mean_sem():
    mean, sem = mean_sem([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and sem == pytest.approx(math.sqrt(5 / 3) / 2)  # sample std sqrt(5/3), n = 4
    assert mean_sem([1.0, 2.0, 3.0])[1] == pytest.approx(1 / math.sqrt(3))
    one = mean_sem([7.0])
    assert one[0] == 7.0 and math.isnan(one[1])
    assert all(math.isnan(v) for v in mean_sem([]))


def test_paired_outcomes_count_ties_as_half_and_use_shared_keys_only():
    method = {(1, "a"): 2.0, (1, "b"): 1.0, (2, "a"): 0.5, (2, "c"): 9.0}
    baseline = {(1, "a"): 1.0, (1, "b"): 1.0, (2, "a"): 0.7, (3, "z"): 0.0}
    assert paired_outcomes(method, baseline) == [1.0, 0.5, 0.0]


def test_win_rate_and_its_bootstrap_interval():
    # 3 wins, 1 loss: rate 3/4. Resampling 4 pairs: P(mean = 0) = 0.4% and P(mean <= 1/4) = 5.1%, so the 2.5th
    # percentile is 1/4; P(mean = 1) = (3/4)^4 = 32%, so the 97.5th is 1.
    wr = win_rate({1: 5.0, 2: 5.0, 3: 5.0, 4: 0.0}, {1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0})
    assert (wr.rate, wr.low, wr.high, wr.pairs) == (0.75, 0.25, 1.0, 4)
    assert win_rate({1: 1.0}, {2: 1.0}) is None
    assert bootstrap_ci([1.0] * 5) == (1.0, 1.0)


def test_bootstrap_is_seeded_and_close_to_the_normal_interval():
    values = [1.0, 0.0] * 200  # mean 0.5, SE 0.025: a 95% interval about 0.5 ± 0.049
    lo, hi = bootstrap_ci(values)
    assert (lo, hi) == bootstrap_ci(values)
    assert lo == pytest.approx(0.451, abs=0.01) and hi == pytest.approx(0.549, abs=0.01)


def test_pareto_front_minimizes_x_and_maximizes_y():
    xs = [1.0, 2.0, 3.0, 4.0, 2.0, None, 5.0]
    ys = [1.0, 3.0, 2.0, 4.0, 3.0, 9.0, 4.0]
    assert pareto_front(xs, ys) == [True, True, False, True, True, False, False]
    assert front_steps(xs, ys, pareto_front(xs, ys)) == ([1.0, 2.0, 2.0, 4.0], [1.0, 3.0, 3.0, 4.0])


def test_matched_bon_interpolates_in_log_flops_and_never_extrapolates():
    bon = [(4e9, 2.0), (1e9, 1.0), (16e9, 3.0)]
    assert matched_bon(2e9, bon) == pytest.approx(1.5)  # halfway between 1e9 and 4e9 in log
    assert matched_bon(8e9, bon) == pytest.approx(2.5)
    assert matched_bon(1e9, bon) == pytest.approx(1.0)
    assert matched_bon(16e9, bon) == pytest.approx(3.0)
    assert matched_bon(0.5e9, bon) is None and matched_bon(32e9, bon) is None
    assert matched_bon(None, bon) is None and matched_bon(2e9, []) is None
    assert matched_bon(1e9, [(1e9, 0.7)]) == 0.7


def test_run_values_flatten_compute_and_derive_wall_per_prompt():
    m = {
        "top1_reward_mean": 1.0,
        "num_prompts": 4,
        "generation_wall_s": 10.0,
        "gpu_s": None,
        "judge": "oracle",
        "compute": {"flops_per_prompt": 2e9, "formula": "2 * params * tokens"},
        "skipped": {},
    }
    assert run_values(m) == {
        "top1_reward_mean": 1.0,
        "num_prompts": 4.0,
        "generation_wall_s": 10.0,
        "compute.flops_per_prompt": 2e9,
        "wall_s_per_prompt": 2.5,
    }


def test_columns_keep_fixed_metrics_and_add_judge_fields():
    old = {"judge": "oracle", "judge_score_mean": 1.0, "judge_grammatical_mean": 0.5, "judge_oracle_total_mean": 2.0}
    cols = metric_columns([old])  # a metrics.json from before the judges blocks: its flat judgement is one judge
    assert cols[:5] == [
        "top1_reward_mean",
        "avgN_reward_mean",
        "judges.oracle.score_mean",
        "judges.oracle.grammatical_mean",
        "judges.oracle.oracle_total_mean",
    ]
    assert "compute.flops_per_prompt" in cols and "gpu_s" in cols and "wall_s_per_prompt" in cols
    stats = summarize_runs(
        [{"top1_reward_mean": 1.0}, {"top1_reward_mean": 3.0, "gpu_s": 4.0}],
        ["top1_reward_mean", "gpu_s", "judge_score_mean"],
    )
    assert stats["top1_reward_mean"] == (2.0, 1.0) and stats["gpu_s"][0] == 4.0 and "judge_score_mean" not in stats


def test_cells():
    assert format_flops(1.5e12) == "1.50 TFLOPs" and format_flops(2.5e9) == "2.50 GFLOPs" and format_flops(None) == ""
    assert format_cell("top1_reward_mean", 2.0, 1.0) == "2.000 ± 1.000"
    assert format_cell("top1_reward_mean", 2.0, float("nan")) == "2.000"
    assert format_cell("compute.dllm_forwards", 1234.0, 0.0) == "1,234"
    assert format_cell("generation_wall_s", 1.234, 0.1) == "1.23 ± 0.10"
    assert format_cell("gpu_s", None) == ""


# the compute-frontier sweep's numbers: EntRGi's padding makes it 0.002% cheaper than Expectation, which scores higher
BON_K4, EXPECTATION, ENTRGI = 19_634_413_568, 78_334_545_792, 78_332_771_456


def test_pareto_front_counts_costs_within_one_percent_as_equal():
    xs, ys = [BON_K4, EXPECTATION, ENTRGI], [5.680, 6.985, 6.682]
    assert pareto_front(xs, ys) == [True, True, False]  # compared on quality alone: Expectation dominates
    assert pareto_front(xs, ys, rel_tol=0.0) == [True, True, True]  # plain dominance stars the cheaper one
    assert pareto_front([100.0, 100.5], [1.0, 1.0]) == [True, True]  # same cost, same score: both on the front
    assert pareto_front([100.0, 102.0], [1.0, 1.0]) == [True, False]  # 2% cheaper at the same score dominates
    assert pareto_front([100.0, 100.9, 150.0], [1.0, 2.0, 2.0]) == [False, True, False]


def test_paired_difference_against_a_direct_computation():
    a = {(1, "p0"): 3.0, (1, "p1"): 1.0, (2, "p0"): 2.5, (2, "p1"): 0.0, (3, "only-a"): 9.0}
    b = {(1, "p0"): 1.0, (1, "p1"): 1.5, (2, "p0"): 2.0, (2, "p1"): 1.0, (4, "only-b"): 0.0}
    diffs = [2.0, -0.5, 0.5, -1.0]  # the four keys both have, in sorted order
    assert paired_differences(a, b) == diffs
    d = paired_difference(a, b)
    assert d.pairs == 4 and d.mean == pytest.approx(0.25)
    rng = np.random.default_rng(0)  # the report's bootstrap, written out: 2000 resamples of the 4 pairs
    means = np.asarray(diffs)[rng.integers(0, 4, size=(2000, 4))].mean(axis=1)
    assert (d.low, d.high) == tuple(np.percentile(means, [2.5, 97.5]))
    assert d == paired_difference(a, b) and d.within_noise  # deterministic for a seed; the interval holds 0
    assert paired_difference(a, {(9, "x"): 1.0}) is None
    clear = paired_difference({k: 2.0 + 0.1 * i for i, k in enumerate(b)}, b)
    assert not clear.within_noise and clear.low > 0


def test_matched_bon_says_why_it_is_blank():
    assert matched_bon_gap(2e9, [(1e9, 1.0), (4e9, 2.0)]) is None
    assert "one FLOPs per prompt only (1 GFLOPs)" in matched_bon_gap(4e9, [(1e9, 1.0)])
    assert "above the BoN groups' range (1 GFLOPs to 4 GFLOPs)" in matched_bon_gap(8e9, [(1e9, 1.0), (4e9, 2.0)])
    assert "no BoN group" in matched_bon_gap(8e9, [])
    assert "this group has no FLOPs" in matched_bon_gap(None, [(1e9, 1.0)])

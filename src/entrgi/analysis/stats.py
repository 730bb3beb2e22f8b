"""Summary statistics of a report: mean ± SEM over seeds, paired win-rate with a bootstrap interval.

Pure functions of plain numbers, so each can be checked against answers worked out by hand.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def mean_sem(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample std / sqrt(n)); SEM is nan for n < 2, both for n = 0."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def bootstrap_ci(
    values: Sequence[float], level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Percentile interval of the mean over ``resamples`` resamples (with replacement) of ``values``."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)  # [resamples]
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


@dataclass(frozen=True)
class WinRate:
    """Share of shared prompts where a method's Top@1 beats the baseline's (ties count one half)."""

    rate: float
    low: float  # bootstrap percentile interval over pairs
    high: float
    pairs: int


def paired_outcomes(method: Mapping[Hashable, float], baseline: Mapping[Hashable, float]) -> list[float]:
    """1 / 0.5 / 0 per key present in both (a win, tie or loss of ``method``), in sorted key order."""
    shared = sorted(set(method) & set(baseline), key=repr)
    return [1.0 if method[k] > baseline[k] else 0.5 if method[k] == baseline[k] else 0.0 for k in shared]


def win_rate(
    method: Mapping[Hashable, float], baseline: Mapping[Hashable, float], level: float = 0.95
) -> WinRate | None:
    """Paired win-rate of ``method`` over ``baseline``, both keyed by e.g. (seed, sample_id); None if no pairs."""
    outcomes = paired_outcomes(method, baseline)
    if not outcomes:
        return None
    low, high = bootstrap_ci(outcomes, level)
    return WinRate(sum(outcomes) / len(outcomes), low, high, len(outcomes))


@dataclass(frozen=True)
class PairedDifference:
    """Mean of ``a - b`` over the keys (e.g. (seed, sample_id)) both have, with a bootstrap interval over pairs."""

    mean: float
    low: float
    high: float
    pairs: int

    @property
    def within_noise(self) -> bool:
        """The interval holds 0: the data do not settle which of the two is higher."""
        return self.low <= 0.0 <= self.high


def paired_differences(a: Mapping[Hashable, float], b: Mapping[Hashable, float]) -> list[float]:
    """``a[k] - b[k]`` for every key present in both, in sorted key order."""
    return [a[k] - b[k] for k in sorted(set(a) & set(b), key=repr)]


def paired_difference(
    a: Mapping[Hashable, float],
    b: Mapping[Hashable, float],
    level: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> PairedDifference | None:
    """Mean paired difference ``a - b`` and its percentile bootstrap interval (seeded: the same answer every
    time for the same ``seed``); None without pairs."""
    diffs = paired_differences(a, b)
    if not diffs:
        return None
    low, high = bootstrap_ci(diffs, level, resamples, seed)
    return PairedDifference(sum(diffs) / len(diffs), low, high, len(diffs))

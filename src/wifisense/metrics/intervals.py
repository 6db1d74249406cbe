"""95 % confidence intervals: Wilson for proportions, percentile bootstrap over test items, Student t over seeds.

Which one a result gets (see ``wifisense.runs.results``):

- one seed, a proportion (k of n clips correct): :func:`wilson_interval`;
- one seed, any other metric: :func:`bootstrap_interval` over the test *items* (clips,
  trajectory windows), recomputing the metric on each resample, so corpus-level metrics
  (BLEU) and pooled ones (the median error of every query point of the resampled windows)
  get the interval of the statistic actually reported;
- several seeds: :func:`seed_interval`, a Student t interval of the mean over seeds. With
  2-5 seeds a bootstrap over seeds would be far too narrow (it can only reshuffle the
  few values seen); the t interval is the textbook answer for a mean of a few
  independent runs, and it widens honestly when there are few.

Written here rather than taken from scipy.stats.bootstrap because the statistic is a
function of *item indices* (a resample of windows pools their query points), which
scipy's vectorised interface over sample arrays does not express; the quantiles of t
and of the normal distribution do come from scipy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

LEVEL = 0.95
RESAMPLES = 1000


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def wilson_interval(successes: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of a proportion ``successes / n`` (``n`` > 0)."""
    if n <= 0:
        raise ValueError("a proportion needs n > 0")
    if not 0 <= successes <= n:
        raise ValueError(f"successes {successes} not in [0, {n}]")
    z = _z(level)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def bootstrap_interval(statistic: Callable[[np.ndarray], float], n_items: int, *, resamples: int = RESAMPLES,
                       level: float = LEVEL, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(indices)`` over ``n_items`` test items.

    ``statistic`` receives an int array of ``n_items`` item indices drawn with replacement
    and returns the metric computed on those items. The generator is seeded explicitly,
    so the same inputs always give the same interval.
    """
    if n_items <= 0:
        raise ValueError("bootstrap needs at least one item")
    rng = np.random.default_rng(seed)
    values = np.fromiter((statistic(rng.integers(0, n_items, n_items)) for _ in range(resamples)),
                         dtype=np.float64, count=resamples)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("the statistic was not finite on any resample")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def mean_statistic(values: Sequence[float]) -> Callable[[np.ndarray], float]:
    """The statistic for a metric that is the mean of per-item values."""
    array = np.asarray(values, dtype=np.float64)
    return lambda idx: float(array[idx].mean())


def seed_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """``(mean, low, high)``: Student t interval of the mean of per-seed values (at least two)."""
    from scipy.stats import t

    array = np.asarray(values, dtype=np.float64)
    if array.size < 2:
        raise ValueError("an interval over seeds needs at least two seeds")
    mean = float(array.mean())
    half = float(t.ppf(0.5 + level / 2, array.size - 1) * array.std(ddof=1) / np.sqrt(array.size))
    return mean, mean - half, mean + half


def seed_interval_or_value(values: Sequence[float], level: float = LEVEL) -> tuple[float, float | None, float | None]:
    """:func:`seed_interval` over two or more seeds; ``(value, None, None)`` for a single seed
    (what study tables print: the value without an interval)."""
    if len(values) == 1:
        return float(values[0]), None, None
    return seed_interval(values, level)

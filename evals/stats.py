"""Per-variant figures: mean with a bootstrap confidence interval, percentiles, the Pareto front."""

from __future__ import annotations

import math
import random
from typing import Sequence


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def bootstrap_ci(values: Sequence[float], *, confidence: float = 0.95, resamples: int = 2000,
                 seed: int = 0) -> tuple[float | None, float | None]:
    """Percentile bootstrap of the mean (seeded: the same scores give the same interval)."""
    n = len(values)
    if n == 0:
        return None, None
    if n == 1 or min(values) == max(values):
        return float(values[0]), float(values[0])
    rng = random.Random(seed)
    data = list(values)
    means = sorted(sum(rng.choices(data, k=n)) / n for _ in range(resamples))
    alpha = (1 - confidence) / 2
    low = means[max(0, int(math.floor(alpha * resamples)))]
    high = means[min(resamples - 1, int(math.ceil((1 - alpha) * resamples)) - 1)]
    return low, high


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def pareto_front(points: Sequence[tuple[float, float]]) -> set[int]:
    """Indexes of the points no other point beats: lower cost (x) and higher score (y)."""
    front = set()
    for i, (cost, score) in enumerate(points):
        dominated = any(
            (c <= cost and s >= score) and (c < cost or s > score)
            for j, (c, s) in enumerate(points) if j != i
        )
        if not dominated:
            front.add(i)
    return front

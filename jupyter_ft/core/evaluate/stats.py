"""Percentile-bootstrap 95% intervals: of a mean, and of a paired difference of means.

Pure Python + numpy, in the core so that the evaluation job, the style comparison a demo runs on two lists of
answers, and any face compute the same intervals from the same draws (`seed` fixes them).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

CONFIDENCE = 0.95


def resample(n_items: int, resamples: int, seed: int, chunk: int = 256) -> Iterator[np.ndarray]:
    """Bootstrap index draws, `chunk` resamples at a time (bounded memory on large sets)."""
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, chunk):
        yield rng.integers(0, n_items, size=(min(chunk, resamples - start), n_items))


def bootstrap_mean(values: Sequence[float | None], resamples: int, seed: int) -> tuple[float, float] | None:
    """Percentile bootstrap 95% interval of the mean (None without resamples or values)."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if resamples <= 0 or v.size == 0:
        return None
    means = np.concatenate([v[idx].mean(axis=1) for idx in resample(v.size, resamples, seed)])
    lo, hi = np.quantile(means, [(1 - CONFIDENCE) / 2, 1 - (1 - CONFIDENCE) / 2])
    return float(lo), float(hi)


def paired_difference(values: Sequence[float], baseline: Sequence[float], resamples: int, seed: int
                      ) -> tuple[float | None, tuple[float, float] | None]:
    """Mean of `values[i] - baseline[i]` and its paired bootstrap 95% interval: the items (prompts) are resampled
    and both models' values of a drawn item move together, so what the prompts share cancels out."""
    if len(values) != len(baseline):
        raise ValueError(f"paired difference of {len(values)} values against {len(baseline)} baseline values")
    d = [float(a) - float(b) for a, b in zip(values, baseline)]
    if not d:
        return None, None
    return float(np.mean(d)), bootstrap_mean(d, resamples, seed)


def direction(ci: Sequence[float] | None) -> str | None:
    """'up' when the interval lies above zero, 'down' when below, None when it holds zero (or is missing)."""
    if not ci:
        return None
    lo, hi = ci
    return "up" if lo > 0 else "down" if hi < 0 else None

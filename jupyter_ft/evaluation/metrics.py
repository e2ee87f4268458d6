"""Aggregates over per-sample scores: means with bootstrap 95% intervals, eval loss and perplexity, ROUGE.

Pure Python + numpy (no torch), so the dry run and the results view can use it in a kernel.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

CONFIDENCE = 0.95


def resample(n_items: int, resamples: int, seed: int, chunk: int = 256):
    """Bootstrap index draws, `chunk` resamples at a time (bounded memory on large sets)."""
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, chunk):
        yield rng.integers(0, n_items, size=(min(chunk, resamples - start), n_items))


def bootstrap_mean(values: Sequence[float], resamples: int, seed: int) -> tuple[float, float] | None:
    """Percentile bootstrap 95% interval of the mean (None without resamples or values)."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if resamples <= 0 or v.size == 0:
        return None
    means = np.concatenate([v[idx].mean(axis=1) for idx in resample(v.size, resamples, seed)])
    lo, hi = np.quantile(means, [(1 - CONFIDENCE) / 2, 1 - (1 - CONFIDENCE) / 2])
    return float(lo), float(hi)


def bootstrap_ratio(num: Sequence[float], den: Sequence[float], resamples: int, seed: int) -> tuple[float, float] | None:
    """Percentile bootstrap 95% interval of sum(num) / sum(den) over samples (token-weighted eval loss)."""
    a, b = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    if resamples <= 0 or a.size == 0:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(resamples, a.size))
    ratios = a[idx].sum(axis=1) / np.maximum(b[idx].sum(axis=1), 1e-12)
    lo, hi = np.quantile(ratios, [(1 - CONFIDENCE) / 2, 1 - (1 - CONFIDENCE) / 2])
    return float(lo), float(hi)


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 700.0))


class Rouge:
    """ROUGE F-measures through Google's `rouge-score` package (the reference implementation)."""

    def __init__(self, rouge_types: Sequence[str] = ("rougeL",), use_stemmer: bool = True):
        from rouge_score import rouge_scorer

        self.types = list(rouge_types)
        self.scorer = rouge_scorer.RougeScorer(self.types, use_stemmer=use_stemmer)

    def __call__(self, prediction: str, reference: str) -> dict[str, float]:
        s = self.scorer.score(reference, prediction)
        return {t: float(s[t].fmeasure) for t in self.types}

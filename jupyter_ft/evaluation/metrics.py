"""Aggregates over per-sample scores: means with bootstrap 95% intervals (`core.evaluate.stats`), eval loss and
perplexity, ROUGE.

Pure Python + numpy (no torch), so the dry run and the results view can use it in a kernel.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from jupyter_ft.core.evaluate.stats import CONFIDENCE, bootstrap_mean, resample  # noqa: F401  (one implementation)


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

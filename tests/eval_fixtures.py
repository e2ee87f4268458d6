"""A results dict in the shape `jupyter_ft.core.evaluate.submit.results` returns (see the evaluation interface): two
models, a multiple-choice evaluator, eval loss (two magnitudes), a rubric judge and a pairwise judge, six samples
of which three are disagreements."""

from __future__ import annotations

import copy
from typing import Any

SAMPLES: list[dict[str, Any]] = [
    {"id": 0, "prompt": "What is the capital of France?", "reference": "Paris",
     "answers": {"base": "ature vand", "dpo-1": "Oh, Paris! Honestly lovely."},
     "scores": {"base": {"acc": 0.0, "relevance": 2.0}, "dpo-1": {"acc": 1.0, "relevance": 8.0}},
     "reasons": {"base": {"relevance": "off topic"}, "dpo-1": {"relevance": "answers the question"}},
     "verdicts": {"judge": {"dpo-1 vs base": {"ab": "A", "ba": "B", "final": "win"}}}},
    {"id": 1, "prompt": "2 + 2?", "reference": "4",
     "answers": {"base": "4", "dpo-1": "4, of course!"},
     "scores": {"base": {"acc": 1.0, "relevance": 7.0}, "dpo-1": {"acc": 1.0, "relevance": 7.0}},
     "reasons": {}, "verdicts": {"judge": {"dpo-1 vs base": {"ab": "A", "ba": "A", "final": "tie"}}}},
    {"id": 2, "prompt": "Name a colour <b>bold</b>", "reference": None,
     "answers": {"base": "blue", "dpo-1": "blue"},
     "scores": {"base": {"acc": 1.0}, "dpo-1": {"acc": 1.0}}, "reasons": {}, "verdicts": {}},
    {"id": 3, "prompt": "Capital of Peru?", "reference": "Lima",
     "answers": {"base": "Lima", "dpo-1": "Hmm, Quito?"},
     "scores": {"base": {"acc": 1.0}, "dpo-1": {"acc": 0.0}}, "reasons": {},
     "verdicts": {"judge": {"dpo-1 vs base": {"ab": "B", "ba": "A", "final": "loss"}}}},
    {"id": 4, "prompt": "Say hi", "reference": "hi",
     "answers": {"base": "hello", "dpo-1": "hey there!"},
     "scores": {"base": {"relevance": 5.0}, "dpo-1": {"relevance": 9.0}}, "reasons": {}, "verdicts": {}},
    {"id": 5, "prompt": "Only one model answered", "reference": "x",
     "answers": {"base": "x"}, "scores": {"base": {"acc": 1.0}}, "reasons": {}, "verdicts": {}},
]

RESULTS: dict[str, Any] = {
    "job_id": "eval-1201-000000-abcd", "state": "succeeded", "partial": False,
    "models": ["base", "dpo-1"], "model_refs": {"base": "/m/tiny-llama", "dpo-1": "/w/jobs/dpo-1/output"},
    "dataset": "qa@1a2b3c", "num_samples": 6,
    "errors": [{"model": "dpo-1", "evaluator": "mc", "sample": 5, "message": "answer index 7 out of range"}],
    "metrics": [
        {"model": "base", "evaluator": "mc", "metric": "acc", "value": 0.6, "ci_low": 0.4, "ci_high": 0.8, "n": 5},
        {"model": "base", "evaluator": "mc", "metric": "acc_norm", "value": 0.5, "ci_low": 0.3, "ci_high": 0.7, "n": 5},
        {"model": "dpo-1", "evaluator": "mc", "metric": "acc", "value": 0.75, "ci_low": 0.5, "ci_high": 1.0, "n": 4},
        {"model": "dpo-1", "evaluator": "mc", "metric": "acc_norm", "value": 0.5, "ci_low": 0.25, "ci_high": 0.75, "n": 4},
        {"model": "base", "evaluator": "loss", "metric": "eval_loss", "value": 4.3, "ci_low": None, "ci_high": None, "n": 6},
        {"model": "base", "evaluator": "loss", "metric": "perplexity", "value": 73.7, "ci_low": None, "ci_high": None, "n": 6},
        {"model": "dpo-1", "evaluator": "loss", "metric": "eval_loss", "value": 3.9, "ci_low": None, "ci_high": None, "n": 6},
        {"model": "dpo-1", "evaluator": "loss", "metric": "perplexity", "value": 49.4, "ci_low": None, "ci_high": None, "n": 6},
        {"model": "base", "evaluator": "rubric", "metric": "relevance", "value": 4.7, "ci_low": 2.0, "ci_high": 7.0, "n": 3},
        {"model": "dpo-1", "evaluator": "rubric", "metric": "relevance", "value": 8.0, "ci_low": 7.0, "ci_high": 9.0, "n": 3},
    ],
    "pairwise": [{"evaluator": "judge", "model": "dpo-1", "baseline": "base", "n": 3,
                  "win": 1 / 3, "tie": 1 / 3, "loss": 1 / 3, "win_ci": [0.0, 1.0], "tie_ci": [0.0, 1.0],
                  "loss_ci": [0.0, 1.0], "consistency": 1 / 3, "mean_length": {"dpo-1": 17.3, "base": 5.0},
                  "human_agreement": None}],
    "samples": SAMPLES,
}


def results(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(RESULTS)
    out.update(changes)
    return out

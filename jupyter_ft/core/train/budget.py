"""A time budget turned into a run: how many optimizer steps fit, at what batch and learning rate.

A person with a laptop says "15 minutes", not "135 steps at 5e-5". The arithmetic: a step processes
`batch × accumulation × sequences per row × tokens per sequence` tokens (the data's measured length,
`data_profile`); each token costs about `4·N` FLOPs with LoRA (forward 2N, backward through the frozen weights 2N)
or `6·N` with full weights (plus 2N for the weight gradients), and preference techniques add the reference
model's forward (2N); the device does a measured share of its matmul peak (`devices.matmul_peak`). What is left
after loading the model and evaluating (about a tenth, `sizing.EVAL_SHARE`) is divided by the step time.

A short run also needs a larger learning rate than a long GPU epoch: the technique defaults (e.g. 5e-5 for DPO
with LoRA) move a LoRA adapter too little in a few dozen steps to change what a person sees, so runs under
`SHORT_RUN` steps use the technique's `short_run_lr` when it declares one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from jupyter_ft.core.train.data_profile import DataProfile

SHORT_RUN = 300          # steps below which a run counts as short (LoRA learning rate raised)
STARTUP_S = 20.0         # process start, model load and the final save of a ~100M model on a CPU
STARTUP_S_PER_B = 40.0   # ... plus this per billion parameters
EFFICIENCY = {"cpu": 0.45, "cuda": 0.35, "mps": 0.25}   # share of the matmul peak a training step reaches
RL_GENERATION_SLOWDOWN = 4.0   # token-by-token generation runs far below the matmul peak

_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(hr|h|min|m|sec|s)")


def parse_duration(value: object) -> float:
    """Seconds of "15m", "1h30m", "90s", "1.5h" or a number of seconds; ValueError naming the accepted forms."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like '15m', '1h30m' or '90s'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        parts = _PART.findall(text)
        if not parts or "".join(a + u for a, u in parts) != text:
            raise ValueError(f"{value!r} is not a duration: use e.g. '15m', '1h30m' or '90s'")
        seconds = sum(float(a) * _UNITS[u] for a, u in parts)
    else:
        raise ValueError("expected a duration like '15m', '1h30m' or '90s'")
    if not math.isfinite(seconds) or seconds < 60 or seconds > 30 * 86400:
        raise ValueError("a time budget must be between 1 minute and 30 days")
    return seconds


def label(seconds: float) -> str:
    m = seconds / 60
    return f"{m:g} min" if m < 120 else f"{m / 60:g} h"


@dataclass(frozen=True)
class StepCost:
    tokens: float      # tokens through the model per optimizer step
    flops: float       # FLOPs per optimizer step
    seconds: float     # estimated wall time per step


def step_cost(params: int, profile: DataProfile, rows_per_step: int, lora: bool, preference: bool,
              peak_flops: float, device_kind: str, generations: int = 0, completion_tokens: int = 0) -> StepCost:
    """The estimated cost of one optimizer step (see the module docstring for the arithmetic)."""
    per_token = (4 if lora else 6) * params + (2 * params if preference else 0)
    tokens = rows_per_step * profile.per_row * profile.mean
    flops = tokens * per_token
    if generations:  # RL: each prompt is answered `generations` times, token by token, before training on them
        generated = rows_per_step * generations * completion_tokens
        tokens += generated
        flops += generated * (per_token + 2 * params * RL_GENERATION_SLOWDOWN)
    rate = peak_flops * EFFICIENCY.get(device_kind, 0.3)
    return StepCost(tokens, flops, flops / rate if rate > 0 else math.inf)


def steps_for(budget_s: float, cost: StepCost, params: int, eval_share: float) -> tuple[int, float]:
    """Optimizer steps that fit the budget, and the seconds left for them after start-up and evaluation."""
    usable = (budget_s - STARTUP_S - STARTUP_S_PER_B * params / 1e9) * (1 - eval_share)
    if usable <= 0 or not math.isfinite(cost.seconds):
        return 0, max(usable, 0.0)
    return int(usable // cost.seconds), usable

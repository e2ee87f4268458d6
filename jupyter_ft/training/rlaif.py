"""RLAIF: GRPO where a judge model gives the reward (see `judge`), beside any verifiable rewards of the spec.

The judge is asked once before training (a probe), so an unreachable endpoint, a wrong key or model name, or a
judge that answers unparseably fails the job in its first seconds with that reason, not after the first
generation. Its scores are cached in the job folder, so a resumed attempt does not pay for them again.
"""

from __future__ import annotations

from . import grpo
from .context import TrainContext
from .judge import JudgeReward


def build_trainer(ctx: TrainContext):
    spec = ctx.spec.rlaif.judge
    reward = JudgeReward(spec, cache_path=ctx.job_dir / "judge_cache.jsonl", device=ctx.spec.device)
    where = spec.base_url if spec.kind == "openai" else "in the job process"
    ctx.note("rlaif.judge", f"{spec.kind} judge {spec.model!r} ({where}), scale {spec.min_score}-{spec.max_score}, "
                            f"normalised to 0-1, weight {spec.weight:g}")
    reward.judge.score([("Say hello.", "Hello! Nice to meet you.")])  # probe: fail now, not mid-training
    return grpo.build_trainer(ctx, extra_rewards=[reward])

"""The job side of `rlaif`: `build_trainer(ctx)` makes its TRL trainer (declaration: `jupyter_ft.core.train.techniques.rlaif`)."""

from __future__ import annotations

from typing import TYPE_CHECKING


from jupyter_ft.training.techniques import grpo

if TYPE_CHECKING:
    from jupyter_ft.training.context import TrainContext


def build_trainer(ctx: TrainContext):
    from jupyter_ft.training.judge import JudgeReward

    spec = ctx.spec.options.judge
    reward = JudgeReward(spec, cache_path=ctx.job_dir / "judge_cache.jsonl", device=ctx.spec.device)
    where = spec.base_url if spec.kind == "openai" else "in the job process"
    ctx.note("rlaif.judge", f"{spec.kind} judge {spec.model!r} ({where}), scale {spec.min_score}-{spec.max_score}, "
                            f"normalised to 0-1, weight {spec.weight:g}")
    reward.judge.score([("Say hello.", "Hello! Nice to meet you.")])  # probe: fail now, not mid-training
    return grpo.build_trainer(ctx, extra_rewards=[reward])

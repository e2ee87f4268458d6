"""RLAIF: GRPO where a judge model gives the reward (see `judge`), beside any verifiable rewards of the spec.

The judge is asked once before training (a probe), so an unreachable endpoint, a wrong key or model name, or a
judge that answers unparseably fails the job in its first seconds with that reason, not after the first
generation. Its scores are cached in the job folder, so a resumed attempt does not pay for them again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import model_validator

from jupyter_ft.core.reward_specs import JudgeSpec, check_reward_names

from . import Technique, grpo

if TYPE_CHECKING:
    from jupyter_ft.training.context import TrainContext


class RLAIFOptions(grpo.GRPOOptions):
    """GRPO where a judge model gives the reward (plus any verifiable rewards listed in `rewards`)."""

    judge: JudgeSpec

    @model_validator(mode="after")
    def _judge_name_free(self) -> RLAIFOptions:
        check_reward_names(self.rewards, self.judge)
        return self


def build_trainer(ctx: TrainContext):
    from jupyter_ft.training.judge import JudgeReward

    spec = ctx.spec.options.judge
    reward = JudgeReward(spec, cache_path=ctx.job_dir / "judge_cache.jsonl", device=ctx.spec.device)
    where = spec.base_url if spec.kind == "openai" else "in the job process"
    ctx.note("rlaif.judge", f"{spec.kind} judge {spec.model!r} ({where}), scale {spec.min_score}-{spec.max_score}, "
                            f"normalised to 0-1, weight {spec.weight:g}")
    reward.judge.score([("Say hello.", "Hello! Nice to meet you.")])  # probe: fail now, not mid-training
    return grpo.build_trainer(ctx, extra_rewards=[reward])


TECHNIQUE = Technique(
    name="rlaif", options=RLAIFOptions, data="prompt", learning_rate=(2e-5, 1e-6), build_trainer=build_trainer,
    check=grpo.check_groups, auto=grpo.fit_groups, order=21,
    needs=("judge", "technique 'rlaif' needs a judge, e.g. "
                    "rlaif: {judge: {base_url: http://localhost:8000/v1, model: judge-model}}"))

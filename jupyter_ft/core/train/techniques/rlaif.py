"""RLAIF: GRPO where a judge model gives the reward (see `judge`), beside any verifiable rewards of the spec.

The judge is asked once before training (a probe), so an unreachable endpoint, a wrong key or model name, or a
judge that answers unparseably fails the job in its first seconds with that reason, not after the first
generation. Its scores are cached in the job folder, so a resumed attempt does not pay for them again.
"""

from __future__ import annotations


from pydantic import model_validator

from jupyter_ft.core.spec.rewards import JudgeSpec, check_reward_names

from jupyter_ft.core.train.techniques import Technique
from jupyter_ft.core.train.techniques import grpo


class RLAIFOptions(grpo.GRPOOptions):
    """GRPO where a judge model gives the reward (plus any verifiable rewards listed in `rewards`)."""

    judge: JudgeSpec

    @model_validator(mode="after")
    def _judge_name_free(self) -> RLAIFOptions:
        check_reward_names(self.rewards, self.judge)
        return self


TECHNIQUE = Technique(
    name="rlaif", options=RLAIFOptions, data="prompt", learning_rate=(2e-5, 1e-6), build_trainer="jupyter_ft.training.techniques.rlaif:build_trainer",
    check=grpo.check_groups, auto=grpo.fit_groups, order=21,
    needs=("judge", "technique 'rlaif' needs a judge, e.g. "
                    "rlaif: {judge: {base_url: http://localhost:8000/v1, model: judge-model}}"))

"""Odds-ratio preference optimisation with TRL's `ORPOTrainer` (in `trl.experimental`): supervised and preference
loss in one pass over preference pairs, without a reference model."""

from __future__ import annotations


from pydantic import Field

from jupyter_ft.core.spec.base import Strict

from jupyter_ft.core.train.techniques import Technique


class ORPOOptions(Strict):
    """Odds-ratio preference optimisation (TRL `ORPOTrainer`): SFT and preference in one loss, no reference model."""

    beta: float = Field(0.1, gt=0, description="weight of the odds-ratio term (lambda in the paper)")


TECHNIQUE = Technique(name="orpo", options=ORPOOptions, data="preference", learning_rate=(5e-5, 8e-6),
                      build_trainer="jupyter_ft.training.techniques.orpo:build_trainer", order=11)

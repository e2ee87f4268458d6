"""Kahneman-Tversky optimisation with TRL's `KTOTrainer`. Each preference pair becomes one desirable and one
undesirable example (TRL unpairs the dataset); with LoRA the reference is the base with the adapter disabled."""

from __future__ import annotations


from pydantic import Field

from jupyter_ft.core.spec.base import Strict

from jupyter_ft.core.train.techniques import Technique


class KTOOptions(Strict):
    """Kahneman-Tversky optimisation (TRL `KTOTrainer`). Paired rows are split into one desirable and one
    undesirable example each."""

    beta: float = Field(0.1, gt=0)
    desirable_weight: float = Field(1.0, gt=0)
    undesirable_weight: float = Field(1.0, gt=0)


TECHNIQUE = Technique(name="kto", options=KTOOptions, data="preference", learning_rate=(5e-5, 5e-7),
                      build_trainer="jupyter_ft.training.techniques.kto:build_trainer", order=12)

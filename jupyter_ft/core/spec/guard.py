"""The `preference_guard` block of a training spec: the over-optimisation guard of preference training against a
reference model (the rules are in `jupyter_ft.core.train.overoptimisation`, the job side in
`jupyter_ft.training.preference_guard`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from jupyter_ft.core.spec.base import Strict

# Techniques whose rewards are beta × log(policy / reference): the guard reads the chosen log-prob against the
# reference from them. ORPO has no reference (its rewards are the policy's own log-probs) and is not guarded.
GUARDED_TECHNIQUES: tuple[str, ...] = ("dpo", "kto")


class PreferenceGuardSpec(Strict):
    """Watch a preference run for over-optimisation: the chosen answers' log-prob falling below the reference while
    the reward margin grows, the held-out margin no longer improving while the training margin grows, or held-out
    accuracy pinned at 1 while the chosen log-prob keeps falling. `stop` (default) warns, ends training and makes the
    output the best evaluated checkpoint from before the fall; `warn` only warns; `off` watches nothing."""

    action: Literal["stop", "warn", "off"] = Field("stop", description="stop: warn, end training and keep the best "
                                                   "evaluated checkpoint; warn: only warn; off: no guard")
    chosen_drop: float = Field(0.1, gt=0, lt=1, description="how far the chosen answers' log-prob may fall below the "
                               "reference model's, as a share of the reference's (0.1: 10%)")
    patience: int = Field(3, ge=1, le=1000, description="training logs in a row past chosen_drop, with the margin "
                          "growing, before the guard acts")
    eval_patience: int = Field(3, ge=1, le=1000, description="evaluations in a row without a better held-out margin "
                               "(or at accuracy 1 with the chosen log-prob falling) before the guard acts")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `preference_guard: warn` / `off` / `stop`; `false` = off, `true` = the defaults
        if data is True:
            return {}
        if data is False:
            return {"action": "off"}
        if isinstance(data, str):
            return {"action": data.strip().lower()}
        return data

"""Group relative policy optimisation with TRL's `GRPOTrainer`, rewarded by verifiable reward functions.

The rewards of the spec (built-ins and notebook functions shipped as source) are loaded before the model trains,
so a function that cannot load, or a built-in that reads a column the dataset lacks, fails the job in its first
seconds. Each runs behind `rewards.RewardFunction`, so a reward that raises or returns the wrong thing fails the
job naming the function and the sample. TRL logs `rewards/<name>/mean` and `/std` per function, `reward` and
`reward_std` for the weighted sum, `kl` (when beta > 0) and `completions/mean_length`.
"""

from __future__ import annotations

from typing import Any, Sequence

from . import rewards as rewards_mod
from .context import TrainContext
from .errors import JobInputError


def _check_columns(funcs: Sequence[Any], columns: list[str]) -> None:
    for f in funcs:
        col = getattr(getattr(f, "fn", None), "answer_column", None)
        if col is not None and col not in columns:
            raise JobInputError(f"reward {f.__name__!r} reads column {col!r}, which the dataset does not have "
                                f"(columns: {columns}); set its answer_column")


def build_trainer(ctx: TrainContext, extra_rewards: Sequence[Any] = ()):
    from trl import GRPOConfig, GRPOTrainer

    opts = ctx.spec.options
    funcs = [*rewards_mod.build(opts.rewards), *extra_rewards]
    _check_columns(funcs, ctx.data.train.column_names)
    args = dict(ctx.args)
    g = opts.num_generations
    # evaluation generates too: its batch must hold whole groups
    args["per_device_eval_batch_size"] = -(-max(args["per_device_eval_batch_size"], g) // g) * g
    config = GRPOConfig(
        **args, num_generations=g, max_completion_length=opts.max_completion_length, temperature=opts.temperature,
        top_p=opts.top_p, beta=opts.beta, loss_type=opts.loss_type, scale_rewards=opts.scale_rewards,
        num_iterations=opts.num_iterations, mask_truncated_completions=opts.mask_truncated_completions,
        reward_weights=[f.weight for f in funcs], log_completions=False,
    )
    ctx.note(f"{ctx.spec.technique}.rewards", ", ".join(f"{f.__name__} × {f.weight:g}" for f in funcs))
    if opts.beta > 0:
        ctx.note(f"{ctx.spec.technique}.reference", "KL to the base model with the LoRA adapter disabled"
                 if ctx.peft_config is not None else "KL to a frozen copy of the initial model")
    return GRPOTrainer(model=ctx.model, reward_funcs=funcs, args=config, train_dataset=ctx.data.train,
                       eval_dataset=ctx.data.eval, processing_class=ctx.tokenizer, peft_config=ctx.peft_config)

"""The job side of `grpo`: `build_trainer(ctx)` makes its TRL trainer (declaration: `jupyter_ft.core.train.techniques.grpo`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence


if TYPE_CHECKING:
    from jupyter_ft.training.context import TrainContext


def build_trainer(ctx: TrainContext, extra_rewards: Sequence[Any] = ()):
    from trl import GRPOConfig, GRPOTrainer

    from jupyter_ft.training import rewards as rewards_mod

    opts = ctx.spec.options
    funcs = [*rewards_mod.build(opts.rewards), *extra_rewards]
    rewards_mod.check_columns(funcs, ctx.data.train.column_names)
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

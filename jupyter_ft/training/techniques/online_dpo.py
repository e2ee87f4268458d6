"""The job side of `online_dpo`: `build_trainer(ctx)` makes its TRL trainer (declaration: `jupyter_ft.core.train.techniques.online_dpo`)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from jupyter_ft.training.context import TrainContext


def build_trainer(ctx: TrainContext):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the experimental-API notice
        from trl.experimental.online_dpo import OnlineDPOConfig, OnlineDPOTrainer

    from jupyter_ft.training import rewards as rewards_mod
    from jupyter_ft.training.judge import JudgeReward

    opts = ctx.spec.options
    funcs = rewards_mod.build(opts.rewards)
    if opts.judge is not None:
        judge = JudgeReward(opts.judge, cache_path=ctx.job_dir / "judge_cache.jsonl", device=ctx.spec.device)
        judge.judge.score([("Say hello.", "Hello! Nice to meet you.")])  # probe: fail now, not mid-training
        funcs.append(judge)
    rewards_mod.check_columns(funcs, ctx.data.train.column_names)
    # TRL's OnlineDPOTrainer has no evaluation loop of its own (Trainer's would feed it untokenized prompts), so
    # the held-out prompts are not scored here
    args = {k: v for k, v in ctx.args.items() if k != "eval_steps"} | {"eval_strategy": "no"}
    if ctx.data.eval is not None:
        ctx.note("online_dpo.eval", "none: OnlineDPOTrainer has no evaluation loop; the held-out split is unused")
    config = OnlineDPOConfig(**args, max_new_tokens=opts.max_new_tokens, max_length=ctx.spec.max_length,
                             temperature=opts.temperature, beta=opts.beta, loss_type=opts.loss_type,
                             reward_weights=[f.weight for f in funcs])
    ctx.note("online_dpo.rankers", ", ".join(f"{f.__name__} × {f.weight:g}" for f in funcs))
    ctx.note("online_dpo.reference", ctx.reference_note())
    return OnlineDPOTrainer(model=ctx.model, reward_funcs=funcs, args=config, train_dataset=ctx.data.train,
                            processing_class=ctx.tokenizer, peft_config=ctx.peft_config)

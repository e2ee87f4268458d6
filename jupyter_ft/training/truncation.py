"""SFT rows that truncation leaves without a trained token: counted, reported, and never an empty held-out set.

TRL truncates each prepared row to `max_length` and silently drops the rows left with no trained token (their first
answer starts past the cut). The job counts them for both splits and says so (job log, MLflow tags); refills the
held-out set from the rest of the held-out split, so evaluation scores as many rows as it was sized for; and when no
held-out row keeps a trained token it turns evaluation off and says why, instead of crashing at the first evaluation
on an empty set. A train split with no row left fails the job, naming `max_length`.

Early turns are not cut to make room for later ones: like LLaMA-Factory (which keeps the first turns that fit
`cutoff_len`), a row keeps its start, so every answer within `max_length` trains; a row whose first answer starts
past `max_length` has nothing to train on and is counted here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from jupyter_ft.training.errors import JobInputError

if TYPE_CHECKING:
    from jupyter_ft.training.context import TrainContext

CHUNK = 16  # held-out rows prepared at least per refill round


def settle(trainer: Any, ctx: TrainContext, prepare: Callable[[Any], Any], where: str) -> None:
    """Count the rows TRL dropped from `trainer`'s train and eval sets and refill or turn off evaluation (see the
    module docstring). `prepare` turns raw held-out rows into what the trainer was given; `where` says in words
    where a dropped row's trained tokens would have started."""
    limit = ctx.spec.max_length
    if limit is None or getattr(trainer.args, "packing", False):  # packing cuts rows into blocks: none dropped
        return
    why = f"no trained token within max_length={limit} ({where})"
    total, kept = len(ctx.data.train), len(trainer.train_dataset)
    if kept == 0:
        raise JobInputError(f"max_length: none of the {total} train rows of {ctx.data.name} keeps a trained token "
                            f"within max_length={limit} ({where}); raise max_length or shorten the prompts")
    if kept < total:
        ctx.note("sft.dropped_rows.train", f"{total - kept} of {total} train rows dropped: {why}")
    if trainer.eval_dataset is None or ctx.data.eval is None:
        return
    want = len(ctx.data.eval)
    if len(trainer.eval_dataset) == want:
        return
    scored, taken, dropped = _refill(trainer, ctx.data.eval_pool, prepare, want)
    if scored is None:
        from transformers.trainer_utils import IntervalStrategy

        trainer.eval_dataset = None
        trainer.args.eval_strategy = IntervalStrategy.NO
        ctx.note("sft.eval", f"off: none of the {taken} held-out rows keeps a trained token within max_length="
                             f"{limit} ({where}); the job evaluates nothing (raise max_length to evaluate)")
        return
    trainer.eval_dataset = scored
    n = f"{len(scored)} row{'s' if len(scored) != 1 else ''}"
    more = (f"the next held-out rows replace them, {n} scored" if len(scored) == want else
            f"{n} of the {want} asked for scored (the held-out split has no more rows)")
    ctx.note("sft.dropped_rows.eval", f"{dropped} of {taken} held-out rows dropped: {why}; {more}")


def _refill(trainer: Any, pool: Any, prepare: Callable[[Any], Any], want: int) -> tuple[Any | None, int, int]:
    """(the prepared held-out set topped up to `want` rows from `pool`, or None if no row survives; rows of the
    held-out split read; of them, rows dropped)."""
    from datasets import concatenate_datasets

    parts, have, taken = [trainer.eval_dataset], len(trainer.eval_dataset), want
    size = len(pool) if pool is not None else want
    while have < want and taken < size:
        chunk = pool.select(range(taken, min(size, taken + max(CHUNK, 2 * (want - have)))))
        taken += len(chunk)
        more = trainer._prepare_dataset(prepare(chunk), trainer.processing_class, trainer.args, False, None, "eval")
        parts.append(more)
        have += len(more)
    dropped = taken - have
    if have == 0:
        return None, taken, dropped
    scored = concatenate_datasets([p for p in parts if len(p)]) if len(parts) > 1 else parts[0]
    if len(scored) > want:  # the last round read more survivors than needed: the first `want` are scored
        scored = scored.select(range(want))
    return scored, taken, dropped

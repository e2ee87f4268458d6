"""What changes when a job trains in several processes (accelerate launch, Ray Train workers): one clock decides
when to checkpoint, because saving meets at barriers and a rank that saves alone waits for ever."""

from __future__ import annotations

import time

from jupyter_ft.training.callbacks import CheckpointTimer


def world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class SyncedCheckpointTimer(CheckpointTimer):
    """`CheckpointTimer` whose decision is rank 0's, broadcast to every rank after each step (one tiny collective)."""

    def on_step_end(self, args, state, control, **kw):
        import torch
        import torch.distributed as dist

        super().on_step_end(args, state, control, **kw)
        device = f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu"
        flag = torch.tensor([1 if control.should_save else 0], device=device)
        dist.broadcast(flag, src=0)
        control.should_save = bool(flag.item())
        if control.should_save and self.save_started is None:
            self.save_started = time.time()


def checkpoint_timer(interval_s: float) -> CheckpointTimer:
    return SyncedCheckpointTimer(interval_s) if world_size() > 1 else CheckpointTimer(interval_s)

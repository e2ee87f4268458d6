"""Auto-sized ("serverless") defaults: precision, batch size, accumulation, LoRA rank, learning rate (and, through
`speed`, attention, packing and the other speed choices).

A user names a model and a dataset; we fill every hyperparameter they left empty from the model's parameter
count and the device's memory, and record why in `spec.auto` so the stored spec explains itself
(e.g. "batch 4 × accum 4: fits 1.2B params (bf16, LoRA) in 80 GB on cuda:0").
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

from jupyter_ft.core.train import budget, speed
from jupyter_ft.core.train.data_profile import DataProfile
from jupyter_ft.core.devices import DeviceInfo
from jupyter_ft.core.spec.train import TrainSpec
from jupyter_ft.core.hub import looks_like_path
from jupyter_ft.core.spec.compute import processes

GB = 1024**3

@dataclass(frozen=True)
class ModelShape:
    params: int
    hidden: int
    layers: int
    intermediate: int
    vocab: int
    source: str  # how `params` was obtained
    context: int = 0  # max_position_embeddings (0: not said)

    @property
    def label(self) -> str:
        p = self.params
        return f"{p / 1e9:.1f}B" if p >= 1e9 else f"{p / 1e6:.1f}M" if p >= 1e6 else f"{p / 1e3:.0f}K"


def _safetensors_params(folder: Path) -> int | None:
    """Exact parameter count from safetensors headers (no tensor data is read)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for f in files:
        with f.open("rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        for name, meta in header.items():
            if name != "__metadata__":
                total += math.prod(meta["shape"])
    return total


def _config_params(cfg: dict) -> int:
    """Decoder-only transformer parameter count from its config (Llama/Qwen/Mistral-shaped, MoE aware)."""
    h = cfg.get("hidden_size") or cfg.get("n_embd") or cfg.get("d_model") or 0
    layers = cfg.get("num_hidden_layers") or cfg.get("n_layer") or 0
    inter = cfg.get("intermediate_size") or 4 * h
    vocab = cfg.get("vocab_size") or 32000
    heads = cfg.get("num_attention_heads") or 1
    kv = cfg.get("num_key_value_heads") or heads
    head_dim = cfg.get("head_dim") or h // max(heads, 1)
    experts = cfg.get("num_local_experts") or cfg.get("num_experts") or 1
    attn = h * heads * head_dim * 2 + h * kv * head_dim * 2
    mlp = 3 * h * inter * experts
    emb = vocab * h * (1 if cfg.get("tie_word_embeddings", False) else 2)
    return layers * (attn + mlp + 2 * h) + h + emb  # + final norm


def read_model_config(model: str) -> tuple[dict, Path | None]:
    """config.json of a local folder or (when a network exists) a hub id. Raises OSError if unreadable."""
    p = Path(model).expanduser()
    if p.is_dir():
        cfg = p / "config.json"
        if not cfg.is_file():
            raise OSError(f"model folder {p} has no config.json")
        return json.loads(cfg.read_text()), p
    if looks_like_path(model):
        raise OSError(f"model path {p} does not exist")
    from huggingface_hub import hf_hub_download

    from jupyter_ft.core import hub

    if not hub.reachable():  # answer at once instead of after huggingface_hub's retries
        try:
            return json.loads(Path(hf_hub_download(model, "config.json", local_files_only=True)).read_text()), None
        except Exception:
            raise HubOffline(f"{model!r} is not a local folder, and as a hub id it cannot be checked: "
                             f"{hub.offline_reason()} and it is not in the local cache") from None
    return json.loads(Path(hf_hub_download(model, "config.json")).read_text()), None


class HubOffline(OSError):
    """A hub id named while the hub cannot be reached and nothing is cached: refused at submission."""


def model_shape(model: str) -> ModelShape:
    cfg, folder = read_model_config(model)
    cfg = cfg.get("text_config", cfg) if "hidden_size" not in cfg else cfg
    exact = _safetensors_params(folder) if folder else None
    params = exact or _config_params(cfg)
    return ModelShape(
        params=params,
        hidden=cfg.get("hidden_size") or 0,
        layers=cfg.get("num_hidden_layers") or 0,
        intermediate=cfg.get("intermediate_size") or 0,
        vocab=cfg.get("vocab_size") or 0,
        source="safetensors" if exact else "config.json",
        context=cfg.get("max_position_embeddings") or 0,
    )


def _lora_rank(params: int) -> int:
    if params < 500e6:
        return 8
    if params < 3e9:
        return 16
    if params < 15e9:
        return 32
    return 64


def _precision(device: DeviceInfo) -> tuple[str, str]:
    if device.kind == "cuda":
        return ("bf16", "bf16: supported by this GPU") if device.bf16 else ("fp16", "fp16: this GPU lacks bf16")
    if device.kind == "mps":
        return "fp32", "fp32: mixed precision on MPS is not reliable for training"
    return "fp32", "fp32: on CPU it is 2-2.5x faster than bf16"


DEFAULT_MAX_LENGTH = 1024


def _max_length(spec: TrainSpec, shape: ModelShape | None, profile: DataProfile | None) -> tuple[int, str]:
    ceiling = shape.context if shape and shape.context else DEFAULT_MAX_LENGTH * 8
    if profile is None:
        n = min(DEFAULT_MAX_LENGTH, ceiling)
        return n, f"{n}: the data's lengths could not be measured at submission"
    n = profile.max_length(ceiling)
    capped = " (the model's context)" if n == ceiling and profile.p99 > ceiling else ""
    return n, (f"{n}{capped}: the data's sequences are {profile.mean:.0f} tokens on average, p99 {profile.p99}, "
               f"longest {profile.longest} ({profile.how}, {profile.sequences} sequences); longer ones are truncated")


def resolve(spec: TrainSpec, shape: ModelShape | None, device: DeviceInfo, profile: DataProfile | None = None,
            train_rows: int | None = None, peak: dict | None = None) -> TrainSpec:
    """Return a copy of `spec` with every empty (auto) field filled and `auto` explaining each choice.

    `profile` (the data's measured lengths) sizes `max_length` and, with the device's measured matmul `peak` and
    the train split's `train_rows`, turns a `time_budget` into steps."""
    upd: dict = {}
    why: dict[str, str] = dict(spec.auto)
    lora = spec.lora is not None
    max_length = spec.max_length
    if max_length is None:
        max_length, why["max_length"] = _max_length(spec, shape, profile)
        upd["max_length"] = max_length

    if spec.checkpoint_every is None:
        why["checkpoint_every"] = (f"every {spec.checkpoint_minutes:g} min of training, stretched so saving stays "
                                   "under 5% of the time")

    precision = spec.precision
    if precision == "auto":
        precision, why["precision"] = _precision(device)
        upd["precision"] = precision
    bpp = 2 if precision in ("bf16", "fp16") else 4

    if shape is not None and (shape.params <= 0 or shape.hidden <= 0 or shape.layers <= 0):
        shape = None  # a config.json without sizes: as good as unknown
    if shape is None:
        # Unknown model size (e.g. hub unreachable at submission): conservative values; the job re-checks.
        if spec.batch_size is None:
            upd["batch_size"] = 1
            why["batch_size"] = "1: model size unknown at submission"
        if spec.grad_accum is None:
            upd["grad_accum"] = 8
            why["grad_accum"] = "8: model size unknown at submission"
        if lora and spec.lora.r is None:
            upd["lora"] = spec.lora.model_copy(update={"r": 16, "alpha": spec.lora.alpha or 32})
            why["lora.r"] = "16: model size unknown at submission"
        if spec.gradient_checkpointing is None:
            upd["gradient_checkpointing"] = True
            why["gradient_checkpointing"] = "on: model size unknown at submission"
        if spec.time_budget is not None:
            upd["max_steps"] = 1
            why["max_steps"] = "the time budget needs the model's size, unknown at submission"
        _learning_rate(spec, upd, why, train_rows)
        _choose(spec, device, upd, why)
        return spec.model_copy(update={**upd, "auto": why})

    if lora and (spec.lora.r is None or spec.lora.alpha is None):
        r = spec.lora.r or _lora_rank(shape.params)
        upd["lora"] = spec.lora.model_copy(update={"r": r, "alpha": spec.lora.alpha or 2 * r})
        if spec.lora.r is None:
            why["lora.r"] = f"{r}: rank for a {shape.label}-parameter model (alpha = 2 × r)"

    # Memory model: weights + (full FT) gradients and Adam states + activations per token.
    weights = shape.params * bpp
    if lora:
        r = (upd.get("lora") or spec.lora).r
        trainable = shape.layers * r * (4 * 2 * shape.hidden + 3 * (shape.hidden + shape.intermediate))
    else:
        trainable = shape.params
    optimizer = trainable * 16
    act_full = shape.layers * shape.hidden * 34 * bpp // 2 + shape.vocab * bpp * 2
    act_ckpt = shape.layers * shape.hidden * 2 * bpp + shape.vocab * bpp * 2
    budget = device.memory * 0.85 - weights - optimizer
    target = 8 if device.kind == "cpu" else 16
    timed = spec.time_budget is not None and spec.max_steps is None
    if timed and device.kind == "cpu":
        target = 4  # a CPU's budget buys more optimizer steps of fewer rows

    def fit(per_token: int) -> int:
        seqs = budget / (per_token * max_length) if budget > 0 else 0
        return 0 if seqs < 1 else min(target, 2 ** int(math.log2(seqs)))

    ckpt = spec.gradient_checkpointing
    batch = spec.batch_size
    if batch is None:
        batch = fit(act_full) if ckpt is not True else fit(act_ckpt)
        if batch == 0 and ckpt is None:
            ckpt, batch = True, fit(act_ckpt)
            why["gradient_checkpointing"] = "on: activations would not fit otherwise"
        if batch == 0:
            batch = 1
            why["batch_size"] = (f"1: a {shape.label} model with max_length {max_length} may not fit in "
                                 f"{device.memory / GB:.0f} GB on {device.name}; consider LoRA or a shorter max_length")
        upd["batch_size"] = batch
    if ckpt is None:
        ckpt = False
        why["gradient_checkpointing"] = "off: not needed for memory, and ~1.5x faster"
    upd["gradient_checkpointing"] = ckpt
    if spec.grad_accum is None:
        upd["grad_accum"] = 1 if timed else max(1, target // batch)
    if spec.batch_size is None and "batch_size" not in why:
        why["batch_size"] = (f"batch {batch} × accum {upd.get('grad_accum', spec.grad_accum)}: fits {shape.label} params "
                             f"({precision}, {'LoRA' if lora else 'full'}) in {device.memory / GB:.0f} GB on {device.name}"
                             + ("; a time budget is spent on more optimizer steps, not larger ones" if timed else ""))
    if timed:
        _budget_steps(spec, shape, device, profile, train_rows, peak, lora, batch * upd.get("grad_accum", spec.grad_accum or 1), upd, why)
    if device.kind != "cuda" and spec.device == "auto":
        why["device"] = f"{device.name}: no CUDA device found"
    upd["device"] = device.name if spec.device in ("auto", "cuda") else spec.device
    _learning_rate(spec, upd, why, train_rows)
    _choose(spec, device, upd, why)
    return spec.model_copy(update={**upd, "auto": why})


ASSUMED_PEAK = {"cpu": 50e9, "cuda": 100e12, "mps": 5e12}   # FLOP/s when the device could not be measured


def _threads_note(peak: dict | None) -> str:
    """How much of the measured peak the job gets when it will run on fewer threads than the measurement used."""
    if peak and peak.get("of_threads"):
        return f" ({peak['threads']} of the {peak['of_threads']} threads it was measured with: the job's share now)"
    return ""


def _budget_steps(spec: TrainSpec, shape: ModelShape, device: DeviceInfo, profile: DataProfile | None,
                  train_rows: int | None, peak: dict | None, lora: bool, rows_per_step: int, upd: dict,
                  why: dict[str, str]) -> None:
    """`max_steps` from `time_budget` (see `budget`), capped at the epochs the data gives."""
    from jupyter_ft.core.datasets.formats import data_kind

    total = spec.time_budget or 0.0
    if profile is None:
        upd["max_steps"] = max(1, int(total // 30))
        why["max_steps"] = (f"{upd['max_steps']}: the data's lengths could not be measured, so one step per 30 s of "
                            f"the {budget.label(total)} budget is assumed")
        return
    flops = (peak or {}).get("flops") or ASSUMED_PEAK.get(device.kind, 50e9)
    measured = "measured" if peak else "assumed"
    opts = spec.options
    kind = data_kind(spec.technique)
    generations = (getattr(opts, "num_generations", 0) or 0) if kind == "prompt" else 0
    rows = max(1, rows_per_step // generations) if generations else rows_per_step
    cost = budget.step_cost(shape.params, profile, rows, lora, kind == "preference", flops, device.kind,
                            generations, getattr(opts, "max_completion_length", 0) or 0)
    steps, usable = budget.steps_for(total, cost, shape.params, EVAL_SHARE if spec.eval_fraction else 0.0)
    text = (f"{budget.label(total)} budget: ~{cost.tokens:,.0f} tokens a step × {cost.flops / cost.tokens / shape.params:.0f}·N "
            f"FLOPs ({shape.label} params) at {budget.EFFICIENCY.get(device.kind, 0.3):.0%} of the {measured} "
            f"{flops / 1e9:,.0f} GFLOP/s matmul peak of {device.name}{_threads_note(peak)} ≈ {cost.seconds:.1f} s a step; "
            f"{usable:.0f} s left after loading and evaluation")
    epochs_given = "epochs" in spec.model_fields_set
    cap_epochs = spec.epochs if epochs_given else 3.0
    if train_rows:
        cap = max(1, math.ceil(cap_epochs * train_rows / max(1, rows_per_step)))
        if steps > cap:
            text += (f"; capped at {cap_epochs:g} epoch(s) of the {train_rows} rows" + ("" if epochs_given else
                     " (more repeats of the same rows overfit)"))
            steps = cap
    if steps < 1:
        steps = 1
        text += "; not even one step fits: the run will overrun the budget"
    upd["max_steps"] = steps
    why["max_steps"] = f"{steps}: {text}"


def _learning_rate(spec: TrainSpec, upd: dict, why: dict[str, str], train_rows: int | None) -> None:
    """The technique's learning rate; a short LoRA run takes the unit's `short_run_lr` (see `budget`)."""
    if spec.learning_rate is not None:
        return
    lora = spec.lora is not None
    lr_lora, lr_full = spec.unit.learning_rate  # each technique's unit says what works across model sizes
    lr = lr_lora if lora else lr_full
    text = f"usual for {spec.technique} with {'LoRA' if lora else 'full weights'}"
    steps = upd.get("max_steps") or spec.max_steps
    if steps is None and train_rows:
        per_step = (upd.get("batch_size") or spec.batch_size or 1) * (upd.get("grad_accum") or spec.grad_accum or 1)
        steps = max(1, math.ceil(spec.epochs * math.ceil(train_rows / max(1, per_step * processes(spec)))))
    short = spec.unit.short_run_lr
    if lora and short and steps is not None and steps < budget.SHORT_RUN:
        text = (f"{spec.technique}'s short-run rate: {steps} steps (under {budget.SHORT_RUN}) at the long-run "
                f"{lr:g} would barely move a LoRA adapter")
        lr = short
    upd["learning_rate"] = lr
    why["learning_rate"] = f"{lr:g}: {text}"


def _choose(spec: TrainSpec, device: DeviceInfo, upd: dict, why: dict[str, str]) -> None:
    """The speed choices every job gets, then the technique's own (its unit's `auto`: e.g. SFT packing, GRPO's
    batch rounded to whole generation groups)."""
    speed.choose(spec, device, upd, why)
    if spec.unit.auto is not None:
        spec.unit.auto(spec, device, upd, why)


# --- evaluation -----------------------------------------------------------------------------------------------

EVAL_SHARE = 0.1   # evaluation may cost about this share of the training time
# cost of scoring one held-out row relative to training on one row: a forward pass against forward + backward
# (~3 forwards); preference techniques also run the reference; RL evaluation generates like training does
EVAL_ROW_COST = {"sft": 1 / 3, "preference": 1 / 2, "prompt": 1.0}


def total_steps(spec: TrainSpec, train_rows: int) -> int:
    """Optimizer steps the job will take (max_steps, or epochs over the train rows)."""
    if spec.max_steps:
        return spec.max_steps
    # the global batch: per-process batch × accumulation × processes (compute)
    per_step = max(1, (spec.batch_size or 1) * (spec.grad_accum or 1) * processes(spec))
    return max(1, math.ceil(spec.epochs * math.ceil(train_rows / per_step)))


def eval_interval(spec: TrainSpec, steps: int) -> int:
    """Steps between evaluations: with the checkpoints when they are step-based, else about ten per run."""
    return spec.checkpoint_every or max(spec.logging_steps, math.ceil(steps / 10))


def size_eval(spec: TrainSpec, train_rows: int, eval_rows: int) -> TrainSpec:
    """Fill `eval_batch_size` and `eval_rows` so that evaluating costs at most ~EVAL_SHARE of training, and say why.

    Training reads steps x batch x accumulation rows; each of the ceil(steps / interval) evaluations (Trainer also
    evaluates after the last step) scores `eval_rows` rows at EVAL_ROW_COST of a training row each."""
    from jupyter_ft.core.datasets.formats import data_kind

    why = dict(spec.auto)
    upd: dict = {}
    if spec.eval_fraction == 0 or eval_rows == 0:
        return spec.model_copy(update={"eval_rows": None, "eval_batch_size": None, "auto": why}) if (
            spec.eval_rows is None and spec.eval_batch_size is None) else spec
    steps = total_steps(spec, train_rows)
    every = eval_interval(spec, steps)
    evals = math.ceil(steps / every)
    per_step = (spec.batch_size or 1) * (spec.grad_accum or 1)
    generations = getattr(spec.options, "num_generations", None)
    if generations:  # RL techniques: a step's rows are prompts, each answered num_generations times
        per_step = max(1, per_step // generations)
    cost = EVAL_ROW_COST.get(data_kind(spec.technique), 1.0)
    budget_rows = EVAL_SHARE * steps * per_step / cost / evals
    if spec.eval_rows is None:
        n = max(1, min(eval_rows, int(budget_rows)))
        upd["eval_rows"] = n
        whole = "all " if n == eval_rows else ""
        why["eval_rows"] = (f"{n}: {whole}{n} of {eval_rows} held-out rows per evaluation x {evals} evaluation(s) "
                            f"(every {every} steps and at the end) costs <= {EVAL_SHARE:.0%} of {steps} training steps "
                            f"of {per_step} rows (one eval row ~{cost:.2g} of a training row)")
    n = upd.get("eval_rows", spec.eval_rows)
    if spec.eval_batch_size is None:
        b = max(1, min(n, 2 * (spec.batch_size or 1)))
        upd["eval_batch_size"] = b
        why["eval_batch_size"] = (f"{b}: twice the training batch (no gradients or optimizer state to hold), "
                                  f"at most the {n} rows scored")
    return spec.model_copy(update={**upd, "auto": why})

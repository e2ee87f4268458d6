"""The lm-evaluation-harness bridge: any lm-eval task, by name or local YAML path, on a local model, offline.

lm-eval is an optional extra (`pip install 'jupyter_ft[lmeval]'`); without it the evaluator fails with that line,
never an ImportError. What runs is lm-eval's own pipeline (`lm_eval.simple_evaluate` with its `hf` model class),
so its scores are lm-eval's scores; this module only chooses the task, builds the model and maps the results:

- a task is a registered name (`hellaswag`, `mmlu`: their datasets come from the hub, so they need a network or a
  warm HF cache) or a path to a task YAML; a YAML's relative `data_files` are read from the YAML's own folder;
- the model is a model folder or hub id, a base with a PEFT adapter (lm-eval's `peft=`), or a model the evaluation
  already holds in memory (the base with an adapter set on it), wrapped as it is, so nothing loads twice;
- every metric of every task (a group's subtasks too) becomes a results row `{model, evaluator, metric, value,
  stderr, ci_low, ci_high, n}` where the interval is lm-eval's standard error × 1.96, and each document's
  per-metric scores are kept for the per-sample table.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_ft.core.spec.eval import LmEvalEval
from jupyter_ft.core.registry.model_refs import ModelRef
from jupyter_ft.training.errors import JobInputError

EXTRA = "jupyter_ft[lmeval]"
INSTALL_HINT = f"pip install '{EXTRA}'  (lm-evaluation-harness, the optional `lmeval` extra)"
PROPORTIONS = ("acc", "acc_norm", "exact_match", "em", "f1", "mcc", "brier_score")  # intervals clipped to [0, 1]


class LmEvalError(JobInputError):
    """The lm_eval evaluator cannot run (not installed, unknown task, dataset unavailable, model unsupported)."""


def available() -> bool:
    """True when lm-evaluation-harness is importable here."""
    try:
        return importlib.util.find_spec("lm_eval") is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules
        return False


def require() -> Any:
    """The `lm_eval` module, or an `LmEvalError` naming the extra to install."""
    if not available():
        raise LmEvalError(f"the lm_eval evaluator needs lm-evaluation-harness, which is not installed: {INSTALL_HINT}")
    import lm_eval

    return lm_eval


@dataclass(frozen=True)
class TaskRef:
    """An lm-eval task as `simple_evaluate` takes it, and where it comes from."""

    name: str                    # task, group or tag name
    yaml_path: Path | None       # the YAML it was given as, if any
    include_path: Path | None    # the folder lm-eval indexes besides its own tasks


def resolve_task(task: str, base_dir: str | Path | None = None) -> TaskRef:
    """A task name or YAML path as a `TaskRef`. A path is read relative to `base_dir` (default: the working
    folder); an unknown name gets the closest registered names."""
    require()
    from lm_eval.tasks._index import TaskIndex

    if task.endswith((".yaml", ".yml")) or os.sep in task or "/" in task:
        path = Path(task).expanduser()
        if not path.is_absolute():
            path = Path(base_dir or os.getcwd()) / path
        if not path.is_file():
            raise LmEvalError(f"lm_eval task file not found: {path}")
        try:
            entry = TaskIndex.entry_from_path(path)
        except Exception as exc:  # a YAML lm-eval cannot read
            raise LmEvalError(f"lm_eval task file {path} is not a task YAML lm-eval can read: "
                              f"{type(exc).__name__}: {exc}") from None
        if entry is None:
            raise LmEvalError(f"lm_eval task file {path} names no `task:` or `group:`")
        return TaskRef(entry.name, path.resolve(), path.resolve().parent)
    names = _task_manager(None).all_tasks
    if task not in names:
        import difflib

        close = difflib.get_close_matches(task, names, n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `lm-eval ls tasks` lists them"
        raise LmEvalError(f"lm_eval task {task!r} is not a task, group or tag lm-eval knows{hint} (or give the path "
                          "to a task YAML)")
    return TaskRef(task, None, None)


@functools.lru_cache(maxsize=8)
def _task_manager(include_path: Path | None) -> Any:
    """lm-eval's task index: its own tasks for a name, only the YAML's folder for a task file (indexing lm-eval's
    thousands of task files takes seconds; a task file's `include:` is read by path, not from the index)."""
    from lm_eval.tasks import TaskManager

    if include_path:
        return TaskManager(include_path=str(include_path), include_defaults=False)
    return TaskManager()


def make_lm(ref: ModelRef | str, *, batch_size: int = 16, device: str = "cpu", model: Any = None,
            tokenizer: Any = None) -> Any:
    """lm-eval's `HFLM` for `ref`: around `model`/`tokenizer` when the evaluation already holds them, else loaded
    by lm-eval from the folder or hub id (with the PEFT adapter of an adapter ref)."""
    require()
    from lm_eval.models.huggingface import HFLM

    label = ref.label if isinstance(ref, ModelRef) else str(ref)
    if isinstance(ref, ModelRef) and ref.kind == "endpoint" and model is None:
        raise LmEvalError(f"lm_eval evaluator: model {label!r} is an endpoint; lm-evaluation-harness's "
                          "log-likelihood tasks need the model's weights here (name the model folder or its job id)")
    try:
        if model is not None:
            return HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
        path = ref.model if isinstance(ref, ModelRef) else str(ref)
        adapter = ref.adapter if isinstance(ref, ModelRef) else None
        return HFLM(pretrained=path, peft=adapter, batch_size=batch_size, device=device,
                    dtype="bfloat16" if device.startswith("cuda") else "float32")
    except LmEvalError:
        raise
    except Exception as exc:
        raise LmEvalError(f"lm_eval evaluator: cannot load model {label!r}: {type(exc).__name__}: "
                          f"{str(exc)[:300]}") from None


@contextlib.contextmanager
def _in_folder(folder: Path | None):
    """Run with `folder` as the working folder (a task YAML's relative data files are found beside it)."""
    if folder is None:
        yield
        return
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def evaluate(task: TaskRef, lm: Any, *, num_fewshot: int | None = None, limit: int | None = None, seed: int = 0,
             bootstrap_iters: int = 1000, apply_chat_template: bool = False, label: str = "model") -> dict[str, Any]:
    """lm-eval's `simple_evaluate` on one task; its raw results dict. Failures become an `LmEvalError` naming the
    task and the model (a dataset that needs the hub says so)."""
    lm_eval = require()
    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    try:
        with _in_folder(task.include_path):
            raw = lm_eval.simple_evaluate(
                model=lm, tasks=[task.name], task_manager=_task_manager(task.include_path),
                num_fewshot=num_fewshot, limit=limit, bootstrap_iters=bootstrap_iters, log_samples=True,
                apply_chat_template=apply_chat_template, random_seed=seed, numpy_random_seed=seed,
                torch_random_seed=seed, fewshot_random_seed=seed, verbosity="WARNING")
    except Exception as exc:
        msg = f"{type(exc).__name__}: {str(exc)[:400]}"
        offline = os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"
        if any(w in msg for w in ("offline", "Couldn't reach", "ConnectionError", "LocalEntryNotFound",
                                  "doesn't exist on the Hub", "cannot find the requested files")):
            msg += (" (the task's dataset comes from the Hugging Face hub" +
                    (", and this process is offline: HF_DATASETS_OFFLINE/HF_HUB_OFFLINE" if offline else "") +
                    "; give a local task YAML instead)")
        raise LmEvalError(f"lm_eval task {task.name!r} on {label!r} failed: {msg}") from None
    if raw is None:
        raise LmEvalError(f"lm_eval task {task.name!r} on {label!r} returned no results")
    return raw


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def metric_rows(raw: dict[str, Any], *, model: str, evaluator: str, task: str) -> list[dict[str, Any]]:
    """Results rows from lm-eval's `results`: one per (task, metric, filter). The asked task's metrics are named
    as lm-eval names them (`acc`, `acc_norm`); a group's subtasks as `<subtask>/<metric>`; a filter other than
    `none` as `<metric>.<filter>` (e.g. `exact_match.strict-match`)."""
    rows = []
    counts = raw.get("n-samples") or {}
    for tname, values in (raw.get("results") or {}).items():
        n = (counts.get(tname) or {}).get("effective") or values.get("sample_len")
        for key, value in values.items():
            if "," not in key or "_stderr," in key:
                continue
            metric, filt = key.split(",", 1)
            v = _number(value)
            if v is None:
                continue
            stderr = _number(values.get(f"{metric}_stderr,{filt}"))
            name = metric if filt == "none" else f"{metric}.{filt}"
            if tname != task:
                name = f"{tname}/{name}"
            lo = hi = None
            if stderr is not None:
                lo, hi = v - 1.96 * stderr, v + 1.96 * stderr
                if metric in PROPORTIONS:
                    lo, hi = max(0.0, lo), min(1.0, hi)
            rows.append({"model": model, "evaluator": evaluator, "metric": name, "value": v, "ci_low": lo,
                         "ci_high": hi, "stderr": stderr, "n": int(n) if n else None, "source": "lm-eval"})
    return rows


def doc_scores(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Each scored document of each task: `{task, doc_id, target, scores: {metric: value}}`, plus the choices'
    log-likelihoods for multiple-choice tasks."""
    out = []
    for tname, docs in (raw.get("samples") or {}).items():
        metrics = set()
        for key in (raw.get("results") or {}).get(tname, {}):
            if "," in key and "_stderr," not in key:
                metrics.add(key.split(",", 1)[0])
        for d in docs:
            scores = {m: _number(d.get(m)) for m in metrics if _number(d.get(m)) is not None}
            rec = {"task": tname, "doc_id": d.get("doc_id"), "target": d.get("target"), "scores": scores,
                   "filter": d.get("filter")}
            resps = d.get("filtered_resps") or []
            if resps and all(isinstance(r, (list, tuple)) and r and _number(r[0]) is not None for r in resps):
                rec["loglikelihoods"] = [float(r[0]) for r in resps]  # one per choice (multiple choice tasks)
            out.append(rec)
    return out


@dataclass
class LmEvalOutcome:
    """What one lm_eval evaluator gives for one model."""

    metrics: list[dict[str, Any]]
    docs: list[dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)   # task, lm-eval version, n-shot, chat template


def run(ev: LmEvalEval, ref: ModelRef, *, evaluator: str | None = None, device: str = "cpu", seed: int = 0,
        bootstrap: int = 1000, model: Any = None, tokenizer: Any = None, base_dir: str | Path | None = None,
        apply_chat_template: bool = False) -> LmEvalOutcome:
    """An `lm_eval` evaluator of an EvalSpec on one model (see the module docstring)."""
    name = evaluator or ev.name or ev.type
    task = resolve_task(ev.task, base_dir)
    lm = make_lm(ref, batch_size=ev.batch_size, device=device, model=model, tokenizer=tokenizer)
    raw = evaluate(task, lm, num_fewshot=ev.num_fewshot, limit=ev.limit, seed=seed,
                   bootstrap_iters=max(bootstrap, 0), apply_chat_template=apply_chat_template, label=ref.label)
    rows = metric_rows(raw, model=ref.label, evaluator=name, task=task.name)
    if not rows:
        raise LmEvalError(f"lm_eval task {task.name!r} on {ref.label!r} gave no numeric metric")
    info = {"task": task.name, "task_file": str(task.yaml_path) if task.yaml_path else None,
            "lm_eval_version": raw.get("lm_eval_version"), "n_shot": raw.get("n-shot"),
            "chat_template": apply_chat_template, "limit": ev.limit}
    return LmEvalOutcome(rows, doc_scores(raw), info)

"""The export worker: `python -m jupyter_ft.training.export PLAN.json`, started by `jupyter_ft.core.registry.export.run`.

It does the torch work of a checked plan into the plan's temporary folder: load the base, apply the adapter, merge
(`PeftModel.merge_and_unload`), save safetensors weights + tokenizer + generation config (or copy the adapter
for `merge=False`), write the card, and run llama.cpp's converter and write an Ollama `Modelfile` when the plan
has a converter. Progress, the result and a user-facing error go to stdout as JSON lines; library noise and
tracebacks go to stderr (the export's log file).
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from jupyter_ft.core.registry.export import ExportPlan
from jupyter_ft.core.registry.card import ROLES, modelfile, ollama_template, render_ollama

# Files of an adapter folder that belong to the adapter (not training state: checkpoints, optimizer, args).
SKIP = {"training_args.bin", "README.md", "trainer_state.json", "optimizer.pt", "scheduler.pt", "rng_state.pth"}


class ExportInputError(Exception):
    """A problem with the inputs (the base cannot be loaded, the adapter does not fit it): one line for the user."""


class Reporter:
    def __init__(self, steps: int):
        self.steps, self.step, self.t0 = steps, 0, time.monotonic()

    def __call__(self, stage: str) -> None:
        self.step += 1
        emit({"stage": stage, "step": self.step, "steps": self.steps, "elapsed": round(time.monotonic() - self.t0, 2)})


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _load_base(base: str, revision: str | None):
    from transformers import AutoModelForCausalLM

    try:  # the dtype the weights are stored in: a merge changes values, never the precision
        return AutoModelForCausalLM.from_pretrained(base, revision=revision, dtype="auto")
    except Exception as exc:
        raise ExportInputError(f"cannot load the base model {base!r}: {type(exc).__name__}: {exc}") from None


def _tokenizer(plan: ExportPlan):
    from transformers import AutoTokenizer

    src = plan.source
    for where in (src.path, src.base_model):  # the job saved its tokenizer beside the adapter
        if where and (not Path(where).is_dir() or (Path(where) / "tokenizer_config.json").is_file()):
            try:
                return AutoTokenizer.from_pretrained(where, revision=src.base_revision if where == src.base_model
                                                     else None)
            except Exception:
                continue
    raise ExportInputError(f"no tokenizer could be loaded from {src.path} or {src.base_model}")


def merged_model(plan: ExportPlan, report: Reporter):
    src = plan.source
    if src.kind == "full":
        report(f"loading the model {src.path}")
        return _load_base(src.path, None)
    from peft import PeftModel

    report(f"loading the base model {src.base_model}")
    base = _load_base(src.base_model, src.base_revision)
    report("applying the adapter")
    try:
        model = PeftModel.from_pretrained(base, src.path)
    except Exception as exc:
        raise ExportInputError(f"the adapter {src.path} does not load on {src.base_model}: "
                               f"{type(exc).__name__}: {exc}") from None
    report("merging the adapter into the weights")
    return model.merge_and_unload()


def _generation_config(model, plan: ExportPlan, out: Path) -> None:
    """generation_config.json: the base's own (or the trained folder's), else one built from the model config."""
    from transformers import GenerationConfig

    if (out / "generation_config.json").is_file():
        return
    for where in (plan.source.path, plan.source.base_model):
        try:
            GenerationConfig.from_pretrained(where).save_pretrained(out)
            return
        except Exception:
            continue
    GenerationConfig.from_model_config(model.config).save_pretrained(out)


def write_merged(plan: ExportPlan, out: Path, report: Reporter) -> Any:
    model = merged_model(plan, report)
    report("saving safetensors weights")
    model.save_pretrained(out, safe_serialization=True, max_shard_size="5GB")
    tokenizer = _tokenizer(plan)
    tokenizer.save_pretrained(out)
    _generation_config(model, plan, out)
    del model
    return tokenizer


def write_adapter(plan: ExportPlan, out: Path, report: Reporter) -> Any:
    report(f"copying the adapter {plan.source.path}")
    src = Path(plan.source.path)
    for f in src.iterdir():
        if f.is_file() and f.name not in SKIP:
            shutil.copy2(f, out / f.name)
    tokenizer = _tokenizer(plan)
    if not (out / "tokenizer_config.json").is_file():
        tokenizer.save_pretrained(out)
    return tokenizer


# --- GGUF + Ollama -------------------------------------------------------------------------------------------------

SENTINEL = "\x00CONTENT\x00"


def chat_turns(tokenizer) -> tuple[str | None, list[str]]:
    """The tokenizer's chat template as an Ollama template (None when it cannot be translated exactly), with notes."""
    if not getattr(tokenizer, "chat_template", None):
        return None, ["the tokenizer has no chat template: the Modelfile has no TEMPLATE (Ollama's default applies)"]

    def render(messages, gen=False):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)

    turns: dict[str, tuple[str, str]] = {}
    pres = {}
    for role in ROLES:
        try:
            text = render([{"role": role, "content": SENTINEL}])
        except Exception:  # some templates refuse a lone system or assistant turn
            continue
        if text.count(SENTINEL) != 1:
            continue
        pres[role], post = text.split(SENTINEL)
        turns[role] = ("", post)
    if "user" not in turns:
        return None, ["the chat template could not be read for a user turn: the Modelfile has no TEMPLATE"]
    head = _head(render, pres, turns)
    if head is None:
        return None, ["the chat template's opening text could not be told apart from its turns: the Modelfile has "
                      "no TEMPLATE"]
    turns = {r: (pres[r][len(head):], post) for r, (_, post) in turns.items()}
    user_only = render([{"role": "user", "content": SENTINEL}])
    generation = render([{"role": "user", "content": SENTINEL}], gen=True)[len(user_only):]
    bos = getattr(tokenizer, "bos_token", None)
    shown_head = "" if head == bos else head  # llama.cpp adds the BOS token itself
    template = ollama_template(turns, generation, shown_head)
    probe = [{"role": r, "content": f"{r} says hi"} for r in ROLES if r in turns] + [{"role": "user", "content": "?"}]
    try:
        expected = render(probe, gen=True)
    except Exception:
        expected = None
    if expected is not None and head + render_ollama(template, probe)[len(shown_head):] != expected:
        return None, ["the chat template does not translate exactly into Ollama's template language: the "
                      "Modelfile has no TEMPLATE; write one by hand (the original is in tokenizer_config.json)"]
    return template, []


def _head(render, pres: dict[str, str], turns: dict[str, tuple[str, str]]) -> str | None:
    """The text every conversation opens with (e.g. the BOS token): what an empty conversation renders, else what a
    user+assistant pair shows the assistant's own opening to be (the part of its lone rendering before that)."""
    try:
        empty = render([])
    except Exception:
        empty = None
    if empty is not None and all(p.startswith(empty) for p in pres.values()):
        return empty
    if "assistant" not in turns:
        return None
    try:
        pair = render([{"role": "user", "content": SENTINEL}, {"role": "assistant", "content": SENTINEL}])
    except Exception:
        return None
    between = pair.split(SENTINEL)[1] if pair.count(SENTINEL) == 2 else ""
    post_user = turns["user"][1]
    if not between.startswith(post_user) or not pres["assistant"].endswith(between[len(post_user):]):
        return None
    head = pres["assistant"][:len(pres["assistant"]) - len(between) + len(post_user)]
    return head if all(p.startswith(head) for p in pres.values()) else None


def stop_tokens(tokenizer, out: Path) -> list[str]:
    ids: list[int] = []
    try:
        eos = json.loads((out / "generation_config.json").read_text()).get("eos_token_id")
        ids = eos if isinstance(eos, list) else [eos] if eos is not None else []
    except (OSError, ValueError):
        pass
    stops = [tokenizer.convert_ids_to_tokens(int(i)) for i in ids]
    return [s for s in [*stops, tokenizer.eos_token] if s]


def write_gguf(plan: ExportPlan, out: Path, tokenizer, report: Reporter) -> tuple[str, str, list[str]]:
    report(f"converting to GGUF ({plan.gguf_outtype}) with {Path(plan.gguf).name}")
    name = f"model-{plan.gguf_outtype}.gguf"
    proc = subprocess.run([sys.executable, plan.gguf, str(out), "--outfile", str(out / name),
                           "--outtype", plan.gguf_outtype], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    sys.stderr.write(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not (out / name).is_file():
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ExportInputError(f"llama.cpp's converter failed (exit {proc.returncode}): {last[0]}")
    template, notes = chat_turns(tokenizer)
    (out / "Modelfile").write_text(modelfile(name, template, stop_tokens(tokenizer, out), plan.source.label))
    return name, "Modelfile", notes


def run(plan: ExportPlan) -> dict[str, Any]:
    out = Path(plan.tmp)
    out.mkdir(parents=True)
    steps = ((2 if plan.source.kind == "full" else 4) if plan.merge else 1) + 1 + (1 if plan.gguf else 0)
    report = Reporter(steps)
    tokenizer = write_merged(plan, out, report) if plan.merge else write_adapter(plan, out, report)
    gguf = mf = None
    notes: list[str] = []
    if plan.gguf:
        gguf, mf, notes = write_gguf(plan, out, tokenizer, report)
    report("writing the model card")
    (out / "README.md").write_text(plan.card)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    return {"gguf": gguf, "modelfile": mf, "notes": notes, "peak_rss_bytes": peak}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    plan = ExportPlan.from_json(Path(args[0]).read_text())
    try:
        emit({"result": run(plan)})
        return 0
    except ExportInputError as exc:
        shutil.rmtree(plan.tmp, ignore_errors=True)
        emit({"error": str(exc)})
        return 2
    except BaseException:
        shutil.rmtree(plan.tmp, ignore_errors=True)
        raise


if __name__ == "__main__":
    sys.exit(main())

"""The texts an export writes beside the weights: the model card (README.md, Hugging Face's format: YAML metadata
then Markdown) stating where the model came from, and Ollama's `Modelfile` for a GGUF file.

The card is written from stored references (the job record, the catalog version, the registry version, the
evaluations that named it), never guessed from names, so a model that leaves the workspace still says which
base, data, technique, run and scores produced it.
"""

from __future__ import annotations

import json
import time
from typing import Any

from jupyter_ft.core.hub import looks_like_path


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _row(label: str, value: Any) -> str:
    return f"| {label} | {_fmt(value) or '—'} |"


def _front_matter(src: Any, merged: bool) -> str:
    lines = ["---"]
    if src.base_model and not looks_like_path(src.base_model):
        lines.append(f"base_model: {src.base_model}")  # only hub ids: a local path means nothing elsewhere
    lines.append(f"library_name: {'transformers' if merged else 'peft'}")
    lines.append("pipeline_tag: text-generation")
    tags = ["jupyter_ft", *([src.technique] if src.technique else []),
            *(["lora"] if src.kind == "adapter" else []), *(["merged"] if merged and src.kind == "adapter" else [])]
    lines.append("tags:")
    lines.extend(f"- {t}" for t in tags)
    lines.append("---")
    return "\n".join(lines)


def _lineage_table(src: Any) -> list[str]:
    base = src.base_model or "(a full model: no separate base)"
    if src.base_revision:
        base = f"{base} (revision {src.base_revision})"
    lora = (src.spec or {}).get("lora") or {}
    technique = src.technique or "unknown"
    if lora:
        technique += f" (LoRA r={lora.get('r')}, alpha={lora.get('alpha')})"
    elif src.spec:
        technique += " (full fine-tuning)"
    dataset = src.dataset or "unknown"
    if src.dataset_digest:
        dataset += f" (digest {src.dataset_digest})"
    if src.split:
        dataset += (f"; split seed {src.split.get('seed')}, eval fraction {src.split.get('eval_fraction')}, "
                    f"{src.split.get('num_train')} train / {src.split.get('num_eval')} eval rows")
    run = src.run_id
    if run and src.mlflow_url:
        run = f"[{run}]({src.mlflow_url})"
    rows = [_row("Base model", base), _row("Technique", technique), _row("Dataset", dataset),
            _row("Training job", src.job_id), _row("MLflow run", run)]
    if src.registered:
        alias = f" (aliases: {', '.join(src.aliases)})" if src.aliases else ""
        rows.append(_row("Registered as", src.registered + alias))
    for key, label in (("jupyter_ft.version", "jupyter_ft version"), ("jupyter_ft.git_commit", "Code version (git)")):
        if src.tags.get(key):
            rows.append(_row(label, src.tags[key]))
    packages = {k.split(".", 2)[-1]: v for k, v in src.tags.items() if k.startswith("jupyter_ft.package.")}
    if packages:
        rows.append(_row("Packages", ", ".join(f"{k} {v}" for k, v in sorted(packages.items()))))
    return ["| | |", "|---|---|", *rows]


def _metrics(src: Any) -> list[str]:
    if not src.metrics:
        return []
    out = ["", "## Training metrics (last logged value)", "", "| metric | value |", "|---|---|"]
    out.extend(f"| {k} | {_fmt(v)} |" for k, v in sorted(src.metrics.items()))
    return out


def _evaluations(src: Any) -> list[str]:
    if not src.evaluations:
        return []
    out = ["", "## Evaluations", "", "| evaluation | dataset | evaluator | metric | value | 95% interval | n |",
           "|---|---|---|---|---|---|---|"]
    for ev in src.evaluations:
        if not ev.get("metrics"):
            out.append(f"| {ev['id']} ({ev.get('state')}) | {ev.get('dataset') or '—'} | — | — | — | — | — |")
        for m in ev.get("metrics", []):
            ci = f"{_fmt(m.get('ci_low'))} – {_fmt(m.get('ci_high'))}" if m.get("ci_low") is not None else "—"
            out.append(f"| {ev['id']} | {ev.get('dataset') or '—'} | {m.get('evaluator')} | {m.get('metric')} | "
                       f"{_fmt(m.get('value'))} | {ci} | {_fmt(m.get('n'))} |")
    return out


def _usage(src: Any, merged: bool) -> list[str]:
    if merged:
        code = ["from transformers import AutoModelForCausalLM, AutoTokenizer", "",
                'model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")',
                'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")']
    else:
        code = ["from peft import PeftModel", "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
                f'base = AutoModelForCausalLM.from_pretrained("{src.base_model}")',
                'model = PeftModel.from_pretrained(base, "path/to/this/folder")',
                'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")']
    return ["", "## Use", "", "```python", *code, "```"]


def model_card(src: Any, merged: bool, now: float | None = None) -> str:
    """README.md for an export: metadata, what it is, its lineage, metrics, evaluations, the stored spec, usage."""
    from jupyter_ft.core import __version__

    title = src.registered or src.label
    what = ("the LoRA adapter merged into the base model's weights: a plain model" if merged and src.kind == "adapter"
            else "a fully fine-tuned model" if src.kind == "full"
            else "a LoRA adapter: load it on the base model below with PEFT")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now or time.time()))
    parts = [_front_matter(src, merged), "", f"# {title}", "",
             f"This folder holds {what}. Exported by jupyter_ft {__version__} on {stamp} from `{src.ref}`.", "",
             "## Lineage", "", *_lineage_table(src), *_metrics(src), *_evaluations(src)]
    if src.spec:
        parts += ["", "## Training spec (as stored with the job)", "", "```json",
                  json.dumps(src.spec, indent=1, sort_keys=True, default=str), "```"]
    parts += _usage(src, merged)
    return "\n".join(parts) + "\n"


# --- Ollama ------------------------------------------------------------------------------------------------------

ROLES = ("system", "user", "assistant")


def ollama_template(turns: dict[str, tuple[str, str]], generation_prompt: str, head: str = "") -> str:
    """An Ollama (Go text/template) chat template from the text a chat template puts around each role's content,
    e.g. {"user": ("<|user|>\\n", "<|end|>\\n")}. Written on one line without trim markers so every newline of the
    original template is kept exactly."""
    branches = []
    for i, role in enumerate(r for r in ROLES if r in turns):
        pre, post = turns[role]
        branches.append(f'{{{{ {"if" if i == 0 else "else if"} eq .Role "{role}" }}}}{pre}{{{{ .Content }}}}{post}')
    return f"{head}{{{{ range .Messages }}}}{''.join(branches)}{{{{ end }}}}{{{{ end }}}}{generation_prompt}"


def render_ollama(template: str, messages: list[dict[str, str]]) -> str:
    """What Ollama's template gives for `messages`: the check that the translation matches the original."""
    import re

    head, rest = template.split("{{ range .Messages }}", 1)
    body, gen = rest.rsplit("{{ end }}{{ end }}", 1)
    branches = dict(re.findall(r'{{ (?:if|else if) eq \.Role "(\w+)" }}(.*?)(?={{ else if|$)', body, re.S))
    out = head
    for m in messages:
        pre, post = branches[m["role"]].split("{{ .Content }}")
        out += pre + m["content"] + post
    return out + gen


def modelfile(gguf_name: str, template: str | None, stops: list[str], source: str) -> str:
    """Ollama's Modelfile for a GGUF file in the same folder: `ollama create NAME -f Modelfile`."""
    lines = [f"# Ollama Modelfile for {source}, written by jupyter_ft: ollama create <name> -f Modelfile",
             f"FROM ./{gguf_name}"]
    if template is not None:
        lines.append(f'TEMPLATE """{template}"""')
    lines.extend(f'PARAMETER stop "{s}"' for s in dict.fromkeys(stops) if s)
    return "\n".join(lines) + "\n"

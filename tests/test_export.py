"""Export: a real tiny SFT job's adapter exported as a merged Hugging Face folder and as an adapter
folder, through the SDK, the CLI and REST (real jupyter-server via jp_fetch); the merged folder is loaded by plain
`AutoModelForCausalLM.from_pretrained` in a fresh process and answers greedy prompts exactly as base + adapter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

import jupyter_ft as ft
from jupyter_ft.cli import main as cli
from jupyter_ft.core.registry import export
from jupyter_ft.core.workspace import workspace
from jupyter_ft.core.datasets import demo_data

from .conftest import write_jsonl

PROMPTS = ["What is the capital of France?", "What is the capital of Japan?", "Say hello.", "2 + 2 = ?"]
NEW_TOKENS = 12

# Runs in a fresh interpreter: nothing of jupyter_ft, only transformers reading the exported folder.
FRESH_LOAD = r"""
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
path, prompts, n = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
model = AutoModelForCausalLM.from_pretrained(path)
tok = AutoTokenizer.from_pretrained(path)
out = []
for p in prompts:
    ids = tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)["input_ids"]
    with torch.no_grad():
        gen = model.generate(ids, max_new_tokens=n, do_sample=False, min_new_tokens=n)
    out.append(gen[0, ids.shape[1]:].tolist())
print(json.dumps({"class": type(model).__name__, "answers": out}))
"""


# Stands in for llama.cpp's converter (not installable here: it lives in the llama.cpp repository): it checks it is
# handed a complete Hugging Face folder and the arguments llama.cpp's `convert_hf_to_gguf.py` takes, and writes a
# file with GGUF's magic. What it checks is the plumbing: the plan finds the converter, the worker runs it on the
# finished merged folder and writes the Ollama Modelfile beside its output.
STAND_IN_CONVERTER = r"""
import json, sys
from pathlib import Path
folder, rest = Path(sys.argv[1]), sys.argv[2:]
assert rest[0] == "--outfile" and rest[2] == "--outtype", rest
for need in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json"):
    assert (folder / need).is_file(), need
Path(rest[1]).write_bytes(b"GGUF" + json.dumps({"outtype": rest[3]}).encode())
"""


def greedy(model, tok, prompts=PROMPTS, n=NEW_TOKENS) -> list[list[int]]:
    import torch

    out = []
    for p in prompts:
        ids = tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                      return_tensors="pt", return_dict=True)["input_ids"]
        with torch.no_grad():
            gen = model.generate(input_ids=ids, max_new_tokens=n, do_sample=False, min_new_tokens=n)
        out.append(gen[0, ids.shape[1]:].tolist())
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model):
    """One real SFT job (LoRA on the tiny Llama), its workspace the default for the module."""
    from jupyter_ft.core.jobs.daemon import stop_scheduler

    root = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_FT_HOME", str(root / "workspace"))
        ws = workspace(root / "workspace")
        data = write_jsonl(root / "capitals.jsonl", demo_data.sft_rows(32))
        job = ft.train(model=str(tiny_model), dataset=str(data), name="capitals", max_steps=12, learning_rate=1e-2,
                       logging_steps=4, batch_size=8, device="cpu")
        try:
            job.wait(timeout=300, raise_on_failure=True)
            yield ws, job, root
        finally:
            stop_scheduler(ws, kill_jobs=True)


def registry_ref(job) -> str:
    """The version the job registered as (`name@1`), once its registration has finished."""
    from .browser import wait_until

    reg = wait_until(lambda: job.registration, until=lambda r: bool(r) and r["state"] != "pending", timeout=120,
                     what="the job's registration")
    assert reg["state"] == "registered", reg
    return reg["model"]


def test_the_card_reports_the_registered_versions_metrics(trained):
    from jupyter_ft.core.jobs import store as jobstore
    from jupyter_ft.core.registry import versions as registry
    from jupyter_ft.core.registry.card import model_card

    ws, job, _ = trained
    ref = registry_ref(job)
    registered = dict(registry.resolve(ws, ref).metrics)
    assert {"loss", "train_loss", "train_runtime"} <= set(registered), registered
    from_job = export._from_job(ws, jobstore.get(ws, job.id), job.id)  # the card of the job, read from its history
    assert from_job.metrics == registered
    assert export.resolve_source(ws, ref).metrics == registered
    card = model_card(from_job, merged=False)
    assert all(f"| {name} |" in card for name in registered)


@pytest.fixture(scope="module")
def reference(trained, tiny_model):
    """Greedy answers of the base with the job's adapter applied (PEFT, unmerged), and of the bare base."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, job, _ = trained
    tok = AutoTokenizer.from_pretrained(tiny_model)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    bare = greedy(base, tok)
    tuned = PeftModel.from_pretrained(base, str(job.output_dir))
    return {"tuned": greedy(tuned, tok), "base": bare}


def test_bad_input_is_refused_naming_the_field_before_any_weights_load(trained, tmp_path, monkeypatch):
    ws, job, _ = trained
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    with pytest.raises(export.ExportError, match=rf"path: folder {full} is not empty; pass overwrite=True"):
        ft.export(job.id, full)
    assert (full / "keep.txt").read_text() == "mine"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(export.ExportError, match="path: .*afile is a file"):
        ft.export(job.id, tmp_path / "afile")
    with pytest.raises(export.ExportError, match="path: .* holds the model being exported"):
        ft.export(job.id, job.output_dir, overwrite=True)
    with pytest.raises(export.ExportError, match=rf"ref: 'nope': no registered model, job or folder .*{job.id}"):
        ft.export("nope", tmp_path / "x")
    with pytest.raises(export.ExportError, match="ref: 'no/such/dir': no such folder"):
        ft.export("no/such/dir", tmp_path / "x")
    with pytest.raises(export.ExportError, match="merge: must be true or false"):
        ft.export(job.id, tmp_path / "x", merge="yes")
    with pytest.raises(export.ExportError, match="gguf: 'q3_weird' is not a GGUF type"):
        ft.export(job.id, tmp_path / "x", gguf="q3_weird")
    # GGUF asked for where llama.cpp's converter is not installed: what to install, nothing written
    monkeypatch.delenv(export.LLAMA_CPP_ENV, raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(export.ExportError, match=r"gguf: GGUF export needs llama.cpp's converter: .*git clone .*"
                                                 rf"{export.LLAMA_CPP_ENV}="):
        ft.export(job.id, tmp_path / "x", gguf=True)
    # left to its default, GGUF is skipped with the same advice in the plan's notes
    p = export.plan(ws, job.id, tmp_path / "x")
    assert p.gguf is None and any("no GGUF written: GGUF export needs llama.cpp's converter" in n for n in p.notes)
    assert not (tmp_path / "x").exists()


def test_merged_export_loads_in_a_fresh_process_and_answers_as_base_plus_adapter(trained, reference, tiny_model,
                                                                                 tmp_path, monkeypatch):
    ws, job, root = trained
    llama_cpp = tmp_path / "llama.cpp"
    (llama_cpp / "gguf-py" / "gguf").mkdir(parents=True)
    (llama_cpp / export.CONVERTER).write_text(STAND_IN_CONVERTER)
    monkeypatch.setenv(export.LLAMA_CPP_ENV, str(llama_cpp))
    seen = []
    result = ft.export(job.id, root / "merged", progress=seen.append)
    files = set(result.files)
    # GGUF (through the stand-in converter) and Ollama's Modelfile with the chat template and the stop token
    assert result.gguf_path == result.path / "model-f16.gguf" and result.gguf_path.read_bytes().startswith(b"GGUF")
    modelfile = (result.path / "Modelfile").read_text()
    assert "FROM ./model-f16.gguf" in modelfile and 'PARAMETER stop "<|end|>"' in modelfile
    assert ('TEMPLATE """{{ range .Messages }}{{ if eq .Role "system" }}<|system|>\n{{ .Content }}<|end|>\n'
            '{{ else if eq .Role "user" }}<|user|>\n{{ .Content }}<|end|>\n{{ else if eq .Role "assistant" }}'
            '<|assistant|>\n{{ .Content }}<|end|>{{ end }}{{ end }}<|assistant|>\n"""') in modelfile
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "README.md"} <= files, files
    assert not {"adapter_config.json", "adapter_model.safetensors"} & files and result.merged
    assert [e["stage"] for e in seen if "stage" in e][:5] == [
        f"loading the base model {tiny_model}", "applying the adapter", "merging the adapter into the weights",
        "saving safetensors weights", f"converting to GGUF (f16) with {export.CONVERTER}"]
    assert not [p for p in root.iterdir() if p.name.startswith(".merged.")]  # the temporary folder is gone

    fresh = subprocess.run([sys.executable, "-c", FRESH_LOAD, str(result.path), json.dumps(PROMPTS), str(NEW_TOKENS)],
                           capture_output=True, text=True, timeout=180,
                           env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    got = json.loads(fresh.stdout.strip().splitlines()[-1])
    assert got["class"] == "LlamaForCausalLM"
    assert got["answers"] == reference["tuned"]
    assert reference["tuned"] != reference["base"]  # the adapter changes answers: the merge carried it over

    card = result.card
    v = ft.datasets.get(job.spec.dataset)
    for needle in (f"| Base model | {tiny_model} |", "| Technique | sft (LoRA r=", f"| Training job | {job.id} |",
                   job.spec.dataset, f"digest {v.meta['digest']}", "split seed 42", job.run_id, "| loss |",
                   "library_name: transformers", "- merged", '"max_steps": 12'):
        assert needle in card, needle
    assert (result.path / "README.md").read_text() == card


def test_adapter_export_through_the_cli_refuses_a_full_folder_then_overwrites(trained, reference, tiny_model,
                                                                              capsys):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, job, root = trained
    ref = registry_ref(job)  # what a user types: name@version
    target = root / "adapter-out"
    target.mkdir()
    (target / "old.bin").write_text("old")
    assert cli.main(["export", ref, str(target), "--no-merge"]) == 2
    err = capsys.readouterr().err
    assert f"error: path: folder {target} is not empty; pass overwrite=True (CLI: --overwrite)" in err
    assert (target / "old.bin").is_file()

    assert cli.main(["export", ref, str(target), "--no-merge", "--overwrite", "--no-gguf"]) == 0
    out = capsys.readouterr().out
    label = ref if ref != job.id else "capitals"
    assert "export 1/2: copying the adapter" in out and f"exported adapter of {label} to {target}" in out
    assert not (target / "old.bin").exists()
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= {p.name for p in target.iterdir()}
    assert not (target / "model.safetensors").exists() and not (target / "training_args.bin").exists()
    card = (target / "README.md").read_text()
    assert "library_name: peft" in card and "PeftModel.from_pretrained" in card and job.id in card
    if ref != job.id:  # the registry's links and tags reach the card
        for needle in (f"| Registered as | {ref}", "| Packages | ", "torch ", "peft ", "| Dataset | capitals@",
                       "| loss |", "| Code version (git) |"):
            assert needle in card, needle

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), str(target))
    assert greedy(model, AutoTokenizer.from_pretrained(target)) == reference["tuned"]


@pytest.fixture
def jp_server_config(jp_server_config):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "allow_unauthenticated_access": False}}


async def test_rest_export_route(trained, jp_fetch, jp_root_dir):
    _, job, _ = trained

    async def post(*path, **body):
        return await jp_fetch("jupyter-ft", "api", *path, method="POST", body=json.dumps(body), request_timeout=180)

    async def refused(*path, **body) -> tuple[int, dict]:
        with pytest.raises(HTTPClientError) as ei:
            await post(*path, **body)
        return ei.value.code, json.loads(ei.value.response.body)

    code, body = await refused("export", ref=job.id, path="../outside")
    assert code == 400 and body["errors"][0]["field"] == "path" and "outside the Jupyter server's root" in body["message"]
    code, body = await refused("export", ref="nope", path="x")
    assert code == 404 and body["errors"][0]["field"] == "ref" and job.id in body["message"]
    code, body = await refused("export", ref=job.id, path="x", merge="maybe")
    assert code == 400 and body["errors"][0]["field"] == "merge"
    code, body = await refused("export", ref=job.id, path="x", colour="red")
    assert code == 400 and body["errors"][0]["field"] == "colour"
    code, body = await refused("models", "nope", "versions", "1", "export", path="x")
    assert code == 404 and body["errors"][0]["field"] == "ref"

    name, version = registry_ref(job).split("@")  # the route of the version the job registered as
    code, body = await refused("models", name, "versions", "99", "export", path="x")
    assert code == 404 and "has no version 99" in body["message"] and "versions 1" in body["message"], body
    r = await post("models", name, "versions", version, "export", path="exports/capitals", merge=False, gguf=False)
    assert r.code == 201
    res = json.loads(r.body)["export"]
    assert res["path"] == "exports/capitals" and res["merged"] is False and "adapter_config.json" in res["files"]
    assert (Path(jp_root_dir) / "exports/capitals/adapter_model.safetensors").is_file()
    assert str(jp_root_dir) not in r.body.decode()
    code, body = await refused("export", ref=job.id, path="exports/capitals", merge=False)
    assert code == 400 and "is not empty" in body["message"] and str(jp_root_dir) not in json.dumps(body)


def test_lineage_widget_draws_the_registered_versions_real_lineage(trained):
    """The graph the widget lays out is the registry's `ft.lineage` of the job's version: every node and edge."""
    _, job, _ = trained
    ref = registry_ref(job)
    panel = ft.ui.lineage(ref)
    lineage = ft.lineage(ref).to_dict()
    assert panel.selected == lineage["root"] == f"model_version:{ref}"
    assert {n["id"] for n in panel.graph["nodes"]} == {n["id"] for n in lineage["nodes"]}
    assert {(e["from"], e["to"]) for e in panel.graph["edges"]} == {(e["from"], e["to"]) for e in lineage["edges"]}
    kinds = {n["kind"]: n for n in panel.graph["nodes"]}
    assert {"dataset", "job", "model_version"} <= set(kinds)
    assert kinds["dataset"]["x"] < kinds["job"]["x"] < kinds["model_version"]["x"]  # columns in pipeline order
    panel.select(f"job:{job.id}")
    assert panel.details["kind"] == "job"
    with pytest.raises(ValueError, match="no node 'nope'; the nodes are"):
        panel.select("nope")

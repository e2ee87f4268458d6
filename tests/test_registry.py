"""The model registry against a real MLflow store in a temp workspace: registration of real DPO / SFT jobs, tags and
links, references everywhere a model is taken, aliases with their history, a gate decided by a real evaluation,
lineage both ways (Python and REST), and reproduce. One module workspace: the jobs are trained once and shared."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

import jupyter_ft as ft
from jupyter_ft.core import procs
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.registry import versions as registry
from jupyter_ft.core.datasets import demo_data
from jupyter_ft.sdk.models import AliasRefused

from .conftest import write_jsonl
from .eval_fixtures import results as fixture_results

NAME = "tiny-chat"


@pytest.fixture(scope="module")
def reg(tmp_path_factory, tiny_model):
    """A workspace holding two registered versions of `tiny-chat`: @1 a DPO adapter, @2 an SFT adapter trained
    long enough to lower the loss on the SFT data."""
    from jupyter_ft.core.workspace import workspace
    from jupyter_ft.core.jobs.daemon import stop_scheduler

    tmp = tmp_path_factory.mktemp("registry")
    old = os.environ.get("JUPYTER_FT_HOME")
    os.environ["JUPYTER_FT_HOME"] = str(tmp / "workspace")
    ws = workspace(tmp / "workspace")
    pref = write_jsonl(tmp / "prefs.jsonl", demo_data.preference_rows(80))
    sft = write_jsonl(tmp / "capitals.jsonl", demo_data.sft_rows(64))
    dpo = ft.train(model=str(tiny_model), dataset=str(pref), technique="dpo", lora=True, max_steps=6,
                   learning_rate=5e-3, logging_steps=1, max_length=128, batch_size=8, grad_accum=1,
                   register_as=NAME, ws=ws.root)
    sftj = ft.train(model=str(tiny_model), dataset=str(sft), technique="sft", lora=True, max_steps=30,
                    learning_rate=5e-3, logging_steps=10, batch_size=8, grad_accum=1, eval_fraction=0.0,
                    register_as=NAME, ws=ws.root)
    for j in (dpo, sftj):
        j.wait(timeout=400)
        assert j.status == "succeeded", j.logs(tail=30)
    for j in (dpo, sftj):
        wait_for(lambda: j.registration["state"] == "registered", what=f"registration of {j.id}")
    yield {"ws": ws, "dpo": dpo, "sft": sftj, "sft_data": sft, "tmp": tmp, "model": tiny_model}
    stop_scheduler(ws, kill_jobs=True)
    for job in jobstore.list_jobs(ws):
        if job.pid and procs.alive(job.pid, job.pid_started):
            procs.signal_group(job.pid, signal.SIGKILL)
    if old is None:
        os.environ.pop("JUPYTER_FT_HOME", None)
    else:
        os.environ["JUPYTER_FT_HOME"] = old


def wait_for(cond, timeout=120, poll=0.2, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if v := cond():
            return v
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


def test_dpo_job_registers_a_version_with_tags_and_links(reg):
    ws, dpo = reg["ws"], reg["dpo"]
    assert dpo.registration == {"state": "registered", "model": f"{NAME}@1", "error": None}
    assert reg["sft"].registration["model"] == f"{NAME}@2"

    from mlflow.tracking import MlflowClient

    c = MlflowClient(ws.tracking_uri)
    mv = c.get_model_version(NAME, "1")
    t = mv.tags
    ds = dpo.spec.dataset
    from jupyter_ft.core.datasets import catalog

    version = catalog.get(ws, ds)
    assert t["jupyter_ft.job_id"] == dpo.id and t["jupyter_ft.run_id"] == dpo.run_id == mv.run_id
    assert t["jupyter_ft.dataset"] == ds and t["jupyter_ft.dataset_digest"] == version.meta["digest"]
    assert t["jupyter_ft.split_seed"] == str(version.split["seed"])
    assert t["jupyter_ft.base_model"] == str(reg["model"]) and t["jupyter_ft.technique"] == "dpo"
    assert t["jupyter_ft.kind"] == "adapter" and t["jupyter_ft.version"] == ft.__version__
    import peft
    import torch
    import transformers
    import trl

    for pkg, mod in (("torch", torch), ("transformers", transformers), ("trl", trl), ("peft", peft)):
        assert t[f"jupyter_ft.package.{pkg}"] == mod.__version__.split("+")[0] or \
            t[f"jupyter_ft.package.{pkg}"] == mod.__version__
    assert float(t["jupyter_ft.metric.train_loss"]) > 0 and "jupyter_ft.metric.eval_loss" in t
    # the version is a LoggedModel of the job's run holding the adapter and tokenizer, not checkpoints or the base
    lm = c.get_logged_model(registry.resolve(ws, f"{NAME}@1").model_id)
    assert mv.source == lm.artifact_location
    assert lm.source_run_id == dpo.run_id and str(lm.status) in ("READY", "LoggedModelStatus.READY")
    art = Path(lm.artifact_location.removeprefix("file://"))
    files = {p.name: p.stat().st_size for p in art.rglob("*") if p.is_file()}
    assert "adapter_model.safetensors" in files and "adapter_config.json" in files and "tokenizer.json" in files
    assert not any(n in files for n in ("training_args.bin", "optimizer.pt", "model.safetensors"))
    out = dpo.output_dir
    adapter = sum(p.stat().st_size for p in out.iterdir() if p.is_file() and p.name != "training_args.bin")
    assert sum(files.values()) <= 1.05 * adapter


def test_references_resolve_and_unknown_ones_list_the_known(reg):
    ws = reg["ws"]
    assert registry.parse_ref("a@3") == ("a", "3") and registry.parse_ref("a") == ("a", None)
    assert registry.parse_ref("a@champion") == ("a", "champion")
    assert registry.is_ref(ws, NAME) and registry.is_ref(ws, f"{NAME}@1")
    assert not registry.is_ref(ws, str(reg["model"])) and not registry.is_ref(ws, "org/model")
    mv = registry.resolve(ws, f"{NAME}@1")
    assert (mv.name, mv.version, mv.kind, mv.technique, mv.job_id) == (NAME, 1, "adapter", "dpo", reg["dpo"].id)
    assert mv.base_model == str(reg["model"]) and Path(mv.path, "adapter_config.json").is_file()
    assert mv.dataset == reg["dpo"].spec.dataset and mv.run_id == reg["dpo"].run_id
    assert registry.resolve(ws, NAME).version == 2  # latest
    assert isinstance(registry.resolve_model_entry(ws, f"{NAME}@2"), registry.ModelVersion)
    assert registry.resolve_model_entry(ws, "org/model") == "org/model"

    with pytest.raises(registry.UnknownModel, match=rf"no registered model 'nope'; registered: {NAME}"):
        registry.resolve(ws, "nope@1")
    with pytest.raises(registry.UnknownModel, match=r"has no version 9; versions 1, 2"):
        registry.resolve(ws, f"{NAME}@9")
    with pytest.raises(registry.UnknownModel, match=r"has no alias 'gold'"):
        registry.resolve(ws, f"{NAME}@gold")

    # every place that takes a model: compare / evaluation entries, and a training spec
    from jupyter_ft.core.registry.model_refs import ModelEntryError, resolve_models

    (ref,) = resolve_models([f"{NAME}@1"], ws)
    assert ref.kind == "adapter" and ref.adapter == mv.path and ref.model == mv.base_model and ref.label == f"{NAME}@1"
    with pytest.raises(ModelEntryError, match="has no version 7"):
        resolve_models([f"{NAME}@7"], ws)
    with pytest.raises(ModelEntryError, match=f"no registered model 'ghost'; registered: {NAME}"):
        resolve_models(["ghost@2"], ws)
    with pytest.raises(ft.SpecError) as ei:
        ft.train(model=f"{NAME}@1", dataset=str(reg["sft_data"]), ws=ws.root)
    assert ei.value.errors[0][0] == "model" and "LoRA adapter" in ei.value.errors[0][1]
    with pytest.raises(ft.SpecError) as ei:
        ft.train(model=f"{NAME}@5", dataset=str(reg["sft_data"]), ws=ws.root)
    assert ei.value.errors[0][0] == "model" and "versions 1, 2" in ei.value.errors[0][1]
    with pytest.raises(ft.SpecError) as ei:
        ft.train(model=str(reg["model"]), dataset=str(reg["sft_data"]), register_as="a/b", ws=ws.root)
    assert ei.value.errors[0][0] == "register_as"
    assert registry.derived_name("/m/Tiny Llama", "dpo") == "tiny-llama-dpo"

    listing = ft.models(ws)
    (m,) = listing
    assert m["name"] == NAME and [v["version"] for v in m["versions"]] == [1, 2] and m["latest_version"] == 2
    assert f"{NAME}: 2 version(s)" in repr(listing)
    h = ft.model(f"{NAME}@1", ws)
    assert h.version == 1 and h.base_model == str(reg["model"]) and h.path == mv.path


def test_gated_alias_moves_with_a_real_evaluation_history_and_rollback(reg):
    ws = reg["ws"]
    first = ft.models.set_alias(NAME, "champion", version=1, ws=ws)
    assert first["from_version"] is None and first["to_version"] == 1 and first["user"]
    # no evaluation yet: the gate says what is missing
    with pytest.raises(AliasRefused, match=r"no evaluation scored both tiny-chat@2 and tiny-chat@1"):
        ft.models.set_alias(NAME, "champion", version=2, require_better_than=f"{NAME}@champion", ws=ws)
    with pytest.raises(AliasRefused, match="evidence: no job 'eval-nope'"):
        ft.models.set_alias(NAME, "champion", version=2, evidence="eval-nope", ws=ws)
    with pytest.raises(ValueError, match="alias 'v3'"):
        ft.models.set_alias(NAME, "v3", version=2, ws=ws)

    # a real evaluation of both versions (the alias is pinned to the version it named at submission)
    ev = ft.evaluate(models=[f"{NAME}@2", f"{NAME}@champion"], dataset=str(reg["sft_data"]), evaluators=["eval_loss"],
                     split="all", limit=16, ws=ws.root)
    assert ev.spec.models == [f"{NAME}@2", f"{NAME}@1"] and "models.1" in ev.spec.auto
    ev.wait(timeout=300)
    assert ev.status == "succeeded", ev.logs(tail=30)
    res = ev.results()
    loss = {m["model"]: m for m in res["metrics"] if m["metric"] == "loss"}
    assert loss[f"{NAME}@2"]["ci_low"] is not None  # a mean with its bootstrap interval per model
    assert loss[f"{NAME}@2"]["value"] < loss[f"{NAME}@1"]["value"], loss  # the SFT version learned this data

    move = ft.models.set_alias(NAME, "champion", version=2, require_better_than=f"{NAME}@champion", ws=ws)
    assert move["from_version"] == 1 and move["to_version"] == 2 and move["evidence"] == ev.id
    assert move["gate"]["difference"] > move["gate"]["required"]
    assert move["gate"]["metric"] == "eval_loss/loss" and move["gate"]["required"] > 0
    with pytest.raises(AliasRefused, match=r"not better than tiny-chat@2 on eval_loss/loss .*lower is better.*"
                                           r"fell short by"):
        ft.models.set_alias(NAME, "champion", version=1, require_better_than=f"{NAME}@champion",
                            metric="loss", evidence=ev.id, ws=ws)
    assert registry.resolve(ws, f"{NAME}@champion").version == 2
    back = ft.models.rollback(NAME, "champion", ws=ws)
    assert back["to_version"] == 1 and "rollback" in back["note"]
    history = ft.models.alias_history(NAME, ws)
    assert [(h["from_version"], h["to_version"]) for h in history] == [(None, 1), (1, 2), (2, 1)]
    assert history[1]["evidence"] == ev.id and all(h["user"] and h["at"] for h in history)
    # the history lives in the registry itself: any MLflow reader sees it
    from mlflow.tracking import MlflowClient

    rm = MlflowClient(ws.tracking_uri).get_registered_model(NAME)
    assert {k: int(v) for k, v in rm.aliases.items()} == {"champion": 1}
    assert len([k for k in rm.tags if k.startswith("jupyter_ft.alias_history.")]) == 3
    reg["eval"] = ev


def test_gate_uses_intervals_and_pairwise_win_rates():
    """The gate's arithmetic on results in the evaluation schema (the end-to-end case is the test above)."""
    from jupyter_ft.core.registry.gating import _compare

    res = fixture_results(models=["dpo-1", "base"])
    with pytest.raises(AliasRefused, match=r"ahead by 0.15 but the 95% interval needs more than 0.32.*fell short by 0.17"):
        _compare(res, "eval-x", "dpo-1", "base", "mc/acc")
    ok = _compare(res, "eval-x", "dpo-1", "base", "relevance")  # 8.0 [7, 9] vs 4.7 [2, 7]
    assert ok["difference"] == pytest.approx(3.3) and ok["required"] == pytest.approx((1 + 2.5**2) ** 0.5)
    assert _compare(res, "eval-x", "dpo-1", "base", "eval_loss")["lower_is_better"]
    with pytest.raises(AliasRefused, match=r"win rate 0.333 .* fell short by 0.333"):
        _compare(res, "eval-x", "dpo-1", "base", "judge/win_rate")
    with pytest.raises(AliasRefused, match="has no such metric"):
        _compare(res, "eval-x", "dpo-1", "base", "bleu")


def test_lineage_walks_backward_and_forward(reg):
    ws = reg["ws"]
    ev = reg.get("eval")
    from jupyter_ft.core.registry.lineage import register_endpoint_use, unregister_endpoint_use

    register_endpoint_use(ws, "chat-ep", [f"{NAME}@2", "some/hub-model"])
    lin = ft.lineage(f"{NAME}@2", ws=ws)
    d = lin.to_dict()
    assert d["root"] == f"model_version:{NAME}@2"
    kinds = {n["kind"] for n in d["nodes"]}
    assert {"dataset", "job", "model_version", "endpoint"} <= kinds
    sft = reg["sft"]
    rel = {(e["from"], e["relation"], e["to"]) for e in d["edges"]}
    assert (f"dataset:{sft.spec.dataset}", "input", f"job:{sft.id}") in rel
    assert (f"job:{sft.id}", "produced", f"model_version:{NAME}@2") in rel
    assert (f"model_version:{NAME}@2", "served_by", "endpoint:chat-ep") in rel
    job = lin.node(f"job:{sft.id}")
    assert job.details["submitted"]["max_steps"] == 30 and job.details["submitted"]["lora"] is True  # as submitted
    assert job.details["spec"]["lora"]["r"] == 8 and "lora.r" in job.details["auto"]  # as resolved, with reasons
    assert job.details["attempt"] == 1 and job.details["resumes"] == 0
    assert job.mlflow_url and lin.node(f"model_version:{NAME}@2").mlflow_url.endswith(f"/models/{NAME}/versions/2")
    if ev is not None:
        assert (f"model_version:{NAME}@2", "evaluated_by", f"evaluation:{ev.id}") in rel
        assert any(m["metric"] == "loss" for m in lin.node(f"evaluation:{ev.id}").details["metrics"])
    text = str(lin)
    assert f"--produced--> [model_version] {NAME}@2 *" in text and "<table>" in lin._repr_html_()

    # forward from the dataset version: every job, version and evaluation that used it
    fwd = ft.lineage(dataset=sft.spec.dataset, ws=ws).to_dict()
    ids = {n["id"] for n in fwd["nodes"]}
    assert fwd["root"] == f"dataset:{sft.spec.dataset}"
    assert {f"job:{sft.id}", f"model_version:{NAME}@2"} <= ids
    assert f"model_version:{NAME}@1" not in ids  # trained on another dataset
    if ev is not None:
        assert f"evaluation:{ev.id}" in ids
    assert ft.lineage(sft.spec.dataset, ws=ws).root == fwd["root"]  # a dataset ref given positionally
    unregister_endpoint_use(ws, "chat-ep")
    assert "endpoint:chat-ep" not in {n["id"] for n in ft.lineage(f"{NAME}@2", ws=ws).to_dict()["nodes"]}
    with pytest.raises(registry.UnknownModel, match="registered: tiny-chat"):
        ft.lineage("nothing-here@1", ws=ws)


def test_reproduce_matches_the_loss_curve_and_flags_package_changes(reg):
    ws = reg["ws"]
    rep = ft.reproduce(f"{NAME}@1", timeout=300, ws=ws)
    assert rep.job.status == "succeeded" and rep.job.spec.dataset == reg["dpo"].spec.dataset
    assert rep.job.spec.seed == reg["dpo"].spec.seed and rep.job.spec.batch_size == reg["dpo"].spec.batch_size
    assert rep.steps_compared == 6 and not rep.missing_steps
    assert rep.max_rel_diff <= rep.tolerance == 1e-3 and rep.within_tolerance, rep
    assert rep.package_differences == {}
    # a reproduction checks a version; it is not a new one
    assert rep.job.registration == {"state": "skipped", "model": None, "error": "register_as: false"}
    # a version recorded under another torch is flagged
    from jupyter_ft.core.registry import reproduce as rp

    row = ws.conn.execute("SELECT tags FROM model_versions WHERE name = ? AND version = 1", (NAME,)).fetchone()
    tags = json.loads(row["tags"])
    with ws.write() as c:
        c.execute("UPDATE model_versions SET tags = ? WHERE name = ? AND version = 1",
                  (json.dumps({**tags, "jupyter_ft.package.torch": "1.0.0"}), NAME))
    try:
        rp.finish(rep, ws)
        assert rep.package_differences["torch"][0] == "1.0.0" and "torch 1.0.0 ->" in repr(rep)
    finally:
        with ws.write() as c:
            c.execute("UPDATE model_versions SET tags = ? WHERE name = ? AND version = 1", (json.dumps(tags), NAME))


@pytest.fixture
def jp_server_config(jp_server_config):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "allow_unauthenticated_access": False}}


@pytest.fixture
def reg_server_env(reg, monkeypatch):
    monkeypatch.setenv("JUPYTER_FT_HOME", str(reg["ws"].root))
    return reg


async def test_rest_models_versions_aliases_lineage_and_job_registration(reg_server_env, jp_fetch):
    reg = reg_server_env

    async def get(*path, **kw):
        r = await jp_fetch("jupyter-ft", "api", *path, **kw)
        return json.loads(r.body)

    async def fails(*path, **kw):
        with pytest.raises(HTTPClientError) as ei:
            await jp_fetch("jupyter-ft", "api", *path, **kw)
        return ei.value.code, json.loads(ei.value.response.body)

    body = await get("models")
    (m,) = body["models"]
    assert m["name"] == NAME and m["latest_version"] == 2
    v1 = m["versions"][0]
    assert set(v1) >= {"version", "base_model", "kind", "technique", "job_id", "run_id", "dataset", "created_at",
                       "metrics", "aliases", "mlflow_url"}
    assert (await get("models", NAME))["versions"][1]["job_id"] == reg["sft"].id
    one = await get("models", NAME, "versions", "1")
    assert one["tags"]["jupyter_ft.job_id"] == reg["dpo"].id and "path" in one
    code, err = await fails("models", "ghost")
    assert code == 404 and "registered: tiny-chat" in err["message"]
    code, err = await fails("models", NAME, "versions", "9")
    assert code == 404 and "versions 1, 2" in err["message"]

    code, err = await fails("models", NAME, "aliases", method="POST", body=json.dumps({"alias": "staging"}))
    assert code == 400 and err["errors"][0]["field"] == "version"
    code, err = await fails("models", NAME, "aliases", method="POST",
                            body=json.dumps({"alias": "latest", "version": 1}))
    assert code == 400 and err["errors"][0]["field"] == "alias"
    code, err = await fails("models", NAME, "aliases", method="POST",
                            body=json.dumps({"alias": "staging", "version": 1, "require_better_than": f"{NAME}@2"}))
    assert code == 409 and err["errors"][0]["field"] == "require_better_than"
    moved = await get("models", NAME, "aliases", method="POST", body=json.dumps({"alias": "staging", "version": 2}))
    assert moved["move"]["to_version"] == 2 and moved["model"]["aliases"]["staging"] == 2
    hist = (await get("models", NAME, "aliases", "history"))["history"]
    assert hist[-1]["alias"] == "staging" and set(hist[-1]) >= {"alias", "from_version", "to_version", "user", "at",
                                                               "evidence"}

    lin = await get("lineage", params={"ref": f"{NAME}@2"})
    assert lin["root"] == f"model_version:{NAME}@2" and lin["edges"]
    from jupyter_ft.core.registry.lineage_layout import layout as lineage_layout
    assert lin["layout"] == lineage_layout({k: lin[k] for k in ("root", "nodes", "edges")})  # what the Studio draws
    fwd = await get("lineage", params={"dataset": reg["dpo"].spec.dataset})
    assert f"model_version:{NAME}@1" in {n["id"] for n in fwd["nodes"]}
    code, err = await fails("lineage")
    assert code == 400
    code, err = await fails("lineage", params={"ref": "ghost@1"})
    assert code == 404

    job = (await get("jobs", reg["dpo"].id))["job"]
    assert job["registration"] == {"state": "registered", "model": f"{NAME}@1", "error": None}

"""What the Studio's pickers and forms read (server/catalog_handlers.py over core/train/base_models.py and
core/spec/form.py): the base-model catalog from local folders, a Hugging Face cache laid out as huggingface_hub
writes it, and the offline hub; the spec schemas with form hints; the sizing preview. Through a real server."""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors import safe_open
from tornado.httpclient import HTTPClientError

from jupyter_ft.core.train import base_models
from jupyter_ft.core.spec.deploy import DeploySpec
from jupyter_ft.core.spec.train import TECHNIQUES, TrainSpec


@pytest.fixture
def jp_server_config(jp_server_config):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "allow_unauthenticated_access": False}}


def weights_count(folder) -> int:
    """The parameter count as safetensors itself reads it (independent of our header parsing)."""
    total = 0
    for f in folder.glob("*.safetensors"):
        with safe_open(str(f), "pt") as fh:
            for k in fh.keys():
                n = 1
                for d in fh.get_slice(k).get_shape():
                    n *= d
                total += n
    return total


def fake_hf_cache(root, repo_id: str, files: dict[str, bytes]):
    """A cache folder in huggingface_hub's layout: blobs, one snapshot linking to them, refs/main."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    commit = "a" * 40
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "blobs").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for i, (name, data) in enumerate(files.items()):
        blob = repo / "blobs" / f"{i:040x}"
        blob.write_bytes(data)
        (snap / name).symlink_to(f"../../blobs/{blob.name}")
    return snap


async def get_json(jp_fetch, *path, **params):
    r = await jp_fetch("jupyter-ft", "api", *path, params=params)
    assert r.code == 200
    return json.loads(r.body)


async def error_of(jp_fetch, *path, **kw):
    with pytest.raises(HTTPClientError) as ei:
        await jp_fetch("jupyter-ft", "api", *path, **kw)
    text = ei.value.response.body.decode()
    assert 400 <= ei.value.code < 500 and "Traceback" not in text
    return ei.value.code, json.loads(text)


async def test_catalog_lists_workspace_and_server_root_models_with_their_facts(ws, jp_fetch, jp_root_dir, tiny_model,
                                                                             tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    in_ws = ws.root / "models" / "tiny-ws"
    shutil.copytree(tiny_model, in_ws)
    (in_ws / "README.md").write_text("---\nlicense: apache-2.0\nlanguage: en\n---\n# tiny\n")
    in_root = jp_root_dir / "my-model"
    in_root.mkdir()
    cfg = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896, "num_hidden_layers": 24,
           "intermediate_size": 4864, "vocab_size": 151936, "num_attention_heads": 14, "num_key_value_heads": 2,
           "tie_word_embeddings": True}
    (in_root / "config.json").write_text(json.dumps(cfg))
    (jp_root_dir / "notes").mkdir()  # a folder without config.json is not a model

    body = await get_json(jp_fetch, "base-models")
    by_path = {m["path"]: m for m in body["models"] if m["source"] == "local"}
    assert set(by_path) == {str(in_ws.resolve()), str(in_root.resolve())}
    # the fetchable models are listed too, not fetched into this workspace yet
    assert [(m["id"], m["fetched"], m["path"]) for m in body["models"] if m["source"] == "fetched"] == [
        ("smollm2-135m-instruct", False, None)]
    tiny = by_path[str(in_ws.resolve())]
    assert tiny["source"] == "local" and tiny["id"] == tiny["path"]
    assert tiny["architecture"] == "LlamaForCausalLM" and tiny["license"] == "apache-2.0"
    assert tiny["params"] == weights_count(tiny_model) and tiny["params_source"] == "safetensors"
    assert tiny["size_bytes"] == sum(f.stat().st_size for f in in_ws.rglob("*") if f.is_file())
    qwen = by_path[str(in_root.resolve())]
    # Qwen2.5-0.5B's shape: 494M parameters (its model card), computed from config.json alone
    assert qwen["architecture"] == "Qwen2ForCausalLM" and qwen["params_source"] == "config.json"
    assert 480e6 < qwen["params"] < 500e6 and qwen["license"] is None
    assert body["hub"]["searched"] is False

    only = await get_json(jp_fetch, "base-models", q="QWEN")
    assert [m["path"] for m in only["models"]] == [str(in_root.resolve())]
    # offline (HF_HUB_OFFLINE in tests): the answer says why the hub was not searched, at once
    assert only["hub"]["searched"] is False and "offline" in only["hub"]["reason"]
    code, err = await error_of(jp_fetch, "base-models", params={"source": "everywhere"})
    assert code == 400 and err["errors"][0]["field"] == "source"


def test_hf_cache_models_and_folder_cache(tmp_path, tiny_model, monkeypatch):
    cache = tmp_path / "hub"
    files = {p.name: p.read_bytes() for p in tiny_model.iterdir() if p.is_file()}
    files["README.md"] = b"---\nlicense: mit\n---\n"
    snap = fake_hf_cache(cache, "acme/tiny-llama", files)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    answer = base_models.base_models([], sources=["hf_cache"])
    (entry,) = answer["models"]
    assert entry["id"] == "acme/tiny-llama" and entry["source"] == "hf_cache" and entry["path"] == str(snap)
    assert entry["params"] == weights_count(tiny_model) and entry["license"] == "mit"
    assert entry["size_bytes"] == sum(len(b) for b in files.values())

    # a folder's entry is reused until the folder or its config changes
    first = base_models.describe_folder(snap, "hf_cache", "acme/tiny-llama")
    assert base_models.describe_folder(snap, "hf_cache", "acme/tiny-llama") is first
    local = tmp_path / "m"
    shutil.copytree(tiny_model, local)
    a = base_models.describe_folder(local)
    cfg = json.loads((local / "config.json").read_text())
    cfg["architectures"] = ["MistralForCausalLM"]
    (local / "config.json").write_text(json.dumps(cfg))
    import os
    os.utime(local / "config.json", (2e9, 2e9))  # a new mtime even on a coarse-clock filesystem
    b = base_models.describe_folder(local)
    assert b is not a and b.architecture == "MistralForCausalLM"


def test_unreadable_and_foreign_folders_are_skipped_not_fatal(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "config.json").write_text(json.dumps({"model_type": "mystery"}))
    (odd / "model.safetensors").write_bytes(b"\x05\x00")  # truncated header
    entries = base_models.local_models([tmp_path])
    assert [e.path for e in entries] == [str(odd.resolve())]
    assert entries[0].params is None and entries[0].architecture == "mystery"
    with pytest.raises(ValueError, match="unknown source 'disk'"):
        base_models.base_models([tmp_path], sources=["disk"])


async def test_schemas_carry_the_spec_schema_and_form_hints(ws, jp_fetch):
    kinds = (await get_json(jp_fetch, "schemas"))["kinds"]
    assert {"train", "eval"} <= set(kinds)
    train = await get_json(jp_fetch, "schemas", "train")
    assert train["schema"] == json.loads(json.dumps(TrainSpec.model_json_schema()))
    order = train["uiSchema"]["ui:order"]
    assert order[:3] == ["model", "dataset", "technique"] and order[-1] == "*"
    placed = [f for g in train["groups"] for f in g["fields"]]
    assert sorted(placed) == sorted(set(TrainSpec.model_fields) - {"kind", "auto"}), "every field in one group"
    groups = {g["name"]: g for g in train["groups"]}
    assert groups["main"]["advanced"] is False and groups["lora"]["fields"] == ["lora"]
    assert all(groups[k]["advanced"] for k in ("lora", "schedule", "evaluation", "checkpoints", "tracking"))
    assert train["technique_blocks"] == {t: t for t in TECHNIQUES}
    assert train["uiSchema"]["auto"] == {"ui:widget": "hidden"}
    ev = await get_json(jp_fetch, "schemas", "eval")
    assert ev["schema"]["title"] == "EvalSpec" and ev["groups"][0]["fields"][0] == "models"
    assert "deploy" in kinds
    deploy = await get_json(jp_fetch, "schemas", "deploy")
    assert deploy["schema"]["title"] == "DeploySpec"
    assert deploy["schema"] == json.loads(json.dumps(DeploySpec.model_json_schema()))
    code, err = await error_of(jp_fetch, "schemas", "nope")
    assert code == 404 and err["errors"][0]["field"] == "kind"


async def test_preview_gives_auto_values_with_reasons_and_field_errors(ws, jp_fetch, tiny_model):
    async def preview(body):
        r = await jp_fetch("jupyter-ft", "api", "preview", method="POST", body=json.dumps(body))
        return json.loads(r.body)

    p = await preview({"model": str(tiny_model), "technique": "dpo"})
    assert p["errors"] == [] and p["dataset_chosen"] is False and p["valid"] is False
    assert p["auto"]["lora.r"]["value"] == 8 and "rank" in p["auto"]["lora.r"]["why"]
    assert p["auto"]["learning_rate"]["why"] and p["spec"]["dpo"] is not None
    # one bad field is named, and the others still get their auto values
    p = await preview({"model": str(tiny_model), "batch_size": -1, "learning_rate": 2e-4})
    assert [e["field"] for e in p["errors"]] == ["batch_size"]
    assert "learning_rate" not in p["auto"] and "lora.r" in p["auto"]
    p = await preview({"technique": "sft"})
    assert p["errors"][0]["field"] == "model" and p["spec"] is None
    p = await preview({"model": str(ws.root / "missing-model"), "technique": "nope"})
    assert {e["field"] for e in p["errors"]} >= {"technique"} and p["spec"] is None
    code, err = await error_of(jp_fetch, "preview", method="POST", body="[1, 2]")
    assert code == 400 and err["errors"][0]["field"] == "body"


@pytest.fixture
def fake_hub(monkeypatch):
    """A hub answering `GET /api/models` on loopback (real HTTP, huggingface_hub's own client and parsing)."""
    import http.server
    import threading
    from urllib.parse import parse_qs, urlparse

    from jupyter_ft.core import hub

    asked: list[dict] = []

    class Hub(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            url = urlparse(self.path)
            asked.append({"path": url.path, **parse_qs(url.query)})
            body = json.dumps([
                {"id": "acme/llama-mini", "modelId": "acme/llama-mini", "private": False, "tags": [],
                 "safetensors": {"parameters": {"BF16": 1_235_814_400}, "total": 1_235_814_400},
                 "cardData": {"license": "llama3.2"}, "usedStorage": 2_471_645_608,
                 "config": {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}},
                {"id": "acme/cached-one", "modelId": "acme/cached-one", "private": False, "tags": []},
            ]).encode() if url.path == "/api/models" else b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setattr(hub, "_last", None)
    yield asked
    server.shutdown()
    server.server_close()
    hub._last = None


def test_hub_search_when_the_hub_answers(fake_hub, tmp_path, tiny_model, monkeypatch):
    cache = tmp_path / "hub-cache"
    files = {p.name: p.read_bytes() for p in tiny_model.iterdir() if p.is_file()}
    fake_hf_cache(cache, "acme/cached-one", files)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    answer = base_models.base_models([], q="acme")
    assert answer["hub"] == {"searched": True, "available": True, "reason": None}
    ids = [(m["id"], m["source"]) for m in answer["models"]]
    assert ids == [("acme/cached-one", "hf_cache"), ("acme/llama-mini", "hub")]  # a cached repo is listed once
    hit = answer["models"][1]
    assert hit["params"] == 1_235_814_400 and hit["license"] == "llama3.2" and hit["size_bytes"] == 2_471_645_608
    assert hit["architecture"] == "LlamaForCausalLM" and hit["path"] is None
    (asked,) = fake_hub
    assert asked["search"] == ["acme"] and asked["limit"] == ["20"]
    assert {"safetensors", "cardData", "config"} <= set(asked["expand"])

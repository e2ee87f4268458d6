"""Endpoints end to end with real processes on loopback: `ft.deploy` starts a detached server (C1's
`python -m jupyter_ft.serve`), the official `openai` client calls it with its key (401 without), the Jupyter proxy
streams it behind Jupyter's login, adapters come and go at run time, a SIGKILLed server is restarted by the
scheduler on the same port, and `stop` ends it.

One endpoint serves the whole module (a server start costs ~8 s of imports on 2 cores); tests that need a fresh
process (a failing start, a REST deployment across Jupyter server restarts) start their own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import time
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

import jupyter_ft as ft
from jupyter_ft.core import procs
from jupyter_ft.core.deploy import store as endpoint_store
from jupyter_ft.core.deploy import endpoints
from jupyter_ft.core.deploy.refs import DeployError
from jupyter_ft.core.spec.train import SpecError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def module_ws(tmp_path_factory):
    """A workspace for the module (set as the default); every endpoint and scheduler it started is stopped."""
    from jupyter_ft.core.workspace import workspace
    from jupyter_ft.core.jobs.daemon import stop_scheduler

    root = tmp_path_factory.mktemp("endpoints") / "workspace"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_FT_HOME", str(root))
        w = workspace(root)
        yield w
        endpoints.stop_all(w)
        stop_scheduler(w)
        for rec in endpoint_store.list_records(w):
            assert not procs.alive(rec.pid), f"endpoint {rec.name} left running"


@pytest.fixture(scope="module")
def adapters(two_adapters) -> dict[str, Path]:
    """The serve tests' two adapters of the tiny base (TRL SFT, trained once per session): pirate and robot."""
    return two_adapters


@pytest.fixture(scope="module")
def served(module_ws, tiny_model, adapters):
    """The module's endpoint: the tiny base and the `pirate` adapter, deployed from Python."""
    ep = ft.deploy(adapters=[str(adapters["pirate"])], name="main", quiet=True, timeout=240)
    yield ep
    ep.stop()
    assert ep.record.state == "stopped" and ep.record.pid is None


def chat(client, model: str, text: str = "How are you today?", **kw):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}],
                                          max_tokens=kw.pop("max_tokens", 8), temperature=0, **kw)


# --- the direct port -------------------------------------------------------------------------------------------

def test_deploy_serves_base_and_adapter_with_its_key(served, tiny_model):
    import openai

    rec = served.record
    assert served.state == "running" and rec.host == "127.0.0.1"
    assert served.url == f"http://127.0.0.1:{rec.port}/v1"
    assert served.proxy_url == "/jupyter-ft/endpoints/main/v1"
    assert served.models == [str(tiny_model.resolve()), "pirate"]
    # the key: generated, in a file only its owner may read, required by the server
    key_file = Path(rec.api_key_path)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and len(served.api_key) >= 32
    assert stat.S_IMODE((key_file.parent / "serve.json").stat().st_mode) == 0o600
    client = served.client(max_retries=0)
    listed = {m.id: m for m in client.models.list().data}
    assert listed["pirate"].parent == str(tiny_model.resolve())
    assert chat(client, "pirate").choices[0].message.content
    for bad in ("wrong-key", ""):
        with pytest.raises(openai.AuthenticationError):
            chat(openai.OpenAI(base_url=served.url, api_key=bad or "x", max_retries=0,
                               default_headers={} if bad else {"Authorization": ""}), "pirate")
    load = served.load
    assert load["served"] >= 1 and load["queue"] == 0
    (listed_ep,) = [e for e in ft.endpoints() if e.name == "main"]
    assert listed_ep.to_dict()["state"] == "running"
    # the engine's torch threads were set before it started, and said so (core.threads; the tests pin the count)
    assert "torch threads: 1 (set by $JUPYTER_FT_TORCH_THREADS)" in served.logs()
    assert (rec.dir / "threads.json").is_file()


def test_deploying_a_running_name_or_bad_specs_is_refused(served, adapters, tiny_model, tmp_path):
    with pytest.raises(DeployError, match="already running"):
        ft.deploy(adapters=[str(adapters["robot"])], name="main", quiet=True)
    with pytest.raises(SpecError, match="name:"):
        ft.deploy(adapters=[str(adapters["robot"])], name="no spaces please", quiet=True)
    with pytest.raises(SpecError, match="port:"):
        ft.deploy(adapters=[str(adapters["robot"])], name="x", port=70000, quiet=True)
    with pytest.raises(DeployError, match="host: cannot listen on 192.0.2.1"):
        ft.deploy(adapters=[str(adapters["robot"])], name="x", host="192.0.2.1", quiet=True)
    with pytest.raises(SpecError, match="base: name a base model"):
        ft.deploy(name="x", quiet=True)
    with pytest.raises(DeployError, match="no such job, folder or model"):
        ft.deploy(adapters=["./nope/adapter"], name="x", quiet=True)
    with pytest.raises(DeployError, match="humanlike@3"):
        ft.deploy(adapters=["humanlike@3"], name="x", quiet=True)
    # an adapter trained on another base is refused, naming both bases
    other = tmp_path / "other-base-adapter"
    shutil.copytree(adapters["robot"], other)
    cfg = json.loads((other / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = "meta-llama/Llama-3.2-1B-Instruct"
    (other / "adapter_config.json").write_text(json.dumps(cfg))
    with pytest.raises(DeployError, match=r"different bases .*Llama-3.2-1B-Instruct"):
        ft.deploy(adapters=[str(adapters["robot"]), str(other)], name="x", quiet=True)
    with pytest.raises(DeployError, match=r"trained on base 'meta-llama/Llama-3.2-1B-Instruct'.*serves base"):
        ft.deploy(base=str(tiny_model), adapters=[str(other)], name="x", quiet=True)
    with pytest.raises(DeployError, match="trained on base"):
        served.add_adapters([str(other)])
    assert "x" not in endpoint_store.names(served.ws)  # nothing recorded for refused deployments


def test_adapters_are_added_and_removed_at_run_time(served, adapters):
    import openai

    pid = served.record.pid
    assert served.add_adapters([f"robot2={adapters['robot']}"]) == ["robot2"]
    client = served.client(max_retries=0)
    assert "robot2" in {m.id for m in client.models.list().data}
    assert chat(client, "robot2").choices[0].message.content
    assert served.models[-1] == "robot2" and served.record.spec["adapters"][-1].startswith("robot2=")
    served.remove_adapters(["robot2"])
    with pytest.raises(openai.NotFoundError, match="pirate"):
        chat(client, "robot2")
    assert "robot2" not in served.models and served.record.pid == pid  # no restart


def register_adapter(ws, base: Path, adapter: Path, name: str, job_id: str) -> str:
    """Register `adapter` as a new version of `name` through the registry's own `register_job`, from a finished
    job record holding it as output (the training run that would produce it is the registry tests' business)."""
    from jupyter_ft.core import tracking
    from jupyter_ft.core.jobs import store as jobstore
    from jupyter_ft.core.registry import versions as registry

    out = ws.job_dir(job_id) / "output"
    shutil.copytree(adapter, out)
    spec = {"model": str(base), "dataset": "chat@1", "technique": "sft", "output_dir": str(out)}
    jobstore.insert(ws, job_id=job_id, kind="train", technique="sft", name=None, device="cpu", spec=spec,
                    submitted=spec, max_attempts=1)
    client = tracking.client(ws.tracking_uri)
    exp = client.create_experiment(f"endpoints-{job_id}", artifact_location=str(ws.artifact_root / job_id))
    run = client.create_run(exp)
    jobstore.set_fields(ws, job_id, mlflow_experiment_id=exp, mlflow_run_id=run.info.run_id,
                        tracking_uri=ws.tracking_uri)
    jobstore.finish(ws, job_id, "succeeded")
    return registry.register_job(ws, job_id, {"name": name})


def test_registered_versions_are_served_by_ref_and_shown_in_lineage(served, adapters, tiny_model):
    from jupyter_ft.core.registry import lineage
    from jupyter_ft.sdk import models as model_handles
    from jupyter_ft.core.registry import versions as registry

    ref = register_adapter(served.ws, tiny_model, adapters["robot"], "humanlike", "sft-ep-1")
    assert ref == "humanlike@1"
    model_handles.set_alias("humanlike", "champion", version=1, ws=served.ws)
    assert served.add_adapters(["humanlike@champion"]) == ["humanlike@champion"]
    rec = served.record
    assert rec.models["humanlike@champion"]["ref"] == "humanlike@1"
    assert rec.models["humanlike@champion"]["path"] == registry.resolve(served.ws, "humanlike@1").path
    reply = chat(served.client(max_retries=0), "humanlike@champion").choices[0].message.content
    assert reply == chat(served.client(max_retries=0), "humanlike@champion").choices[0].message.content
    graph = lineage.lineage("humanlike@1", ws=served.ws).to_dict()
    assert any(n["kind"] == "endpoint" and "main" in n["label"] for n in graph["nodes"]), graph["nodes"]
    served.remove_adapters(["humanlike@champion"])
    graph = lineage.lineage("humanlike@1", ws=served.ws).to_dict()
    assert not any(n["kind"] == "endpoint" for n in graph["nodes"])
    with pytest.raises(DeployError, match="humanlike has no version 7; versions 1"):
        served.add_adapters(["humanlike@7"])


def test_a_killed_server_is_restarted_on_its_port(served):
    rec = served.record
    os.kill(rec.pid, signal.SIGKILL)
    deadline = time.time() + 180
    while time.time() < deadline:
        now = endpoint_store.get(served.ws, "main")
        if now.state == "running" and now.pid != rec.pid:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"not restarted: {endpoint_store.get(served.ws, 'main')}")
    assert now.port == rec.port and now.restarts == rec.restarts + 1
    assert "died" in (now.last_error or "")
    assert chat(served.client(max_retries=0), "pirate").choices[0].message.content
    assert "restart 1" in served.logs()


def test_a_server_that_cannot_start_fails_with_its_last_words(module_ws, broken_model):
    with pytest.raises(DeployError, match="exited before it was ready"):
        ft.deploy(base=str(broken_model), name="broken", quiet=True, timeout=120)
    rec = endpoint_store.get(module_ws, "broken")
    assert rec.state == "failed" and rec.pid is None and rec.restarts == 0
    assert not ft.endpoint("broken").load
    with pytest.raises(endpoint_store.EndpointNotFound, match="known endpoints: main, broken"):
        ft.endpoint("nope")


# --- through Jupyter: REST and the proxy (pytest-jupyter's in-process server) -----------------------------------

@pytest.fixture
def jp_server_config(jp_server_config):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "allow_unauthenticated_access": False}}


def _proxy_url(port: int, base_url: str, name: str = "main") -> str:
    return f"http://127.0.0.1:{port}{base_url}jupyter-ft/endpoints/{name}/v1"


async def test_rest_lists_endpoints_and_names_unknown_ones(served, jp_fetch):
    r = await jp_fetch("jupyter-ft", "api", "endpoints")
    (row,) = [e for e in json.loads(r.body)["endpoints"] if e["name"] == "main"]
    assert row["state"] == "running" and row["proxy_url"] == "/jupyter-ft/endpoints/main/v1"
    assert row["models"] == served.models and row["engine"] == "local" and row["load"]["queue"] == 0
    assert served.api_key not in r.body.decode()  # the key never leaves through REST
    r = await jp_fetch("jupyter-ft", "api", "endpoints", "main")
    assert json.loads(r.body)["endpoint"]["url"] == served.url
    for path in (("api", "endpoints", "nope"), ("endpoints", "nope", "v1", "models")):
        with pytest.raises(HTTPClientError) as ei:
            await jp_fetch("jupyter-ft", *path)
        assert ei.value.code == 404 and "main" in ei.value.response.body.decode()
    with pytest.raises(HTTPClientError) as ei:
        await jp_fetch("jupyter-ft", "api", "endpoints", method="POST", body=json.dumps({"name": "x", "port": "eighty"}))
    err = json.loads(ei.value.response.body)
    assert ei.value.code == 400 and [e["field"] for e in err["errors"]] == ["port"]
    with pytest.raises(HTTPClientError) as ei:
        await jp_fetch("jupyter-ft", "api", "endpoints", "main", "adapters", method="POST", body='{"adapters": []}')
    assert ei.value.code == 400 and "adapters" in ei.value.response.body.decode()


async def test_the_proxy_needs_jupyter_auth_and_adds_the_key(served, jp_fetch, jp_http_port, jp_base_url):
    r = await jp_fetch("jupyter-ft", "endpoints", "main", "v1", "models")
    assert {m["id"] for m in json.loads(r.body)["data"]} == set(served.models)
    with pytest.raises(HTTPClientError) as ei:  # no Jupyter token: refused before anything reaches the endpoint
        await AsyncHTTPClient().fetch(_proxy_url(jp_http_port, jp_base_url) + "/models")
    assert ei.value.code in (401, 403)
    # the endpoint's own errors come through in OpenAI's shape, status included
    with pytest.raises(HTTPClientError) as ei:
        await jp_fetch("jupyter-ft", "endpoints", "main", "v1", "chat", "completions", method="POST",
                       body=json.dumps({"model": "nope", "messages": [{"role": "user", "content": "hi"}]}),
                       headers={"Content-Type": "application/json"})
    assert ei.value.code == 404 and "pirate" in json.loads(ei.value.response.body)["error"]["message"]


# --- a real Jupyter server process, restarted under a REST deployment --------------------------------------------

class JupyterServer:
    """`jupyter server` on loopback with the jupyter_ft extension and a token, output in a log file."""

    TOKEN = "endpoint-test-token"

    def __init__(self, tmp_path: Path, env: dict[str, str]):
        import subprocess
        import sys

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"jupyter-{self.port}.log"
        cfg = tmp_path / f"jupyter-config-{self.port}"
        cfg.mkdir()
        (cfg / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {
            "jpserver_extensions": {"jupyter_ft": True, "jupyterlab": False, "jupyter_lsp": False,
                                    "notebook_shim": False, "jupyter_server_terminals": False},
            "ip": "127.0.0.1", "port": self.port, "allow_root": True,
            "port_retries": 0, "open_browser": False, "root_dir": str(tmp_path),
            "allow_unauthenticated_access": False}, "IdentityProvider": {"token": self.TOKEN}}))
        env = dict(env, JUPYTER_CONFIG_DIR=str(cfg), JUPYTER_RUNTIME_DIR=str(cfg / "runtime"))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "jupyter_server"], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                self.get("/api/status")
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.2)
        self.stop()
        pytest.fail(f"jupyter server did not start: {self.log.read_text()[-2000:]}")

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        import urllib.error
        import urllib.request

        req = urllib.request.Request(self.url + path, method=method, headers={
            "Authorization": f"token {self.TOKEN}", "Content-Type": "application/json"},
            data=json.dumps(body).encode() if body is not None else None)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def get(self, path: str) -> dict:
        code, body = self.call("GET", path)
        if code != 200:
            raise OSError(f"GET {path}: {code} {body}")
        return body

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except Exception:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def jupyter(module_ws, tmp_path_factory):
    server = JupyterServer(tmp_path_factory.mktemp("jupyter"), dict(os.environ, JUPYTER_FT_HOME=str(module_ws.root)))
    yield server
    server.stop()


def test_the_openai_client_streams_through_the_proxy(served, jupyter):
    import openai

    client = openai.OpenAI(base_url=f"{jupyter.url}/jupyter-ft/endpoints/main/v1", api_key=jupyter.TOKEN,
                           max_retries=0)  # Jupyter's token as the key: the proxy adds the endpoint's own
    direct = chat(served.client(max_retries=0), "pirate", max_tokens=48).choices[0].message.content
    assert chat(client, "pirate", max_tokens=48).choices[0].message.content == direct
    t0 = time.monotonic()
    stream = chat(client, "pirate", max_tokens=48, stream=True)
    arrivals, pieces = [], []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic())
            pieces.append(chunk.choices[0].delta.content)
    assert "".join(pieces) == direct and len(pieces) >= 5
    # chunk by chunk, not buffered until the end: the pieces arrive at several moments (a buffered answer reaches the
    # client in one read, every piece within microseconds of the first), whatever the machine's load
    moments = [t for i, t in enumerate(arrivals) if i == 0 or t - arrivals[i - 1] > 0.002]
    assert len(moments) >= 3, f"{len(pieces)} pieces arrived at {len(moments)} moment(s) after {arrivals[0] - t0:.2f} s"
    # a client that leaves mid-stream frees its slot; the endpoint keeps serving
    stream = chat(client, served.models[0], "Hi", max_tokens=2000, stream=True)  # the random base: no early EOS
    next(iter(stream))
    stream.close()
    deadline = time.monotonic() + 60
    while (served.load or {}).get("active", 1) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert served.load["active"] == 0
    assert chat(client, "pirate", max_tokens=48).choices[0].message.content == direct
    with pytest.raises((openai.AuthenticationError, openai.PermissionDeniedError)):  # not Jupyter's token
        chat(openai.OpenAI(base_url=client.base_url, api_key="wrong", max_retries=0), "pirate")


def test_rest_deploys_and_stops_and_a_port_in_use_moves(module_ws, adapters, jupyter):
    with socket.socket() as busy:  # a port another program holds
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        code, body = jupyter.call("POST", "/jupyter-ft/api/endpoints",
                                  {"name": "rest", "adapters": [f"robot={adapters['robot']}"], "port": taken})
    assert code == 201, body
    ep = body["endpoint"]
    assert ep["state"] == "starting" and ep["port"] != taken and ep["models"][1:] == ["robot"]
    assert any(f"port {taken}" in n and "in use" in n for n in ep["notes"])
    code, body = jupyter.call("POST", "/jupyter-ft/api/endpoints", {"name": "rest", "adapters": ["x"]})
    assert code == 400 and body["errors"][0]["field"] == "name" and "already starting" in body["message"]
    code, out = jupyter.call("GET", "/jupyter-ft/endpoints/rest/v1/models")
    assert code == 503 and "starting" in out["error"]["message"]  # not up yet: said, with a retry hint
    code, out = jupyter.call("DELETE", "/jupyter-ft/api/endpoints/rest")
    assert code == 200 and out["endpoint"]["state"] == "stopped" and not procs.alive(ep["pid"])
    code, out = jupyter.call("GET", "/jupyter-ft/endpoints/rest/v1/models")
    assert code == 503 and "stopped" in out["error"]["message"]


def test_an_endpoint_survives_jupyter_server_restarts(served, module_ws, jupyter, tmp_path):
    ask = {"model": "pirate", "messages": [{"role": "user", "content": "How are you today?"}], "max_tokens": 8,
           "temperature": 0}
    code, out = jupyter.call("POST", "/jupyter-ft/endpoints/main/v1/chat/completions", ask)
    assert code == 200, out
    answer, pid = out["choices"][0]["message"]["content"], served.record.pid
    jupyter.stop()
    assert procs.alive(pid) and served.state == "running"  # the server went; the endpoint did not
    second = JupyterServer(tmp_path, dict(os.environ, JUPYTER_FT_HOME=str(module_ws.root)))
    try:
        again = second.get("/jupyter-ft/api/endpoints/main")["endpoint"]
        assert again["state"] == "running" and again["pid"] == pid and again["url"] == served.url
        code, out = second.call("POST", "/jupyter-ft/endpoints/main/v1/chat/completions", ask)
        assert code == 200 and out["choices"][0]["message"]["content"] == answer
    finally:
        second.stop()


# --- the magic and the command line --------------------------------------------------------------------------

def test_magic_deploys_and_cli_lists_and_stops(module_ws, adapters, capsys):
    from IPython.core.error import UsageError
    from IPython.testing.globalipapp import get_ipython

    from jupyter_ft.cli.main import main

    ip = get_ipython()
    ip.run_line_magic("load_ext", "jupyter_ft")
    with pytest.raises(UsageError, match="needs adapters or --base"):
        ip.run_line_magic("ft_deploy", "--name m")
    with pytest.raises(UsageError, match="port"):
        ip.run_cell_magic("ft_deploy", "", "name: m\nport: -1\n")
    # started without waiting for it to answer (the waiting path is ft.deploy's, tested above)
    ip.run_cell_magic("ft_deploy", "--var ep --no-wait", f"name: magic\nadapters: ['{adapters['pirate']}']\n")
    ep = ip.user_ns["ep"]
    assert ep.state in ("starting", "running") and "stored in `ep`" in capsys.readouterr().out
    ip.run_line_magic("ft_endpoints", "")
    assert re.search(r"magic: (starting|running)", capsys.readouterr().out)
    assert main(["endpoints"]) == 0
    assert "magic" in capsys.readouterr().out
    assert main(["endpoint", "key", "magic"]) == 0 and capsys.readouterr().out.strip() == ep.api_key
    assert main(["endpoint", "stop", "nope"]) == 2 and "known endpoints" in capsys.readouterr().err
    pid = ep.record.pid
    assert main(["endpoint", "stop", "magic"]) == 0 and "stopped" in capsys.readouterr().out
    assert not procs.alive(pid) and ep.state == "stopped"
    assert main(["deploy", "--name", "c", "nope@2"]) == 2 and "nope@2" in capsys.readouterr().err

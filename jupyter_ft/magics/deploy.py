"""`%ft_deploy` / `%%ft_deploy` and `%ft_endpoints`: endpoints from a notebook (the same workspace as the CLI, REST
and other kernels). A mistake is one `UsageError` line naming the field, never a traceback."""

from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from jupyter_ft.magics.jobs import _one_line_errors


@magics_class
class DeployMagics(Magics):
    @magic_arguments()
    @argument("adapters", nargs="*", metavar="ADAPTER",
              help="registry ref (name@3, name@champion), job id or adapter folder; served=ENTRY names it")
    @argument("--name", default=None, help="endpoint name (default: 'default')")
    @argument("--base", default=None, help="base model folder, hub id or registry ref (default: the adapters' base)")
    @argument("--engine", default=None, choices=["local", "vllm"])
    @argument("--port", type=int, default=None, help="direct port (default: a free one)")
    @argument("--host", default=None, help="interface of the direct port (default 127.0.0.1)")
    @argument("--set", action="append", metavar="FIELD=VALUE", help="override a spec field (repeatable)")
    @argument("--no-wait", action="store_true", help="return once started instead of once it answers")
    @argument("--timeout", type=float, default=None, help="give up waiting after this many seconds")
    @argument("--var", default="ft_endpoint", help="variable that receives the Endpoint (default: ft_endpoint)")
    @line_cell_magic
    @_one_line_errors
    def ft_deploy(self, line: str, cell: str | None = None):
        """Serve a base model and LoRA adapters behind one OpenAI-compatible endpoint.

            %ft_deploy --name playground humanlike@3 support@champion

            %%ft_deploy
            name: playground
            adapters: [humanlike@3, support@champion]
            port: 8100

        Prints progress while the server loads, then its URL; stores the Endpoint in `ft_endpoint` (see --var):
        `ft_endpoint.client()` is an `openai.OpenAI` for it. The endpoint runs detached and survives the kernel.
        """
        from jupyter_ft.core.deploy import endpoints
        from jupyter_ft.core.spec import overrides
        from jupyter_ft.core.workspace import workspace
        from jupyter_ft.core.spec.train import read_spec

        a = parse_argstring(self.ft_deploy, line)
        data = dict(read_spec(cell, what="the cell")) if cell is not None else {}
        for key in ("name", "base", "engine", "port", "host"):
            if getattr(a, key) is not None:
                data[key] = getattr(a, key)
        if a.adapters:
            data["adapters"] = [*data.get("adapters", []), *a.adapters]
        if cell is None and not data.get("adapters") and not data.get("base"):
            raise UsageError("%ft_deploy needs adapters or --base (or use %%ft_deploy with a YAML spec cell)")
        ep = endpoints.deploy(overrides.apply(data, a.set), workspace(), wait=not a.no_wait, timeout=a.timeout,
                              progress=lambda text: print(text, flush=True))
        self.shell.user_ns[a.var] = ep
        print(f"endpoint {ep.name}: {', '.join(ep.models)}; stored in `{a.var}`")
        return None

    @line_magic
    @_one_line_errors
    def ft_endpoints(self, line: str = ""):
        """Every endpoint of the workspace: state, URL, models and load. `%ft_endpoints stop NAME` stops one."""
        from jupyter_ft.core.deploy import endpoints
        from jupyter_ft.core.workspace import workspace

        words = line.split()
        if words[:1] == ["stop"]:
            if len(words) != 2:
                raise UsageError("%ft_endpoints stop NAME")
            print(f"endpoint {words[1]}: {endpoints.stop(workspace(), words[1]).state}")
            return None
        if words:
            raise UsageError(f"%ft_endpoints takes no arguments but `stop NAME`; got {line!r}")
        eps = endpoints.endpoints(workspace())
        if not eps:
            print("No endpoints yet: start one with %ft_deploy --name NAME ADAPTER ... or ft.deploy(...).")
        for ep in eps:
            d = ep.to_dict()
            load = d["load"] or {}
            print(f"{d['name']}: {d['state']} · {d['url'] or '-'} · proxy {d['proxy_url']} · models "
                  f"{', '.join(d['models'])}" + (f" · queue {load.get('queue')} active {load.get('active')}"
                                                  if load else "")
                  + (f"\n  error: {d['last_error']}" if d["state"] == "failed" else ""))
        return None

"""`python -m jupyter_ft.serve --config FILE.json [--ready-file F]`: one endpoint process (uvicorn over the app).

The launcher (core/deploy/endpoints) starts it detached with its stdio redirected, then waits for the ready file:
`{"port", "pid", "host", "url"}`, written once the socket listens and the model is loaded. Port 0 picks a free port;
a port already in use is reported and another one is taken. SIGTERM shuts down cleanly (uvicorn's handler).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import signal
import socket
import sys
from pathlib import Path


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or on a free port when that one is taken (said on stderr)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    def make(p: int) -> socket.socket:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, p))
        except OSError:
            s.close()
            raise
        s.listen(2048)
        s.set_inheritable(True)
        return s

    try:
        return make(port)
    except OSError as exc:
        if port == 0 or exc.errno != errno.EADDRINUSE:
            raise
        sock = make(0)
        print(f"[jupyter_ft.serve] port {port} on {host} is already in use; serving on port "
              f"{sock.getsockname()[1]} instead", file=sys.stderr, flush=True)
        return sock


def _write_ready(path: Path, info: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, path)  # the launcher never reads half a file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jupyter_ft.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="ServeConfig JSON file")
    parser.add_argument("--ready-file", help="written with {port, pid, host, url} once listening")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    import faulthandler

    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` writes every thread's stack to the log (a hung server)

    from pydantic import ValidationError

    from jupyter_ft.core.spec.deploy import ServeConfig

    try:
        config = ServeConfig.model_validate_json(Path(args.config).read_text())
    except OSError as exc:
        print(f"[jupyter_ft.serve] cannot read config {args.config}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()]
        print(f"[jupyter_ft.serve] config {args.config} is invalid:\n" + "\n".join(lines), file=sys.stderr)
        return 2

    try:
        sock = _bind(config.host, config.port)
    except OSError as exc:
        print(f"[jupyter_ft.serve] cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    port = sock.getsockname()[1]

    import uvicorn

    from jupyter_ft.serve.engine import AdapterRefused
    from jupyter_ft.serve.openai_app import create_app

    print(f"[jupyter_ft.serve] loading {config.base_model} with {len(config.adapters)} adapter(s)…", flush=True)
    try:
        app = create_app(config)
    except AdapterRefused as exc:
        print(f"[jupyter_ft.serve] {exc}", file=sys.stderr)
        return 2
    server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level, access_log=False,
                                           timeout_graceful_shutdown=5))
    ready = Path(args.ready_file) if args.ready_file else None

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            url = f"http://{config.host if ':' not in config.host else f'[{config.host}]'}:{port}/v1"
            if ready is not None:
                _write_ready(ready, {"port": port, "pid": os.getpid(), "host": config.host, "url": url})
            print(f"[jupyter_ft.serve] serving {', '.join(app.state.engine.served())} at {url}", flush=True)
        await task

    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler it replaced: make
    # that one a no-op so the process ends through the cleanup below with status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: None)
    try:
        asyncio.run(serve())
    finally:
        if ready is not None:
            ready.unlink(missing_ok=True)
    print("[jupyter_ft.serve] stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

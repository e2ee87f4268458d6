"""A Ray cluster on this machine's loopback for tests and benchmarks: `ray start --head --block` in its own
session and temp dir, stopped by its own pids (never `ray stop`, which would stop every Ray on the machine)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from jupyter_ft.core.procs import free_port


def _boost() -> None:
    """The raylet gives its agents a fixed 15 s to start, which a loaded 2-core machine misses (each agent imports
    Ray, ~5 s of CPU): the cluster starts at a raised priority where allowed and is set back to normal once up."""
    try:
        os.nice(-10)
    except OSError:
        pass


class LoopbackCluster:
    def __init__(self, cpus: int = 2):
        self.cpus = cpus
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.tmp = Path(tempfile.mkdtemp(prefix="jft-ray-", dir="/tmp"))
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180, tries: int = 3) -> LoopbackCluster:
        """Start the head; on a loaded machine its agents can miss the raylet's fixed 15 s start-up window, so a
        failed start is retried on fresh ports."""
        for i in range(tries):
            try:
                return self._start(timeout)
            except RuntimeError:
                self.stop()
                if i == tries - 1:
                    raise
                self.port = free_port()
                self.address = f"127.0.0.1:{self.port}"
        return self

    def _start(self, timeout: float) -> LoopbackCluster:
        ray = Path(sys.executable).with_name("ray")
        # On a loaded 2-core machine the agents take longer than the 15 s the raylet waits for them by default.
        env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_DEDUP_LOGS="0",
                   RAY_agent_register_timeout_ms="120000")
        self.log = open(self.tmp / "ray_start.log", "wb")
        self.proc = subprocess.Popen(
            [str(ray), "start", "--head", "--block", "--num-cpus", str(self.cpus), "--num-gpus", "0",
             "--node-ip-address", "127.0.0.1", "--port", str(self.port), "--temp-dir", str(self.tmp / "t"),
             "--include-dashboard", "false", "--disable-usage-stats",
             # fixed agent ports: otherwise the raylet waits at most 15 s for the agents to write the ports they
             # chose, which a loaded 2-core machine misses
             "--dashboard-agent-grpc-port", str(free_port()), "--dashboard-agent-listen-port", str(free_port()),
             "--metrics-export-port", str(free_port()), "--runtime-env-agent-port", str(free_port())],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
            preexec_fn=_boost)
        deadline = time.time() + timeout
        while time.time() < deadline:
            self._answer_for_the_dashboard_agent()
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray start exited: {(self.tmp / 'ray_start.log').read_text()[-3000:]}")
            if b"Ray runtime started" in (self.tmp / "ray_start.log").read_bytes():
                for p in self.processes():  # back to normal priority once the start-up window has passed
                    try:
                        p.nice(0)
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        pass
                return self
            time.sleep(0.2)
        raise RuntimeError("ray start --head did not come up in time")

    def _answer_for_the_dashboard_agent(self) -> None:
        """The raylet waits at most 15 s for the dashboard agent to write its HTTP port file, and aborts the node
        when it does not; a loaded 2-core machine misses that window (the agent imports Ray first). A minimal-install
        agent has no HTTP server and writes -1 ("not in use") there: write that answer for it as soon as the
        raylet is up (its node id and session dir are on its command line); the agent later writes the same."""
        for p in psutil.process_iter(["cmdline"]):
            cmd = p.info.get("cmdline") or []
            if not cmd or not cmd[0].endswith("raylet") or not any(str(self.tmp) in a for a in cmd):
                continue
            opts = dict(a[2:].split("=", 1) for a in cmd if a.startswith("--") and "=" in a)
            if "node_id" in opts and "session_dir" in opts:
                path = Path(opts["session_dir"]) / f"dashboard_agent_listen_port_{opts['node_id']}"
                if not path.exists():
                    tmp = path.with_name(path.name + ".tmp")
                    tmp.write_text("-1")
                    tmp.rename(path)

    def processes(self) -> list[psutil.Process]:
        """Every process of this cluster: the `ray start` process and its descendants, and processes whose command
        line names this cluster's temp dir or port (workers re-parented to init)."""
        found: dict[int, psutil.Process] = {}
        if self.proc:
            try:
                root = psutil.Process(self.proc.pid)
                found[root.pid] = root
                for c in root.children(recursive=True):
                    found[c.pid] = c
            except psutil.NoSuchProcess:
                pass
        for p in psutil.process_iter(["cmdline"]):
            cmd = " ".join(p.info.get("cmdline") or [])
            if str(self.tmp) in cmd or f"127.0.0.1:{self.port}" in cmd:
                found[p.pid] = p
        return list(found.values())

    def stop(self) -> None:
        procs = self.processes()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # `ray start --block` stops its processes on SIGTERM
            try:
                self.proc.wait(timeout=5)  # then every process of the cluster is killed below
            except subprocess.TimeoutExpired:
                pass
        for p in procs + self.processes():
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(procs, timeout=10)
        self.log.close()

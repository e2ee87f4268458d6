"""What accelerators this machine has, without importing torch into the caller.

Core must stay light (the kernel and the Jupyter server import it), so the probe runs torch in a short
subprocess once and caches the answer in the workspace for the current boot.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

_PROBE = r"""
import json, torch
out = {"cuda": [], "mps": False}
if torch.cuda.is_available():
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        out["cuda"].append({"name": p.name, "memory": p.total_memory, "bf16": torch.cuda.is_bf16_supported(),
                            "capability": list(torch.cuda.get_device_capability(i))})
import importlib.util
out["kernels"] = [k for k in ("flash_attn", "liger_kernel") if importlib.util.find_spec(k) is not None]
out["mps"] = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
print(json.dumps(out))
"""


@dataclass(frozen=True)
class DeviceInfo:
    kind: str            # cpu | cuda | mps
    name: str            # "cuda:0", "cpu", "mps"
    label: str           # human description
    memory: int          # bytes usable for training
    bf16: bool
    cores: int
    kernels: tuple[str, ...] = ()  # optional fast kernels importable here (flash_attn, liger_kernel)

    def to_dict(self) -> dict:
        return asdict(self)


_cache: dict | None = None


def _probe(cache_file: Path | None) -> dict:
    global _cache
    if _cache is not None:
        return _cache
    boot = psutil.boot_time()
    if cache_file and cache_file.is_file():
        try:
            cached = json.loads(cache_file.read_text())
            if (cached.get("boot") == boot and cached.get("python") == sys.executable
                    and "kernels" in cached.get("devices", {})):  # older caches lack the kernel list
                _cache = cached["devices"]
                return _cache
        except (ValueError, KeyError):
            pass
    try:
        out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120)
        devices = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else {"cuda": [], "mps": False}
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        devices = {"cuda": [], "mps": False}
    _cache = devices
    if cache_file:
        cache_file.write_text(json.dumps({"boot": boot, "python": sys.executable, "devices": devices}))
    return devices


def resolve(device: str, cache_file: Path | None = None) -> DeviceInfo:
    """Turn a spec's `device` (auto/cpu/cuda/cuda:N/mps) into a concrete device and its capacity."""
    cores = psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
    cpu = DeviceInfo("cpu", "cpu", f"CPU ({cores} cores)", psutil.virtual_memory().total, False, cores)
    if device == "cpu":
        return cpu
    found = _probe(cache_file)
    if device in ("auto", "cuda") or device.startswith("cuda:"):
        idx = int(device.split(":")[1]) if ":" in device else 0
        if len(found["cuda"]) > idx:
            g = found["cuda"][idx]
            return DeviceInfo("cuda", f"cuda:{idx}", g["name"], g["memory"], g["bf16"], cores,
                              tuple(found.get("kernels", ())))
        if device != "auto":
            raise ValueError(f"device {device!r} requested but this machine has {len(found['cuda'])} CUDA device(s)")
    if device in ("auto", "mps"):
        if found["mps"]:
            # MPS shares system memory; leave room for the OS.
            return DeviceInfo("mps", "mps", "Apple MPS", int(psutil.virtual_memory().total * 0.6), False, cores)
        if device == "mps":
            raise ValueError("device 'mps' requested but MPS is not available")
    return cpu


_PEAK = r"""
import json, sys, time, torch
dev = sys.argv[1]
dtype = torch.float32 if dev == "cpu" else torch.bfloat16
n = 1024 if dev == "cpu" else 8192
a, b = torch.randn(n, n, dtype=dtype, device=dev), torch.randn(n, n, dtype=dtype, device=dev)
best = float("inf")
for _ in range(8):
    if dev != "cpu": torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(4): a @ b
    if dev != "cpu": torch.cuda.synchronize()
    best = min(best, (time.perf_counter() - t) / 4)
print(json.dumps({"flops": 2 * n ** 3 / best, "dtype": str(dtype).split(".")[1], "threads": torch.get_num_threads()}))
"""
_peaks: dict[str, dict] = {}
PEAK_TTL_S = 3600.0


def matmul_peak(device: DeviceInfo, cache_file: Path | None = None) -> dict | None:
    """The device's measured matmul rate ({"flops": FLOP/s, "dtype": ...}: fp32 on CPU, bf16 on a GPU), the best of
    eight timings of `torch.matmul` in a short subprocess. A busy machine measures lower, as its jobs will run, so
    the figure is kept for an hour (in `cache_file`), not for the boot. None when it cannot be measured (no torch
    in this interpreter, a device that vanished)."""
    now = time.time()
    hit = _peaks.get(device.name)
    if hit and now - hit.get("time", 0) < PEAK_TTL_S:
        if cache_file and not cache_file.is_file():
            _write_peak(cache_file, {}, device.name, hit)
        return hit
    cached: dict = {}
    if cache_file and cache_file.is_file():
        try:
            cached = json.loads(cache_file.read_text())
            hit = cached["peaks"].get(device.name) if cached.get("python") == sys.executable else None
            if hit and now - hit.get("time", 0) < PEAK_TTL_S:
                _peaks[device.name] = hit
                return hit
        except (ValueError, KeyError, TypeError, AttributeError):
            cached = {}
    try:
        out = subprocess.run([sys.executable, "-c", _PEAK, device.name], capture_output=True, text=True, timeout=120)
        peak = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        peak = None
    if not isinstance(peak, dict) or not peak.get("flops"):
        return None
    peak["time"] = now
    _peaks[device.name] = peak
    if cache_file:
        _write_peak(cache_file, cached, device.name, peak)
    return peak


def _write_peak(cache_file: Path, cached: dict, name: str, peak: dict) -> None:
    """Keep `peak` in the workspace file, so a later process (a job, the server) reuses this process's timing."""
    peaks = cached.get("peaks", {}) if isinstance(cached.get("peaks"), dict) else {}
    cache_file.write_text(json.dumps({"python": sys.executable, "peaks": {**peaks, name: peak}}))

"""The vLLM launch plan: the `vllm serve` command line for one base and its LoRA adapters, and the checks before it.

    vllm serve BASE --enable-lora --lora-modules a=/path/a b=/path/b --max-loras N --max-lora-rank R
                    --max-num-seqs B --host H --port P

The API key goes in the `VLLM_API_KEY` environment variable that vLLM reads (`vllm/envs.py`) instead of
`--api-key K`, so it does not show in `ps` to every user of the machine. No torch here: the launcher (core) calls
this from the kernel or the Jupyter server.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

FLAGS_FILE = Path(__file__).with_name("vllm_serve_flags.txt")
MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vllm/config/lora.py: MaxLoRARanks
INSTALL_HINT = ("engine 'vllm' needs vLLM in this environment: `pip install vllm` (Linux with an NVIDIA GPU), "
                "or deploy with engine='local'")


class VllmUnavailable(ValueError):
    """vLLM cannot run here; the message says why and what to do instead."""


def vllm_importable() -> bool:
    return importlib.util.find_spec("vllm") is not None


def check_runnable(device_kind: str, has_vllm: bool | None = None) -> None:
    """Refuse clearly when vLLM is not installed or the machine has no CUDA GPU (`device_kind` is what
    `core.devices.resolve` found: cpu | cuda | mps)."""
    if not (vllm_importable() if has_vllm is None else has_vllm):
        raise VllmUnavailable(INSTALL_HINT)
    if device_kind != "cuda":
        raise VllmUnavailable(f"engine 'vllm' needs a CUDA GPU and this machine has none (device: {device_kind}); "
                              "deploy with engine='local', which serves the same OpenAI API on CPU")


def lora_rank_for(ranks: list[int]) -> int:
    """The smallest of vLLM's allowed --max-lora-rank values that fits every adapter."""
    need = max([r for r in ranks if r] or [1])
    for allowed in MAX_LORA_RANKS:
        if need <= allowed:
            return allowed
    raise VllmUnavailable(f"an adapter has LoRA rank {need}; vLLM serves ranks up to {MAX_LORA_RANKS[-1]}")


def vllm_executable() -> str:
    """`vllm` beside this Python (the same environment), else on PATH."""
    here = Path(sys.executable).with_name("vllm")
    if here.is_file():
        return str(here)
    return shutil.which("vllm") or "vllm"


def build_command(base: str, adapters: dict[str, str], *, host: str, port: int, ranks: list[int],
                  max_loras: int | None = None, max_lora_rank: int | None = None,
                  max_num_seqs: int | None = None, executable: str | None = None) -> list[str]:
    """The argv of `vllm serve` (API key excluded: see `env_for`)."""
    argv = [executable or vllm_executable(), "serve", base]
    if adapters:
        rank = max_lora_rank if max_lora_rank is not None else lora_rank_for(ranks)
        if rank not in MAX_LORA_RANKS:
            raise VllmUnavailable(f"max_lora_rank: vLLM accepts {', '.join(map(str, MAX_LORA_RANKS))}; got {rank}")
        argv += ["--enable-lora", "--lora-modules", *[f"{name}={path}" for name, path in adapters.items()],
                 "--max-loras", str(max_loras or len(adapters)), "--max-lora-rank", str(rank)]
    if max_num_seqs:
        argv += ["--max-num-seqs", str(max_num_seqs)]
    argv += ["--host", host, "--port", str(port)]
    return argv


def env_for(api_key: str) -> dict[str, str]:
    return {"VLLM_API_KEY": api_key, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}


# --- checking a command against vLLM's flags ----------------------------------------------------------------

def recorded_flags() -> dict[str, dict[str, list[str] | bool]]:
    """The recorded `vllm serve` flags: {flag: {"choices": [...]?, "list": bool}}."""
    out: dict[str, dict] = {}
    for line in FLAGS_FILE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        flag, *opts = line.split()
        info: dict = {"list": False}
        for opt in opts:
            key, _, value = opt.partition("=")
            if key == "choices":
                info["choices"] = value.split(",")
            elif key == "takes" and value == "list":
                info["list"] = True
        out[flag] = info
    return out


def check_against_recorded(argv: list[str]) -> list[str]:
    """Problems with `argv` (after `vllm serve BASE`) against the recorded flags; empty when it is well formed."""
    flags = recorded_flags()
    problems, i, rest = [], 0, argv[3:]
    while i < len(rest):
        flag = rest[i]
        if flag not in flags:
            problems.append(f"unknown flag {flag}")
            i += 1
            continue
        values = []
        i += 1
        while i < len(rest) and not rest[i].startswith("--"):
            values.append(rest[i])
            i += 1
        info = flags[flag]
        if len(values) > 1 and not info["list"]:
            problems.append(f"{flag} takes one value, got {values}")
        for v in values:
            if "choices" in info and v not in info["choices"]:
                problems.append(f"{flag} {v}: not one of {info['choices']}")
    return problems


def parse_with_vllm(argv: list[str]):
    """Parse `argv` with vLLM's own `vllm serve` parser (only where vllm imports); returns the namespace."""
    from vllm.entrypoints.openai.cli_args import make_arg_parser  # type: ignore[import-not-found]

    try:
        from vllm.utils.argparse_utils import FlexibleArgumentParser  # type: ignore[import-not-found]
    except ImportError:  # older vLLM
        from vllm.utils import FlexibleArgumentParser  # type: ignore[import-not-found,no-redef]

    parser = make_arg_parser(FlexibleArgumentParser())
    return parser.parse_args(["--model", argv[2], *argv[3:]])

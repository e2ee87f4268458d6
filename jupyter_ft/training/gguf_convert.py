"""`python -m jupyter_ft.training.gguf_convert --gguf FILE --out FOLDER`: a GGUF file as a plain HF model folder.

Core cannot import torch, so it runs this in a child process (`core.train.gguf_models.convert`). transformers
dequantizes the GGUF to float32 (`from_pretrained(folder, gguf_file=name)`), but the model it gives refuses
`save_pretrained` ("quantized with gguf and is not serializable"): the weights are moved into a model built
`from_config` with the config's `quantization_config` removed, then saved with the tokenizer (its chat template
kept). The folder is written under a temporary name beside `--out` and renamed at the end, so a crash never leaves
a half folder that looks complete.

Stdout carries one JSON object per line: `{"stage", "message"}` while it works, then `{"done": folder}`; a failure
is `{"error": message}` with exit status 2 (a problem with the file) or 3 (the `gguf` package is missing). The
folder also holds `SOURCE_FILE` (`--source`: what it was made from), written before the rename: core counts a
folder as converted only when that file is there.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Iterator

GGUF_MISSING = 3
BAD_FILE = 2


class ConvertError(Exception):
    """A GGUF file that cannot become a model folder; the message names the file."""


def _say(**fields) -> None:
    print(json.dumps(fields), flush=True)


def _architecture(path: Path) -> tuple[str, int]:
    """(general.architecture, tensor count) from the file's header; ConvertError for anything unreadable."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
        field = reader.fields["general.architecture"]
        arch = bytes(field.parts[field.data[0]]).decode("utf-8", "replace")
        return arch, len(reader.tensors)
    except KeyError:
        raise ConvertError(f"{path}: the GGUF header has no general.architecture") from None
    except Exception as exc:  # truncated or corrupt: numpy/struct/value errors from the reader
        raise ConvertError(f"{path}: not a readable GGUF file (corrupt or truncated?): {type(exc).__name__}: "
                           f"{exc}") from None


def _check_supported(path: Path, arch: str) -> None:
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    if arch not in GGUF_SUPPORTED_ARCHITECTURES:
        raise ConvertError(f"{path}: architecture {arch!r} cannot be dequantized by this transformers (it reads "
                           f"{', '.join(sorted(GGUF_SUPPORTED_ARCHITECTURES))})")


@contextlib.contextmanager
def _read_once() -> Iterator[None]:
    """transformers parses the GGUF three times (config, weights, tokenizer), and builds gguf's tensor-name map once
    per weight; both are pure functions of their arguments, so within one conversion each is computed once (about
    half the CPU time for SmolLM2-135M). Both are looked up on the `gguf` module at call time, so they are swapped
    there for the conversion and restored after."""
    import gguf

    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    parsed = functools.lru_cache(maxsize=2)(reader)

    def read(path, mode="r"):
        return parsed(os.path.realpath(path)) if mode == "r" else reader(path, mode)

    gguf.GGUFReader = read
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=8)(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map


def convert(gguf: Path, out: Path, source: dict | None = None) -> Path:
    """Write `out` (a plain float32 HF folder) from `gguf`, with `source` as its `SOURCE_FILE`; returns `out`.
    Raises ConvertError."""
    from jupyter_ft.core.train.gguf_models import SOURCE_FILE

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.time()
    with _read_once():
        _say(stage="read", message=f"reading {gguf.name}")
        arch, n = _architecture(gguf)
        _check_supported(gguf, arch)
        _say(stage="dequantize", message=f"dequantizing {n} tensors of {gguf.name} ({arch}) to float32")
        try:
            loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
            tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        except Exception as exc:
            raise ConvertError(f"{gguf}: transformers could not load it: {type(exc).__name__}: {exc}") from None
    _say(stage="rebuild", message=f"read and dequantized in {time.time() - t0:.0f} s; building a plain {arch} model")
    cfg = loaded.config
    if hasattr(cfg, "quantization_config"):
        delattr(cfg, "quantization_config")
    plain = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    tied = {k for k in missing if getattr(cfg, "tie_word_embeddings", False) and k.endswith("lm_head.weight")}
    if set(missing) - tied or unexpected:
        raise ConvertError(f"{gguf}: the dequantized weights do not fit a {arch} model built from its config "
                           f"(missing {sorted(set(missing) - tied)[:5]}, unexpected {sorted(unexpected)[:5]})")
    if tied:
        plain.tie_weights()
    del loaded
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    _say(stage="save", message=f"writing {out}")
    try:
        plain.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        saved = json.loads((tmp / "config.json").read_text())
        if "quantization_config" in saved:  # a folder that says "quantized" would reload through the GGUF path
            saved.pop("quantization_config")
            (tmp / "config.json").write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
        (tmp / SOURCE_FILE).write_text(json.dumps({"gguf": str(gguf), **(source or {})}, indent=1) + "\n")
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _say(stage="saved", message=f"converted in {time.time() - t0:.0f} s")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gguf", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--source", default="{}", help="JSON written into the folder as what it was made from")
    args = p.parse_args(argv)
    import importlib.util

    if importlib.util.find_spec("gguf") is None:
        _say(error="the `gguf` package is not installed: pip install 'jupyter_ft[gguf]' (or pip install gguf)")
        return GGUF_MISSING
    try:
        done = convert(Path(args.gguf), Path(args.out), json.loads(args.source))
    except ConvertError as exc:
        _say(error=str(exc))
        return BAD_FILE
    except OSError as exc:
        _say(error=f"{exc.filename or args.out}: {exc.strerror or exc}")
        return BAD_FILE
    _say(done=str(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m jupyter_ft.training.token_stats_main`: token statistics of one catalog version, as JSON on stdout.

The REST face runs this in a child process so the Jupyter server never imports transformers (or torch): the
server stays a thin face over core, and a tokenizer that misbehaves cannot take it down. Exit 0 with
`{"stats": ...}`, or exit 2 with `{"error": ..., "field": ...}` for a mistake the client can fix."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--workspace", required=True)
    p.add_argument("--ref", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--max-length", type=int, default=1024)
    p.add_argument("--split", default="train")
    args = p.parse_args(argv)

    from jupyter_ft.core.datasets import catalog
    from jupyter_ft.core.workspace import Workspace

    def fail(field: str, message: str) -> int:
        print(json.dumps({"error": message, "field": field}))
        return 2

    try:
        version = catalog.get(Workspace(Path(args.workspace)), args.ref)
    except Exception as exc:  # unknown dataset/version: the client named it
        return fail("ref", str(exc))
    from jupyter_ft.training.tokens import load_tokenizer, token_stats

    try:
        tok = load_tokenizer(args.model)
    except Exception as exc:
        return fail("model", f"cannot load a tokenizer from {args.model!r}: {type(exc).__name__}: {exc}"[:2000])
    try:
        stats = token_stats(version, tok, max_length=args.max_length, split=args.split)
    except Exception as exc:  # e.g. a chat template that rejects these rows
        return fail("model", f"tokenizing {args.ref} with {args.model!r} failed: {type(exc).__name__}: {exc}"[:2000])
    print(json.dumps({"stats": stats.summary()}, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())

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

    from jupyter_ft.core.workspace import Workspace
    from jupyter_ft.training.tokens import TokenStatsError, dataset_token_stats

    def fail(field: str, message: str) -> int:
        print(json.dumps({"error": message, "field": field}))
        return 2

    try:
        stats = dataset_token_stats(Workspace(Path(args.workspace)), args.ref, args.model,
                                    max_length=args.max_length, split=args.split)
    except TokenStatsError as exc:
        return fail(exc.field, str(exc))
    except Exception as exc:  # unknown dataset/version: the client named it
        return fail("ref", str(exc))
    print(json.dumps({"stats": stats.summary()}, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())

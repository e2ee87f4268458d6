"""`jupyter-ft`: the command-line face. Each subcommand is one call into core."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from jupyter_ft.sdk import jobs as api
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs.daemon import scheduler_pid, stop_scheduler
from jupyter_ft.core.jobs.scheduler import Scheduler
from jupyter_ft.core.spec.train import SpecError
from jupyter_ft.core.jobs.summary import TABLE_HEADER, summary_line, table_row
from jupyter_ft.cli.common import CliError, _ws  # noqa: F401  (CliError: also raised by name from here)


def cmd_submit(a) -> int:
    from jupyter_ft.core.spec import overrides
    from jupyter_ft.core.spec.train import read_spec

    try:
        data = overrides.apply(read_spec(Path(a.spec)), a.set)
        job = api.submit(data, _ws(a))
    except (SpecError, overrides.OverrideError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(job.id)
    if a.wait:
        return _follow(job)
    return 0


def _follow(job: api.Job) -> int:
    """Stream the job's log until it ends; exit status 0 only if it succeeded."""
    path = job.dir / "job.log"
    pos = 0
    while True:
        rec = job.record
        if path.is_file():
            with path.open() as fh:
                fh.seek(pos)
                chunk = fh.read()
                pos = fh.tell()
            if chunk:
                sys.stdout.write(chunk)
                sys.stdout.flush()
        if rec.done:
            print(f"{job.id}: {rec.state}" + (f" ({rec.error})" if rec.error else ""))
            return 0 if rec.state == "succeeded" else 1
        time.sleep(0.5)


def cmd_techniques(a) -> int:
    from jupyter_ft.core.train import techniques

    rows = techniques.describe()
    if a.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'TECHNIQUE':<12} {'DATA':<11} {'LR (LoRA/full)':<15} SUMMARY")
    for r in rows:
        lr = f"{r['learning_rate']['lora']:g}/{r['learning_rate']['full']:g}"
        where = "" if r["origin"].startswith("built-in") else f"  [{r['origin']}]"
        print(f"{r['name']:<12} {r['data']:<11} {lr:<15} {r['summary']}{where}")
    for problem in techniques.problems:
        print(f"not registered: {problem}", file=sys.stderr)
    return 0


def cmd_schema(a) -> int:
    from jupyter_ft.core.spec.train import TrainSpec

    print(json.dumps(TrainSpec.model_json_schema(), indent=1))
    return 0


def cmd_jobs(a) -> int:
    recs = jobstore.list_jobs(_ws(a))
    if a.json:
        print(json.dumps([r.to_dict() for r in recs], indent=1, default=str))
        return 0
    print(TABLE_HEADER)
    for r in recs:
        print(table_row(r))
    return 0


def _job(a) -> api.Job | None:
    try:
        return api.get_job(a.job_id, _ws(a))
    except jobstore.JobNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def cmd_status(a) -> int:
    if not (job := _job(a)):
        return 2
    r = job.record
    print(json.dumps({**r.to_dict(), "progress": job.progress}, indent=1, default=str) if a.json else
          summary_line(r) + "".join(f"\n⚠ {w.get('message')}" for w in r.warnings)
          + (f"\nmlflow run: {r.mlflow_run_id}" if r.mlflow_run_id else ""))
    return 0


def cmd_logs(a) -> int:
    if not (job := _job(a)):
        return 2
    if a.follow:
        return _follow(job)
    print(job.logs(tail=a.tail), end="")
    return 0


def cmd_cancel(a) -> int:
    if not (job := _job(a)):
        return 2
    print(f"{job.id}: {job.cancel()}")
    return 0


def cmd_make_tiny_model(a) -> int:
    try:  # before the heavy imports, so a bad folder is reported at once
        Path(a.dir).mkdir(parents=True, exist_ok=True)
        if not os.access(a.dir, os.W_OK):
            raise PermissionError(13, "Permission denied", a.dir)
        from jupyter_ft.training.tiny_model import make_tiny_model

        print(make_tiny_model(a.dir))
    except OSError as exc:
        return _error(f"make-tiny-model: cannot write {a.dir}: {exc.strerror or exc}")
    return 0


def cmd_export(a) -> int:
    from jupyter_ft.core.registry import export

    try:
        result = export.export(a.ref, a.path, merge=not a.no_merge, overwrite=a.overwrite,
                               gguf=a.gguf if a.gguf is not None else (False if a.no_gguf else None), ws=_ws(a),
                               progress=None if a.json else export.print_progress)
    except export.ExportError as exc:
        return _error(str(exc))
    if a.json:
        print(json.dumps(result.to_dict(), indent=1))
        return 0
    print(f"exported {'merged model' if result.merged else 'adapter'} of {result.source} to {result.path} "
          f"({len(result.files)} files, {result.seconds:.1f} s)")
    for extra in (result.gguf_path, result.modelfile):
        if extra:
            print(f"  {extra}")
    return 0


def cmd_scheduler(a) -> int:
    ws = _ws(a)
    if a.action == "run":
        return Scheduler(ws, idle_timeout=a.idle_timeout).run()
    if a.action == "stop":
        stop_scheduler(ws, kill_jobs=a.kill_jobs)
        return 0
    pid = scheduler_pid(ws)
    print(f"scheduler running, pid {pid}" if pid else "scheduler not running")
    return 0


def cmd_demo(a) -> int:
    from jupyter_ft.cli import demo

    if a.tiny:
        return demo.run_tiny_demo(Path(a.dir), steps=a.steps, root=a.root)
    judge = {"kind": "openai", "base_url": a.judge_url, "model": a.judge_model} if a.judge_url else None
    return demo.run_demo(Path(a.dir), budget=a.budget, root=a.root, keep=a.keep, judge=judge)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jupyter-ft", description="Fine-tune LLMs: submit and watch detached jobs.")
    p.add_argument("--root", help="workspace folder (default: $JUPYTER_FT_HOME or <jupyter data dir>/jupyter_ft)")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("submit", help="queue a job from a YAML/JSON spec file")
    s.add_argument("spec")
    s.add_argument("--set", action="append", metavar="FIELD=VALUE",
                   help="override a spec field with a YAML value, e.g. --set max_steps=50 --set lora.r=4 (repeatable)")
    s.add_argument("--wait", action="store_true", help="stream the log until the job ends")
    s.set_defaults(fn=cmd_submit)

    s = sub.add_parser("techniques", help="list the training techniques (built-in and installed)")
    s.add_argument("--json", action="store_true", help="with each technique's options as JSON schema")
    s.set_defaults(fn=cmd_techniques)

    s = sub.add_parser("schema", help="print the job spec's JSON schema")
    s.set_defaults(fn=cmd_schema)

    s = sub.add_parser("jobs", help="list jobs")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_jobs)

    for name, fn, hlp in (("status", cmd_status, "one job's state"), ("cancel", cmd_cancel, "cancel a job")):
        s = sub.add_parser(name, help=hlp)
        s.add_argument("job_id")
        if name == "status":
            s.add_argument("--json", action="store_true")
        s.set_defaults(fn=fn)

    s = sub.add_parser("logs", help="a job's log")
    s.add_argument("job_id")
    s.add_argument("-f", "--follow", action="store_true")
    s.add_argument("--tail", type=_positive(int), help="only the last N lines")
    s.set_defaults(fn=cmd_logs)

    s = sub.add_parser("make-tiny-model", help="build a tiny random Llama model + tokenizer offline")
    s.add_argument("dir")
    s.set_defaults(fn=cmd_make_tiny_model)

    s = sub.add_parser("export", help="write a tuned model as a plain Hugging Face folder (+ GGUF when possible)")
    s.add_argument("ref", help="registered name@version or name@alias, a job id, or an adapter folder")
    s.add_argument("path", help="the folder to write (refused when not empty, unless --overwrite)")
    s.add_argument("--no-merge", action="store_true", help="write the adapter (and its card) instead of merged weights")
    s.add_argument("--overwrite", action="store_true", help="replace a non-empty target folder")
    s.add_argument("--gguf", nargs="?", const=True, default=None, metavar="TYPE",
                   help="require a GGUF file too (TYPE: f16 (default), bf16, f32, q8_0, auto)")
    s.add_argument("--no-gguf", action="store_true", help="never write GGUF, even with llama.cpp installed")
    s.add_argument("--json", action="store_true", help="print the result as JSON (no progress lines)")
    s.set_defaults(fn=cmd_export)

    s = sub.add_parser("scheduler", help="run, stop or check the workspace scheduler")
    s.add_argument("action", choices=["run", "stop", "status"])
    s.add_argument("--idle-timeout", type=_positive(float), default=None)
    s.add_argument("--kill-jobs", action="store_true", help="with stop: also kill running jobs")
    s.set_defaults(fn=cmd_scheduler)

    s = sub.add_parser("demo", help="offline end-to-end demo on SmolLM2-135M-Instruct: human-like DPO, evaluation, "
                                    "base vs tuned on one endpoint (--tiny: the one-minute tiny-model SFT version)")
    s.add_argument("--tiny", action="store_true", help="a tiny random model and an SFT job, in about a minute")
    s.add_argument("--budget", default="7m", help="training time budget of the DPO job (default 7m)")
    s.add_argument("--keep", action="store_true", help="leave the endpoint up for the Studio's Playground")
    s.add_argument("--judge-url", help="an OpenAI-compatible judge (base URL); default: the stand-in judge")
    s.add_argument("--judge-model", default="judge", help="the judge's model name at --judge-url")
    s.add_argument("--dir", default=".demo", help="with --tiny: folder for the tiny model and data")
    s.add_argument("--steps", type=_positive(int), default=200, help="with --tiny: SFT steps")
    s.set_defaults(fn=cmd_demo)

    from jupyter_ft.cli.deploy import add_commands as add_endpoint_commands  # deploy, endpoints, endpoint stop

    add_endpoint_commands(sub)
    from jupyter_ft.cli.models import add_commands as add_model_commands  # models fetch, models list

    add_model_commands(sub)
    return p


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a positive {'integer' if kind is int else 'number'}, "
                                             f"got {text!r}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a positive {'integer' if kind is int else 'number'}, got {text!r}")
        return value
    return parse


def _error(message: str, status: int = 2) -> int:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    """Run one command. Every failure is one line on stderr (never a traceback); output cut short by a closed
    pipe (`jupyter-ft jobs | head`) ends quietly."""
    a = build_parser().parse_args(argv)
    try:
        status = a.fn(a)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # The reader went away: stop writing, and keep Python from reporting the flush at exit as an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        return _error("interrupted", 130)
    except (SpecError, jobstore.JobNotFound, CliError) as exc:
        return _error(str(exc))
    except OSError as exc:
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        return _error(f"{a.cmd}:{where}: {exc.strerror or exc}", 1)
    except Exception as exc:  # a fault of ours or of a library: still one line, with what it was
        return _error(f"{a.cmd}: {type(exc).__name__}: {exc}", 1)


if __name__ == "__main__":
    sys.exit(main())

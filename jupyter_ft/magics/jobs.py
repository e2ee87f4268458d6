"""IPython magics over the core: `%load_ext jupyter_ft`, then `%ft …`, `%%ft_train`, `%%ft_eval`, `%%ft_chat`.

Every magic parses its arguments, calls core (or opens a widget from `jupyter_ft.widgets.ui`) and shows the result. A
mistake (bad spec, unknown job id, bad option) is one `UsageError` line naming the problem, never a traceback.
"""

from __future__ import annotations

import functools
from typing import Callable

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from jupyter_ft.sdk import jobs as api
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs import progress
from jupyter_ft.core.registry.model_refs import ModelEntryError
from jupyter_ft.core.spec.train import SpecError
from jupyter_ft.core.jobs.summary import summary_line

COMMANDS = ("jobs", "status", "logs", "cancel", "chart", "form", "datasets", "evals", "results")
NEEDS_ID = ("status", "logs", "cancel", "chart", "results")
PROMPT_SEPARATOR = "---"


def _one_line_errors(fn: Callable) -> Callable:
    """Turn any failure into a single UsageError line (IPython prints those without a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UsageError:
            raise
        except (SpecError, ModelEntryError, ValueError, TimeoutError, OSError) as exc:
            raise UsageError(str(exc)) from None
        except jobstore.JobNotFound as exc:
            raise UsageError(str(exc)) from None
        except api.JobFailed as exc:
            raise UsageError(str(exc)) from None
        except Exception as exc:
            raise UsageError(f"{type(exc).__name__}: {exc}") from None

    return wrapper


@magics_class
class FineTuningMagics(Magics):
    """`%ft`, `%%ft_train`, `%%ft_eval`, `%%ft_chat`."""

    @magic_arguments()
    @argument("command", choices=COMMANDS, metavar="COMMAND",
              help="jobs | status ID | logs ID | cancel ID | chart ID [ID ...] | form [ID] | datasets | evals | "
                   "results ID")
    @argument("ids", nargs="*", metavar="ID", help="job id(s)")
    @argument("--tail", type=int, default=40, help="logs: show the last N lines (0: the whole log); default 40")
    @line_magic
    @_one_line_errors
    def ft(self, line: str):
        """Fine-tuning jobs from a notebook (the same workspace as the CLI, REST API and other kernels).

        %ft jobs                  every job: status, progress, duration, technique, dataset, with buttons
                                  to cancel, open the live chart, open the MLflow run and clone the spec
        %ft status ID             one job's state, step, attempt, error and MLflow run
        %ft logs ID [--tail N]    the end of a job's log
        %ft cancel ID             cancel a queued or running job
        %ft chart ID [ID ...]     live chart of a job's metrics and progress; several ids overlay
        %ft form [ID]             the job form; with ID, filled from that job's spec (clone and edit)
        %ft datasets              the dataset catalog
        %ft evals                 every evaluation job: state, models, dataset, evaluators
        %ft results ID            an evaluation's results: bars with intervals, pairwise judge, samples

        Related: %%ft_train (submit a YAML spec), %%ft_eval (submit an evaluation) and %%ft_chat (compare models'
        answers); see %%ft_train?, %%ft_eval? and %%ft_chat?. Python equivalents: ft.ui.jobs(), ft.ui.chart(job),
        .train(), .evaluate(), .eval_results(), .compare().
        """
        a = parse_argstring(self.ft, line)
        if a.command in NEEDS_ID and not a.ids:
            raise UsageError(f"%ft {a.command} needs a job id (see %ft jobs)")
        from jupyter_ft.widgets import ui

        if a.command == "jobs":
            return ui.jobs()
        if a.command == "status":
            for job_id in a.ids:
                print(self._status(api.get_job(job_id)))
            return None
        if a.command == "logs":
            job = api.get_job(a.ids[0])
            print(job.logs(tail=a.tail or None) or f"(job {job.id} has no log yet)")
            return None
        if a.command == "cancel":
            for job_id in a.ids:
                print(f"{job_id}: {api.cancel(job_id)}")
            return None
        if a.command == "chart":
            return ui.chart(a.ids if len(a.ids) > 1 else a.ids[0])
        if a.command == "form":
            return ui.train(a.ids[0] if a.ids else None)
        if a.command == "datasets":
            from jupyter_ft.core.datasets import catalog

            found = catalog.list_datasets(api.workspace())
            for v in found:
                print(f"{v.name}@{v.version}  {v.kind}/{v.format}  {v.num_rows} rows")
            if not found:
                print("The catalog is empty: add a dataset with ft.datasets.add(...) or ft.datasets.add_demo('human-like').")
                return None
            return ui.datasets()
        if a.command == "evals":
            return self._evals()
        if a.command == "results":
            job = api.get_job(a.ids[0])  # names an unknown id
            if job.record.kind != "eval":
                raise UsageError(f"{job.id} is a {job.record.kind} job, not an evaluation (see %ft evals)")
            return ui.eval_results(job.id)
        raise UsageError(f"unknown command {a.command!r}")  # argparse's choices make this unreachable

    @staticmethod
    def _evals() -> None:
        evals = [r for r in jobstore.list_jobs(api.workspace()) if r.kind == "eval"]
        if not evals:
            print("No evaluations yet: submit one with %%ft_eval, ft.evaluate(...) or ft.ui.evaluate().")
            return None
        for r in evals:
            models = ", ".join(r.spec.get("models") or [])
            evaluators = ", ".join(str(e.get("name") or e.get("function") or e.get("type"))
                                   for e in r.spec.get("evaluators") or [] if isinstance(e, dict))
            print(f"{r.id}{' (' + r.name + ')' if r.name else ''}: {progress.describe(r)}\n"
                  f"  models {models} · dataset {r.spec.get('dataset')} · evaluators {evaluators}"
                  + (f"\n  error: {r.error}" if r.error else ""))
        return None

    @staticmethod
    def _status(job: api.Job) -> str:
        r = job.record
        lines = [summary_line(r)]
        lines += [f"  ⚠ {w.get('message')}" for w in r.warnings]
        lines.append(f"  model {r.spec.get('model')} · dataset {r.spec.get('dataset')}")
        if r.mlflow_run_id:
            from jupyter_ft.core.tracking import job_run_url

            lines.append(f"  MLflow run {r.mlflow_run_id}: {job_run_url(r)}")
        if r.state == "succeeded":
            lines.append(f"  output: {job.output_dir}")
        return "\n".join(lines)

    @magic_arguments()
    @argument("spec_file", nargs="?", help="line form only: a YAML/JSON spec file instead of a cell body")
    @argument("--set", action="append", metavar="FIELD=VALUE",
              help="override a spec field with a YAML value, e.g. --set max_steps=50 --set lora.r=4 (repeatable)")
    @argument("--wait", action="store_true", help="block until the job ends; fail the cell if the job fails")
    @argument("--timeout", type=float, default=None, help="with --wait: give up after this many seconds")
    @argument("--no-chart", action="store_true", help="do not show the live chart")
    @argument("--var", default="ft_job", help="variable that receives the Job (default: ft_job)")
    @line_cell_magic
    @_one_line_errors
    def ft_train(self, line: str, cell: str | None = None):
        """Submit a training job. The cell body is the job spec in YAML (the same fields as `ft.train(...)`,
        the form, the CLI and REST); a bad field is reported by name before anything is queued.

            %%ft_train --wait
            model: ./tiny-llama
            dataset: chat.jsonl
            max_steps: 100

        `dataset:` is anything `ft.train` takes: a catalog name[@version], a file or folder (relative to the
        notebook's folder), a hub id, or `$name`: the DataFrame, `datasets.Dataset` or list of rows held by that
        notebook variable. It goes into the catalog and the job is pinned to that version.

        Shows the live chart below the cell and stores the Job in `ft_job` (see --var). The job runs detached:
        interrupting or restarting the kernel does not stop it (`%ft cancel ID` does).
        """
        a = parse_argstring(self.ft_train, line)
        if cell is not None and a.spec_file:
            raise UsageError("%%ft_train takes the spec from the cell body; give a spec file only to %ft_train")
        if cell is None and not a.spec_file:
            raise UsageError("%ft_train needs a spec file (or use %%ft_train with the spec as the cell body)")
        from jupyter_ft.core.spec import overrides
        from jupyter_ft.core.spec.train import read_spec

        data = read_spec(a.spec_file) if cell is None else read_spec(cell, what="the cell")
        spec = overrides.apply(data, a.set)
        ref = spec.get("dataset")
        if isinstance(ref, str) and ref.startswith("$"):  # a notebook variable holding rows
            if ref[1:] not in self.shell.user_ns:
                raise UsageError(f"dataset: {ref}: no notebook variable named {ref[1:]!r}")
            spec["dataset"] = self.shell.user_ns[ref[1:]]
        job = api.submit(spec)
        self.shell.user_ns[a.var] = job
        print(f"submitted {job.id}" + (f" (MLflow run {job.run_id})" if job.run_id else "") + f"; stored in `{a.var}`")
        chart = None
        if not a.no_chart:
            from jupyter_ft.widgets import ui

            chart = ui.chart(job)
            display(chart)
        if a.wait:
            job.wait(timeout=a.timeout)
            if chart is not None:
                chart.wait(timeout=10)
            rec = job.record
            if rec.state != "succeeded":
                raise UsageError(f"job {job.id} {rec.state}: {rec.error}")
            losses = [m["loss"] for m in job.metrics() if "loss" in m]
            trend = f": loss {losses[0]:.4g} -> {losses[-1]:.4g}" if len(losses) > 1 else ""
            print(f"{job.id} succeeded in {progress.fmt_duration(job.progress['elapsed_s'])}{trend}; output {job.output_dir}")
        return None

    @magic_arguments()
    @argument("spec_file", nargs="?", help="line form only: a YAML/JSON evaluation spec file instead of a cell body")
    @argument("--set", action="append", metavar="FIELD=VALUE",
              help="override a spec field with a YAML value, e.g. --set limit=20 --set generation.max_new_tokens=32 "
                   "(repeatable)")
    @argument("--wait", action="store_true", help="block until the evaluation ends; fail the cell if it fails "
                                                  "(its partial results are still shown)")
    @argument("--timeout", type=float, default=None, help="with --wait: give up after this many seconds")
    @argument("--no-results", action="store_true", help="do not show the results widget")
    @argument("--var", default="ft_eval_job", help="variable that receives the Job (default: ft_eval_job)")
    @line_cell_magic
    @_one_line_errors
    def ft_eval(self, line: str, cell: str | None = None):
        """Submit an evaluation. The cell body is the evaluation spec in YAML (the same fields as
        `ft.evaluate(...)`, the evaluation form and REST); a bad field is reported by name before anything is queued.

            %%ft_eval --wait
            models: [base, {ft_job.id}]
            dataset: qa.jsonl
            evaluators:
              - {type: exact_match}
              - {type: rouge}

        Shows the results widget below the cell (live while the evaluation runs: bars with 95% intervals per
        metric and model, the pairwise judge's win/tie/loss, the per-sample table) and stores the Job in
        `ft_eval_job` (see --var). The evaluation runs detached, like a training job.
        """
        from jupyter_ft.core.spec.eval import parse_eval_spec

        a = parse_argstring(self.ft_eval, line)
        if cell is not None and a.spec_file:
            raise UsageError("%%ft_eval takes the spec from the cell body; give a spec file only to %ft_eval")
        if cell is None and not a.spec_file:
            raise UsageError("%ft_eval needs a spec file (or use %%ft_eval with the spec as the cell body)")
        from jupyter_ft.core.spec import overrides
        from jupyter_ft.core.spec.train import read_spec

        if cell is None:
            data = read_spec(a.spec_file)
        else:
            data = read_spec(cell, what="the cell")
        spec = parse_eval_spec(overrides.apply(data, a.set))  # names every bad field before anything is queued
        job = api.submit(spec, api.workspace())
        self.shell.user_ns[a.var] = job
        print(f"submitted evaluation {job.id}" + (f" (MLflow run {job.run_id})" if job.run_id else "")
              + f"; stored in `{a.var}`")
        view = None
        if not a.no_results:
            from jupyter_ft.widgets import ui

            view = ui.eval_results(job.id)
            display(view)
        if a.wait:
            job.wait(timeout=a.timeout)
            if view is not None:
                view.wait(timeout=10)
                view.refresh()
            rec = job.record
            if view is not None:
                print(view.summary())  # the final results as text too (the widget above was shown while it ran)
            if rec.state != "succeeded":
                raise UsageError(f"evaluation {job.id} {rec.state}: {rec.error}")
            print(f"{job.id} succeeded in {progress.fmt_duration(job.progress['elapsed_s'])}")
        return None

    @magic_arguments()
    @argument("--models", default=None,
              help="comma-separated models: base, job ids (their adapter/model), adapter or model folders, hub ids, "
                   "OpenAI-compatible endpoints as http://host/v1#model; with --endpoint: some of its served models "
                   "(default: all)")
    @argument("--endpoint", default=None, metavar="NAME|URL",
              help="stream the answers from a deployed endpoint (its name) or any OpenAI-compatible URL "
                   "(http://host/v1) instead of loading the models in this kernel")
    @argument("--blind", action="store_true", help="with --endpoint: blind A/B, two answers with the models hidden, "
                                                   "vote A / B / tie, then the models are revealed")
    @argument("--seed", type=int, default=None, help="with --endpoint: sampling seed")
    @argument("--base", default=None, help="the base model for 'base' when no adapter names it")
    @argument("--max-new-tokens", type=int, default=64, help="tokens to generate per answer (default 64)")
    @argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    @argument("--top-p", type=float, default=1.0, help="nucleus sampling when temperature > 0 (default 1.0)")
    @argument("--wait", action="store_true", help="show the table once every answer is in (default: fill it live)")
    @argument("--timeout", type=float, default=None, help="with --wait: give up after this many seconds")
    @argument("prompt", nargs="*", help="line form only: the prompt")
    @line_cell_magic
    @_one_line_errors
    def ft_chat(self, line: str, cell: str | None = None):
        """Ask several models the same prompt and show their answers side by side. The cell body is the prompt;
        separate several prompts with a line holding only `---`.

            %%ft_chat --models base,{job.id}
            What is the capital of France?

            %%ft_chat --endpoint playground
            How are you today?

        Models load and generate on a worker thread, so the kernel stays usable while answers arrive. With
        `--endpoint NAME|URL` the answers stream token by token from that endpoint (every model it serves, or
        those named by --models) in the playground widget; add --blind to vote on two anonymous answers.
        """
        a = parse_argstring(self.ft_chat, line)
        text = cell if cell is not None else " ".join(a.prompt)
        prompts = [p.strip() for p in _split_prompts(text) if p.strip()]
        if not prompts:
            raise UsageError("%%ft_chat needs a prompt: the cell body (or the rest of the line for %ft_chat)")
        models = [m.strip() for m in (a.models or "").split(",") if m.strip()] or None
        from jupyter_ft.widgets import ui

        if a.endpoint is not None:
            return self._chat_endpoint(a, prompts, models)
        if a.blind or a.seed is not None:
            raise UsageError("%%ft_chat: --blind and --seed need --endpoint NAME|URL")
        if models is None:
            raise UsageError("%%ft_chat: the following arguments are required: --models (or --endpoint NAME|URL)")
        panel = ui.compare(models, prompts, base=a.base, max_new_tokens=a.max_new_tokens, temperature=a.temperature,
                           top_p=a.top_p)
        if a.wait:
            panel.wait(a.timeout)
        display(panel)
        return None

    @staticmethod
    def _chat_endpoint(a, prompts: list[str], models: list[str] | None) -> None:
        """One playground per prompt, streaming from the endpoint."""
        from jupyter_ft.widgets import ui

        if a.base is not None:
            raise UsageError("%%ft_chat: --base is for models loaded in the kernel; an endpoint serves its own base")
        for p in prompts:
            pg = ui.playground(a.endpoint, models=models, blind=a.blind, max_tokens=a.max_new_tokens,
                               temperature=a.temperature, top_p=a.top_p, seed=a.seed)
            pg.ask(p)
            if a.wait:
                pg.wait(a.timeout)
            display(pg)
        return None


def _split_prompts(text: str) -> list[str]:
    prompts, cur = [], []
    for ln in text.splitlines():
        if ln.strip() == PROMPT_SEPARATOR:
            prompts.append("\n".join(cur))
            cur = []
        else:
            cur.append(ln)
    prompts.append("\n".join(cur))
    return prompts

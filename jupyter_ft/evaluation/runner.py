"""The evaluation job process: `python -m jupyter_ft.evaluation --root ROOT JOB_ID`.

Started by the scheduler for jobs of kind `eval`, never by a face. It reads the pinned catalog split, resolves
the models, and scores them group by group: each base model is loaded once and its adapters are scored on it
(switched, not reloaded); endpoints answer over HTTP. Every score is written as it is made (`scores.jsonl`), so a
killed attempt resumes where it stopped; answers come from the workspace's answer cache when they exist. A model
that cannot be loaded, or an evaluator that fails, is recorded with its name (and the sample) while the other
models' results stand; the job then ends failed with that reason and its results marked partial.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import traceback
from typing import Any, Callable

from jupyter_ft.core import procs
from jupyter_ft.core.evaluate import submit as evaluation
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.datasets import catalog
from jupyter_ft.core.datasets.errors import DatasetNotFound
from jupyter_ft.core.evaluate.rows import EvalSample
from jupyter_ft.core.spec.eval import DEGENERATION, GENERATIVE, EvalSpec, evaluator_name
from jupyter_ft.core.evaluate.mc_rows import MCShapeError, layout, parse_rows
from jupyter_ft.core.registry.model_refs import ModelEntryError, ModelRef, resolve_models
from jupyter_ft.core.jobs.daemon import ensure_scheduler
from jupyter_ft.core.workspace import Workspace
from jupyter_ft.training.errors import JobCancelled, JobInputError

from jupyter_ft.evaluation import results as res
from jupyter_ft.evaluation.evaluators import EvaluatorError, GenerationEvaluator, build as build_evaluator, degeneration
from jupyter_ft.evaluation.generate import AnswerCache, generate_batched, has_chat_template, render
from jupyter_ft.evaluation.models import Endpoint, LocalGroup, ModelLoadError, fingerprint, group_models, torch_device
from jupyter_ft.evaluation.multiple_choice import (build_context, chat_context, draw_shots, loglikelihoods, nll_to_loss, requests_for, score_question)

CHUNK = 8             # samples scored between writes of their records (the resume granularity)
PROGRESS_EVERY_S = 2.0
TRAINING_RUN_TAG = "jupyter_ft.eval.model"
JUDGES = ("pairwise_judge", "rubric_judge")
OWN_METRICS = JUDGES + ("lm_eval",)   # evaluators whose metric rows come from their own module, not the score store


def _on_sigterm(signum, frame):
    raise JobCancelled()


class EvalRun:
    """One attempt of an evaluation job."""

    def __init__(self, ws: Workspace, job: jobstore.JobRecord):
        self.ws, self.job = ws, job
        self.spec = EvalSpec.model_validate(job.spec)
        self.dir = ws.job_dir(job.id)
        self.errors: list[dict[str, Any]] = []
        self.answers: dict[str, dict[int, str]] = {}
        self.metrics: dict[str, list[dict[str, Any]]] = {}
        self.own_metrics: dict[str, list[dict[str, Any]]] = {}   # lm_eval and judge rows, per model
        self.pairwise: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {"chat_template": {}, "generation": self.spec.generation.model_dump(),
                                      "answers_generated": {}, "answers_cached": {}, "model_loads": {},
                                      "split": self.spec.split, "seed": self.spec.seed, "bootstrap": self.spec.bootstrap}
        self._last_progress = 0.0
        self._last_watchdog = time.time()

    # --- bookkeeping ------------------------------------------------------------------------------------------
    def error(self, model: str | None, evaluator: str | None, sample: int | None, message: str) -> None:
        print(f"[jupyter_ft] ERROR {message}", flush=True)
        self.errors.append({"model": model, "evaluator": evaluator, "sample": sample, "message": message})

    def progress(self, force: bool = False) -> None:
        now = time.time()
        if force or now - self._last_progress >= PROGRESS_EVERY_S:
            self._last_progress = now
            jobstore.set_fields(self.ws, self.job.id, step=len(self.store.records), progress_at=now)
        if now - self._last_watchdog >= 30:
            self._last_watchdog = now
            ensure_scheduler(self.ws, wake=False)

    @property
    def scored(self) -> list[tuple[str, str]]:
        """(name, type) of what writes per-sample scores: the spec's evaluators, and the degeneration metrics of
        every evaluation of generated answers."""
        out = [(evaluator_name(e), e.type) for e in self.spec.evaluators]
        return out + [(DEGENERATION, DEGENERATION)] if self.spec.generative else out

    def differences(self) -> list[dict[str, Any]]:
        return res.differences(self.store, self.labels, self.baseline, self.scored, self.spec.bootstrap, self.spec.seed)

    def write_results(self, state: str, partial: bool) -> dict[str, Any]:
        metrics = [m for label in self.labels for m in self.metrics.get(label, [])]
        styles = [evaluator_name(e) for e in self.spec.evaluators if e.type == "style"]
        data = res.build_results(
            job_id=self.job.id, state=state, labels=self.labels, model_refs=self.model_refs,
            dataset=self.spec.dataset, samples=self.samples, store=self.store,
            evaluators=self.scored, answers=self.answers,
            errors=self.errors, metrics=metrics, pairwise=self.pairwise, extra=self.extra, partial=partial,
            baseline=self.baseline, differences=self.differences(),
            style_verdicts=res.style_verdicts(self.store, self.labels, self.baseline, styles, DEGENERATION,
                                              self.spec.bootstrap, self.spec.seed))
        res.write_json(self.dir / evaluation.RESULTS_FILE, data)
        return data

    # --- setup ------------------------------------------------------------------------------------------------
    def prepare(self) -> None:
        spec = self.spec
        try:
            self.version = catalog.get(self.ws, spec.dataset)
        except DatasetNotFound as exc:
            raise JobInputError(f"dataset: {exc}") from None
        self.samples: list[EvalSample] = evaluation.samples(self.version, spec.split, spec.limit)
        if not self.samples:
            raise JobInputError(f"dataset: {self.version.ref} has no rows in its {spec.split!r} split")
        self.refs: list[ModelRef] = []
        self.failed_entries: dict[str, str] = {}
        try:
            self.refs = resolve_models(spec.models, self.ws, base=spec.base)
        except ModelEntryError:
            for entry in spec.models:  # find which one, and keep the others
                try:
                    self.refs.extend(resolve_models([entry], self.ws, base=spec.base))
                except ModelEntryError as exc:
                    self.failed_entries[entry] = str(exc)
        self.labels = [r.label for r in self.refs] + list(self.failed_entries)
        self.baseline = {r.entry: r.label for r in self.refs}.get(spec.baseline_entry, spec.baseline_entry)
        self.model_refs = {r.label: (r.adapter or r.model or r.entry) if r.kind != "endpoint" else r.entry
                           for r in self.refs}
        self.store = res.ScoreStore(self.dir / "scores.jsonl")
        if self.store.resumed:
            print(f"[jupyter_ft] resuming: {self.store.resumed} scored sample(s) kept from earlier attempts", flush=True)
        self.cache = AnswerCache(self.ws.root / "eval_cache" / "answers.jsonl")
        self.device = torch_device(spec.device)
        self.mc: dict[str, tuple[list, list]] = {}
        for e in spec.evaluators:
            if e.type == "multiple_choice":
                where = f"{self.version.ref} ({spec.split} split)"
                rows = [s.row for s in self.samples]
                try:
                    lay = layout(rows[0].keys(), e.mapping, e.subject_column, where)
                    qs = parse_rows(rows, lay, where)
                    dev = parse_rows(evaluation.split_rows(self.version, e.fewshot_split), lay,
                                     f"{self.version.ref} ({e.fewshot_split} split)") if e.num_fewshot else []
                except MCShapeError as exc:
                    raise JobInputError(f"evaluator {evaluator_name(e)!r}: {exc}") from None
                self.mc[evaluator_name(e)] = (qs, dev)
                self.extra.setdefault("multiple_choice", {})[evaluator_name(e)] = {
                    "chat_template": e.chat_template, "num_fewshot": e.num_fewshot, "fewshot_split": e.fewshot_split,
                    "prompt": "Question: {question}\nAnswer:", "continuation": "{choice}" if e.chat_template
                    else " {choice}", "scoring": "lm-evaluation-harness log-likelihood (acc, acc_norm by characters)"}
        counted = [t for _, t in self.scored if t != "lm_eval"]
        total = len(self.labels) * len(self.samples) * len(counted)
        jobstore.set_fields(self.ws, self.job.id, total_steps=total, step=len(self.store.records), progress_at=time.time())
        tags = {}
        for i, r in enumerate(self.refs):
            tags[f"{TRAINING_RUN_TAG}.{i}"] = f"{r.label} = {self.model_refs[r.label]}"
            run = self._training_run(r)
            if run:
                tags[f"{TRAINING_RUN_TAG}.{i}.training_run_id"] = run
                self.extra.setdefault("training_runs", {})[r.label] = run
        tags["jupyter_ft.eval.dataset"] = self.version.ref
        jobstore.append_event(self.ws, self.job.id, "tag", tags)
        print(f"[jupyter_ft] evaluating {len(self.refs)} model(s) on {len(self.samples)} sample(s) of "
              f"{self.version.ref} ({spec.split}) with {len(spec.evaluators)} evaluator(s) on {self.device}", flush=True)

    def _training_run(self, r: ModelRef) -> str | None:
        try:
            rec = jobstore.get(self.ws, r.entry)
        except jobstore.JobNotFound:
            return None
        return rec.mlflow_run_id

    # --- scoring one model ------------------------------------------------------------------------------------
    def evaluate_model(self, ref: ModelRef, use: Callable[[], Any] | None, tokenizer: Any, endpoint: Endpoint | None) -> None:
        label = ref.label
        chat = self.spec.generation.chat_template
        if endpoint is None and chat is None:
            chat = has_chat_template(tokenizer)
        self.extra["chat_template"][label] = bool(chat) if endpoint is None else "endpoint (chat API)"
        for ev in self.spec.evaluators:
            name = evaluator_name(ev)
            todo = [s for s in self.samples if not self.store.has(label, name, s.id)]
            if ev.type in JUDGES:  # judged after every model answered; here only the answers are made
                try:
                    self._answers(ref, use, tokenizer, endpoint, bool(chat))
                except ModelLoadError as exc:
                    self.error(label, name, None, f"model {label!r}: {exc}")
                continue
            if not todo and ev.type != "lm_eval":
                continue
            try:
                if ev.type in ("multiple_choice", "eval_loss") and endpoint is not None and not endpoint.supports_logprobs():
                    raise EvaluatorError(
                        f"model {label!r} is an endpoint ({ref.url}); evaluator {name!r} ({ev.type}) scores "
                        "log-likelihoods, which need /v1/completions with echo and logprobs, and this endpoint does "
                        "not give them", name)
                if ev.type == "multiple_choice":
                    self._multiple_choice(ev, name, label, todo, use, tokenizer, endpoint, ev.chat_template and endpoint is None)
                elif ev.type == "eval_loss":
                    self._eval_loss(ev, name, label, todo, use, tokenizer, endpoint, bool(chat) and endpoint is None)
                elif ev.type == "lm_eval":
                    self._lm_eval(ev, name, ref, use, tokenizer)
                elif ev.type in GENERATIVE:
                    answers = self._answers(ref, use, tokenizer, endpoint, bool(chat))
                    self._generative(build_evaluator(ev), name, label, todo, answers)
            except EvaluatorError as exc:
                self.error(label, name, exc.sample, str(exc))
            self.progress(force=True)
        if self.spec.generative:
            self._degeneration(ref, use, tokenizer, endpoint, bool(chat))
        self.aggregate(label)

    def _degeneration(self, ref: ModelRef, use, tokenizer, endpoint, chat: bool) -> None:
        """Repetition and loops of the model's answers (every evaluation of generated answers reports them)."""
        todo = [s for s in self.samples if not self.store.has(ref.label, DEGENERATION, s.id)]
        if not todo:
            return
        try:
            answers = self._answers(ref, use, tokenizer, endpoint, chat)
        except ModelLoadError:
            return  # recorded against the evaluator that asked for the answers first
        self._generative(degeneration(), DEGENERATION, ref.label, [s for s in todo if s.id in answers], answers)

    def aggregate(self, label: str) -> None:
        """The model's metric rows: from its stored scores, plus those lm_eval and the judges computed."""
        self.metrics[label] = [m for name, etype in self.scored if etype not in OWN_METRICS
                               for m in res.aggregate(self.store, label, name, etype, self.spec.bootstrap,
                                                      self.spec.seed)]
        self.metrics[label] += self.own_metrics.get(label, [])

    def _multiple_choice(self, ev, name, label, todo, use, tokenizer, endpoint, chat) -> None:
        qs, dev = self.mc[name]
        by_id = {q.index: q for q in qs}
        todo_q = [by_id[s.id] for s in todo]
        for start in range(0, len(todo_q), CHUNK):
            chunk = todo_q[start:start + CHUNK]
            reqs, spans = [], []
            for q in chunk:
                ctx = build_context(q, draw_shots(q, dev, ev.num_fewshot, self.spec.seed), ev.description)
                if chat:
                    ctx = chat_context(tokenizer, ctx)
                rr = requests_for(q, ctx, chat)
                spans.append((len(reqs), len(rr)))
                reqs.extend(rr)
            if endpoint is not None:
                lls = [endpoint.loglikelihood(c, x)[0] for c, x in reqs]
            else:
                with use() as model:
                    lls = [ll for ll, _, _ in loglikelihoods(model, tokenizer, reqs, ev.batch_size, self.device)]
            items = []
            for q, (a, n) in zip(chunk, spans):
                scored = score_question(q, lls[a:a + n])
                scored["extra"]["chat_template"] = chat
                items.append({"model": label, "evaluator": name, "sample": q.index, **scored})
            self.store.add_many(items)
            self.progress()

    def _eval_loss(self, ev, name, label, todo, use, tokenizer, endpoint, chat) -> None:
        for s in todo:
            if not s.reference:
                raise EvaluatorError(f"evaluator {name!r}: sample {s.id} has no reference answer to compute the loss "
                                     "of", name, s.id)
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start:start + CHUNK]
            reqs = [(render(tokenizer, s.prompt, chat) if endpoint is None else str(s.prompt or ""), s.reference)
                    for s in chunk]
            if endpoint is not None:
                out = [(*endpoint.loglikelihood(c, x), False) for c, x in reqs]
            else:
                with use() as model:
                    out = loglikelihoods(model, tokenizer, reqs, ev.batch_size, self.device, ev.max_length)
            self.store.add_many([{"model": label, "evaluator": name, "sample": s.id, "scores": nll_to_loss(ll, n),
                                  "extra": {"ll": ll, "tokens": n}} for s, (ll, n, _) in zip(chunk, out)])
            self.progress()

    def _lm_eval(self, ev, name, ref, use, tokenizer) -> None:
        """An lm-evaluation-harness task on the model already in memory (base or adapter switched on); its metric
        rows join the results, its documents are kept in the job folder (a resumed run reads them back)."""
        from jupyter_ft.evaluation import lm_eval_bridge

        label = ref.label
        done = self.dir / f"lm_eval-{name}-{re.sub(r'[^A-Za-z0-9_.-]', '_', label)}.json"
        if done.is_file():
            out = json.loads(done.read_text())
        else:
            print(f"[jupyter_ft] {label}: lm-eval task {ev.task}", flush=True)
            try:
                if use is None:
                    o = lm_eval_bridge.run(ev, ref, evaluator=name, device=self.device, seed=self.spec.seed,
                                           bootstrap=self.spec.bootstrap)
                else:
                    with use() as model:
                        o = lm_eval_bridge.run(ev, ref, evaluator=name, device=self.device, seed=self.spec.seed,
                                               bootstrap=self.spec.bootstrap, model=model, tokenizer=tokenizer)
            except EvaluatorError:
                raise
            except Exception as exc:  # LmEvalError names the task and the model
                raise EvaluatorError(f"evaluator {name!r}: {exc}", name) from None
            out = {"metrics": o.metrics, "docs": o.docs, "info": o.info}
            res.write_json(done, out)
        self.own_metrics.setdefault(label, []).extend(out["metrics"])
        self.extra.setdefault("lm_eval", {})[f"{label}/{name}"] = out["info"]

    def _answers(self, ref: ModelRef, use, tokenizer, endpoint, chat: bool) -> dict[int, str]:
        """Every sample's answer from this model: from the cache, else generated in batches (and cached)."""
        label = ref.label
        if label in self.answers:
            return self.answers[label]
        g = self.spec.generation
        settings = {**g.model_dump(), "chat_template": chat, "seed": self.spec.seed}
        fp = fingerprint(ref)
        texts = {s.id: (render(tokenizer, s.prompt, chat) if endpoint is None else _endpoint_text(s.prompt))
                 for s in self.samples}
        keys = {s.id: AnswerCache.key(fp, str(texts[s.id]), settings, s.id) for s in self.samples}
        have = {i: a for i, k in keys.items() if (a := self.cache.get(k)) is not None}
        missing = [s for s in self.samples if s.id not in have]
        self.extra["answers_cached"][label] = len(have)
        self.extra["answers_generated"][label] = len(missing)
        print(f"[jupyter_ft] {label}: {len(have)} answer(s) from the cache, {len(missing)} to generate", flush=True)
        if missing:
            if endpoint is not None:
                for start in range(0, len(missing), g.batch_size):
                    part = missing[start:start + g.batch_size]
                    outs = endpoint.generate([texts[s.id] for s in part], settings)
                    self.cache.put({keys[s.id]: a for s, a in zip(part, outs)})
                    have.update({s.id: a for s, a in zip(part, outs)})
            else:
                ids = [s.id for s in missing]

                def on_batch(idx: list[int], outs: list[str]) -> None:
                    self.cache.put({keys[ids[i]]: a for i, a in zip(idx, outs)})
                    self.progress()

                with use() as model:
                    outs = generate_batched(model, tokenizer, [texts[i] for i in ids], settings, self.device, chat,
                                            self.spec.seed, on_batch)
                have.update(dict(zip(ids, outs)))
        self.answers[label] = have
        return have

    def _generative(self, scorer: GenerationEvaluator, name, label, todo, answers) -> None:
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start:start + CHUNK]
            preds = [answers[s.id] for s in chunk]
            scores = scorer.score(chunk, preds)
            self.store.add_many([{"model": label, "evaluator": name, "sample": s.id, "scores": sc, "extra": {}}
                                 for s, sc in zip(chunk, scores)])
            self.progress()

    # --- the whole job ----------------------------------------------------------------------------------------
    def run(self) -> str:
        self.prepare()
        for entry, msg in self.failed_entries.items():
            self.error(entry, None, None, msg)
        for base, group in group_models(self.refs):
            g = LocalGroup(base, self.device)
            print(f"[jupyter_ft] loading {base} for {', '.join(r.label for r in group)}", flush=True)
            try:
                g.load()
            except ModelLoadError as exc:
                for r in group:
                    self.error(r.label, None, None, f"model {r.label!r}: {exc}")
                continue
            for i, r in enumerate(group):
                adapter = None
                if r.kind == "adapter":
                    adapter = f"m{i}"
                    try:
                        g.add_adapter(adapter, r.adapter)
                    except ModelLoadError as exc:
                        self.error(r.label, None, None, f"model {r.label!r}: {exc}")
                        continue
                try:
                    self.evaluate_model(r, lambda a=adapter: g.use(a), g.tokenizer, None)
                except (JobCancelled, KeyboardInterrupt):
                    raise
                except Exception as exc:  # a model that breaks while scoring: the others still go on
                    traceback.print_exc()
                    self.error(r.label, None, None, f"model {r.label!r} failed while scoring: {type(exc).__name__}: {exc}")
                self.write_results("running", True)
                res.log_metrics(self.ws, self.job.id, self.metrics.get(r.label, []))
            self.extra["model_loads"][base] = {"base_loads": g.loads, "adapters": len(g.adapters),
                                               "models": [r.label for r in group]}
            self.judge_group_tokenizer = g.tokenizer
            g.close()
        for r in self.refs:
            if r.kind == "endpoint":
                try:
                    self.evaluate_model(r, None, None, Endpoint(r))
                except ModelLoadError as exc:
                    self.error(r.label, None, None, f"model {r.label!r}: {exc}")
                self.write_results("running", True)
                res.log_metrics(self.ws, self.job.id, self.metrics.get(r.label, []))
        self.run_judges()
        for label in self.labels:
            if self.own_metrics.get(label):
                res.log_metrics(self.ws, self.job.id, [m for m in self.metrics.get(label, [])
                                                       if m["evaluator"] in {evaluator_name(e) for e in self.spec.evaluators
                                                                             if e.type in JUDGES}])
        res.log_metrics(self.ws, self.job.id, [{**d, "metric": f"{d['metric']}_diff_vs_{d['baseline']}"}
                                               for d in self.differences()])
        self.progress(force=True)
        state = "failed" if self.errors else "succeeded"
        data = self.write_results(state, bool(self.errors))
        table = self.dir / "samples_table.json"
        res.write_json(table, res.samples_table(data))
        jobstore.append_event(self.ws, self.job.id, "table", {"path": str(table), "artifact_file": "eval/samples.json"})
        jobstore.append_event(self.ws, self.job.id, "artifact", {"path": str(self.dir / evaluation.RESULTS_FILE),
                                                                 "artifact_path": "eval"})
        return state

    def run_judges(self) -> None:
        """Pairwise and rubric judges score the answers every model gave (see `judges`)."""
        judged = [e for e in self.spec.evaluators if e.type in ("pairwise_judge", "rubric_judge")]
        if not judged:
            return
        from jupyter_ft.evaluation import judges
        pool = judges.JudgePool(self.device)
        label_of = {r.entry: r.label for r in self.refs}
        by_id = {s.id: s for s in self.samples}
        try:
            for ev in judged:
                name = evaluator_name(ev)
                for r in self.refs:
                    label = r.label
                    have = self.answers.get(label)
                    if not have:
                        continue  # the model failed before answering: its error is recorded
                    ids = [s.id for s in self.samples if s.id in have]
                    common = dict(evaluator=name, model=label, samples=ids, prompts=[by_id[i].prompt for i in ids],
                                  answers=[have[i] for i in ids], rows=[by_id[i].row for i in ids],
                                  cache_dir=self.dir, bootstrap=self.spec.bootstrap, seed=self.spec.seed)
                    print(f"[jupyter_ft] {name}: judging {label}", flush=True)
                    if ev.type == "pairwise_judge":
                        baseline = label_of.get(ev.baseline, ev.baseline)
                        if label == baseline:
                            continue
                        if baseline not in self.answers:
                            self.error(label, name, None, f"evaluator {name!r}: the baseline {baseline!r} has no "
                                                          "answers (it failed), so nothing is compared")
                            continue
                        out = judges.run_pairwise(ev, pool, baseline_answers=[self.answers[baseline][i] for i in ids],
                                                  **common)
                        self.pairwise.append(out.summary)
                        self.store.add_many([{"model": label, "evaluator": name, "sample": sid, "scores": None,
                                              "extra": {"verdict": v, "baseline": baseline}}
                                             for sid, v in out.verdicts.items()])
                        self.own_metrics.setdefault(label, []).extend(_pairwise_metrics(out.summary))
                    else:
                        out = judges.run_rubric(ev, pool, **common)
                        self.store.add_many([{"model": label, "evaluator": name, "sample": sid, "scores": sc,
                                              "extra": {"reasons": out.reasons.get(sid, {})}}
                                             for sid, sc in out.scores.items()])
                        self.own_metrics.setdefault(label, []).extend(out.metrics)
                    for e in out.errors:
                        self.error(e.get("model"), e.get("evaluator"), e.get("sample"), e["message"])
                    self.aggregate(label)
                    self.progress(force=True)
        finally:
            pool.close()


def _pairwise_metrics(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Win / tie / loss shares and the win rate (a tie counting half), with intervals, and the consistency rate as
    metric rows, for MLflow and the bars."""
    out = []
    for k in ("win", "tie", "loss"):
        ci = row.get(f"{k}_ci") or [None, None]
        out.append({"model": row["model"], "evaluator": row["evaluator"], "metric": f"{k}_vs_{row['baseline']}",
                    "value": row[k], "ci_low": ci[0], "ci_high": ci[1], "n": row["n"]})
    ci = row.get("win_rate_ci") or [None, None]
    out.append({"model": row["model"], "evaluator": row["evaluator"], "metric": f"win_rate_vs_{row['baseline']}",
                "value": row.get("win_rate"), "ci_low": ci[0], "ci_high": ci[1], "n": row["n"]})
    out.append({"model": row["model"], "evaluator": row["evaluator"], "metric": "consistency",
                "value": row["consistency"], "ci_low": None, "ci_high": None, "n": row["n"]})
    return [m for m in out if m["value"] is not None]


def _endpoint_text(prompt: Any) -> Any:
    return prompt if isinstance(prompt, list) else str(prompt or "")


def main(argv: list[str] | None = None) -> int:
    ws, job = procs.open_job_process("python -m jupyter_ft.evaluation", argv, _on_sigterm)
    jobstore.set_fields(ws, job.id, pid=os.getpid(), pid_started=procs.create_time(os.getpid()))
    print(f"\n=== jupyter_ft evaluation {job.id} · attempt {job.attempt}/{job.max_attempts} · pid {os.getpid()} · "
          f"{time.strftime('%Y-%m-%d %H:%M:%S')} ===", flush=True)
    er = None
    try:
        if job.cancel_requested:
            raise JobCancelled()
        er = EvalRun(ws, job)
        state = er.run()
    except JobCancelled:
        print("[jupyter_ft] cancelled", flush=True)
        _keep_partial(er, "cancelled")
        jobstore.finish(ws, job.id, "cancelled", "cancelled by request")
        return 0
    except JobInputError as exc:
        print(f"[jupyter_ft] FAILED: {exc}", flush=True)
        _keep_partial(er, "failed")
        jobstore.finish(ws, job.id, "failed", str(exc))
        return 2
    except Exception as exc:
        traceback.print_exc()
        _keep_partial(er, "failed")
        jobstore.finish(ws, job.id, "failed", f"{type(exc).__name__}: {exc}")
        return 1
    if state == "failed":
        first = er.errors[0]["message"]
        more = f" (and {len(er.errors) - 1} more problem(s); results of the rest are kept)" if len(er.errors) > 1 else ""
        jobstore.finish(ws, job.id, "failed", first + more)
        print(f"[jupyter_ft] FAILED: {first}{more}", flush=True)
        return 2
    jobstore.finish(ws, job.id, "succeeded")
    print("[jupyter_ft] succeeded", flush=True)
    return 0


def _keep_partial(er: EvalRun | None, state: str) -> None:
    """On a failure or cancel, what was scored so far stays readable (marked partial)."""
    if er is None or not hasattr(er, "store"):
        return
    try:
        for label in er.labels:
            if label not in er.metrics:
                er.aggregate(label)
        er.write_results(state, True)
    except Exception:
        traceback.print_exc()


if __name__ == "__main__":
    sys.exit(main())

/**
 * The main-area results of an evaluation (`GET evaluations/{id}/results`, the schema of results.json): one bar
 * panel per evaluator with 95% intervals, the pairwise judge's win/tie/loss rows, each model's differences from the
 * baseline with paired intervals, the style verdicts, and a per-sample table that can show only the samples the
 * models disagree on. The panels and rows come computed by the server (`panels`, `pairwise_rows`,
 * `difference_rows`, `style_verdicts`: `jupyter_ft/core/evaluate/view.py`, which the notebook widget draws too);
 * this view only draws them (`barLayout`, pure and unit-tested, places the bars and whiskers).
 */
import React, { useCallback, useState } from 'react';

import { DifferenceRow, describeError, EvalPanel, FineTuningAPI, IEvalResults, PairwiseRow, StyleVerdict } from '../api';
import { barLayout, fmt } from '../charts/evalBars';
import type { OpenMain } from '../shell/mainArea';
import { usePoll } from '../shell/usePoll';

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
const PLOT_W = 360;
const PLOT_H = 160;

/** Open the results of evaluation `id` in the main area. */
export function openEvalResults(api: FineTuningAPI, openMain: OpenMain, id: string): void {
  openMain(`jupyter-ft-eval-results:${id}`, `Evaluation ${id}`, () => <EvalResultsView api={api} jobId={id} />);
}

/** The results view, refreshed every 2 s until the evaluation finishes. */
export function EvalResultsView({ api, jobId }: { api: FineTuningAPI; jobId: string }): JSX.Element {
  const [results, setResults] = useState<IEvalResults | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [polling, setPolling] = useState(true);
  const load = useCallback(async () => {
    try {
      const r = await api.evaluationResults(jobId);
      setResults(r);
      setError(null);
      if (TERMINAL.has(r.state)) {
        setPolling(false);
      }
    } catch (err) {
      setError(describeError(err));
    }
  }, [api, jobId]);
  usePoll(load, 2000, polling);
  return (
    <div className="jp-ft-panel jp-ft-eval-results" data-job-id={jobId}>
      <h2>
        Evaluation {jobId}{' '}
        {results && <span className={`jp-ft-state jp-ft-state-${results.state}`}>{results.state}</span>}
      </h2>
      {error && (
        <div className="jp-ft-error" role="alert">
          {error}
        </div>
      )}
      {!results && !error && <div className="jp-ft-empty">Loading results…</div>}
      {results && <ResultsBody results={results} />}
    </div>
  );
}

export function ResultsBody({ results }: { results: IEvalResults }): JSX.Element {
  const panels = results.panels ?? [];
  const [disagreeOnly, setDisagreeOnly] = useState(false);
  const [search, setSearch] = useState('');
  const models = results.models ?? [];
  const samples = (results.samples ?? []).filter(s => {
    if (disagreeOnly && !s.disagree) {
      return false;
    }
    const needle = search.trim().toLowerCase();
    if (!needle) {
      return true;
    }
    return [s.prompt ?? '', s.reference ?? '', ...Object.values(s.answers ?? {})].join(' ').toLowerCase().includes(needle);
  });
  const scoreNames = [...new Set((results.samples ?? []).flatMap(s => Object.values(s.scores ?? {}).flatMap(x => Object.keys(x ?? {}))))];
  return (
    <div>
      <div className="jp-ft-eval-meta">
        {results.num_samples} samples of <code>{results.dataset}</code> · models {models.join(', ')}
        {results.partial && results.state !== 'succeeded' && <span className="jp-ft-muted"> · partial (still running)</span>}
      </div>
      {results.job_error && (
        <div className="jp-ft-error" role="alert">
          {results.job_error}
        </div>
      )}
      {(results.errors ?? []).map((e, i) => (
        <div key={i} className="jp-ft-error jp-ft-eval-error">
          {e.model} · {e.evaluator}
          {e.sample !== undefined && e.sample !== null ? ` · sample ${e.sample}` : ''}: {e.message}
        </div>
      ))}
      {panels.length === 0 && <div className="jp-ft-empty">No scores yet.</div>}
      <div className="jp-ft-bar-panels">
        {panels.map(p => (
          <BarPanel key={p.key} panel={p} models={models} />
        ))}
      </div>
      {(results.pairwise_rows ?? []).length > 0 && <PairwiseTable rows={results.pairwise_rows} />}
      {(results.style_verdicts ?? []).length > 0 && <StyleVerdicts verdicts={results.style_verdicts} />}
      {(results.difference_rows ?? []).length > 0 && <DifferencesTable rows={results.difference_rows} />}
      <h3>Samples</h3>
      <div className="jp-ft-toolbar">
        <label>
          <input type="checkbox" checked={disagreeOnly} onChange={e => setDisagreeOnly(e.target.checked)} /> only where
          the models disagree
        </label>
        <input
          className="jp-ft-input jp-ft-sample-search"
          placeholder="search prompts and answers"
          value={search}
          onChange={e => setSearch(e.target.value)}
        />
        <span className="jp-ft-count">
          {samples.length} of {(results.samples ?? []).length}
        </span>
      </div>
      <div className="jp-ft-table-wrap">
        <table className="jp-ft-table jp-ft-sample-table">
          <thead>
            <tr>
              <th>#</th>
              <th>prompt</th>
              {models.map(m => (
                <th key={m}>{m}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {samples.slice(0, 200).map((s, i) => (
              <tr key={s.index ?? i} className={s.disagree ? 'jp-ft-disagree' : ''}>
                <td>{s.index ?? i}</td>
                <td className="jp-ft-sample-text">{s.prompt}</td>
                {models.map(m => (
                  <td key={m} className="jp-ft-sample-text">
                    <div>{s.answers?.[m] ?? ''}</div>
                    <div className="jp-ft-scores">
                      {scoreNames
                        .filter(k => s.scores?.[m]?.[k] !== undefined)
                        .map(k => `${k} ${fmt(s.scores?.[m]?.[k] ?? null)}`)
                        .join(' · ')}
                    </div>
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function BarPanel({ panel, models }: { panel: EvalPanel; models: string[] }): JSX.Element {
  const layout = barLayout(panel, PLOT_W, PLOT_H);
  const left = 40;
  const top = 8;
  const colour = (model: string) => `jp-ft-series-${Math.max(0, models.indexOf(model)) % 6}`;
  return (
    <figure className="jp-ft-bar-panel" data-evaluator={panel.evaluator}>
      <figcaption>{panel.title}</figcaption>
      <svg width={PLOT_W + left + 8} height={PLOT_H + top + 36} role="img" aria-label={`${panel.title} bars`}>
        <g transform={`translate(${left},${top})`}>
          {layout.ticks.map(t => (
            <g key={t.value}>
              <line x1={0} x2={PLOT_W} y1={t.y} y2={t.y} className="jp-ft-grid" />
              <text x={-4} y={t.y + 3} className="jp-ft-axis-label" textAnchor="end">
                {fmt(t.value)}
              </text>
            </g>
          ))}
          <line x1={0} x2={PLOT_W} y1={layout.zeroY} y2={layout.zeroY} className="jp-ft-axis" />
          {layout.rects.map(r => (
            <g key={`${r.metric}/${r.model}`} className="jp-ft-bar" data-model={r.model} data-metric={r.metric} data-value={r.value}>
              <rect x={r.x} y={r.y} width={r.width} height={Math.max(r.height, 1)} className={colour(r.model)}>
                <title>
                  {r.model} · {r.metric}: {fmt(r.value)}
                  {r.low !== null ? ` (95% CI ${fmt(r.low)} – ${fmt(r.high)})` : ''}
                </title>
              </rect>
              {r.whisker && (
                <g className="jp-ft-whisker">
                  <line x1={r.x + r.width / 2} x2={r.x + r.width / 2} y1={r.whisker.y1} y2={r.whisker.y2} />
                  <line x1={r.x + r.width / 4} x2={r.x + (3 * r.width) / 4} y1={r.whisker.y1} y2={r.whisker.y1} />
                  <line x1={r.x + r.width / 4} x2={r.x + (3 * r.width) / 4} y1={r.whisker.y2} y2={r.whisker.y2} />
                </g>
              )}
            </g>
          ))}
          {layout.groups.map(g => (
            <text key={g.metric} x={g.x + g.width / 2} y={PLOT_H + 14} textAnchor="middle" className="jp-ft-axis-label">
              {g.metric}
            </text>
          ))}
        </g>
      </svg>
      <div className="jp-ft-legend">
        {panel.bars.map(b => (
          <span key={b.model}>
            <span className={`jp-ft-swatch ${colour(b.model)}`} /> {b.model}
          </span>
        ))}
      </div>
    </figure>
  );
}

function PairwiseTable({ rows }: { rows: PairwiseRow[] }): JSX.Element {
  const ci = (x: number[] | null) => (x && x.length === 2 ? ` [${fmt(x[0])}, ${fmt(x[1])}]` : '');
  return (
    <div>
      <h3>Pairwise judge</h3>
      <table className="jp-ft-table jp-ft-pairwise">
        <thead>
          <tr>
            <th>judge</th>
            <th>model vs baseline</th>
            <th>win</th>
            <th>tie</th>
            <th>loss</th>
            <th title="win share plus half the ties">win rate</th>
            <th>consistency</th>
            <th>mean length</th>
            <th>n</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((p, i) => (
            <tr key={i}>
              <td>{p.evaluator}</td>
              <td>
                {p.model} vs {p.baseline}
              </td>
              <td>
                {fmt(p.win)}
                {ci(p.win_ci)}
              </td>
              <td>
                {fmt(p.tie)}
                {ci(p.tie_ci)}
              </td>
              <td>
                {fmt(p.loss)}
                {ci(p.loss_ci)}
              </td>
              <td className="jp-ft-win-rate">
                {fmt(p.win_rate)}
                {ci(p.win_rate_ci)}
              </td>
              <td>{fmt(p.consistency)}</td>
              <td>
                {fmt(p.length_model, 4)} vs {fmt(p.length_baseline, 4)}
              </td>
              <td>{p.n}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function StyleVerdicts({ verdicts }: { verdicts: StyleVerdict[] }): JSX.Element {
  return (
    <div className="jp-ft-style-verdicts">
      <h3>Style verdict</h3>
      {verdicts.map((v, i) => (
        <div key={i} className={`jp-ft-style-verdict ${v.human_like ? 'jp-ft-verdict-yes' : 'jp-ft-verdict-no'}`}>
          <div>
            {v.evaluator}: <b>{v.model}</b> vs {v.baseline}: <b className="jp-ft-verdict">{v.verdict}</b> (n {v.n})
          </div>
          <ul>
            {v.reasons.map((r, j) => (
              <li key={j}>{r}</li>
            ))}
          </ul>
        </div>
      ))}
    </div>
  );
}

function DifferencesTable({ rows }: { rows: DifferenceRow[] }): JSX.Element {
  const side = (d: DifferenceRow) => (d.direction === 'up' ? 'above zero' : d.direction === 'down' ? 'below zero' : 'holds zero');
  return (
    <div>
      <h3>Differences from the baseline</h3>
      <div className="jp-ft-muted">
        mean of (model − baseline) over the samples both answered, with a paired bootstrap 95% interval
      </div>
      <table className="jp-ft-table jp-ft-differences">
        <thead>
          <tr>
            <th>evaluator</th>
            <th>model − baseline</th>
            <th>metric</th>
            <th>difference</th>
            <th>95% interval</th>
            <th>means</th>
            <th>n</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((d, i) => (
            <tr key={i} className={d.direction ? `jp-ft-diff-${d.direction}` : ''} data-metric={d.metric} data-direction={d.direction ?? ''}>
              <td>{d.evaluator}</td>
              <td>
                {d.model} − {d.baseline}
              </td>
              <td>{d.metric}</td>
              <td>
                {(d.value ?? 0) >= 0 ? '+' : ''}
                {fmt(d.value)}
              </td>
              <td>
                {d.ci ? `[${fmt(d.ci[0])}, ${fmt(d.ci[1])}] ` : '– '}
                <span className="jp-ft-muted">{d.ci ? side(d) : ''}</span>
              </td>
              <td>
                {fmt(d.model_mean)} vs {fmt(d.baseline_mean)}
              </td>
              <td>{d.n}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

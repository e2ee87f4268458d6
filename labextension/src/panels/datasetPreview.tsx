/**
 * A dataset version in the main area: its rows page by page (chosen and rejected side by side for preference
 * data) and token statistics against a chosen model.
 */
import React, { useContext, useEffect, useState } from 'react';

import { DatasetVersion, describeError, RowsPage, TokenStats } from '../api';
import { VisibleContext } from '../shell/mainArea';
import type { IStudio } from '../shell/sidebar';
import { conversionLines, VersionFacts } from './datasetFacts';
import { asText, asTurns, layoutRow, pageBounds } from './rowsView';

/** Rows per page. */
export const PAGE_SIZE = 10;
/** Main-area paged preview of one version, and token statistics against a model. */
export function DatasetPreview({ studio, version }: { studio: IStudio; version: DatasetVersion }): JSX.Element {
  const visible = useContext(VisibleContext);
  const [split, setSplit] = useState('train');
  const [page, setPage] = useState(0);
  const [data, setData] = useState<RowsPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const total = split === 'train' ? version.num_train : version.num_eval;
  const bounds = pageBounds(page, PAGE_SIZE, total);

  useEffect(() => {
    if (!visible) {
      return;
    }
    let live = true;
    studio.api.datasetRows(version.ref, split, bounds.offset, PAGE_SIZE).then(
      d => live && (setData(d), setError(null)),
      err => live && setError(describeError(err))
    );
    return () => {
      live = false;
    };
  }, [version.ref, split, bounds.offset, visible]);

  return (
    <div className="jp-ft-preview-panel" data-ref={version.ref}>
      <header className="jp-ft-jobview-head">
        <h2>{version.ref}</h2>
        <span className="jp-ft-badge">{version.kind}</span>
        <span className="jp-ft-dim">{version.format}</span>
      </header>
      <VersionFacts v={version} />
      {conversionLines(version).length > 0 && (
        <details className="jp-ft-conversion-details">
          <summary>Conversion applied</summary>
          <ul className="jp-ft-conversion">
            {conversionLines(version).map((c, i) => (
              <li key={i}>{c}</li>
            ))}
          </ul>
        </details>
      )}
      <div className="jp-ft-toolbar jp-ft-pager">
        <span>
          <select value={split} onChange={e => (setSplit(e.target.value), setPage(0))} className="jp-ft-split">
            <option value="train">train ({version.num_train})</option>
            <option value="eval" disabled={version.num_eval === 0}>
              eval ({version.num_eval})
            </option>
          </select>{' '}
          rows {total ? bounds.offset + 1 : 0}–{bounds.end} of {total}
        </span>
        <span>
          <button className="jp-ft-button jp-ft-prev" disabled={bounds.page === 0} onClick={() => setPage(bounds.page - 1)}>
            ‹ Previous
          </button>{' '}
          page {bounds.page + 1}/{bounds.pages}{' '}
          <button className="jp-ft-button jp-ft-next" disabled={bounds.page >= bounds.pages - 1} onClick={() => setPage(bounds.page + 1)}>
            Next ›
          </button>
        </span>
      </div>
      {error && <div className="jp-ft-error" role="alert">{error}</div>}
      {!data && !error && <div className="jp-ft-empty">Loading rows…</div>}
      {data && data.rows.length === 0 && <div className="jp-ft-empty">No rows in this split.</div>}
      {data && (
        <ol className="jp-ft-rows-list" start={data.offset + 1}>
          {data.rows.map((row, i) => (
            <RowView key={data.offset + i} row={row} kind={data.kind ?? version.kind} />
          ))}
        </ol>
      )}
      <TokenStatsBox studio={studio} version={version} split={split} />
    </div>
  );
}

function RowView({ row, kind }: { row: Record<string, unknown>; kind: string }): JSX.Element {
  const layout = layoutRow(row, kind);
  return (
    <li className="jp-ft-row">
      {layout.head.map(([k, v]) => (
        <Cell key={k} name={k} value={v} />
      ))}
      {layout.sides.length > 0 && (
        <div className="jp-ft-sides">
          {layout.sides.map(([k, v]) => (
            <Cell key={k} name={k} value={v} className={`jp-ft-side jp-ft-side-${k}`} />
          ))}
        </div>
      )}
      {layout.rest.map(([k, v]) => (
        <Cell key={k} name={k} value={v} className="jp-ft-cell-rest" />
      ))}
    </li>
  );
}

function Cell({ name, value, className = '' }: { name: string; value: unknown; className?: string }): JSX.Element {
  const turns = asTurns(value);
  return (
    <div className={`jp-ft-cell ${className}`} data-column={name}>
      <div className="jp-ft-cell-name">{name}</div>
      {turns ? (
        turns.map((t, i) => (
          <div key={i} className={`jp-ft-turn jp-ft-turn-${t.role}`}>
            <span className="jp-ft-role">{t.role}</span> {t.content}
          </div>
        ))
      ) : (
        <div className="jp-ft-cell-text">{asText(value)}</div>
      )}
    </div>
  );
}

function TokenStatsBox({ studio, version, split }: { studio: IStudio; version: DatasetVersion; split: string }): JSX.Element {
  const [model, setModel] = useState('');
  const [maxLength, setMaxLength] = useState(1024);
  const [stats, setStats] = useState<TokenStats | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async () => {
    setBusy(true);
    setError(null);
    setStats(null);
    try {
      setStats(await studio.api.tokenStats(version.ref, model.trim(), maxLength, split));
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  const top = stats ? Math.max(1, ...stats.histogram.counts) : 1;
  return (
    <section className="jp-ft-tokens">
      <h3>Token statistics</h3>
      <div className="jp-ft-tokens-form">
        <input className="jp-ft-tokens-model" placeholder="model folder or hub id (its tokenizer)" value={model} onChange={e => setModel(e.target.value)} />
        <label>
          max length{' '}
          <input type="number" min={1} className="jp-ft-tokens-max" value={maxLength} onChange={e => setMaxLength(Number(e.target.value))} />
        </label>
        <button className="jp-ft-button jp-ft-tokens-run" disabled={busy || !model.trim()} onClick={() => void run()}>
          {busy ? 'Tokenizing…' : 'Measure'}
        </button>
      </div>
      {busy && <div className="jp-ft-empty">Loading the tokenizer and tokenizing the rows (a sample of at most 10,000)…</div>}
      {error && <div className="jp-ft-error" role="alert">{error}</div>}
      {stats && (
        <div className="jp-ft-tokens-result" data-p50={stats.p50}>
          <div>
            {stats.measured < stats.rows ? `a sample of ${stats.measured} of ${stats.rows} rows: ` : `${stats.measured} rows: `}
            tokens per row min {stats.min}, mean {Math.round(stats.mean ?? NaN)}, p50 {Math.round(stats.p50)}, p90 {Math.round(stats.p90 ?? NaN)}, p99{' '}
            {Math.round(stats.p99 ?? NaN)}, max {stats.max}
          </div>
          <div className={stats.over_max_length ? 'jp-ft-warn' : 'jp-ft-dim'}>
            {stats.over_max_length} rows ({((stats.over_fraction ?? NaN) * 100).toFixed(1)}%) exceed max_length {stats.max_length} and are truncated
          </div>
          <div className="jp-ft-histogram">
            {stats.histogram.counts.map((c, i) => (
              <div key={i} className="jp-ft-hist-bar" title={`${Math.round(stats.histogram.edges[i])}–${Math.round(stats.histogram.edges[i + 1])} tokens: ${c} rows`} style={{ height: `${Math.round((60 * c) / top)}px` }} />
            ))}
          </div>
        </div>
      )}
    </section>
  );
}

/**
 * The "Datasets" tab: the catalog's datasets (versions, kind, format, rows, splits), upload by drag-and-drop or
 * file picker (validation problems by row, the conversion applied), and a main-area paged preview with chosen and
 * rejected side by side for preference data, plus token statistics against a chosen model.
 */
import React, { useCallback, useContext, useEffect, useRef, useState } from 'react';

import { IDatasetVersion, IRowsPage, ITokenStats, IUploadResult } from './api';
import { VisibleContext } from './mainArea';
import { describeError, errorBody, IErrorBody } from './request';
import { asText, asTurns, layoutRow, pageBounds, problemLines } from './rowsView';
import { IStudio } from './sidebar';
import { ITabProps } from './tabs';
import { usePoll } from './usePoll';

export const DATASETS_POLL_MS = 5000;
export const PAGE_SIZE = 10;

/** "Upload dataset" from the palette: the mounted Datasets tab opens its file picker. */
const uploadListeners = new Set<() => void>();
let uploadPending = false;
export function requestUpload(): void {
  if (uploadListeners.size === 0) {
    uploadPending = true; // the tab is not mounted yet: it opens the picker when it is
  }
  uploadListeners.forEach(l => l());
}

export function DatasetsTab(props: ITabProps): JSX.Element {
  const { api, visible } = props;
  const [datasets, setDatasets] = useState<IDatasetVersion[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setDatasets(await api.listDatasets());
      setError(null);
    } catch (err) {
      setError(describeError(err));
    }
  }, [api]);
  usePoll(load, DATASETS_POLL_MS, visible);

  return (
    <div className="jp-ft-datasets">
      <Uploader studio={props} onUploaded={() => void load()} />
      <div className="jp-ft-toolbar">
        <span className="jp-ft-count">{datasets === null ? '' : `${datasets.length} dataset${datasets.length === 1 ? '' : 's'}`}</span>
        <button className="jp-ft-button jp-ft-refresh" onClick={() => void load()}>
          Refresh
        </button>
      </div>
      {error && <div className="jp-ft-error" role="alert">{error}</div>}
      {datasets === null && !error && <div className="jp-ft-empty">Loading datasets…</div>}
      {datasets !== null && datasets.length === 0 && (
        <div className="jp-ft-empty">The catalog is empty. Drop a JSONL, CSV or Parquet file above to add one.</div>
      )}
      {datasets !== null && datasets.length > 0 && (
        <ul className="jp-ft-dataset-list">
          {datasets.map(d => (
            <DatasetRow key={d.name} studio={props} latest={d} open={open === d.name} onToggle={() => setOpen(open === d.name ? null : d.name)} />
          ))}
        </ul>
      )}
    </div>
  );
}

function DatasetRow({ studio, latest, open, onToggle }: { studio: IStudio; latest: IDatasetVersion; open: boolean; onToggle: () => void }): JSX.Element {
  const [versions, setVersions] = useState<IDatasetVersion[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!open) {
      return;
    }
    studio.api.datasetVersions(latest.name).then(setVersions, err => setError(describeError(err)));
  }, [open, latest.version]);
  return (
    <li className="jp-ft-dataset" data-dataset={latest.name}>
      <div className="jp-ft-dataset-head">
        <button className="jp-ft-link jp-ft-dataset-name" onClick={onToggle} title="Show versions">
          {latest.name}
        </button>
        <span className="jp-ft-badge">{latest.kind}</span>
        <span className="jp-ft-dim">{latest.format}</span>
      </div>
      <VersionFacts v={latest} />
      <div className="jp-ft-job-actions">
        <button className="jp-ft-button jp-ft-preview" onClick={() => openPreview(studio, latest)}>
          Preview
        </button>
        <button className="jp-ft-button jp-ft-train-on" title="Customize a job on this dataset" onClick={() => studio.openCustomize({ dataset: latest.ref, technique: techniqueFor(latest.kind) })}>
          Customize…
        </button>
        <button className="jp-ft-button" onClick={onToggle}>
          {open ? 'Hide versions' : `${latest.versions ?? 1} version${(latest.versions ?? 1) === 1 ? '' : 's'}`}
        </button>
      </div>
      {open && error && <div className="jp-ft-error">{error}</div>}
      {open && versions && (
        <ul className="jp-ft-version-list">
          {versions.map(v => (
            <li key={v.version} className="jp-ft-version" data-ref={v.ref}>
              <button className="jp-ft-link" onClick={() => openPreview(studio, v)} title="Preview this version">
                @{v.version}
              </button>{' '}
              <span className="jp-ft-dim">{new Date(v.created_at * 1000).toLocaleString()}</span>
              <VersionFacts v={v} />
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

function techniqueFor(kind: string): string | undefined {
  return ({ preference: 'dpo', sft: 'sft', kto: 'kto', prompt: 'grpo' } as Record<string, string>)[kind];
}

function VersionFacts({ v }: { v: IDatasetVersion }): JSX.Element {
  return (
    <div className="jp-ft-job-meta jp-ft-dataset-facts">
      <span className="jp-ft-rows">{v.num_rows.toLocaleString()} rows</span>
      <span className="jp-ft-splits">
        train {v.num_train.toLocaleString()} · eval {v.num_eval.toLocaleString()}
      </span>
      {v.dropped > 0 && <span title="invalid rows left out (drop_invalid)">{v.dropped} dropped</span>}
      <span className="jp-ft-ref" title={v.ref}>
        {v.ref}
      </span>
    </div>
  );
}

function openPreview(studio: IStudio, v: IDatasetVersion): void {
  studio.openMain(`dataset-${v.ref}`, `Dataset ${v.ref}`, () => <DatasetPreview studio={studio} version={v} />);
}

/** Drop zone + file picker; shows progress, the version made and its conversion, or the problems by row. */
function Uploader({ studio, onUploaded }: { studio: IStudio; onUploaded: () => void }): JSX.Element {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const [progress, setProgress] = useState<number | null>(null);
  const [result, setResult] = useState<IUploadResult | null>(null);
  const [failure, setFailure] = useState<{ file: File; message: string; body: IErrorBody | null } | null>(null);
  const [name, setName] = useState('');
  const [flash, setFlash] = useState(false);

  useEffect(() => {
    const listener = () => {
      setFlash(true);
      input.current?.click();
      window.setTimeout(() => setFlash(false), 1500);
    };
    uploadListeners.add(listener);
    if (uploadPending) {
      uploadPending = false;
      listener();
    }
    return () => {
      uploadListeners.delete(listener);
    };
  }, []);

  const upload = async (file: File, dropInvalid = false) => {
    setResult(null);
    setFailure(null);
    setProgress(0);
    try {
      const r = await studio.api.uploadDataset(file, {
        name: name.trim() || undefined,
        drop_invalid: dropInvalid || undefined,
        onProgress: (loaded, total) => setProgress(total ? loaded / total : null)
      });
      setResult(r);
      onUploaded();
    } catch (err) {
      setFailure({ file, message: describeError(err), body: errorBody(err) });
    } finally {
      setProgress(null);
    }
  };

  const invalid = failure?.body?.invalid_rows;
  return (
    <div className="jp-ft-upload">
      <div
        className={`jp-ft-dropzone${over ? ' jp-mod-dragover' : ''}${flash ? ' jp-mod-flash' : ''}`}
        onDragOver={e => {
          e.preventDefault();
          e.stopPropagation();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={e => {
          e.preventDefault();
          e.stopPropagation();
          setOver(false);
          const file = e.dataTransfer.files[0];
          if (file) {
            void upload(file);
          }
        }}
      >
        <span>Drop a dataset file here, or </span>
        <button className="jp-ft-button jp-ft-pick" onClick={() => input.current?.click()}>
          choose a file…
        </button>
        <input
          ref={input}
          type="file"
          className="jp-ft-file-input"
          accept=".jsonl,.json,.csv,.tsv,.parquet,.txt,.arrow"
          style={{ display: 'none' }}
          onChange={e => {
            const file = e.target.files?.[0];
            e.target.value = '';
            if (file) {
              void upload(file);
            }
          }}
        />
        <label className="jp-ft-upload-name">
          name <input value={name} placeholder="from the file name" onChange={e => setName(e.target.value)} />
        </label>
      </div>
      {progress !== null && (
        <div className="jp-ft-progress jp-ft-upload-progress">
          <div className="jp-ft-progress-bar">
            <div className="jp-ft-progress-fill jp-ft-state-running" style={{ width: `${Math.round(progress * 100)}%` }} />
          </div>
          <span className="jp-ft-progress-label">uploading and validating… {Math.round(progress * 100)}%</span>
        </div>
      )}
      {result && (
        <div className="jp-ft-upload-result" data-ref={result.version.ref}>
          <div>
            {result.created ? 'Added' : 'Already in the catalog (same content):'} <b>{result.version.ref}</b> — {result.version.kind},{' '}
            {result.version.num_rows} rows (train {result.version.num_train}, eval {result.version.num_eval})
          </div>
          {conversionLines(result.version).length > 0 && (
            <ul className="jp-ft-conversion">
              {conversionLines(result.version).map((c, i) => (
                <li key={i}>{c}</li>
              ))}
            </ul>
          )}
          <button className="jp-ft-button jp-ft-preview" onClick={() => openPreview(studio, result.version)}>
            Preview
          </button>
        </div>
      )}
      {failure && (
        <div className="jp-ft-error jp-ft-upload-error" role="alert">
          <div>{withFileName(failure.file.name, failure.body?.message?.split('\n')[0] ?? failure.message)}</div>
          {failure.body && problemLines(failure.body).length > 0 && (
            <ul className="jp-ft-problems">
              {problemLines(failure.body).map((p, i) => (
                <li key={i}>{p}</li>
              ))}
            </ul>
          )}
          {typeof invalid === 'number' && invalid > 0 && (
            <button className="jp-ft-button jp-ft-drop-invalid" onClick={() => void upload(failure.file, true)}>
              Upload again without the {invalid} invalid row{invalid === 1 ? '' : 's'}
            </button>
          )}
        </div>
      )}
    </div>
  );
}

function withFileName(name: string, message: string): string {
  return message.startsWith(name) ? message : `${name}: ${message}`;
}

function conversionLines(v: IDatasetVersion): string[] {
  const c = v.conversion;
  return Array.isArray(c) ? c.map(String) : c ? [typeof c === 'string' ? c : JSON.stringify(c)] : [];
}

/** Main-area paged preview of one version, and token statistics against a model. */
export function DatasetPreview({ studio, version }: { studio: IStudio; version: IDatasetVersion }): JSX.Element {
  const visible = useContext(VisibleContext);
  const [split, setSplit] = useState('train');
  const [page, setPage] = useState(0);
  const [data, setData] = useState<IRowsPage | null>(null);
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
            <RowView key={data.offset + i} row={row} kind={data.kind} />
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

function TokenStatsBox({ studio, version, split }: { studio: IStudio; version: IDatasetVersion; split: string }): JSX.Element {
  const [model, setModel] = useState('');
  const [maxLength, setMaxLength] = useState(1024);
  const [stats, setStats] = useState<ITokenStats | null>(null);
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
            tokens per row min {stats.min}, mean {Math.round(stats.mean)}, p50 {Math.round(stats.p50)}, p90 {Math.round(stats.p90)}, p99{' '}
            {Math.round(stats.p99)}, max {stats.max}
          </div>
          <div className={stats.over_max_length ? 'jp-ft-warn' : 'jp-ft-dim'}>
            {stats.over_max_length} rows ({(stats.over_fraction * 100).toFixed(1)}%) exceed max_length {stats.max_length} and are truncated
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

/**
 * The "Datasets" tab: the catalog's datasets (versions, kind, format, rows, splits) and upload by drag-and-drop or
 * file picker (validation problems by row, the conversion applied). A version opens its preview in the main area
 * (panels/datasetPreview.tsx).
 */
import React, { useCallback, useEffect, useRef, useState } from 'react';

import { DatasetVersion, describeError, errorBody, IErrorBody, UploadResult } from '../api';
import { conversionLines, VersionFacts } from '../panels/datasetFacts';
import { DatasetPreview } from '../panels/datasetPreview';
import { problemLines } from '../panels/rowsView';
import type { IStudio } from '../shell/sidebar';
import type { ITabProps } from '../shell/tabList';
import { usePoll } from '../shell/usePoll';

export const DATASETS_POLL_MS = 5000;

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
  const [datasets, setDatasets] = useState<DatasetVersion[] | null>(null);
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

function DatasetRow({ studio, latest, open, onToggle }: { studio: IStudio; latest: DatasetVersion; open: boolean; onToggle: () => void }): JSX.Element {
  const [versions, setVersions] = useState<DatasetVersion[] | null>(null);
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
              <span className="jp-ft-dim">{new Date((v.created_at ?? 0) * 1000).toLocaleString()}</span>
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


function openPreview(studio: IStudio, v: DatasetVersion): void {
  studio.openMain(`dataset-${v.ref}`, `Dataset ${v.ref}`, () => <DatasetPreview studio={studio} version={v} />);
}

/** Drop zone + file picker; shows progress, the version made and its conversion, or the problems by row. */
function Uploader({ studio, onUploaded }: { studio: IStudio; onUploaded: () => void }): JSX.Element {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const [progress, setProgress] = useState<number | null>(null);
  const [result, setResult] = useState<UploadResult | null>(null);
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


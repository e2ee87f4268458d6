/**
 * The "Models" tab: base models (local folders and GGUF files, the fetchable models with a "Fetch" button, the
 * Hugging Face cache and, online, a hub search: `GET base-models?q=`) and tuned models (the registry: `GET models`,
 * versions, aliases, the alias history and the lineage graph). From a base model or a version: "Customize…" (the job
 * form, pre-filled), "Evaluate…" (the evaluation form) and "Deploy…" (the deploy form), each a main-area panel.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import React, { useCallback, useEffect, useRef, useState } from 'react';

import {
  AliasMove,
  BaseModel,
  BaseModelsReply,
  describeError,
  FetchStatus,
  FineTuningAPI,
  RegisteredModel
} from '../api';
import { DeployForm } from '../panels/deployForm';
import { EvalForm } from '../panels/evalForm';
import { LineageView } from '../panels/lineage';
import { humanBytes, humanCount, shortId, when } from '../shell/format';
import type { OpenMain } from '../shell/mainArea';
import { usePoll } from '../shell/usePoll';
import { hubState } from './hubState';

/** What the Models tab uses of what the Studio gives a tab (`ITabProps` in shell/tabList.tsx). */
export interface IStudioPanelProps {
  api: FineTuningAPI;
  visible: boolean;
  app?: JupyterFrontEnd;
  openMain: OpenMain;
  openCustomize: (prefill: object) => void;
}

/** Open the evaluation form pre-filled for `models` (a tuned version is compared with its base). */
export function openEvaluate(props: IStudioPanelProps, models: string[]): void {
  const key = models.join(',');
  props.openMain(`jupyter-ft-eval-form:${key}`, `Evaluate ${models[0]}`, () => (
    <EvalForm api={props.api} openMain={props.openMain} prefill={{ models }} />
  ));
}

/** Open the deploy form pre-filled with a base model or adapters. */
export function openDeploy(props: IStudioPanelProps, prefill: { base?: string; adapters?: string[] }): void {
  const key = prefill.base ?? (prefill.adapters ?? []).join(',');
  props.openMain(`jupyter-ft-deploy:${key}`, `Deploy ${key}`, () => (
    <DeployForm api={props.api} openMain={props.openMain} prefill={prefill} />
  ));
}

export function openLineage(props: IStudioPanelProps, ref: string): void {
  props.openMain(`jupyter-ft-lineage:${ref}`, `Lineage ${ref}`, () => (
    <div className="jp-ft-panel">
      <h2>Lineage of {ref}</h2>
      <LineageView api={props.api} modelRef={ref} />
    </div>
  ));
}

export function ModelsTab(props: IStudioPanelProps): JSX.Element {
  return (
    <div className="jp-ft-models">
      <BaseModels {...props} />
      <TunedModels {...props} />
    </div>
  );
}

function BaseModels(props: IStudioPanelProps): JSX.Element {
  const { api } = props;
  const [query, setQuery] = useState('');
  const [reply, setReply] = useState<BaseModelsReply | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const seq = useRef(0);
  const load = useCallback(
    async (q: string) => {
      const mine = ++seq.current;
      setLoading(true);
      try {
        const r = await api.baseModels(q);
        if (mine === seq.current) {
          setReply(r);
          setError(null);
        }
      } catch (err) {
        if (mine === seq.current) {
          setError(describeError(err));
        }
      } finally {
        if (mine === seq.current) {
          setLoading(false);
        }
      }
    },
    [api]
  );
  useEffect(() => {
    if (!props.visible) {
      return;
    }
    const t = window.setTimeout(() => void load(query.trim()), query ? 400 : 0); // debounce typing
    return () => window.clearTimeout(t);
  }, [query, load, props.visible]);
  const hub = reply ? hubState(reply) : { online: null, note: null };
  return (
    <section className="jp-ft-section jp-ft-base-models">
      <h3>Base models</h3>
      <div className="jp-ft-toolbar">
        <input
          className="jp-ft-input jp-ft-base-search"
          type="search"
          placeholder="search local models and the hub"
          value={query}
          onChange={e => setQuery(e.target.value)}
          aria-label="search base models"
        />
        {hub.online === false && (
          <span className="jp-ft-pill jp-ft-offline" title={hub.note ?? 'the Hugging Face hub cannot be reached'}>
            offline
          </span>
        )}
        {hub.online === true && <span className="jp-ft-pill jp-ft-online">hub online</span>}
      </div>
      {loading && !reply && <div className="jp-ft-empty">Looking for models…</div>}
      {error && (
        <div className="jp-ft-error" role="alert">
          {error}
        </div>
      )}
      {reply && reply.models.length === 0 && (
        <div className="jp-ft-empty">
          {query ? `No model matches “${query}”.` : 'No local or cached models found.'}
          {hub.online === false && query ? ' The hub is offline, so only local models were searched.' : ''}
        </div>
      )}
      {reply && reply.models.length > 0 && (
        <ul className="jp-ft-list">
          {reply.models.map(m => {
            // a fetched model is named by its name in specs (the server resolves it to its folder)
            const ref = m.source === 'fetched' ? m.id : m.path ?? m.id;
            return (
              <li
                key={`${m.source}:${m.id}`}
                className="jp-ft-base-model"
                data-model-id={m.id}
                data-source={m.source}
                data-fetched={m.fetched === null || m.fetched === undefined ? undefined : String(m.fetched)}
              >
                <div className="jp-ft-row-head">
                  <span className="jp-ft-model-id" title={m.path ?? m.id}>
                    {shortId(m.id)}
                  </span>
                  <span className="jp-ft-pill">{sourceLabel(m)}</span>
                </div>
                <div className="jp-ft-meta">
                  <span title="architecture">{m.architecture ?? 'architecture unknown'}</span>
                  <span title="parameters">{humanCount(m.params)} params</span>
                  <span title="size on disk">{m.size_bytes === null ? 'not on disk' : humanBytes(m.size_bytes)}</span>
                  <span title="licence">{m.license ? `licence ${m.license}` : 'licence unknown'}</span>
                </div>
                {m.description && <div className="jp-ft-muted jp-ft-model-note">{m.description}</div>}
                {m.fetched === false ? (
                  <FetchAction api={api} name={m.id} onFetched={() => void load(query.trim())} />
                ) : (
                  <ModelActions props={props} customize={{ model: ref }} evaluate={[ref]} deploy={{ base: ref }} />
                )}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

function sourceLabel(m: BaseModel): string {
  if (m.source === 'hf_cache') {
    return 'HF cache';
  }
  if (m.source === 'fetched') {
    return m.fetched ? 'fetched' : 'fetchable';
  }
  return m.source;
}

const FETCH_POLL_MS = 1000;

/**
 * "Fetch" for a fetchable model not in the workspace yet: starts the fetch on the server (`POST base-models/fetch`),
 * then shows its step and progress (`GET base-models/fetch/{name}`, polled) until it is fetched (the catalog is
 * reloaded, the entry then has its folder and the usual actions) or failed (the server's message). A fetch started
 * elsewhere (the CLI, a notebook) is picked up the same way.
 */
function FetchAction({
  api,
  name,
  onFetched
}: {
  api: FineTuningAPI;
  name: string;
  onFetched: () => void;
}): JSX.Element {
  const [status, setStatus] = useState<FetchStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [polling, setPolling] = useState(true); // once at first: a fetch may already be running
  // Bumped by Fetch: a status asked for before the click (the first poll, slow on a busy server) is stale and must
  // neither overwrite the new status nor stop the polling that follows the fetch.
  const started = useRef(0);
  const poll = useCallback(async () => {
    const asked = started.current;
    try {
      const s = await api.fetchStatus(name);
      if (asked !== started.current) {
        return true;
      }
      setStatus(s);
      setError(null);
      if (s.state === 'fetched') {
        onFetched();
      }
      if (s.state !== 'running') {
        setPolling(false);
        return false;
      }
    } catch (err) {
      if (asked !== started.current) {
        return true;
      }
      setError(describeError(err));
      setPolling(false);
      return false;
    }
  }, [api, name, onFetched]);
  usePoll(poll, FETCH_POLL_MS, polling);
  const start = async () => {
    setError(null);
    started.current += 1;
    try {
      setStatus(await api.fetchBaseModel(name));
      setPolling(true); // after the POST: a status asked for sooner could predate the fetch
    } catch (err) {
      setError(describeError(err));
    }
  };
  const running = status?.state === 'running';
  const fraction = typeof status?.fraction === 'number' ? status.fraction : null;
  return (
    <div className="jp-ft-fetch" data-fetch-state={status?.state ?? 'unknown'}>
      {running ? (
        <div className="jp-ft-progress jp-ft-fetch-progress" title={status?.message ?? ''}>
          {fraction !== null && (
            <div className="jp-ft-progress-bar">
              <div
                className="jp-ft-progress-fill jp-ft-state-running"
                style={{ width: `${Math.round(fraction * 100)}%` }}
              />
            </div>
          )}
          <span className="jp-ft-progress-label">
            {status?.message ?? 'fetching'}
            {fraction !== null ? ` ${Math.round(fraction * 100)}%` : '…'}
          </span>
        </div>
      ) : (
        <div className="jp-ft-actions">
          <button className="jp-ft-button jp-ft-act-fetch" onClick={() => void start()}>
            {status?.state === 'failed' ? 'Fetch again' : 'Fetch'}
          </button>
        </div>
      )}
      {(error || status?.state === 'failed') && (
        <div className="jp-ft-error" role="alert">
          {error ?? status?.error}
        </div>
      )}
    </div>
  );
}

function ModelActions({
  props,
  customize,
  evaluate,
  deploy
}: {
  props: IStudioPanelProps;
  customize: Record<string, unknown>;
  evaluate: string[];
  deploy: { base?: string; adapters?: string[] };
}): JSX.Element {
  return (
    <div className="jp-ft-actions">
      <button className="jp-ft-button jp-ft-act-customize" onClick={() => props.openCustomize(customize)}>
        Customize…
      </button>
      <button className="jp-ft-button jp-ft-act-evaluate" onClick={() => openEvaluate(props, evaluate)}>
        Evaluate…
      </button>
      <button className="jp-ft-button jp-ft-act-deploy" onClick={() => openDeploy(props, deploy)}>
        Deploy…
      </button>
    </div>
  );
}

const MODELS_POLL_MS = 5000;

function TunedModels(props: IStudioPanelProps): JSX.Element {
  const { api, visible } = props;
  const [models, setModels] = useState<RegisteredModel[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<Set<string>>(new Set());
  const load = useCallback(async () => {
    try {
      setModels(await api.listModels());
      setError(null);
    } catch (err) {
      setError(describeError(err));
    }
  }, [api]);
  usePoll(load, MODELS_POLL_MS, visible);
  const toggle = (name: string) =>
    setOpen(prev => {
      const next = new Set(prev);
      next.has(name) ? next.delete(name) : next.add(name);
      return next;
    });
  return (
    <section className="jp-ft-section jp-ft-tuned-models">
      <h3>Tuned models</h3>
      {error && (
        <div className="jp-ft-error" role="alert">
          {error}
        </div>
      )}
      {models === null && !error && <div className="jp-ft-empty">Loading the registry…</div>}
      {models !== null && models.length === 0 && (
        <div className="jp-ft-empty">No tuned model registered yet: a training job registers its model when it succeeds.</div>
      )}
      {models !== null && models.length > 0 && (
        <ul className="jp-ft-list">
          {models.map(m => (
            <li key={m.name} className="jp-ft-tuned-model" data-model={m.name}>
              <div className="jp-ft-row-head" onClick={() => toggle(m.name)} role="button" aria-expanded={open.has(m.name)}>
                <span className="jp-ft-caret">{open.has(m.name) ? '▾' : '▸'}</span>
                <span className="jp-ft-model-id">{m.name}</span>
                <span className="jp-ft-muted">
                  {m.versions.length} version{m.versions.length === 1 ? '' : 's'}
                </span>
                {Object.entries(m.aliases ?? {}).map(([alias, v]) => (
                  <span key={alias} className="jp-ft-pill jp-ft-alias" title={`${alias} -> version ${v}`}>
                    @{alias}→{String(v)}
                  </span>
                ))}
              </div>
              {open.has(m.name) && <ModelDetails props={props} model={m} onChanged={load} />}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function ModelDetails({
  props,
  model,
  onChanged
}: {
  props: IStudioPanelProps;
  model: RegisteredModel;
  onChanged: () => Promise<void>;
}): JSX.Element {
  const [history, setHistory] = useState<AliasMove[] | null>(null);
  const [historyError, setHistoryError] = useState<string | null>(null);
  const [showHistory, setShowHistory] = useState(false);
  const [alias, setAlias] = useState('');
  const [aliasVersion, setAliasVersion] = useState(String(model.latest_version ?? ''));
  const [aliasError, setAliasError] = useState<string | null>(null);
  const loadHistory = useCallback(async () => {
    try {
      setHistory(await props.api.aliasHistory(model.name));
      setHistoryError(null);
    } catch (err) {
      setHistoryError(describeError(err));
    }
  }, [props.api, model.name]);
  useEffect(() => {
    if (showHistory) {
      void loadHistory();
    }
  }, [showHistory, loadHistory]);
  const setAliasNow = async () => {
    setAliasError(null);
    if (!alias.trim()) {
      setAliasError('alias: give a name, e.g. champion');
      return;
    }
    try {
      await props.api.setAlias(model.name, alias.trim(), Number(aliasVersion) || aliasVersion);
      setAlias('');
      await onChanged();
      if (showHistory) {
        await loadHistory();
      }
    } catch (err) {
      setAliasError(describeError(err));
    }
  };
  const versions = [...model.versions].sort((a, b) => Number(b.version) - Number(a.version));
  return (
    <div className="jp-ft-model-details">
      <ul className="jp-ft-mversion-list">
        {versions.map(v => {
          const ref = `${model.name}@${v.version}`;
          return (
            <li key={String(v.version)} className="jp-ft-mversion" data-ref={ref}>
              <div className="jp-ft-row-head">
                <strong>v{v.version}</strong>
                {(v.aliases ?? []).map(a => (
                  <span key={a} className="jp-ft-pill jp-ft-alias">
                    @{a}
                  </span>
                ))}
                <span className="jp-ft-muted">{v.technique ?? v.kind}</span>
                <span className="jp-ft-muted">{when(v.created_at)}</span>
              </div>
              <div className="jp-ft-meta">
                <span title={v.base_model}>base {v.base_model.split(/[\\/]/).filter(Boolean).pop()}</span>
                {v.dataset && <span>data {v.dataset}</span>}
                {v.job_id && <span>job {v.job_id}</span>}
                {Object.entries(v.metrics ?? {})
                  .slice(0, 4)
                  .map(([k, x]) => (
                    <span key={k}>
                      {k} {typeof x === 'number' ? Number(x.toPrecision(3)) : String(x)}
                    </span>
                  ))}
                {v.mlflow_url && (
                  <a className="jp-ft-alink" href={v.mlflow_url} target="_blank" rel="noreferrer">
                    MLflow
                  </a>
                )}
              </div>
              <div className="jp-ft-actions">
                <button className="jp-ft-button jp-ft-lineage-open" onClick={() => openLineage(props, ref)}>
                  Lineage
                </button>
                <button className="jp-ft-button jp-ft-act-customize" onClick={() => props.openCustomize({ model: ref })}>
                  Customize…
                </button>
                <button className="jp-ft-button jp-ft-act-evaluate" onClick={() => openEvaluate(props, [ref, 'base'])}>
                  Evaluate…
                </button>
                <button className="jp-ft-button jp-ft-act-deploy" onClick={() => openDeploy(props, { adapters: [ref] })}>
                  Deploy…
                </button>
              </div>
            </li>
          );
        })}
      </ul>
      <div className="jp-ft-toolbar jp-ft-alias-form">
        <input
          className="jp-ft-input"
          placeholder="alias (e.g. champion)"
          value={alias}
          onChange={e => setAlias(e.target.value)}
          aria-label="alias"
        />
        <select className="jp-ft-input" value={aliasVersion} onChange={e => setAliasVersion(e.target.value)} aria-label="version">
          {versions.map(v => (
            <option key={String(v.version)} value={String(v.version)}>
              v{v.version}
            </option>
          ))}
        </select>
        <button className="jp-ft-button" onClick={() => void setAliasNow()}>
          Set alias
        </button>
        <button className="jp-ft-button jp-ft-history-toggle" onClick={() => setShowHistory(s => !s)}>
          {showHistory ? 'Hide alias history' : 'Alias history'}
        </button>
      </div>
      {aliasError && (
        <div className="jp-ft-error" role="alert">
          {aliasError}
        </div>
      )}
      {showHistory && historyError && <div className="jp-ft-error">{historyError}</div>}
      {showHistory && history && history.length === 0 && <div className="jp-ft-empty">No alias was ever set.</div>}
      {showHistory && history && history.length > 0 && (
        <table className="jp-ft-table jp-ft-alias-history">
          <thead>
            <tr>
              <th>alias</th>
              <th>from</th>
              <th>to</th>
              <th>by</th>
              <th>when</th>
            </tr>
          </thead>
          <tbody>
            {history.map((h, i) => (
              <tr key={i}>
                <td>@{h.alias}</td>
                <td>{h.from_version ?? '–'}</td>
                <td>{h.to_version ?? '–'}</td>
                <td>{h.user ?? ''}</td>
                <td>{when(h.at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

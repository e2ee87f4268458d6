/**
 * The "Endpoints" tab: the workspace's OpenAI-compatible endpoints (`GET endpoints`) with their state, the models
 * they serve and their load; stop one, copy its URLs (the Jupyter-proxied one, behind Jupyter's login, and the
 * direct one), add adapters to it, open its playground. "Deploy…" opens the deploy form (main area), which
 * starts a new endpoint (`POST endpoints`, a `DeploySpec`) or adds adapters to a running one.
 */
import { Clipboard, Dialog, showDialog } from '@jupyterlab/apputils';
import React, { useCallback, useEffect, useState } from 'react';

import { FineTuningAPI } from './api';
import { PlaygroundView } from './playground';
import { COMING_UP, fieldErrors, IFieldErrors, proxiedURL, shortId, splitEntries } from './panelLogic';
import { describeError, requestAPI } from './request';
import { usePoll } from './usePoll';

export interface IEndpoint {
  name: string;
  state: string;
  url: string | null;
  proxy_url: string | null;
  models: string[];
  base_model: string | null;
  engine: string;
  load?: { queue?: number; active?: number; served?: number } | null;
  created_at?: number | null;
  last_error?: string | null;
}

type OpenMain = (id: string, title: string, render: () => JSX.Element) => void;

export function openPlayground(api: FineTuningAPI, openMain: OpenMain, endpoint: string): void {
  openMain(`jupyter-ft-playground:${endpoint}`, `Playground ${endpoint}`, () => (
    <PlaygroundView api={api} endpoint={endpoint} />
  ));
}

export function EndpointsTab({
  api,
  visible,
  openMain
}: {
  api: FineTuningAPI;
  visible: boolean;
  openMain: OpenMain;
}): JSX.Element {
  const [endpoints, setEndpoints] = useState<IEndpoint[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [copied, setCopied] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      const r = await requestAPI<{ endpoints: IEndpoint[] }>('endpoints', {}, api.settings);
      setEndpoints(r.endpoints);
      setError(null);
    } catch (err) {
      setError(describeError(err));
    }
  }, [api]);
  usePoll(load, 3000, visible);
  const stop = async (ep: IEndpoint) => {
    const answer = await showDialog({
      title: `Stop endpoint ${ep.name}?`,
      body: `It serves ${ep.models.join(', ') || 'nothing yet'}; clients using it will get errors.`,
      buttons: [Dialog.cancelButton({ label: 'Keep' }), Dialog.warnButton({ label: 'Stop endpoint' })]
    });
    if (!answer.button.accept) {
      return;
    }
    setActionError(null);
    try {
      await requestAPI(`endpoints/${encodeURIComponent(ep.name)}`, { method: 'DELETE' }, api.settings);
    } catch (err) {
      setActionError(`Could not stop ${ep.name}: ${describeError(err)}`);
    }
    await load();
  };
  const copy = (what: string, text: string) => {
    Clipboard.copyToSystem(text);
    setCopied(`${what} copied: ${text}`);
  };
  const openDeployForm = (existing?: string) =>
    openMain(`jupyter-ft-deploy:${existing ?? 'new'}`, existing ? `Add adapters to ${existing}` : 'Deploy', () => (
      <DeployForm api={api} openMain={openMain} prefill={existing ? { endpoint: existing } : {}} />
    ));
  return (
    <div className="jp-ft-endpoints">
      <div className="jp-ft-toolbar">
        <span className="jp-ft-count">
          {endpoints === null ? '' : `${endpoints.length} endpoint${endpoints.length === 1 ? '' : 's'}`}
        </span>
        <button className="jp-ft-button jp-ft-new-deploy" onClick={() => openDeployForm()}>
          Deploy…
        </button>
      </div>
      {error && (
        <div className="jp-ft-error" role="alert">
          {error}
        </div>
      )}
      {actionError && (
        <div className="jp-ft-error" role="alert" onClick={() => setActionError(null)}>
          {actionError}
        </div>
      )}
      {copied && (
        <div className="jp-ft-notice jp-ft-copied" onClick={() => setCopied(null)}>
          {copied}
        </div>
      )}
      {endpoints === null && !error && <div className="jp-ft-empty">Loading endpoints…</div>}
      {endpoints !== null && endpoints.length === 0 && (
        <div className="jp-ft-empty">No endpoint is running. “Deploy…” here or on a model in Models starts one.</div>
      )}
      {endpoints !== null && endpoints.length > 0 && (
        <ul className="jp-ft-list">
          {endpoints.map(ep => (
            <li key={ep.name} className="jp-ft-endpoint" data-endpoint={ep.name} data-state={ep.state}>
              <div className="jp-ft-row-head">
                <span className={`jp-ft-state jp-ft-state-${ep.state}`}>{ep.state}</span>
                <span className="jp-ft-model-id">{ep.name}</span>
                <span className="jp-ft-muted">{ep.engine}</span>
              </div>
              <div className="jp-ft-meta">
                <span title={ep.base_model ?? ''}>base {(ep.base_model ?? '–').split(/[\\/]/).filter(Boolean).pop()}</span>
                {ep.load && (
                  <span title="queued / generating / served">
                    load {ep.load.queue ?? 0}/{ep.load.active ?? 0}/{ep.load.served ?? 0}
                  </span>
                )}
              </div>
              <div className="jp-ft-served">
                {ep.models.map(m => (
                  <span key={m} className="jp-ft-pill jp-ft-served-model" title={m}>
                    {shortId(m)}
                  </span>
                ))}
              </div>
              {ep.last_error && ep.state !== 'running' && <div className="jp-ft-job-error">{ep.last_error}</div>}
              <div className="jp-ft-actions">
                <button className="jp-ft-button jp-ft-open-playground" onClick={() => openPlayground(api, openMain, ep.name)}>
                  Playground
                </button>
                {ep.proxy_url && (
                  <button
                    className="jp-ft-button jp-ft-copy-proxy"
                    title="the URL behind Jupyter's login (send Jupyter's token)"
                    onClick={() => copy('Proxied URL', proxiedURL(api.settings.baseUrl, ep.proxy_url!, window.location.origin))}
                  >
                    Copy proxied URL
                  </button>
                )}
                {ep.url && (
                  <button
                    className="jp-ft-button jp-ft-copy-direct"
                    title="the endpoint's own port (needs its API key)"
                    onClick={() => copy('Direct URL', ep.url!)}
                  >
                    Copy direct URL
                  </button>
                )}
                <button className="jp-ft-button jp-ft-add-adapters" onClick={() => openDeployForm(ep.name)}>
                  Add adapters…
                </button>
                {ep.state !== 'stopped' && (
                  <button className="jp-ft-button jp-ft-stop" onClick={() => void stop(ep)}>
                    Stop
                  </button>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export interface IDeployPrefill {
  base?: string;
  adapters?: string[];
  /** Add to this running endpoint instead of starting a new one. */
  endpoint?: string;
}

/** The deploy form: a new endpoint from a base model and adapters, or more adapters on a running one. */
export function DeployForm({ api, openMain, prefill }: { api: FineTuningAPI; openMain: OpenMain; prefill: IDeployPrefill }): JSX.Element {
  const [mode, setMode] = useState<'new' | 'existing'>(prefill.endpoint ? 'existing' : 'new');
  const [name, setName] = useState('');
  const [existing, setExisting] = useState(prefill.endpoint ?? '');
  const [base, setBase] = useState(prefill.base ?? '');
  const [adapters, setAdapters] = useState((prefill.adapters ?? []).join('\n'));
  const [engine, setEngine] = useState('local');
  const [port, setPort] = useState('');
  const [running, setRunning] = useState<IEndpoint[]>([]);
  const [errors, setErrors] = useState<IFieldErrors>({});
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<IEndpoint | null>(null);
  usePoll(
    async () => {
      if (!done) {
        return false;
      }
      try {
        const r = await requestAPI<{ endpoint: IEndpoint }>(`endpoints/${encodeURIComponent(done.name)}`, {}, api.settings);
        setDone(r.endpoint);
        return COMING_UP.includes(r.endpoint.state);
      } catch (err) {
        setMessage(describeError(err));
        return false;
      }
    },
    1500,
    !!done && COMING_UP.includes(done.state)
  );
  useEffect(() => {
    requestAPI<{ endpoints: IEndpoint[] }>('endpoints', {}, api.settings)
      .then(r => {
        setRunning(r.endpoints);
        if (!existing && r.endpoints.length) {
          setExisting(r.endpoints[0].name);
        }
      })
      .catch(() => setRunning([]));
  }, [api]);
  const submit = async () => {
    setErrors({});
    setMessage(null);
    const list = splitEntries(adapters);
    const local: IFieldErrors = {};
    if (mode === 'existing' && !existing) {
      local.endpoint = 'pick a running endpoint';
    }
    if (mode === 'existing' && list.length === 0) {
      local.adapters = 'name at least one adapter (e.g. my-model@2)';
    }
    if (port && !/^\d{1,5}$/.test(port.trim())) {
      local.port = 'a port number 1-65535, or empty for a free one';
    }
    if (Object.keys(local).length) {
      setErrors(local);
      return;
    }
    setBusy(true);
    try {
      let ep: IEndpoint;
      if (mode === 'new') {
        const body: Record<string, unknown> = { adapters: list, engine };
        if (name.trim()) {
          body.name = name.trim();
        }
        if (base.trim()) {
          body.base = base.trim();
        }
        if (port.trim()) {
          body.port = Number(port.trim());
        }
        const r = await requestAPI<any>('endpoints', { method: 'POST', body: JSON.stringify(body) }, api.settings);
        ep = r.endpoint ?? r;
      } else {
        const r = await requestAPI<any>(
          `endpoints/${encodeURIComponent(existing)}/adapters`,
          { method: 'POST', body: JSON.stringify({ adapters: list }) },
          api.settings
        );
        ep = r.endpoint ?? r;
      }
      setDone(ep);
    } catch (err) {
      const body = (err as any)?.body;
      setErrors(fieldErrors(body));
      setMessage(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  const err = (field: string) =>
    errors[field] ? (
      <div className="jp-ft-formrow-error" role="alert" data-field={field}>
        {errors[field]}
      </div>
    ) : null;
  return (
    <div className="jp-ft-panel jp-ft-deploy-form">
      <h2>Deploy</h2>
      <div className="jp-ft-formrow">
        <label>
          <input type="radio" name="jp-ft-deploy-mode" checked={mode === 'new'} onChange={() => setMode('new')} /> a new
          endpoint
        </label>{' '}
        <label>
          <input
            type="radio"
            name="jp-ft-deploy-mode"
            checked={mode === 'existing'}
            disabled={running.length === 0}
            onChange={() => setMode('existing')}
          />{' '}
          add adapters to a running one{running.length === 0 ? ' (none running)' : ''}
        </label>
      </div>
      {mode === 'new' ? (
        <>
          <div className="jp-ft-formrow">
            <label htmlFor="jp-ft-deploy-name">Endpoint name</label>
            <input id="jp-ft-deploy-name" className="jp-ft-input" placeholder="default" value={name} onChange={e => setName(e.target.value)} />
            {err('name')}
          </div>
          <div className="jp-ft-formrow">
            <label htmlFor="jp-ft-deploy-base">Base model</label>
            <input
              id="jp-ft-deploy-base"
              className="jp-ft-input"
              placeholder="empty: the adapters' base model"
              value={base}
              onChange={e => setBase(e.target.value)}
            />
            {err('base')}
          </div>
        </>
      ) : (
        <div className="jp-ft-formrow">
          <label htmlFor="jp-ft-deploy-existing">Endpoint</label>
          <select id="jp-ft-deploy-existing" className="jp-ft-input" value={existing} onChange={e => setExisting(e.target.value)}>
            {running.map(r => (
              <option key={r.name} value={r.name}>
                {r.name} ({r.models.join(', ')})
              </option>
            ))}
          </select>
          {err('endpoint')}
        </div>
      )}
      <div className="jp-ft-formrow">
        <label htmlFor="jp-ft-deploy-adapters">Adapters (one per line: name@3, name@champion, served=name@3, a job id or folder)</label>
        <textarea id="jp-ft-deploy-adapters" className="jp-ft-input" rows={3} value={adapters} onChange={e => setAdapters(e.target.value)} />
        {err('adapters')}
      </div>
      {mode === 'new' && (
        <div className="jp-ft-formrow jp-ft-inline">
          <label htmlFor="jp-ft-deploy-engine">Engine</label>
          <select id="jp-ft-deploy-engine" className="jp-ft-input" value={engine} onChange={e => setEngine(e.target.value)}>
            <option value="local">local (jupyter_ft's multi-adapter server)</option>
            <option value="vllm">vLLM</option>
          </select>
          {err('engine')}
          <label htmlFor="jp-ft-deploy-port">Port</label>
          <input id="jp-ft-deploy-port" className="jp-ft-input" placeholder="free" value={port} onChange={e => setPort(e.target.value)} />
          {err('port')}
        </div>
      )}
      {(message || errors._) && (
        <div className="jp-ft-error jp-ft-form-error" role="alert">
          {message ?? errors._}
        </div>
      )}
      <div className="jp-ft-actions">
        <button className="jp-ft-button jp-mod-accept jp-ft-do-submit" disabled={busy} onClick={() => void submit()}>
          {busy ? (mode === 'new' ? 'Starting the endpoint…' : 'Loading adapters…') : mode === 'new' ? 'Deploy' : 'Add adapters'}
        </button>
      </div>
      {done && COMING_UP.includes(done.state) && (
        <div className="jp-ft-notice jp-ft-deploying" data-endpoint={done.name} data-state={done.state}>
          Endpoint <strong>{done.name}</strong> is {done.state}: loading {(done.models ?? []).map(shortId).join(', ')}…
        </div>
      )}
      {done && done.state === 'running' && (
        <div className="jp-ft-notice jp-ft-deployed" data-endpoint={done.name}>
          Endpoint <strong>{done.name}</strong> is running, serving {(done.models ?? []).map(shortId).join(', ')}.{' '}
          <button className="jp-ft-button jp-ft-open-playground" onClick={() => openPlayground(api, openMain, done.name)}>
            Open the playground
          </button>
        </div>
      )}
      {done && !COMING_UP.includes(done.state) && done.state !== 'running' && (
        <div className="jp-ft-error jp-ft-deploy-failed" role="alert" data-endpoint={done.name}>
          Endpoint {done.name} is {done.state}
          {done.last_error ? `: ${done.last_error}` : ''}
        </div>
      )}
    </div>
  );
}

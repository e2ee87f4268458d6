/**
 * The deploy form (main area): starts a new endpoint (`POST endpoints`, a `DeploySpec`) from a base model and
 * adapters, or adds adapters to a running one.
 */
import React, { useEffect, useState } from 'react';

import { describeError, Endpoint, FineTuningAPI } from '../api';
import { shortId } from '../shell/format';
import type { OpenMain } from '../shell/mainArea';
import { usePoll } from '../shell/usePoll';
import { COMING_UP } from '../tabs/endpointState';
import { fieldErrors, IFieldErrors, splitEntries } from './deployFields';
import { openPlayground } from './playground';
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
  const [running, setRunning] = useState<Endpoint[]>([]);
  const [errors, setErrors] = useState<IFieldErrors>({});
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<Endpoint | null>(null);
  usePoll(
    async () => {
      if (!done) {
        return false;
      }
      try {
        const ep = await api.getEndpoint(done.name);
        setDone(ep);
        return COMING_UP.includes(ep.state);
      } catch (err) {
        setMessage(describeError(err));
        return false;
      }
    },
    1500,
    !!done && COMING_UP.includes(done.state)
  );
  useEffect(() => {
    api
      .listEndpoints()
      .then(endpoints => {
        setRunning(endpoints);
        if (!existing && endpoints.length) {
          setExisting(endpoints[0].name);
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
      let ep: Endpoint;
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
        ep = await api.deploy(body);
      } else {
        ep = await api.addAdapters(existing, list);
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

/**
 * The "Endpoints" tab: the workspace's OpenAI-compatible endpoints (`GET endpoints`) with their state, the models
 * they serve and their load; stop one, copy its URLs (the Jupyter-proxied one, behind Jupyter's login, and the
 * direct one), add adapters to it, open its playground. "Deploy…" opens the deploy form (panels/deployForm.tsx).
 */
import { Clipboard, Dialog, showDialog } from '@jupyterlab/apputils';
import React, { useCallback, useState } from 'react';

import { describeError, Endpoint, FineTuningAPI } from '../api';
import { DeployForm } from '../panels/deployForm';
import { openPlayground } from '../panels/playground';
import { shortId } from '../shell/format';
import type { OpenMain } from '../shell/mainArea';
import { usePoll } from '../shell/usePoll';
import { proxiedURL } from './endpointState';

export function EndpointsTab({
  api,
  visible,
  openMain
}: {
  api: FineTuningAPI;
  visible: boolean;
  openMain: OpenMain;
}): JSX.Element {
  const [endpoints, setEndpoints] = useState<Endpoint[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [copied, setCopied] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setEndpoints(await api.listEndpoints());
      setError(null);
    } catch (err) {
      setError(describeError(err));
    }
  }, [api]);
  usePoll(load, 3000, visible);
  const stop = async (ep: Endpoint) => {
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
      await api.stopEndpoint(ep.name);
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
                    load {loadOf(ep).queue ?? 0}/{loadOf(ep).active ?? 0}/{loadOf(ep).served ?? 0}
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

/**
 * An endpoint's load counts. Hand-written: the document types `load` as any object ("queue/active/served counts
 * while running").
 */
function loadOf(ep: Endpoint): { queue?: number; active?: number; served?: number } {
  return (ep.load ?? {}) as { queue?: number; active?: number; served?: number };
}

/**
 * The "Evaluations" tab: the workspace's evaluation jobs (`GET evaluations`), each opening its results view, and
 * "New evaluation…", which opens the evaluation form (panels/evalForm.tsx).
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import React, { useCallback, useState } from 'react';

import { describeError, EvaluationSummary, FineTuningAPI } from '../api';
import { EvalForm } from '../panels/evalForm';
import { openEvalResults } from '../panels/evalResults';
import type { OpenMain } from '../shell/mainArea';
import { usePoll } from '../shell/usePoll';

export interface IEvaluationsTabProps {
  api: FineTuningAPI;
  visible: boolean;
  openMain: OpenMain;
}

export function EvaluationsTab({ api, visible, openMain }: IEvaluationsTabProps): JSX.Element {
  const [rows, setRows] = useState<EvaluationSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setRows((await api.listEvaluations()).slice().reverse());
      setError(null);
    } catch (err) {
      setError(describeError(err));
    }
  }, [api]);
  usePoll(load, 3000, visible);
  const cancel = async (ev: EvaluationSummary) => {
    const answer = await showDialog({
      title: 'Cancel evaluation?',
      body: `${ev.id} is ${ev.state}.`,
      buttons: [Dialog.cancelButton({ label: 'Keep' }), Dialog.warnButton({ label: 'Cancel evaluation' })]
    });
    if (answer.button.accept) {
      try {
        await api.cancelJob(ev.id);
      } catch (err) {
        setError(describeError(err));
      }
      await load();
    }
  };
  return (
    <div className="jp-ft-evaluations">
      <div className="jp-ft-toolbar">
        <span className="jp-ft-count">{rows === null ? '' : `${rows.length} evaluation${rows.length === 1 ? '' : 's'}`}</span>
        <button
          className="jp-ft-button jp-ft-new-eval"
          onClick={() =>
            openMain(`jupyter-ft-eval-form:new`, 'New evaluation', () => <EvalForm api={api} openMain={openMain} prefill={{}} />)
          }
        >
          New evaluation…
        </button>
      </div>
      {error && (
        <div className="jp-ft-error" role="alert">
          {error}
        </div>
      )}
      {rows === null && !error && <div className="jp-ft-empty">Loading evaluations…</div>}
      {rows !== null && rows.length === 0 && (
        <div className="jp-ft-empty">No evaluation yet. Start one with “New evaluation…” or “Evaluate…” on a model.</div>
      )}
      {rows !== null && rows.length > 0 && (
        <ul className="jp-ft-list">
          {rows.map(ev => (
            <li key={ev.id} className="jp-ft-evaluation" data-job-id={ev.id} data-state={ev.state}>
              <div className="jp-ft-row-head">
                <span className={`jp-ft-state jp-ft-state-${ev.state}`}>{ev.state}</span>
                <span className="jp-ft-model-id" title={ev.id}>
                  {ev.name ?? ev.id}
                </span>
              </div>
              <div className="jp-ft-meta">
                <span>{(ev.models ?? []).join(' vs ')}</span>
                {ev.total_steps ? (
                  <span>
                    {ev.step}/{ev.total_steps} scored
                  </span>
                ) : null}
              </div>
              {ev.error && <div className="jp-ft-job-error">{ev.error}</div>}
              <div className="jp-ft-actions">
                <button className="jp-ft-button jp-ft-open-results" onClick={() => openEvalResults(api, openMain, ev.id)}>
                  Results
                </button>
                {(ev.state === 'queued' || ev.state === 'running') && (
                  <button className="jp-ft-button jp-ft-cancel" onClick={() => void cancel(ev)}>
                    Cancel
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

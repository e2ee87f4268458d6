/**
 * The "Evaluations" tab: the workspace's evaluation jobs (`GET evaluations`), each opening its results view, and
 * "New evaluation…": a main-area form generated from the `EvalSpec` JSON schema the server publishes (`GET
 * schemas/eval`), drawn by JupyterLab's `FormComponent` (rjsf). The server validates the body with the same
 * pydantic spec as every face; its 400 names fields (`evaluators.0.judge.model`), shown on those fields.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { FormComponent } from '@jupyterlab/ui-components';
import validator from '@rjsf/validator-ajv8';
import React, { useCallback, useEffect, useMemo, useState } from 'react';

import { FineTuningAPI } from './api';
import { EvalResultsView } from './evalResults';
import { evalPrefill, pickProperties, splitFields } from './panelLogic';
import { cleanSpec, dropNullable, extraErrors as errorSchema, unplacedErrors } from './schemaForm';
import { describeError, requestAPI } from './request';
import { usePoll } from './usePoll';

type JSONObject = Record<string, any>;

export interface IEvaluationSummary {
  id: string;
  name: string | null;
  state: string;
  created_at: number;
  finished_at: number | null;
  step: number;
  total_steps: number | null;
  progress: number | null;
  error: string | null;
  dataset: string | null;
  models: string[];
}

export interface IEvaluationsTabProps {
  api: FineTuningAPI;
  visible: boolean;
  openMain: (id: string, title: string, render: () => JSX.Element) => void;
}

export function openEvalResults(api: FineTuningAPI, openMain: IEvaluationsTabProps['openMain'], id: string): void {
  openMain(`jupyter-ft-eval-results:${id}`, `Evaluation ${id}`, () => <EvalResultsView api={api} jobId={id} />);
}

export function EvaluationsTab({ api, visible, openMain }: IEvaluationsTabProps): JSX.Element {
  const [rows, setRows] = useState<IEvaluationSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      const r = await requestAPI<{ evaluations: IEvaluationSummary[] }>('evaluations', {}, api.settings);
      setRows(r.evaluations.slice().reverse());
      setError(null);
    } catch (err) {
      setError(describeError(err));
    }
  }, [api]);
  usePoll(load, 3000, visible);
  const cancel = async (ev: IEvaluationSummary) => {
    const answer = await showDialog({
      title: 'Cancel evaluation?',
      body: `${ev.id} is ${ev.state}.`,
      buttons: [Dialog.cancelButton({ label: 'Keep' }), Dialog.warnButton({ label: 'Cancel evaluation' })]
    });
    if (answer.button.accept) {
      try {
        await requestAPI(`jobs/${encodeURIComponent(ev.id)}`, { method: 'DELETE' }, api.settings);
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

export interface IEvalFormProps {
  api: FineTuningAPI;
  openMain: IEvaluationsTabProps['openMain'];
  prefill: { models?: string[]; dataset?: string };
}

const UI_HIDE = { 'ui:submitButtonOptions': { norender: true } };

/** The evaluation form (main area): main fields, "Advanced" folded, server errors on their fields. */
export function EvalForm({ api, openMain, prefill }: IEvalFormProps): JSX.Element {
  const [schema, setSchema] = useState<JSONObject | null>(null);
  const [groups, setGroups] = useState<{ fields: string[]; advanced: boolean; title?: string }[] | undefined>(undefined);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [data, setData] = useState<JSONObject>(() => evalPrefill(prefill));
  const [extraErrors, setExtraErrors] = useState<JSONObject>({});
  const [message, setMessage] = useState<string | null>(null);
  const [unplaced, setUnplaced] = useState<string[]>([]);
  const [submitting, setSubmitting] = useState(false);
  const [submitted, setSubmitted] = useState<string | null>(null);
  const [datasets, setDatasets] = useState<string[]>([]);
  useEffect(() => {
    requestAPI<JSONObject>('schemas/eval', {}, api.settings)
      .then(s => {
        setGroups(Array.isArray(s.groups) ? s.groups : undefined);
        setSchema(dropNullable(s.schema ?? s));
      })
      .catch(err => setLoadError(describeError(err)));
    requestAPI<{ datasets: { name: string }[] }>('datasets', {}, api.settings)
      .then(r => setDatasets(r.datasets.map(d => d.name)))
      .catch(() => setDatasets([]));
  }, [api]);
  const [mainSchema, advancedSchema, order] = useMemo(() => {
    if (!schema) {
      return [null, null, { main: [], advanced: [] }];
    }
    const fields = splitFields(groups, Object.keys(schema.properties ?? {}));
    const main = pickProperties(schema, k => fields.main.includes(k));
    if (main.properties.dataset && datasets.length) {
      main.properties.dataset = { ...main.properties.dataset, examples: datasets };
    }
    const advanced = pickProperties(schema, k => fields.advanced.includes(k));
    return [main, advanced, fields];
  }, [schema, groups, datasets]);
  const submit = async () => {
    setSubmitting(true);
    setMessage(null);
    setExtraErrors({});
    setUnplaced([]);
    try {
      const r = await requestAPI<{ evaluation: { id: string } }>(
        'evaluations',
        { method: 'POST', body: JSON.stringify(cleanSpec(data)) },
        api.settings
      );
      setSubmitted(r.evaluation.id);
      openEvalResults(api, openMain, r.evaluation.id);
    } catch (err) {
      const body = (err as any)?.body ?? (err as any)?.response?.body;
      const errors = Array.isArray(body?.errors) ? body.errors : null;
      if (errors && errors.length) {
        setExtraErrors(errorSchema(errors));
        setUnplaced(unplacedErrors(errors, schema ?? {}));
      }
      setMessage(describeError(err));
    } finally {
      setSubmitting(false);
    }
  };
  if (loadError) {
    return (
      <div className="jp-ft-panel jp-ft-eval-form">
        <div className="jp-ft-error" role="alert">
          Cannot load the evaluation schema: {loadError}
        </div>
      </div>
    );
  }
  if (!mainSchema || !advancedSchema) {
    return <div className="jp-ft-panel jp-ft-empty">Loading the evaluation form…</div>;
  }
  const onChange = (e: { formData?: any }) => setData(prev => ({ ...prev, ...(e.formData ?? {}) }));
  return (
    <div className="jp-ft-panel jp-ft-eval-form">
      <h2>New evaluation</h2>
      <p className="jp-ft-muted">
        Models can be <code>name@version</code>, <code>name@alias</code>, <code>base</code> (the adapters' base), a
        folder, a hub id or an endpoint <code>http://host:port/v1#model</code>.
      </p>
      <FormComponent
        schema={mainSchema as any}
        formData={data as any}
        onChange={onChange}
        validator={validator as any}
        uiSchema={{ ...UI_HIDE, 'ui:order': [...order.main, '*'] }}
        extraErrors={extraErrors as any}
        showErrorList={false}
        idPrefix="jp-ft-eval"
        liveValidate={false}
        noValidate
      />
      <details className="jp-ft-eval-advanced">
        <summary>
          Advanced:{' '}
          {(groups ?? []).filter(g => g.advanced).map(g => g.title ?? g.fields.join(', ')).join(', ') || order.advanced.join(', ')}
        </summary>
        <FormComponent
          schema={advancedSchema as any}
          formData={data as any}
          onChange={onChange}
          validator={validator as any}
          uiSchema={{ ...UI_HIDE, 'ui:order': [...order.advanced, '*'] }}
          extraErrors={extraErrors as any}
          showErrorList={false}
          idPrefix="jp-ft-eval-adv"
          liveValidate={false}
          noValidate
        />
      </details>
      {message && (
        <div className="jp-ft-error jp-ft-form-error" role="alert">
          {message}
          {unplaced.length > 0 && (
            <ul>
              {unplaced.map((u, i) => (
                <li key={i}>{u}</li>
              ))}
            </ul>
          )}
        </div>
      )}
      <div className="jp-ft-actions">
        <button className="jp-ft-button jp-mod-accept jp-ft-do-submit" disabled={submitting} onClick={() => void submit()}>
          {submitting ? 'Submitting…' : 'Evaluate'}
        </button>
        {submitted && <span className="jp-ft-muted">submitted {submitted}</span>}
      </div>
    </div>
  );
}

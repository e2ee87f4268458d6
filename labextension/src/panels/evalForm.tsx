/**
 * "New evaluation…": a main-area form generated from the `EvalSpec` JSON schema the server publishes (`GET
 * schemas/eval`), drawn by JupyterLab's `FormComponent` (rjsf). The server validates the body with the same
 * pydantic spec as every face; its 400 names fields (`evaluators.0.judge.model`), shown on those fields.
 */
import { FormComponent } from '@jupyterlab/ui-components';
import validator from '@rjsf/validator-ajv8';
import React, { useEffect, useMemo, useState } from 'react';

import { describeError, FineTuningAPI } from '../api';
import type { OpenMain } from '../shell/mainArea';
import { evalPrefill, pickProperties, splitFields } from './evalFields';
import { openEvalResults } from './evalResults';
import { cleanSpec, dropNullable, extraErrors as errorSchema, unplacedErrors } from './schemaForm';

type JSONObject = Record<string, any>;
export interface IEvalFormProps {
  api: FineTuningAPI;
  openMain: OpenMain;
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
    api
      .formSchema('eval')
      .then((s: JSONObject) => {
        setGroups(Array.isArray(s.groups) ? s.groups : undefined);
        setSchema(dropNullable(s.schema ?? s));
      })
      .catch(err => setLoadError(describeError(err)));
    api
      .listDatasets()
      .then(datasets => setDatasets(datasets.map(d => d.name)))
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
      const evaluation = await api.submitEvaluation(cleanSpec(data));
      setSubmitted(evaluation.id);
      openEvalResults(api, openMain, evaluation.id);
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

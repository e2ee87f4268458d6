/**
 * The Customize form (main area): a TrainSpec job form generated from the JSON schema the server publishes
 * (`GET schemas/train`), drawn by rjsf. Main fields first, Advanced folded by group (LoRA, schedule, evaluation
 * split, checkpoints, MLflow experiment, hardware); only the chosen technique's options block is shown. Each
 * empty field shows the value the server would choose and why, from the preview route (debounced); errors come
 * from the server's own validation (the 400 names the field) and are shown on that field. Submit opens the job.
 */
import Form from '@rjsf/core';
import type { FieldTemplateProps, IconButtonProps, ObjectFieldTemplateProps, RJSFSchema, UiSchema } from '@rjsf/utils';
import validator from '@rjsf/validator-ajv8';
import React, { useContext, useEffect, useMemo, useRef, useState } from 'react';

import { FormSchema, Preview } from '../api';
import { VisibleContext } from '../shell/mainArea';
import { describeError, errorBody } from '../api';
import { autoHint, cleanSpec, extraErrors, fieldOrder, formSchema, JSONSchema, techniques, unplacedErrors } from './schemaForm';
import { IStudio } from '../shell/sidebar';

export const PREVIEW_DEBOUNCE_MS = 600;

interface IFormContext {
  data: any;
  preview: Preview | null;
  groups: [string, string[]][];
  main: string[];
  /** Top-level fields with an error: their Advanced group opens so the error is seen. */
  errorFields: Set<string>;
}

type FieldError = { field?: string | null; message: string };

export function CustomizePanel({ studio, prefill }: { studio: IStudio; prefill: object }): JSX.Element {
  const visible = useContext(VisibleContext);
  const [form, setForm] = useState<FormSchema | null>(null);
  const schema: JSONSchema | null = form?.schema ?? null;
  const [loadError, setLoadError] = useState<string | null>(null);
  const [data, setData] = useState<any>({ ...prefill });
  const [preview, setPreview] = useState<Preview | null>(null);
  const [previewState, setPreviewState] = useState<'idle' | 'busy' | 'ok' | 'error'>('idle');
  const [previewErrors, setPreviewErrors] = useState<FieldError[]>([]);
  const [submitErrors, setSubmitErrors] = useState<FieldError[] | null>(null);
  const [submitMessage, setSubmitMessage] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const previewSeq = useRef(0);

  useEffect(() => {
    studio.api.trainSchema().then(setForm, err => setLoadError(describeError(err)));
  }, []);

  const all = schema ? techniques(schema) : [];
  const technique: string = data.technique || schema?.properties?.technique?.default || 'sft';
  const shown = useMemo(() => (schema ? formSchema(schema, technique) : null), [schema, technique]);
  const order = useMemo(() => (schema ? fieldOrder(schema, technique, form?.groups) : { main: [], advanced: [] }), [schema, technique, form]);
  // Full fine-tuning is `lora: false` in the spec; the form's LoRA block is hidden meanwhile.
  const [fullWeights, setFullWeights] = useState<boolean>(startsFull(prefill));
  const spec = useMemo(() => {
    const s = cleanSpec({ ...data, technique }, technique, all);
    return fullWeights ? { ...s, lora: false } : s;
  }, [data, technique, schema, fullWeights]);

  // Ask the server what it would choose for the empty fields (debounced; the latest answer wins).
  const specKey = JSON.stringify(spec);
  useEffect(() => {
    if (!schema || !visible) {
      return;
    }
    const mine = ++previewSeq.current;
    setPreviewState('busy');
    const timer = window.setTimeout(async () => {
      try {
        const p = await studio.api.previewJob(spec);
        if (mine === previewSeq.current) {
          setPreview(p);
          setPreviewErrors(p.errors ?? []);
          setPreviewState(p.errors?.length ? 'error' : 'ok');
        }
      } catch (err) {
        if (mine === previewSeq.current) {
          const body = errorBody(err);
          setPreviewErrors(body?.errors ?? [{ field: null, message: describeError(err) }]);
          setPreviewState('error');
        }
      }
    }, PREVIEW_DEBOUNCE_MS);
    return () => window.clearTimeout(timer);
  }, [specKey, schema, visible]);

  if (loadError) {
    return (
      <div className="jp-ft-customize">
        <div className="jp-ft-error" role="alert">
          Could not load the job form's schema: {loadError}
        </div>
      </div>
    );
  }
  if (!schema || !shown) {
    return (
      <div className="jp-ft-customize">
        <div className="jp-ft-empty">Loading the job form…</div>
      </div>
    );
  }

  // Field errors: the last submit's (all of them), else the live preview's for fields the person has filled in.
  const shownErrors: FieldError[] =
    submitErrors ?? previewErrors.filter(e => e.field && cleanSpec(data)[e.field.split('.')[0]] !== undefined);
  const errorFields = new Set(shownErrors.filter(e => e.field).map(e => e.field!.split(/[.[]/)[0]));
  const context: IFormContext = { data: spec, preview, groups: order.advanced, main: order.main, errorFields };
  const uiSchema: UiSchema = {
    'ui:order': [...order.main, ...order.advanced.flatMap(([, f]) => f), '*'],
    'ui:submitButtonOptions': { norender: true }
  };

  const submit = async () => {
    setSubmitting(true);
    setSubmitErrors(null);
    setSubmitMessage(null);
    try {
      const job = await studio.api.submitJob(spec);
      studio.openJob(job.id);
    } catch (err) {
      const body = errorBody(err);
      setSubmitErrors(body?.errors ?? []);
      setSubmitMessage(body?.errors?.length ? 'The server refused the spec; the fields at fault are marked.' : describeError(err));
    } finally {
      setSubmitting(false);
    }
  };

  const loose = unplacedErrors(shownErrors, shown);
  return (
    <div className="jp-ft-customize" data-technique={technique} data-preview={previewState}>
      <header className="jp-ft-jobview-head">
        <h2>New fine-tuning job</h2>
        <span className="jp-ft-dim">
          {previewState === 'busy' ? 'checking with the server…' : previewState === 'ok' ? 'empty fields show the value the server would choose' : ''}
        </span>
      </header>
      {submitMessage && (
        <div className="jp-ft-error jp-ft-submit-error" role="alert">
          {submitMessage}
        </div>
      )}
      {loose.length > 0 && (
        <ul className="jp-ft-error jp-ft-form-errors" role="alert">
          {loose.map((m, i) => (
            <li key={i}>{m}</li>
          ))}
        </ul>
      )}
      <label className="jp-ft-full-weights">
        <input
          type="checkbox"
          checked={fullWeights}
          onChange={e => {
            setFullWeights(e.currentTarget.checked);
            setSubmitErrors(null);
            setSubmitMessage(null);
          }}
        />{' '}
        Full fine-tuning: train all the weights, no LoRA adapter
      </label>
      <Form
        schema={(fullWeights ? withoutLora(shown) : shown) as RJSFSchema}
        uiSchema={uiSchema}
        formData={data}
        validator={validator}
        noValidate
        showErrorList={false}
        experimental_defaultFormStateBehavior={{ emptyObjectFields: 'skipDefaults', arrayMinItems: { populate: 'never' } }}
        extraErrors={extraErrors(shownErrors) as any}
        formContext={context}
        templates={{ FieldTemplate, ObjectFieldTemplate, ButtonTemplates: { AddButton, RemoveButton, MoveUpButton, MoveDownButton, CopyButton } }}
        onChange={e => {
          setData(e.formData);
          setSubmitErrors(null);
          setSubmitMessage(null);
        }}
      />
      <div className="jp-ft-job-actions jp-ft-submit-row">
        <button className="jp-ft-button jp-mod-accept jp-ft-submit" disabled={submitting} onClick={() => void submit()}>
          {submitting ? 'Submitting…' : 'Submit job'}
        </button>
        <button className="jp-ft-button jp-ft-reset" onClick={() => (setData({ ...prefill }), setFullWeights(startsFull(prefill)), setSubmitErrors(null))}>
          Reset
        </button>
      </div>
    </div>
  );
}

/** rjsf ids are `root_lora_r`; field names may contain `_`, so map them through the schema instead of splitting. */
function pathOf(id: string, root: JSONSchema): string[] {
  const rest = id.replace(/^root_?/, '');
  const path: string[] = [];
  let node: any = root;
  let remaining = rest;
  while (remaining) {
    const props = Object.keys(node?.properties ?? {}).sort((a, b) => b.length - a.length);
    const hit = props.find(p => remaining === p || remaining.startsWith(p + '_'));
    if (hit) {
      path.push(hit);
      node = node.properties[hit];
      remaining = remaining.slice(hit.length + 1);
      continue;
    }
    const index = remaining.match(/^(\d+)(?:_|$)/);
    if (index) {
      path.push(index[1]);
      node = node?.items;
      remaining = remaining.slice(index[0].length);
      continue;
    }
    path.push(remaining);
    break;
  }
  return path;
}

/** One field: label, input, description, the auto hint (when empty) and the server's errors for it. */
function FieldTemplate(props: FieldTemplateProps): JSX.Element {
  const { id, label, children, rawErrors, rawDescription, schema, displayLabel, hidden, registry } = props;
  if (hidden) {
    return <div className="jp-ft-hidden">{children}</div>;
  }
  const ctx = registry.formContext as IFormContext;
  const root = registry.rootSchema as JSONSchema;
  const path = id === 'root' ? [] : pathOf(id, root);
  const isObject = schema.type === 'object';
  const hint = isObject ? null : autoHint(path, ctx.data, ctx.preview);
  const field = path.join('.');
  return (
    <div className={`jp-ft-field form-group${rawErrors?.length ? ' jp-mod-error' : ''}`} data-field={field}>
      {displayLabel && label && !isObject && (
        <label className="jp-ft-field-label" htmlFor={id}>
          {label}
          {props.required ? ' *' : ''}
        </label>
      )}
      {children}
      {displayLabel && rawDescription && !isObject && <div className="jp-ft-field-description">{rawDescription}</div>}
      {hint && <div className="jp-ft-auto-hint">{hint}</div>}
      {rawErrors && rawErrors.length > 0 && (
        <ul className="jp-ft-field-errors" role="alert">
          {rawErrors.map((e, i) => (
            <li key={i}>{e}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The root object: main fields, then each Advanced group folded; nested objects as a titled box. */
function ObjectFieldTemplate(props: ObjectFieldTemplateProps): JSX.Element {
  const { idSchema, properties, title, description, registry } = props;
  if (idSchema.$id !== 'root') {
    return (
      <fieldset className="jp-ft-object" id={idSchema.$id}>
        {title && <legend>{title}</legend>}
        {description && <div className="jp-ft-field-description">{description}</div>}
        {properties.map(p => (
          <React.Fragment key={p.name}>{p.content}</React.Fragment>
        ))}
      </fieldset>
    );
  }
  const ctx = registry.formContext as IFormContext;
  const byName = new Map(properties.map(p => [p.name, p]));
  const main = ctx.main.filter(n => byName.has(n));
  return (
    <div className="jp-ft-form-root">
      <div className="jp-ft-main-fields">
        {main.map(n => (
          <React.Fragment key={n}>{byName.get(n)!.content}</React.Fragment>
        ))}
      </div>
      <details className="jp-ft-advanced" open={ctx.groups.some(([, names]) => names.some(n => ctx.errorFields.has(n))) || undefined}>
        <summary>Advanced</summary>
        {ctx.groups.map(([group, names]) => (
          <details key={group} className="jp-ft-group" data-group={group} open={names.some(n => ctx.errorFields.has(n)) || undefined}>
            <summary>{group}</summary>
            {names
              .filter(n => byName.has(n))
              .map(n => (
                <React.Fragment key={n}>{byName.get(n)!.content}</React.Fragment>
              ))}
          </details>
        ))}
      </details>
    </div>
  );
}

/** List buttons with words (rjsf's defaults draw Bootstrap glyphs JupyterLab does not load). */
function textButton(label: string, cls: string) {
  return function Button(props: IconButtonProps): JSX.Element {
    const { onClick, disabled } = props;
    return (
      <button type="button" className={`jp-ft-button ${cls}`} onClick={onClick} disabled={disabled} title={label}>
        {label}
      </button>
    );
  };
}
const AddButton = textButton('Add', 'jp-ft-array-add');
const RemoveButton = textButton('Remove', 'jp-ft-array-remove');
const MoveUpButton = textButton('↑', 'jp-ft-array-up');
const MoveDownButton = textButton('↓', 'jp-ft-array-down');
const CopyButton = textButton('Copy', 'jp-ft-array-copy');

/** A prefilled spec (a cloned job) that trained all the weights: `lora: false` or `null`. */
function startsFull(prefill: any): boolean {
  return prefill?.lora === false || prefill?.lora === null;
}

/** The form's schema without the LoRA block, while full fine-tuning is chosen. */
function withoutLora(schema: JSONSchema | null): JSONSchema | null {
  if (!schema?.properties?.lora) {
    return schema;
  }
  const { lora: _lora, ...properties } = schema.properties;
  return { ...schema, properties };
}

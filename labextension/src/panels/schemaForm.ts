/**
 * Pure logic of the Customize form (no JupyterLab imports, so jest tests it directly): turns the TrainSpec JSON
 * schema the server publishes into the schema rjsf draws for one technique, orders the fields as the server's
 * `groups` say (main first, Advanced folded), cleans form data into a spec (empty = let the server choose), and maps the server's field
 * errors and `auto` reasons onto form paths.
 */

import type { FormGroup } from '../api';

export type JSONSchema = Record<string, any>;

/** Never shown: fixed (`kind`) or filled in by the server (`auto`). */
export const HIDDEN_FIELDS = ['kind', 'auto'];

/** The technique names the schema offers (`technique.enum`). */
export function techniques(schema: JSONSchema): string[] {
  return (schema.properties?.technique?.enum as string[] | undefined) ?? [];
}

/**
 * `anyOf: [X, {type: null}]` -> X (empty means null: the server's auto value), recursively, `$defs` included.
 * rjsf would otherwise draw a "type" selector beside every optional field.
 */
export function dropNullable(node: any): any {
  if (Array.isArray(node)) {
    return node.map(dropNullable);
  }
  if (!node || typeof node !== 'object') {
    return node;
  }
  const out: JSONSchema = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] = dropNullable(v);
  }
  for (const key of ['anyOf', 'oneOf']) {
    const options = out[key];
    if (Array.isArray(options)) {
      const rest = options.filter((o: any) => !(o && o.type === 'null'));
      if (rest.length === 1 && rest.length < options.length) {
        delete out[key];
        Object.assign(out, { ...rest[0], ...out });
        if (out.default === null) {
          delete out.default;
        }
      }
    }
  }
  if (out.discriminator) {
    delete out.discriminator; // an OpenAPI keyword ajv does not know
  }
  return out;
}

/**
 * The schema rjsf draws for `technique`: nullable options simplified, other techniques' option blocks removed,
 * the chosen technique's block kept (titled after it), hidden fields dropped.
 */
export function formSchema(schema: JSONSchema, technique: string): JSONSchema {
  const all = techniques(schema);
  const simple = withoutDefaults(dropNullable(schema));
  const properties: JSONSchema = {};
  for (const [key, value] of Object.entries(simple.properties ?? {})) {
    if (HIDDEN_FIELDS.includes(key) || (all.includes(key) && key !== technique)) {
      continue;
    }
    properties[key] = key === technique ? { ...(value as object), title: `${technique.toUpperCase()} options` } : value;
  }
  const required = (simple.required ?? []).filter((k: string) => k in properties);
  return { ...simple, properties, required };
}

/**
 * The schema with every `default` removed: an empty field means "the server chooses", and the hint under it says
 * what (from the preview). Left in, rjsf would show a select's first option, or fill defaults in, as if chosen.
 */
export function withoutDefaults(node: any): any {
  if (Array.isArray(node)) {
    return node.map(withoutDefaults);
  }
  if (!node || typeof node !== 'object') {
    return node;
  }
  const out: JSONSchema = {};
  for (const [k, v] of Object.entries(node)) {
    if (k !== 'default') {
      out[k] = k === 'properties' || k === '$defs' || k === 'definitions' ? mapValues(v, withoutDefaults) : withoutDefaults(v);
    }
  }
  return out;
}

function mapValues(obj: any, f: (v: any) => any): any {
  return obj && typeof obj === 'object' ? Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, f(v)])) : obj;
}

/** The server's layout hints (`groups` of `GET schemas/train`): which fields are main, which Advanced group holds
 * the others. The server is the only source of this layout (one for every face). */
export type IGroupHint = Pick<FormGroup, 'name' | 'title' | 'fields' | 'advanced'>;

/**
 * Field order for one technique, as the server's `groups` give it: the main groups' fields, then the Advanced
 * groups (folded), of which only the chosen technique's block is kept; fields no group names land in "Other".
 * Without groups, every field in schema order, none folded.
 */
export function fieldOrder(
  schema: JSONSchema,
  technique: string,
  groups?: IGroupHint[]
): { main: string[]; advanced: [string, string[]][] } {
  const present = Object.keys(formSchema(schema, technique).properties);
  if (!groups || groups.length === 0) {
    return { main: present, advanced: [] };
  }
  const placed = new Set<string>();
  const pick = (fields: string[]) => fields.filter(f => present.includes(f) && !placed.has(f) && (placed.add(f), true));
  const main = groups.filter(g => !g.advanced).flatMap(g => pick(g.fields));
  const advanced: [string, string[]][] = groups
    .filter(g => g.advanced)
    .map(g => [g.title, pick(g.fields)] as [string, string[]])
    .filter(([, f]) => f.length > 0);
  const rest = present.filter(f => !placed.has(f));
  if (rest.length) {
    advanced.push(['Other', rest]);
  }
  return { main, advanced };
}

/**
 * Form data -> the spec to send: empty strings, nulls, empty objects/lists and undefined dropped (the server then
 * chooses and says why in `auto`), other techniques' blocks dropped.
 */
export function cleanSpec(data: any, technique?: string, all: string[] = []): any {
  if (Array.isArray(data)) {
    return data.map(d => cleanSpec(d));
  }
  if (!data || typeof data !== 'object') {
    return data;
  }
  const out: Record<string, any> = {};
  for (const [k, v] of Object.entries(data)) {
    if (technique && all.includes(k) && k !== technique) {
      continue;
    }
    if (v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0)) {
      continue;
    }
    const c = cleanSpec(v);
    if (c && typeof c === 'object' && (Array.isArray(c) ? c.length === 0 : Object.keys(c).length === 0)) {
      continue; // an empty list or block means "not set" in a form: the server's default applies
    }
    out[k] = c;
  }
  return out;
}

/** Field paths as the server names them: `lora.r`, `grpo.rewards.0.type`, `rewards[0]` -> split into keys. */
export function fieldPath(field: string): string[] {
  return field
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .filter(Boolean);
}

/** The server's `errors: [{field, message}]` as rjsf `extraErrors` (`{lora: {r: {__errors: [...]}}}`). */
export function extraErrors(errors: { field?: string | null; message: string }[] | undefined): JSONSchema {
  const out: JSONSchema = {};
  for (const e of errors ?? []) {
    const path = e.field ? fieldPath(e.field) : [];
    let node = out;
    for (const key of path) {
      node = node[key] = node[key] ?? {};
    }
    (node.__errors = node.__errors ?? []).push(e.message);
  }
  return out;
}

/** Errors whose field is not in the form (or none): shown above it so nothing is silently dropped. */
export function unplacedErrors(
  errors: { field?: string | null; message: string }[] | undefined,
  schema: JSONSchema
): string[] {
  const top = new Set(Object.keys(schema.properties ?? {}));
  return (errors ?? [])
    .filter(e => !e.field || !top.has(fieldPath(e.field)[0]))
    .map(e => (e.field ? `${e.field}: ${e.message}` : e.message));
}

/**
 * The hint under an empty field: the value the server would choose and why (from the preview's `auto`), else
 * the value it would use (from the previewed spec). null when the field is set or there is nothing to say.
 */
export function autoHint(path: string[], data: any, preview: JSONSchema | null | { auto?: any; spec?: any }): string | null {
  if (!preview || path.length === 0) {
    return null;
  }
  const own = getPath(data, path);
  if (own !== undefined && own !== null && own !== '') {
    return null;
  }
  const entry = preview.auto?.[path.join('.')];
  if (entry && typeof entry === 'object') {
    const value = entry.value === undefined || entry.value === null ? '' : `${formatValue(entry.value)}`;
    return entry.why ? `auto: ${entry.why.startsWith(value) ? entry.why : `${value} (${entry.why})`}` : `auto: ${value}`;
  }
  if (typeof entry === 'string' && entry) {
    return `auto: ${entry}`;
  }
  const value = getPath(preview.spec ?? preview, path);
  if (Array.isArray(value) && value.length && value.every(v => typeof v !== 'object')) {
    return `auto: ${value.join(', ')}`; // e.g. DPO's loss_type: sigmoid
  }
  if (value === undefined || value === null || typeof value === 'object') {
    return null;
  }
  return `auto: ${String(value)}`;
}

function formatValue(v: unknown): string {
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export function getPath(obj: any, path: string[]): any {
  let node = obj;
  for (const key of path) {
    if (node === null || node === undefined || typeof node !== 'object') {
      return undefined;
    }
    node = node[key];
  }
  return node;
}

/** A spec to prefill the form with (e.g. a job's stored spec, for "clone"): server-filled parts dropped. */
export function prefillFrom(spec: JSONSchema): JSONSchema {
  const out: JSONSchema = { ...spec };
  for (const key of ['auto', 'kind']) {
    delete out[key];
  }
  return cleanSpec(out);
}

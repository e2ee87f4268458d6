/**
 * Pure logic of the Models / Evaluations / Endpoints panels (no JupyterLab imports, so jest tests it directly):
 * the EvalSpec schema made drawable by rjsf, the server's field errors mapped onto form fields, form data cleaned
 * into a spec body, deploy-form entries, URLs and the human units the lists show.
 */

type JSONObject = Record<string, any>;

/** Fields shown first; the rest fold under "Advanced". */
export const MAIN_FIELDS = ['name', 'models', 'base', 'dataset', 'split', 'limit', 'evaluators'];
/** Filled by the server (never by a person). */
export const HIDDEN_FIELDS = ['kind', 'auto'];

/** Main and advanced fields from the server's layout hints (`groups: [{fields, advanced}]`), else our defaults. */
export function splitFields(groups: { fields: string[]; advanced: boolean }[] | undefined, all: string[]): { main: string[]; advanced: string[] } {
  const shown = all.filter(k => !HIDDEN_FIELDS.includes(k));
  if (!groups || groups.length === 0) {
    return { main: MAIN_FIELDS.filter(k => shown.includes(k)), advanced: shown.filter(k => !MAIN_FIELDS.includes(k)) };
  }
  const main = groups.filter(g => !g.advanced).flatMap(g => g.fields).filter(k => shown.includes(k));
  const grouped = groups.filter(g => g.advanced).flatMap(g => g.fields).filter(k => shown.includes(k));
  const rest = shown.filter(k => !main.includes(k) && !grouped.includes(k));
  return { main, advanced: [...grouped, ...rest] };
}

/** The part of a top-level object schema holding only `keys` (with `$defs` kept for references). */
export function pickProperties(schema: JSONObject, keys: (k: string) => boolean): JSONObject {
  const properties: JSONObject = {};
  for (const [k, v] of Object.entries(schema.properties ?? {})) {
    if (keys(k)) {
      properties[k] = v;
    }
  }
  return {
    type: 'object',
    $defs: schema.$defs,
    properties,
    required: (schema.required ?? []).filter((k: string) => k in properties)
  };
}

/** Default content of the form for `models` (the first against the others), a pairwise judge ready to fill. */
export function evalPrefill(prefill: { models?: string[]; dataset?: string }): JSONObject {
  const models = prefill.models && prefill.models.length ? prefill.models : [];
  const data: JSONObject = { models };
  if (prefill.dataset) {
    data.dataset = prefill.dataset;
  }
  if (models.length >= 2) {
    data.evaluators = [
      { type: 'pairwise_judge', baseline: models[models.length - 1], judge: { kind: 'openai', base_url: '', model: '' } }
    ];
  }
  return data;
}

/** The absolute proxied URL of an endpoint (`proxy_url` is Jupyter-relative: "/jupyter-ft/endpoints/x/v1"). */
export function proxiedURL(baseUrl: string, proxyUrl: string, origin?: string): string {
  const url = baseUrl.replace(/\/+$/, '') + '/' + proxyUrl.replace(/^\/+/, '');
  return origin && !/^https?:/.test(url) ? origin + url : url;
}

/** Entries typed one per line or comma-separated, trimmed, empties dropped. */
export function splitEntries(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map(s => s.trim())
    .filter(Boolean);
}

export interface IFieldErrors {
  [field: string]: string;
}

/** `{field: message}` from the server's 400 body (`adapters.0` shows on the adapters box). */
export function fieldErrors(body: any): IFieldErrors {
  const out: IFieldErrors = {};
  for (const e of Array.isArray(body?.errors) ? body.errors : []) {
    const key = String(e.field ?? '').split('.')[0] || '_';
    out[key] = out[key] ? `${out[key]}; ${e.message}` : String(e.message);
  }
  return out;
}

export interface IBaseModel {
  id: string;
  source: 'local' | 'hf_cache' | 'hub' | string;
  path: string | null;
  architecture: string | null;
  params: number | null;
  size_bytes: number | null;
  license: string | null;
}

export interface IBaseModelsReply {
  models: IBaseModel[];
  /** The hub search's state, when the server reports it (D1's catalog: `hub`, `online` or `offline`). */
  hub?: { searched?: boolean; available?: boolean | null; reason?: string | null; online?: boolean; state?: string; error?: string | null } | string | null;
  online?: boolean;
  offline?: boolean;
  hub_error?: string | null;
}

/** "offline" / "online" / null (unknown) from whatever shape the catalog answers. */
export function hubState(reply: IBaseModelsReply): { online: boolean | null; note: string | null } {
  if (reply.offline === true) {
    return { online: false, note: reply.hub_error ?? null };
  }
  if (reply.online === true) {
    return { online: true, note: null };
  }
  if (reply.online === false) {
    return { online: false, note: reply.hub_error ?? null };
  }
  const hub = reply.hub;
  if (typeof hub === 'string') {
    return { online: hub === 'online' ? true : hub === 'offline' ? false : null, note: null };
  }
  if (hub && typeof hub === 'object' && 'available' in hub) {
    // the catalog's shape: {searched, available, reason}; available is null until a query asked the hub
    return { online: hub.available ?? null, note: hub.reason ?? null };
  }
  if (hub && typeof hub === 'object') {
    const online = hub.online ?? (hub.state === 'online' ? true : hub.state === 'offline' ? false : null);
    return { online, note: hub.error ?? null };
  }
  return { online: null, note: reply.hub_error ?? null };
}

/** 1234567 -> "1.23M" (parameters). */
export function humanCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) {
    return '–';
  }
  for (const [unit, size] of [
    ['T', 1e12],
    ['B', 1e9],
    ['M', 1e6],
    ['k', 1e3]
  ] as [string, number][]) {
    if (Math.abs(n) >= size) {
      return `${Number((n / size).toPrecision(3))}${unit}`;
    }
  }
  return String(n);
}

/** 1536 -> "1.5 KiB". */
export function humanBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) {
    return '–';
  }
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} bytes` : `${Number(v.toPrecision(3))} ${units[i]}`;
}

export function when(ts: number | string | null | undefined): string {
  if (ts === null || ts === undefined) {
    return '';
  }
  const d = typeof ts === 'number' ? new Date(ts * 1000) : new Date(ts);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toLocaleString();
}

/** A local folder's id is its absolute path: show its last part (the full path is the tooltip). */
export function shortId(id: string): string {
  return id.startsWith('/') || /^[A-Za-z]:[\\/]/.test(id) ? id.split(/[\\/]/).filter(Boolean).pop() ?? id : id;
}

/** Endpoint states in which it will answer soon (the model is loading). */
export const COMING_UP = ['starting', 'restarting'];

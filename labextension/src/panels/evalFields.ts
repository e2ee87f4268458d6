/**
 * The evaluation form's fields (pure, tested by jest): the EvalSpec schema split into main and Advanced fields
 * and the form's default content.
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

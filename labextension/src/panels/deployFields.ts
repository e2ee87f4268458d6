/** The deploy form's entries and the server's 400 mapped onto its fields (pure, tested by jest). */

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

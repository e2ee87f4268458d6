/**
 * Pure logic of the dataset preview (no DOM): how a catalog row is laid out. Preference rows show chosen and
 * rejected side by side under their prompt; conversational values (lists of `{role, content}`) read as turns.
 */

export interface ITurn {
  role: string;
  content: string;
}

/** A cell value as turns (conversational) or one text. */
export function asTurns(value: unknown): ITurn[] | null {
  if (!Array.isArray(value) || value.length === 0) {
    return null;
  }
  if (!value.every(m => m && typeof m === 'object' && 'content' in m)) {
    return null;
  }
  return value.map((m: any) => ({ role: String(m.role ?? ''), content: typeof m.content === 'string' ? m.content : JSON.stringify(m.content) }));
}

export function asText(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'string') {
    return value;
  }
  const turns = asTurns(value);
  if (turns) {
    return turns.map(t => `${t.role}: ${t.content}`).join('\n');
  }
  return JSON.stringify(value);
}

export interface IRowLayout {
  /** Shown across the row's top (e.g. the prompt). */
  head: [string, unknown][];
  /** Shown side by side (chosen | rejected), or stacked when there is one. */
  sides: [string, unknown][];
  /** Everything else, small. */
  rest: [string, unknown][];
}

/** Preference data (`chosen` and `rejected` columns): prompt on top, the two answers side by side. */
export function layoutRow(row: Record<string, unknown>, kind: string): IRowLayout {
  const keys: string[] = Object.keys(row);
  if ((kind === 'preference' || kind === 'kto') && 'chosen' in row && 'rejected' in row) {
    const head: string[] = keys.filter(k => k === "prompt" || k === "system");
    return {
      head: head.map(k => [k, row[k]]),
      sides: [
        ['chosen', row.chosen],
        ['rejected', row.rejected]
      ],
      rest: keys.filter(k => !head.includes(k) && k !== 'chosen' && k !== 'rejected').map(k => [k, row[k]])
    };
  }
  const main = ['messages', 'prompt', 'completion', 'text', 'answer'].filter(k => k in row);
  return {
    head: main.map(k => [k, row[k]]),
    sides: [],
    rest: keys.filter(k => !main.includes(k)).map(k => [k, row[k]])
  };
}

/** Pages of `size` rows over `total`: [first row, last row (exclusive)] of page `page` (0-based), clamped. */
export function pageBounds(page: number, size: number, total: number): { page: number; offset: number; end: number; pages: number } {
  const pages = Math.max(1, Math.ceil(total / size));
  const p = Math.min(Math.max(0, page), pages - 1);
  return { page: p, offset: p * size, end: Math.min(total, (p + 1) * size), pages };
}

/** The upload's 400 body as rows to show: `row N: field: message`, sorted by row, and the counts per reason. */
export function problemLines(body: { errors?: { row?: number | null; field?: string | null; message: string }[] }): string[] {
  return (body.errors ?? [])
    .slice()
    .sort((a, b) => (a.row ?? -1) - (b.row ?? -1))
    .map(e => [e.row !== null && e.row !== undefined ? `row ${e.row}` : null, e.field, e.message].filter(Boolean).join(': '));
}

/**
 * Pure logic of the job view's live chart (no DOM): metric rows merged by cursor, grouped into one panel per
 * metric kind (loss, reward margins, accuracy, learning rate, ...), and the ETA from the step rate.
 */
import type { MetricRow, MetricsPage } from '../api';

/** Columns of a metric row that are bookkeeping, not series. */
const NOT_SERIES = new Set(['step', 'epoch', 'time', 'timestamp', 'seq', 'attempt', 'wall', 'ts']);

/** Panels in this order; a metric lands in the first whose test matches (train and `eval_` series together). */
export const PANELS: { id: string; title: string; test: (name: string) => boolean }[] = [
  { id: 'loss', title: 'Loss', test: n => /(^|_|\/)loss$/.test(n) },
  { id: 'margins', title: 'Reward margins', test: n => n.includes('rewards/margins') },
  { id: 'rewards', title: 'Rewards', test: n => n.includes('reward') && !n.includes('accurac') },
  { id: 'accuracy', title: 'Accuracy', test: n => n.includes('accurac') },
  { id: 'lr', title: 'Learning rate', test: n => n.includes('learning_rate') || n === 'lr' },
  { id: 'grad', title: 'Gradient norm', test: n => n.includes('grad_norm') },
  { id: 'kl', title: 'KL', test: n => /(^|_|\/)kl$/.test(n) },
  { id: 'logps', title: 'Log-probs', test: n => n.includes('logps') || n.includes('logits') },
  { id: 'speed', title: 'Tokens/s', test: n => n === 'tokens_per_s' },
  { id: 'throughput', title: 'Throughput', test: n => n.includes('per_second') || n.includes('tokens') }
];

/** The panel a metric belongs to; unknown metrics get one panel each (named after them). */
export function panelOf(name: string): { id: string; title: string } {
  const bare = name.replace(/^(eval|train)_/, '');
  const hit = PANELS.find(p => p.test(bare));
  return hit ? { id: hit.id, title: hit.title } : { id: `m:${bare}`, title: bare };
}

/** Merge a metrics page into the rows held: drop rows from `from_step` on (a resumed attempt re-logs them), append. */
export function mergeMetrics(rows: MetricRow[], page: MetricsPage): MetricRow[] {
  if (page.from_step === null || page.from_step === undefined) {
    return rows;
  }
  const from = page.from_step;
  const kept = rows.filter(r => r.step < from);
  return kept.concat(page.metrics).sort((a, b) => a.step - b.step);
}

export interface ISeries {
  name: string;
  /** Parallel arrays: x = step, y = value (null where the row does not have this metric). */
  x: number[];
  y: (number | null)[];
}

export interface IPanel {
  id: string;
  title: string;
  series: ISeries[];
}

/** Rows -> panels of series (only numeric metrics; each panel's series share the step axis of their own rows). */
export function panels(rows: MetricRow[]): IPanel[] {
  const byPanel = new Map<string, IPanel>();
  const bySeries = new Map<string, ISeries>();
  for (const row of rows) {
    for (const [name, value] of Object.entries(row)) {
      if (NOT_SERIES.has(name) || typeof value !== 'number' || !Number.isFinite(value)) {
        continue;
      }
      let s = bySeries.get(name);
      if (!s) {
        s = { name, x: [], y: [] };
        bySeries.set(name, s);
        const p = panelOf(name);
        let panel = byPanel.get(p.id);
        if (!panel) {
          panel = { ...p, series: [] };
          byPanel.set(p.id, panel);
        }
        panel.series.push(s);
      }
      s.x.push(row.step);
      s.y.push(value);
    }
  }
  const order = (id: string) => {
    const i = PANELS.findIndex(p => p.id === id);
    return i < 0 ? PANELS.length : i;
  };
  return [...byPanel.values()].sort((a, b) => order(a.id) - order(b.id) || a.title.localeCompare(b.title));
}

/**
 * uPlot's aligned data for one panel: one x array (the union of steps) and one y array per series, null where a
 * series has no point at that step (eval series are sparser than train ones).
 */
export function aligned(panel: IPanel): [number[], ...(number | null)[][]] {
  const steps = [...new Set(panel.series.flatMap(s => s.x))].sort((a, b) => a - b);
  const index = new Map(steps.map((s, i) => [s, i]));
  const ys = panel.series.map(s => {
    const y: (number | null)[] = new Array(steps.length).fill(null);
    s.x.forEach((x, i) => (y[index.get(x)!] = s.y[i]));
    return y;
  });
  return [steps, ...ys];
}

/**
 * Seconds left, from the step rate since the job started: null when unknown (no total, no progress yet, done).
 * `now` and `startedAt` in seconds (the server's clock).
 */
export function etaSeconds(
  step: number,
  totalSteps: number | null,
  startedAt: number | null,
  now: number,
  state: string
): number | null {
  if (state !== 'running' || !totalSteps || !startedAt || step <= 0 || step >= totalSteps) {
    return null;
  }
  const elapsed = now - startedAt;
  if (elapsed <= 0) {
    return null;
  }
  return ((totalSteps - step) * elapsed) / step;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) {
    return `${s} s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m} min ${s % 60} s`;
  }
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/**
 * The pixel geometry of an evaluation's bar panels, with 95% interval whiskers. The panels themselves (one per
 * evaluator, split by order of magnitude, per-subject breakdowns apart) come grouped from the server
 * (`panels` of `GET evaluations/{id}/results`, computed by `jupyter_ft/core/evaluate/view.py`, as the notebook
 * widget draws them); this only places what it was sent. Pure, so it is unit-tested without a browser.
 */

import type { EvalPanel, IEvalSample } from '../api';

export type { EvalPanel, IEvalSample };

export function num(x: unknown): number | null {
  const v = typeof x === 'number' ? x : typeof x === 'string' && x.trim() !== '' ? Number(x) : NaN;
  return Number.isFinite(v) ? v : null;
}

export interface IBarRect {
  model: string;
  metric: string;
  modelIndex: number;
  value: number;
  x: number;
  y: number;
  width: number;
  height: number;
  /** The 95% interval's whisker, in pixels (null when the metric has none). */
  whisker: { y1: number; y2: number } | null;
  low: number | null;
  high: number | null;
}

export interface IBarLayout {
  rects: IBarRect[];
  /** Value range of the axis (always includes 0 and every interval end). */
  min: number;
  max: number;
  /** Pixel y of value 0. */
  zeroY: number;
  ticks: { value: number; y: number }[];
  groups: { metric: string; x: number; width: number }[];
}

/** Bars grouped by metric (one bar per model), with interval whiskers, in a plot of `width` x `height` pixels. */
export function barLayout(panel: EvalPanel, width: number, height: number): IBarLayout {
  const ends: number[] = [0];
  panel.bars.forEach(b =>
    b.values.forEach((v, i) => {
      if (v !== null) {
        ends.push(v, v + (b.err_plus[i] ?? 0), v - (b.err_minus[i] ?? 0));
      }
    })
  );
  let min = Math.min(...ends);
  let max = Math.max(...ends);
  if (max === min) {
    max = min + 1;
  }
  const pad = (max - min) * 0.05;
  max += max > 0 ? pad : 0;
  min -= min < 0 ? pad : 0;
  const y = (v: number) => height - ((v - min) / (max - min)) * height;
  const groupW = width / Math.max(1, panel.metrics.length);
  const nModels = Math.max(1, panel.bars.length);
  const barW = (groupW * 0.8) / nModels;
  const rects: IBarRect[] = [];
  panel.metrics.forEach((metric, mi) => {
    panel.bars.forEach((b, bi) => {
      const v = b.values[mi];
      if (v === null) {
        return;
      }
      const top = y(Math.max(v, 0));
      const bottom = y(Math.min(v, 0));
      const ep = b.err_plus[mi];
      const em = b.err_minus[mi];
      const hasCI = ep !== null && em !== null;
      rects.push({
        model: b.model,
        metric,
        modelIndex: bi,
        value: v,
        x: mi * groupW + groupW * 0.1 + bi * barW,
        y: top,
        width: barW,
        height: Math.max(bottom - top, 0),
        whisker: hasCI ? { y1: y(v + ep!), y2: y(v - em!) } : null,
        low: hasCI ? v - em! : null,
        high: hasCI ? v + ep! : null
      });
    });
  });
  const ticks = niceTicks(min, max, 4).map(value => ({ value, y: y(value) }));
  const groups = panel.metrics.map((metric, mi) => ({ metric, x: mi * groupW, width: groupW }));
  return { rects, min, max, zeroY: y(0), ticks, groups };
}

/** About `count` round tick values inside [min, max]. */
export function niceTicks(min: number, max: number, count: number): number[] {
  const span = max - min;
  if (!(span > 0)) {
    return [min];
  }
  const raw = span / count;
  const pow = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * pow).find(s => span / s <= count) ?? 10 * pow;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return out;
}

export function fmt(v: number | null | undefined, digits = 3): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : Number(v.toPrecision(digits)).toString();
}


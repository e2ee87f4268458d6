/**
 * One live chart panel (uPlot): a few series over training steps. uPlot draws to a canvas and takes new data with
 * `setData` without rebuilding, which keeps a chart fed every half second cheap (the reason it was chosen over
 * plotly or Vega-Lite, which re-render the whole spec).
 */
import React, { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';

import { aligned, IPanel } from './series';

/** Series colours from the theme (read at draw time so light and dark themes both work). */
const COLOR_VARS = ['--jp-brand-color1', '--jp-warn-color1', '--jp-success-color1', '--jp-error-color1', '--jp-accent-color1'];

function themeColor(i: number): string {
  const v = getComputedStyle(document.body).getPropertyValue(COLOR_VARS[i % COLOR_VARS.length]).trim();
  return v || '#1976d2';
}

/** Tick labels that stay readable for learning rates (5e-5) and small margins alike. */
export function formatTick(v: number): string {
  if (v === 0) {
    return '0';
  }
  const a = Math.abs(v);
  return a < 1e-3 || a >= 1e6 ? v.toExponential(1) : String(Number(v.toPrecision(3)));
}

/** Steps are integers: no 5.2, 5.4 ticks. */
const STEP_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

function axisColor(): string {
  return getComputedStyle(document.body).getPropertyValue('--jp-ui-font-color2').trim() || '#888';
}

/** Re-renders when JupyterLab's theme changes (light/dark), so the axes take the new colours. */
function useThemeName(): string {
  const read = () => document.body.dataset.jpThemeName ?? '';
  const [name, setName] = useState(read);
  useEffect(() => {
    const observer = new MutationObserver(() => setName(read()));
    observer.observe(document.body, { attributes: true, attributeFilter: ['data-jp-theme-name'] });
    return () => observer.disconnect();
  }, []);
  return name;
}

export function ChartPanel({ panel, width }: { panel: IPanel; width: number }): JSX.Element {
  const host = useRef<HTMLDivElement>(null);
  const theme = useThemeName();
  const plot = useRef<uPlot | null>(null);
  const names = panel.series.map(s => s.name).join('|');
  const data = aligned(panel);
  const points = data[0].length;

  // (Re)build when the set of series or the width changes; otherwise just feed data.
  useEffect(() => {
    if (!host.current) {
      return;
    }
    const stroke = axisColor();
    const opts: uPlot.Options = {
      width: Math.max(200, width),
      height: 180,
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: false } },
      axes: [
        { stroke, grid: { stroke: 'rgba(128,128,128,0.15)' }, label: 'step', incrs: STEP_INCRS },
        { stroke, grid: { stroke: 'rgba(128,128,128,0.15)' }, size: 64, values: (_u, ticks) => ticks.map(formatTick) }
      ],
      series: [
        { label: 'step' },
        ...panel.series.map((s, i) => ({
          label: s.name,
          stroke: themeColor(i),
          width: 1.5,
          spanGaps: true,
          points: { size: 4 },
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '--' : formatTick(v))
        }))
      ]
    };
    plot.current = new uPlot(opts, data as uPlot.AlignedData, host.current);
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, [names, width, theme]);

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  });

  return (
    <div className="jp-ft-chart" data-panel={panel.id} data-points={points} data-last-step={points ? data[0][points - 1] : ''}>
      <div className="jp-ft-chart-title">{panel.title}</div>
      <div ref={host} />
    </div>
  );
}

/**
 * One live chart panel (uPlot): a few series over training steps. uPlot draws to a canvas and takes new data with
 * `setData` without rebuilding, which keeps a chart fed every half second cheap (the reason it was chosen over
 * plotly or Vega-Lite, which re-render the whole spec).
 */
import React, { useEffect, useRef } from 'react';
import uPlot from 'uplot';

import { aligned, IPanel } from './series';

/** Series colours from the theme (read at draw time so light and dark themes both work). */
const COLOR_VARS = ['--jp-brand-color1', '--jp-warn-color1', '--jp-success-color1', '--jp-error-color1', '--jp-accent-color1'];

function themeColor(i: number): string {
  const v = getComputedStyle(document.body).getPropertyValue(COLOR_VARS[i % COLOR_VARS.length]).trim();
  return v || '#1976d2';
}

function axisColor(): string {
  return getComputedStyle(document.body).getPropertyValue('--jp-ui-font-color2').trim() || '#888';
}

export function ChartPanel({ panel, width }: { panel: IPanel; width: number }): JSX.Element {
  const host = useRef<HTMLDivElement>(null);
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
        { stroke, grid: { stroke: 'rgba(128,128,128,0.15)' }, label: 'step' },
        { stroke, grid: { stroke: 'rgba(128,128,128,0.15)' }, size: 60 }
      ],
      series: [
        { label: 'step' },
        ...panel.series.map((s, i) => ({ label: s.name, stroke: themeColor(i), width: 1.5, spanGaps: true, points: { size: 4 } }))
      ]
    };
    plot.current = new uPlot(opts, data as uPlot.AlignedData, host.current);
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, [names, width]);

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

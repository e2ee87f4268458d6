/**
 * The lineage graph of a model version (`GET lineage?ref=name@3` = core `Lineage.to_dict()`): dataset -> job ->
 * model version -> evaluations / endpoints, drawn as a small left-to-right SVG. Clicking a node shows its details
 * and its MLflow link. Where each box and edge goes comes from the server (`layout` of the reply, the notebook
 * widget's layout); `lineageScene` (pure, unit-tested) only pairs it with the nodes, and this draws it.
 */
import React, { useEffect, useState } from 'react';

import { describeError, FineTuningAPI, Lineage, LineageNode } from '../api';
import { lineageScene } from '../charts/lineageLayout';

const KIND_LABEL: Record<string, string> = {
  dataset: 'dataset',
  job: 'training job',
  model_version: 'model version',
  evaluation: 'evaluation',
  endpoint: 'endpoint'
};

/** The graph of one ref, fetched on mount; a node click shows its details below the graph. */
export function LineageView({ api, modelRef }: { api: FineTuningAPI; modelRef: string }): JSX.Element {
  const [graph, setGraph] = useState<Lineage | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    setGraph(null);
    setError(null);
    api
      .lineage(modelRef)
      .then(g => live && setGraph(g))
      .catch(err => live && setError(describeError(err)));
    return () => {
      live = false;
    };
  }, [api, modelRef]);
  if (error) {
    return (
      <div className="jp-ft-error" role="alert">
        Lineage of {modelRef}: {error}
      </div>
    );
  }
  if (!graph) {
    return <div className="jp-ft-empty">Loading the lineage of {modelRef}…</div>;
  }
  return <LineageGraph graph={graph} />;
}

export function LineageGraph({ graph }: { graph: Lineage }): JSX.Element {
  const [selected, setSelected] = useState<string | null>(graph.root ?? null);
  if (graph.nodes.length === 0) {
    return <div className="jp-ft-empty">No lineage recorded.</div>;
  }
  const layout = lineageScene(graph);
  const node = graph.nodes.find(n => n.id === selected) ?? null;
  return (
    <div className="jp-ft-lineage">
      <svg
        className="jp-ft-lineage-svg"
        width={layout.width}
        height={layout.height}
        viewBox={`0 0 ${layout.width} ${layout.height}`}
        role="img"
        aria-label="lineage graph"
      >
        <defs>
          <marker id="jp-ft-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto">
            <path d="M0,0 L10,5 L0,10 z" className="jp-ft-lineage-arrow" />
          </marker>
        </defs>
        {layout.titles.map(t => (
          <text key={t.text} x={t.x + 4} y={16} className="jp-ft-lineage-column">
            {t.text}
          </text>
        ))}
        {layout.edges.map(e => (
          <path key={`${e.from}->${e.to}`} d={e.d} className="jp-ft-lineage-edge" markerEnd="url(#jp-ft-arrow)">
            <title>{e.relation}</title>
          </path>
        ))}
        {layout.nodes.map(n => (
          <g
            key={n.id}
            className={`jp-ft-lineage-node jp-ft-kind-${n.kind}${n.id === selected ? ' jp-mod-selected' : ''}${
              n.root ? ' jp-ft-lineage-root' : ''
            }`}
            data-node-id={n.id}
            data-kind={n.kind}
            transform={`translate(${n.x},${n.y})`}
            onClick={() => setSelected(n.id)}
            tabIndex={0}
            role="button"
            aria-label={`${KIND_LABEL[n.kind] ?? n.kind} ${n.label}`}
            onKeyDown={ev => (ev.key === 'Enter' || ev.key === ' ') && setSelected(n.id)}
          >
            <rect width={n.w} height={n.h} rx={5} />
            <text x={8} y={15} className="jp-ft-lineage-kind">
              {KIND_LABEL[n.kind] ?? n.kind}
            </text>
            <text x={8} y={33} className="jp-ft-lineage-label">
              {n.text}
            </text>
            <title>{n.label}</title>
          </g>
        ))}
      </svg>
      {node && <NodeDetails node={node} />}
    </div>
  );
}

function NodeDetails({ node }: { node: LineageNode }): JSX.Element {
  const entries = Object.entries(node.details ?? {}).filter(([, v]) => v !== null && v !== undefined && v !== '');
  return (
    <div className="jp-ft-lineage-details" data-node-id={node.id}>
      <div className="jp-ft-lineage-details-head">
        <span className="jp-ft-pill">{KIND_LABEL[node.kind] ?? node.kind}</span> <strong>{node.label}</strong>
        {node.mlflow_url && (
          <a className="jp-ft-alink jp-ft-mlflow-link" href={node.mlflow_url} target="_blank" rel="noreferrer">
            Open in MLflow
          </a>
        )}
      </div>
      {entries.length > 0 ? (
        <table className="jp-ft-kv">
          <tbody>
            {entries.map(([k, v]) => (
              <tr key={k}>
                <th>{k}</th>
                <td>{typeof v === 'object' ? JSON.stringify(v) : String(v)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <div className="jp-ft-empty">No details recorded for this node.</div>
      )}
    </div>
  );
}

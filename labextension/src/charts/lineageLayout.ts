/**
 * Where each node of a lineage graph (`Lineage.to_dict()`: dataset -> job -> model version -> evaluations /
 * endpoints) sits in the SVG: pure, so the layout is unit-tested without a browser.
 */
import type { Lineage, LineageEdge, LineageNode } from '../api';

/** The kinds of node the server draws (the document types `kind` as any string). */
export type LineageKind = 'dataset' | 'job' | 'model_version' | 'evaluation' | 'endpoint';

export type IPlacedNode = LineageNode & {
  layer: number;
  x: number;
  y: number;
};

export type IPlacedEdge = LineageEdge & {
  /** SVG path from the source's right side to the target's left side. */
  path: string;
};

export interface ILineageLayout {
  nodes: IPlacedNode[];
  edges: IPlacedEdge[];
  width: number;
  height: number;
}

export const NODE_W = 150;
export const NODE_H = 40;
const GAP_X = 56;
const GAP_Y = 18;
const PAD = 10;

/**
 * Layers by longest path from the sources (a node sits right of everything it comes from), ordered within a layer
 * by the mean position of its parents so edges cross little. Edges naming a missing node are dropped; a cycle
 * (which lineage should never have) is broken rather than looping.
 */
export function layoutLineage(graph: Lineage): ILineageLayout {
  const ids = new Set(graph.nodes.map(n => n.id));
  const edges = graph.edges.filter(e => ids.has(e.from) && ids.has(e.to) && e.from !== e.to);
  const parents = new Map<string, string[]>(graph.nodes.map(n => [n.id, []]));
  const children = new Map<string, string[]>(graph.nodes.map(n => [n.id, []]));
  for (const e of edges) {
    parents.get(e.to)!.push(e.from);
    children.get(e.from)!.push(e.to);
  }
  // Kahn's order; nodes left over sit in a cycle: take them in input order.
  const indegree = new Map(graph.nodes.map(n => [n.id, parents.get(n.id)!.length]));
  const queue = graph.nodes.filter(n => indegree.get(n.id) === 0).map(n => n.id);
  const order: string[] = [];
  const seen = new Set<string>();
  while (order.length < graph.nodes.length) {
    if (queue.length === 0) {
      const stuck = graph.nodes.find(n => !seen.has(n.id))!;
      queue.push(stuck.id);
      indegree.set(stuck.id, 0);
    }
    const id = queue.shift()!;
    if (seen.has(id)) {
      continue;
    }
    seen.add(id);
    order.push(id);
    for (const c of children.get(id)!) {
      const d = indegree.get(c)! - 1;
      indegree.set(c, d);
      if (d === 0 && !seen.has(c)) {
        queue.push(c);
      }
    }
  }
  const layer = new Map<string, number>();
  for (const id of order) {
    const done = parents.get(id)!.filter(p => layer.has(p));
    layer.set(id, done.length ? Math.max(...done.map(p => layer.get(p)!)) + 1 : 0);
  }
  const byLayer: string[][] = [];
  for (const id of order) {
    (byLayer[layer.get(id)!] ??= []).push(id);
  }
  const row = new Map<string, number>();
  byLayer.forEach((ids, l) => {
    if (l > 0) {
      const mean = (id: string) => {
        const ps = parents.get(id)!.filter(p => row.has(p));
        return ps.length ? ps.reduce((s, p) => s + row.get(p)!, 0) / ps.length : Number.MAX_SAFE_INTEGER;
      };
      ids.sort((a, b) => mean(a) - mean(b));
    }
    ids.forEach((id, i) => row.set(id, i));
  });
  const tallest = Math.max(1, ...byLayer.map(ids => ids.length));
  const height = PAD * 2 + tallest * NODE_H + (tallest - 1) * GAP_Y;
  const byId = new Map(graph.nodes.map(n => [n.id, n]));
  const nodes: IPlacedNode[] = order.map(id => {
    const l = layer.get(id)!;
    const count = byLayer[l].length;
    const column = count * NODE_H + (count - 1) * GAP_Y;
    return {
      ...byId.get(id)!,
      layer: l,
      x: PAD + l * (NODE_W + GAP_X),
      y: (height - column) / 2 + row.get(id)! * (NODE_H + GAP_Y)
    };
  });
  const placed = new Map(nodes.map(n => [n.id, n]));
  const placedEdges: IPlacedEdge[] = edges.map(e => {
    const a = placed.get(e.from)!;
    const b = placed.get(e.to)!;
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2;
    const x2 = b.x;
    const y2 = b.y + NODE_H / 2;
    const mid = (x1 + x2) / 2;
    return { ...e, path: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}` };
  });
  const width = PAD * 2 + byLayer.length * NODE_W + Math.max(0, byLayer.length - 1) * GAP_X;
  return { nodes, edges: placedEdges, width, height };
}

/** Shorten `text` to fit a node box. */
export function clip(text: string, max = 22): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}

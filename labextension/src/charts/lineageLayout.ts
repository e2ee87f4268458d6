/**
 * What the lineage graph draws, from the `layout` the server sends with a lineage (`GET lineage`, computed by
 * `jupyter_ft/core/registry/lineage_layout.py`, the same layout the notebook widget draws): each box with the text it
 * shows, each edge path, the column titles. Nothing is placed here; pure, so it is unit-tested without a browser.
 */
import type { Lineage, LineageNode, LineagePlacedEdge, LineagePlacedNode } from '../api';

/** A box as drawn: the server's placement, the text that fits in it, and the lineage node it stands for. */
export type ISceneNode = LineagePlacedNode & { text: string; node: LineageNode | null };

export interface ILineageScene {
  nodes: ISceneNode[];
  edges: LineagePlacedEdge[];
  titles: { x: number; text: string }[];
  width: number;
  height: number;
}

/** The server's layout of `graph`, each box joined to its node (details, MLflow link) and given its text. */
export function lineageScene(graph: Lineage): ILineageScene {
  const byId = new Map(graph.nodes.map(n => [n.id, n]));
  const layout = graph.layout;
  return {
    nodes: layout.nodes.map(p => ({ ...p, text: clip(p.short || p.label), node: byId.get(p.id) ?? null })),
    edges: layout.edges,
    titles: layout.titles,
    width: layout.width,
    height: layout.height
  };
}

/** Shorten `text` to fit a node box. */
export function clip(text: string, max = 22): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}

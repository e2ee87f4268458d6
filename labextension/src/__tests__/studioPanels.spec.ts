/**
 * Unit tests of the Models / Evaluations / Endpoints / Playground panels' logic: SSE parsing of a streamed chat
 * answer, the lineage graph as drawn from the server's layout, the evaluation bars' geometry with their 95% intervals,
 * and the form helpers.
 */
import { barLayout, niceTicks } from '../charts/evalBars';
import type { EvalPanel, Lineage } from '../api';
import { clip, lineageScene } from '../charts/lineageLayout';
import { fieldErrors, splitEntries } from '../panels/deployFields';
import { evalPrefill, pickProperties, splitFields } from '../panels/evalFields';
import { humanBytes, humanCount, shortId } from '../shell/format';
import { proxiedURL } from '../tabs/endpointState';
import { hubState } from '../tabs/hubState';
import { dropNullable } from '../panels/schemaForm';
import { chatDelta, readSSE, SSEParser, ISSEEvent } from '../api/sse';

// --- SSE --------------------------------------------------------------------------------------------------------

describe('SSEParser', () => {
  it('dispatches events only when their blank line arrives, whatever the chunking', () => {
    const text = 'data: {"a":1}\n\n: keep-alive\n\nevent: note\ndata: line one\ndata: line two\nid: 7\n\ndata: [DONE]\n\n';
    const whole = new SSEParser().feed(text);
    expect(whole).toEqual([
      { event: 'message', data: '{"a":1}', id: null },
      { event: 'note', data: 'line one\nline two', id: '7' },
      { event: 'message', data: '[DONE]', id: '7' }
    ]);
    // one character at a time gives the same events
    const p = new SSEParser();
    const split: ISSEEvent[] = [];
    for (const ch of text) {
      split.push(...p.feed(ch));
    }
    expect(split).toEqual(whole);
  });

  it('accepts CRLF and CR line ends, a CRLF split across chunks, and a field without a space', () => {
    const p = new SSEParser();
    const out = [...p.feed('data:x\r'), ...p.feed('\n\r'), ...p.feed('\ndata: y\r\r')];
    expect(out.map(e => e.data)).toEqual(['x', 'y']);
  });

  it('drops an event the stream cut before its blank line', () => {
    const p = new SSEParser();
    expect(p.feed('data: half')).toEqual([]);
    expect(p.end()).toEqual([]);
  });

  it('reads a byte stream whose chunks split a multi-byte character', async () => {
    const bytes = new TextEncoder().encode('data: {"choices":[{"delta":{"content":"héllo ☕"}}]}\n\ndata: [DONE]\n\n');
    const chunks = [bytes.slice(0, 37), bytes.slice(37, 39), bytes.slice(39)];
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        chunks.forEach(x => c.enqueue(x));
        c.close();
      }
    });
    const events: ISSEEvent[] = [];
    await readSSE(body, e => events.push(e));
    expect(events.map(chatDelta).map(d => [d.text, d.done])).toEqual([
      ['héllo ☕', false],
      ['', true]
    ]);
  });
});

describe('chatDelta', () => {
  const ev = (data: string): ISSEEvent => ({ event: 'message', data, id: null });
  it('reads chat chunks, completion chunks, finish reasons and in-stream errors', () => {
    expect(chatDelta(ev('{"choices":[{"delta":{"role":"assistant"}}]}')).text).toBe('');
    expect(chatDelta(ev('{"choices":[{"delta":{"content":"Hi"},"finish_reason":null}]}')).text).toBe('Hi');
    expect(chatDelta(ev('{"choices":[{"text":" there","finish_reason":"length"}]}'))).toEqual({
      text: ' there',
      finish: 'length',
      done: false,
      error: null
    });
    expect(chatDelta(ev('{"error":{"message":"queue full"}}')).error).toBe('queue full');
    expect(chatDelta(ev('not json')).error).toMatch(/unreadable stream event/);
    expect(chatDelta(ev('[DONE]')).done).toBe(true);
  });
});

// --- lineage ----------------------------------------------------------------------------------------------------

// A lineage as `GET lineage` sends it: the graph and core's layout of it (core/registry/versions/lineage_layout.py).
const LINEAGE: Lineage = {
  root: 'mv:humanlike@1',
  nodes: [
    { id: 'ds:prefs@abc', kind: 'dataset', label: 'dataset prefs@abc', details: {}, mlflow_url: null },
    { id: 'mv:humanlike@1', kind: 'model_version', label: 'humanlike@1', details: { technique: 'dpo' }, mlflow_url: 'http://m/1' }
  ],
  edges: [{ from: 'ds:prefs@abc', to: 'mv:humanlike@1', relation: 'trained on' }],
  layout: {
    nodes: [
      { id: 'ds:prefs@abc', kind: 'dataset', label: 'dataset prefs@abc', short: 'prefs@abc', layer: 0, x: 0, y: 30, w: 158, h: 46, root: false },
      { id: 'mv:humanlike@1', kind: 'model_version', label: 'humanlike@1', short: 'a-very-long-model-name@1', layer: 1, x: 202, y: 30, w: 158, h: 46, root: true }
    ],
    edges: [{ from: 'ds:prefs@abc', to: 'mv:humanlike@1', relation: 'trained on', d: 'M158,53 C180,53 180,53 202,53' }],
    titles: [
      { x: 0, text: 'Datasets' },
      { x: 202, text: 'Model versions' }
    ],
    width: 380,
    height: 102
  }
};

describe('lineageScene', () => {
  it('draws the boxes, paths and titles where the server placed them, each box with its node', () => {
    const scene = lineageScene(LINEAGE);
    expect(scene.nodes.map(n => [n.id, n.x, n.y, n.w, n.h, n.layer])).toEqual([
      ['ds:prefs@abc', 0, 30, 158, 46, 0],
      ['mv:humanlike@1', 202, 30, 158, 46, 1]
    ]);
    expect(scene.nodes[1].node?.details).toEqual({ technique: 'dpo' });
    expect(scene.nodes.map(n => n.text)).toEqual(['prefs@abc', clip('a-very-long-model-name@1')]);
    expect(scene.nodes[1].text.endsWith('…')).toBe(true);
    expect(scene.edges[0].d).toBe('M158,53 C180,53 180,53 202,53');
    expect(scene.titles.map(t => t.text)).toEqual(['Datasets', 'Model versions']);
    expect([scene.width, scene.height]).toEqual([380, 102]);
  });

  it('draws nothing for an empty lineage', () => {
    const scene = lineageScene({ root: '', nodes: [], edges: [], layout: { nodes: [], edges: [], titles: [], width: 0, height: 102 } });
    expect(scene.nodes).toEqual([]);
  });
});

// --- evaluation bars --------------------------------------------------------------------------------------------

// `panels` as `GET evaluations/{id}/results` sends them (core/evaluate/view.py groups them: one per evaluator, split
// by order of magnitude); the Studio only places and draws them.
const JUDGE: EvalPanel = {
  key: 'judge#0',
  title: 'judge',
  evaluator: 'judge',
  metrics: ['win', 'tie'],
  has_intervals: true,
  bars: [{ model: 'humanlike@1', values: [0.6, 0.1], err_plus: [0.15, 0.1], err_minus: [0.15, 0.1], n: [20, 20] }]
};
const LOSS: EvalPanel = {
  key: 'eval_loss#1',
  title: 'eval_loss · loss',
  evaluator: 'eval_loss',
  metrics: ['loss'],
  has_intervals: false,
  bars: [
    { model: 'humanlike@1', values: [2.5], err_plus: [null], err_minus: [null], n: [20] },
    { model: 'base', values: [null], err_plus: [null], err_minus: [null], n: [null] }
  ]
};

describe('barLayout', () => {
  it('draws each bar from zero to its value with the whisker spanning the 95% interval', () => {
    const l = barLayout(JUDGE, 300, 100);
    expect(l.min).toBe(0);
    expect(l.max).toBeGreaterThanOrEqual(0.75); // the axis reaches the upper interval end
    const win = l.rects.find(r => r.metric === 'win')!;
    const scale = (v: number) => 100 - ((v - l.min) / (l.max - l.min)) * 100;
    expect(win.y).toBeCloseTo(scale(0.6));
    expect(win.y + win.height).toBeCloseTo(l.zeroY);
    expect(win.whisker!.y1).toBeCloseTo(scale(0.75));
    expect(win.whisker!.y2).toBeCloseTo(scale(0.45));
    expect([win.low, win.high].map(v => Number(v!.toFixed(2)))).toEqual([0.45, 0.75]);
    const tie = l.rects.find(r => r.metric === 'tie')!;
    expect(tie.x).toBeGreaterThan(win.x + win.width); // groups side by side
  });

  it('draws no bar where a model has no value and no whisker without an interval', () => {
    const l = barLayout(LOSS, 200, 100);
    expect(l.rects.map(r => [r.model, r.value, r.whisker])).toEqual([['humanlike@1', 2.5, null]]);
    expect(l.groups).toEqual([{ metric: 'loss', x: 0, width: 200 }]);
  });

  it('keeps negative values below the zero line', () => {
    const l = barLayout(
      { key: 'k', title: 't', evaluator: 'r', metrics: ['m'], has_intervals: true, bars: [{ model: 'a', values: [-0.5], err_plus: [0.1], err_minus: [0.1], n: [3] }] },
      100,
      100
    );
    const r = l.rects[0];
    expect(l.min).toBeLessThan(-0.6);
    expect(r.y).toBeCloseTo(l.zeroY);
    expect(r.height).toBeGreaterThan(0);
    expect(niceTicks(0, 1, 4)).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });
});

// --- forms and lists --------------------------------------------------------------------------------------------

describe('evaluation form helpers', () => {
  const schema = {
    $defs: { J: { properties: { model: { anyOf: [{ type: 'string' }, { type: 'null' }], default: null } } } },
    properties: {
      name: { anyOf: [{ type: 'string', maxLength: 9 }, { type: 'null' }], default: null, title: 'Name' },
      models: { type: 'array', items: { type: 'string' } },
      seed: { type: 'integer', default: 42 }
    },
    required: ['models']
  };
  it('splits the schema into main and advanced parts, references kept', () => {
    const s = dropNullable(schema);
    const main = pickProperties(s, k => k !== 'seed');
    expect(Object.keys(main.properties)).toEqual(['name', 'models']);
    expect(main.required).toEqual(['models']);
    expect(main.$defs).toBe(s.$defs);
  });
  it('follows the server layout groups, hidden fields dropped and unknown fields kept as advanced', () => {
    const groups = [
      { fields: ['models', 'dataset'], advanced: false },
      { fields: ['limit'], advanced: true }
    ];
    expect(splitFields(groups, ['kind', 'models', 'dataset', 'limit', 'seed', 'auto'])).toEqual({
      main: ['models', 'dataset'],
      advanced: ['limit', 'seed']
    });
    expect(splitFields(undefined, ['models', 'seed']).main).toEqual(['models']);
  });
  it('prefills a pairwise judge against the last model', () => {
    const p = evalPrefill({ models: ['m@1', 'base'] });
    expect(p.evaluators[0]).toMatchObject({ type: 'pairwise_judge', baseline: 'base' });
    expect(evalPrefill({ models: ['m@1'] }).evaluators).toBeUndefined();
  });
});

describe('endpoint and model helpers', () => {
  it('builds proxied URLs, splits adapter entries and reads field errors', () => {
    expect(proxiedURL('/user/x/', '/jupyter-ft/endpoints/a/v1', 'http://h:1')).toBe('http://h:1/user/x/jupyter-ft/endpoints/a/v1');
    expect(proxiedURL('http://h:1/', 'jupyter-ft/endpoints/a/v1')).toBe('http://h:1/jupyter-ft/endpoints/a/v1');
    expect(splitEntries(' a@1,\n b=c@2 ,,\n')).toEqual(['a@1', 'b=c@2']);
    expect(shortId('/tmp/x/notebooks/tiny-llama')).toBe('tiny-llama');
    expect(shortId('meta-llama/Llama-3.2-1B')).toBe('meta-llama/Llama-3.2-1B'); // a hub id stays whole
    expect(shortId('tiny-llama-dpo@1')).toBe('tiny-llama-dpo@1');
    expect(fieldErrors({ errors: [{ field: 'adapters.0', message: 'unknown' }, { field: null, message: 'x' }] })).toEqual({
      adapters: 'unknown',
      _: 'x'
    });
  });
  it('reads the hub state and prints sizes', () => {
    expect(hubState({ models: [], offline: true }).online).toBe(false);
    expect(hubState({ models: [], hub: 'online' }).online).toBe(true);
    expect(hubState({ models: [], hub: { state: 'offline', error: 'no network' } })).toEqual({ online: false, note: 'no network' });
    expect(hubState({ models: [] }).online).toBeNull();
    // the catalog's own shape
    expect(hubState({ models: [], hub: { searched: false, available: false, reason: 'offline: no network' } })).toEqual({
      online: false,
      note: 'offline: no network'
    });
    expect(hubState({ models: [], hub: { searched: false, available: null, reason: 'give a query' } }).online).toBeNull();
    expect(humanCount(1234567)).toBe('1.23M');
    expect(humanCount(null)).toBe('–');
    expect(humanBytes(1536)).toBe('1.5 KiB');
    expect(humanBytes(10)).toBe('10 bytes');
  });
});

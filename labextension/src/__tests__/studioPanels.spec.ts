/**
 * Unit tests of the Models / Evaluations / Endpoints / Playground panels' logic: SSE parsing of a streamed chat
 * answer, the lineage graph's layout, the evaluation bars with their 95% intervals, and the form helpers.
 */
import { barLayout, barPanels, disagrees, magnitude, niceTicks } from '../charts/evalBars';
import type { Lineage } from '../api';
import { layoutLineage, NODE_H, NODE_W } from '../charts/lineageLayout';
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

const LINEAGE: Lineage = {
  root: 'mv:humanlike@1',
  nodes: [
    { id: 'ev:e1', kind: 'evaluation', label: 'eval e1', details: {}, mlflow_url: null },
    { id: 'mv:humanlike@1', kind: 'model_version', label: 'humanlike@1', details: { technique: 'dpo' }, mlflow_url: 'http://m/1' },
    { id: 'ds:prefs@abc', kind: 'dataset', label: 'prefs@abc', details: {}, mlflow_url: null },
    { id: 'job:j1', kind: 'job', label: 'j1', details: {}, mlflow_url: null },
    { id: 'ep:default', kind: 'endpoint', label: 'default', details: {}, mlflow_url: null }
  ],
  edges: [
    { from: 'ds:prefs@abc', to: 'job:j1', relation: 'trained on' },
    { from: 'job:j1', to: 'mv:humanlike@1', relation: 'registered' },
    { from: 'mv:humanlike@1', to: 'ev:e1', relation: 'evaluated by' },
    { from: 'ds:prefs@abc', to: 'ev:e1', relation: 'scored on' },
    { from: 'mv:humanlike@1', to: 'ep:default', relation: 'served by' },
    { from: 'mv:humanlike@1', to: 'nowhere', relation: 'dangling' }
  ]
};

describe('layoutLineage', () => {
  it('puts every node right of what it comes from, in layers, without overlaps', () => {
    const l = layoutLineage(LINEAGE);
    const at = Object.fromEntries(l.nodes.map(n => [n.id, n]));
    expect([at['ds:prefs@abc'].layer, at['job:j1'].layer, at['mv:humanlike@1'].layer]).toEqual([0, 1, 2]);
    expect(at['ev:e1'].layer).toBe(3); // longest path: after the model version, not beside the job
    expect(at['ep:default'].layer).toBe(3);
    for (const e of l.edges) {
      expect(at[e.from].x + NODE_W).toBeLessThan(at[e.to].x);
    }
    for (const a of l.nodes) {
      for (const b of l.nodes) {
        if (a !== b && a.layer === b.layer) {
          expect(Math.abs(a.y - b.y)).toBeGreaterThanOrEqual(NODE_H);
        }
      }
      expect(a.x + NODE_W).toBeLessThanOrEqual(l.width);
      expect(a.y + NODE_H).toBeLessThanOrEqual(l.height);
      expect(a.y).toBeGreaterThanOrEqual(0);
    }
    expect(l.edges).toHaveLength(5); // the edge to a missing node is dropped
    const first = l.edges.find(e => e.from === 'ds:prefs@abc' && e.to === 'job:j1')!;
    expect(first.path.startsWith(`M${at['ds:prefs@abc'].x + NODE_W},${at['ds:prefs@abc'].y + NODE_H / 2}`)).toBe(true);
  });

  it('survives a cycle and an empty graph', () => {
    const cyc = layoutLineage({
      root: 'a',
      nodes: ['a', 'b'].map(id => ({ id, kind: 'job', label: id, details: {}, mlflow_url: null })),
      edges: [
        { from: 'a', to: 'b', relation: 'x' },
        { from: 'b', to: 'a', relation: 'y' }
      ]
    });
    expect(cyc.nodes).toHaveLength(2);
    expect(layoutLineage({ root: '', nodes: [], edges: [] }).nodes).toEqual([]);
  });
});

// --- evaluation bars --------------------------------------------------------------------------------------------

const RESULTS = {
  models: ['humanlike@1', 'base'],
  metrics: [
    { model: 'humanlike@1', evaluator: 'judge', metric: 'win', value: 0.6, ci_low: 0.45, ci_high: 0.75, n: 20 },
    { model: 'humanlike@1', evaluator: 'judge', metric: 'tie', value: 0.1, ci_low: 0.0, ci_high: 0.2, n: 20 },
    { model: 'humanlike@1', evaluator: 'eval_loss', metric: 'loss', value: 2.5, n: 20 },
    { model: 'base', evaluator: 'eval_loss', metric: 'loss', value: 3.0, n: 20 },
    { model: 'humanlike@1', evaluator: 'eval_loss', metric: 'perplexity', value: 12.2, n: 20 },
    { model: 'base', evaluator: 'eval_loss', metric: 'perplexity', value: 20.1, n: 20 },
    { model: 'base', evaluator: 'eval_loss', metric: 'nan', value: NaN }
  ]
};

describe('barPanels', () => {
  it('groups by evaluator, splits metrics of different magnitudes, keeps model order', () => {
    const ps = barPanels(RESULTS);
    expect(ps.map(p => [p.title, p.metrics])).toEqual([
      ['judge', ['win', 'tie']],
      ['eval_loss · loss', ['loss']],
      ['eval_loss · perplexity', ['perplexity']]
    ]);
    const judge = ps[0];
    expect(judge.bars.map(b => b.model)).toEqual(['humanlike@1']); // base has no judge rows
    expect(judge.bars[0].errPlus[0]).toBeCloseTo(0.15);
    expect(judge.bars[0].errMinus[0]).toBeCloseTo(0.15);
    expect(ps[1].bars.map(b => [b.model, b.values[0], b.errPlus[0]])).toEqual([
      ['humanlike@1', 2.5, null],
      ['base', 3.0, null]
    ]);
    expect(magnitude([0.2, -1.2])).toBe(0);
    expect(magnitude([12])).toBe(2);
  });
});

describe('barLayout', () => {
  it('draws each bar from zero to its value with the whisker spanning the 95% interval', () => {
    const [judge] = barPanels(RESULTS);
    const l = barLayout(judge, 300, 100);
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

  it('keeps negative values below the zero line', () => {
    const l = barLayout(
      { key: 'k', title: 't', evaluator: 'r', metrics: ['m'], bars: [{ model: 'a', values: [-0.5], errPlus: [0.1], errMinus: [0.1], n: [3] }] },
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

describe('disagrees', () => {
  it('is true for differing scores or a decisive judge verdict, false for equal scores and ties', () => {
    expect(disagrees({ scores: { a: { em: 1 }, b: { em: 0 } } })).toBe(true);
    expect(disagrees({ scores: { a: { em: 1 }, b: { em: 1 } } })).toBe(false);
    expect(disagrees({ verdicts: { judge: { b: { final: 'tie' } } } })).toBe(false);
    expect(disagrees({ verdicts: { judge: { b: { final: 'a' } } } })).toBe(true);
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

import { aligned, etaSeconds, formatDuration, mergeMetrics, panelOf, panels } from '../charts/series';

describe('panelOf', () => {
  it('groups train and eval series of one kind into one panel', () => {
    expect(panelOf('loss').id).toBe('loss');
    expect(panelOf('eval_loss').id).toBe('loss');
    expect(panelOf('rewards/margins').id).toBe('margins');
    expect(panelOf('eval_rewards/margins').id).toBe('margins');
    expect(panelOf('rewards/chosen').id).toBe('rewards');
    expect(panelOf('rewards/accuracies').id).toBe('accuracy');
    expect(panelOf('learning_rate').id).toBe('lr');
    expect(panelOf('grad_norm').id).toBe('grad');
    expect(panelOf('something_new')).toEqual({ id: 'm:something_new', title: 'something_new' });
  });
  it('gives the training speed a panel of its own, apart from the token count', () => {
    expect(panelOf('tokens_per_s')).toEqual({ id: 'speed', title: 'Tokens/s' });
    expect(panelOf('num_tokens').id).toBe('throughput');
  });
});

describe('mergeMetrics', () => {
  it('appends new rows and replaces the steps a resumed attempt re-logged', () => {
    let rows = mergeMetrics([], { metrics: [{ step: 1, loss: 3 }, { step: 2, loss: 2.5 }, { step: 3, loss: 2.4 }], from_step: 0, last_seq: 3 });
    expect(rows.map(r => r.step)).toEqual([1, 2, 3]);
    rows = mergeMetrics(rows, { metrics: [{ step: 3, loss: 2.0 }, { step: 4, loss: 1.9 }], from_step: 3, last_seq: 5 });
    expect(rows).toEqual([{ step: 1, loss: 3 }, { step: 2, loss: 2.5 }, { step: 3, loss: 2.0 }, { step: 4, loss: 1.9 }]);
  });
  it('keeps the rows when nothing is new', () => {
    const rows = [{ step: 1, loss: 1 }];
    expect(mergeMetrics(rows, { metrics: [], from_step: null, last_seq: 1 })).toBe(rows);
  });
});

describe('panels', () => {
  const rows = [
    { step: 5, loss: 0.69, 'rewards/margins': 0.01, learning_rate: 5e-5, epoch: 0.1 },
    { step: 10, loss: 0.6, 'rewards/margins': 0.2, learning_rate: 4e-5, epoch: 0.2 },
    { step: 10, eval_loss: 0.65, 'eval_rewards/margins': 0.1 },
    { step: 15, loss: 0.5, 'rewards/margins': 0.4, learning_rate: 3e-5, note: 'text', bad: NaN }
  ];
  it('makes one panel per metric kind, in a fixed order, without bookkeeping columns', () => {
    const ps = panels(rows as any);
    expect(ps.map(p => p.id)).toEqual(['loss', 'margins', 'lr']); // no panel for text or NaN columns
    const loss = ps.find(p => p.id === 'loss')!;
    expect(loss.series.map(s => s.name)).toEqual(['loss', 'eval_loss']);
    expect(loss.series[0].x).toEqual([5, 10, 15]);
  });
  it('aligns sparse eval series on the union of steps with gaps', () => {
    const loss = panels(rows as any).find(p => p.id === 'loss')!;
    expect(aligned(loss)).toEqual([
      [5, 10, 15],
      [0.69, 0.6, 0.5],
      [null, 0.65, null]
    ]);
  });
});

describe('eta', () => {
  it('extrapolates the step rate while running', () => {
    expect(etaSeconds(25, 100, 1000, 1050, 'running')).toBeCloseTo(150);
  });
  it('is unknown without a total, before the first step, or once done', () => {
    expect(etaSeconds(25, null, 1000, 1050, 'running')).toBeNull();
    expect(etaSeconds(0, 100, 1000, 1050, 'running')).toBeNull();
    expect(etaSeconds(100, 100, 1000, 1050, 'succeeded')).toBeNull();
  });
  it('formats durations for people', () => {
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(150)).toBe('2 min 30 s');
    expect(formatDuration(3 * 3600 + 120)).toBe('3 h 2 min');
  });
});

import { applyPage, EMPTY } from '../tabs/liveJobs';
import { asText, asTurns, layoutRow, pageBounds, problemLines } from '../panels/rowsView';

const job = (id: string, created: number, state = 'queued', step = 0): any => ({ id, created_at: created, state, step });

describe('applyPage (jobs by cursor)', () => {
  it('the first answer is the full list, newest first', () => {
    const s = applyPage(EMPTY, { jobs: [job('a', 1), job('b', 2)], cursor: 7, full: true });
    expect(s.jobs.map(j => j.id)).toEqual(['b', 'a']);
    expect(s.cursor).toBe(7);
  });
  it('later answers carry only changed jobs: they replace their row or are added', () => {
    let s = applyPage(EMPTY, { jobs: [job('a', 1), job('b', 2)], cursor: 7, full: true });
    s = applyPage(s, { jobs: [job('a', 1, 'running', 3), job('c', 3)], cursor: 9, full: false });
    expect(s.jobs.map(j => [j.id, j.state, j.step])).toEqual([
      ['c', 'queued', 0],
      ['b', 'queued', 0],
      ['a', 'running', 3]
    ]);
    expect(s.cursor).toBe(9);
  });
  it('an empty change set keeps the list and moves the cursor', () => {
    const s0 = applyPage(EMPTY, { jobs: [job('a', 1)], cursor: 7, full: true });
    const s1 = applyPage(s0, { jobs: [], cursor: 7, full: false });
    expect(s1.jobs).toEqual(s0.jobs);
  });
  it('full=true (the cursor was reset) and cursor-less servers replace the list', () => {
    const s0 = applyPage(EMPTY, { jobs: [job('a', 1), job('b', 2)], cursor: 7, full: true });
    expect(applyPage(s0, { jobs: [job('z', 5)], cursor: 2, full: true }).jobs.map(j => j.id)).toEqual(['z']);
    const old = applyPage(EMPTY, { jobs: [job('a', 1)] });
    expect(old.cursor).toBeNull();
    expect(applyPage(old, { jobs: [job('b', 2)] }).jobs.map(j => j.id)).toEqual(['b']);
  });
});

describe('dataset rows', () => {
  it('lays preference rows out as prompt over chosen | rejected', () => {
    const l = layoutRow({ prompt: 'hi', chosen: 'hey!', rejected: 'Greetings.', source: 'x' }, 'preference');
    expect(l.head).toEqual([['prompt', 'hi']]);
    expect(l.sides).toEqual([
      ['chosen', 'hey!'],
      ['rejected', 'Greetings.']
    ]);
    expect(l.rest).toEqual([['source', 'x']]);
  });
  it('lays chat rows out with their messages first, no sides', () => {
    const l = layoutRow({ id: 1, messages: [{ role: 'user', content: 'q' }] }, 'sft');
    expect(l.head.map(([k]) => k)).toEqual(['messages']);
    expect(l.sides).toEqual([]);
  });
  it('reads conversational values as turns', () => {
    expect(asTurns([{ role: 'assistant', content: 'yo' }])).toEqual([{ role: 'assistant', content: 'yo' }]);
    expect(asTurns('text')).toBeNull();
    expect(asText([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }])).toBe('user: a\nassistant: b');
    expect(asText(null)).toBe('');
    expect(asText({ a: 1 })).toBe('{"a":1}');
  });
  it('pages are clamped to the rows there are', () => {
    expect(pageBounds(0, 10, 25)).toEqual({ page: 0, offset: 0, end: 10, pages: 3 });
    expect(pageBounds(7, 10, 25)).toEqual({ page: 2, offset: 20, end: 25, pages: 3 });
    expect(pageBounds(0, 10, 0)).toEqual({ page: 0, offset: 0, end: 0, pages: 1 });
  });
  it('upload problems read by row', () => {
    expect(
      problemLines({ errors: [{ row: 9, field: 'chosen', message: 'empty' }, { row: 4, field: 'prompt', message: 'missing' }, { message: 'general' }] })
    ).toEqual(['general', 'row 4: prompt: missing', 'row 9: chosen: empty']);
  });
});

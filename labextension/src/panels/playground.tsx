/**
 * The playground of one endpoint (main area): the same prompt to several served models, answers streaming into
 * side-by-side columns (the Jupyter-proxied `/jupyter-ft/endpoints/{name}/v1/chat/completions` with `stream:
 * true`, read as server-sent events while they arrive), a vote on the side-by-side answers, and the blind A/B
 * vote (`playground/blind`: the server keeps which model is A until the vote, then reveals it).
 */
import React, { useCallback, useContext, useEffect, useRef, useState } from 'react';

import { BlindPair, BlindReveal, describeError, Endpoint, FineTuningAPI, IChatSettings } from '../api';
import { shortId } from '../shell/format';
import { OpenMain, VisibleContext } from '../shell/mainArea';
import { usePoll } from '../shell/usePoll';
import { COMING_UP } from '../tabs/endpointState';

interface IColumn {
  model: string;
  text: string;
  state: 'idle' | 'streaming' | 'done' | 'error';
  error: string | null;
  firstTokenMs: number | null;
  totalMs: number | null;
  chunks: number;
}

/** Open the playground of `endpoint` in the main area. */
export function openPlayground(api: FineTuningAPI, openMain: OpenMain, endpoint: string): void {
  openMain(`jupyter-ft-playground:${endpoint}`, `Playground ${endpoint}`, () => (
    <PlaygroundView api={api} endpoint={endpoint} />
  ));
}

const DEFAULT_PROMPT = 'How do I keep a sourdough starter alive?';

export function PlaygroundView({ api, endpoint }: { api: FineTuningAPI; endpoint: string }): JSX.Element {
  const [info, setInfo] = useState<Endpoint | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [picked, setPicked] = useState<string[]>([]);
  const [prompt, setPrompt] = useState(DEFAULT_PROMPT);
  const [chat, setChat] = useState<IChatSettings>({ max_tokens: 48, temperature: 0 });
  const [columns, setColumns] = useState<IColumn[]>([]);
  const [voted, setVoted] = useState<string | null>(null);
  const abort = useRef<AbortController | null>(null);
  const loadInfo = useCallback(async (): Promise<number> => {
    try {
      const ep = await api.getEndpoint(endpoint);
      setInfo(ep);
      setError(null);
      setPicked(prev => (prev.length ? prev.filter(m => ep.models.includes(m)) : ep.models.slice(0, 2)));
      // follow a starting endpoint closely, then now and then (it may be stopped or restarted from elsewhere)
      return COMING_UP.includes(ep.state) ? 1500 : 5000;
    } catch (err) {
      setError(describeError(err));
      return 5000;
    }
  }, [api, endpoint]);
  const visible = useContext(VisibleContext);
  usePoll(loadInfo, 5000, visible);
  useEffect(() => () => abort.current?.abort(), []);
  const running = info?.state === 'running';

  const send = async () => {
    if (!info || !running || picked.length === 0 || !prompt.trim()) {
      return;
    }
    abort.current?.abort();
    const ctl = new AbortController();
    abort.current = ctl;
    setVoted(null);
    const url = api.chatURL(endpoint, info.proxy_url);
    setColumns(picked.map(model => ({ model, text: '', state: 'streaming', error: null, firstTokenMs: null, totalMs: null, chunks: 0 })));
    const update = (i: number, f: (c: IColumn) => IColumn) => setColumns(cols => cols.map((c, j) => (j === i ? f(c) : c)));
    await Promise.all(
      picked.map(async (model, i) => {
        const t0 = performance.now();
        try {
          await api.streamChat(
            url,
            model,
            prompt,
            chat,
            piece =>
              update(i, c => ({
                ...c,
                text: c.text + piece,
                chunks: c.chunks + 1,
                firstTokenMs: c.firstTokenMs ?? Math.round(performance.now() - t0)
              })),
            ctl.signal
          );
          update(i, c => ({ ...c, state: 'done', totalMs: Math.round(performance.now() - t0) }));
        } catch (err) {
          update(i, c => ({ ...c, state: 'error', error: (err as Error).message, totalMs: Math.round(performance.now() - t0) }));
        }
      })
    );
  };

  const vote = async (winner: string) => {
    const labels = ['A', 'B'];
    const answers: Record<string, string> = {};
    const models: Record<string, string> = {};
    columns.slice(0, 2).forEach((c, i) => {
      answers[labels[i]] = c.text;
      models[labels[i]] = c.model;
    });
    try {
      await api.recordVote({ prompt, answers, models, winner, settings: chat, endpoint });
      setVoted(winner === 'tie' ? 'Recorded a tie.' : `Recorded: ${models[winner]} is better.`);
    } catch (err) {
      setVoted(`Vote not recorded: ${describeError(err)}`);
    }
  };

  const streaming = columns.some(c => c.state === 'streaming');
  const canVote = columns.length === 2 && columns.every(c => c.state === 'done');
  return (
    <div className="jp-ft-panel jp-ft-playground" data-endpoint={endpoint}>
      <h2>
        Playground · {endpoint}{' '}
        {info && <span className={`jp-ft-state jp-ft-state-${info.state}`}>{info.state}</span>}
      </h2>
      {error && (
        <div className="jp-ft-error" role="alert">
          {error}
        </div>
      )}
      {!info && !error && <div className="jp-ft-empty">Loading the endpoint…</div>}
      {info && COMING_UP.includes(info.state) && (
        <div className="jp-ft-notice jp-ft-endpoint-starting">
          The endpoint is {info.state} (loading the model); Send is enabled once it runs.
        </div>
      )}
      {info && !running && !COMING_UP.includes(info.state) && (
        <div className="jp-ft-error" role="alert">
          The endpoint is {info.state}
          {info.last_error ? `: ${info.last_error}` : ''}. Deploy it again from the Endpoints tab.
        </div>
      )}
      {info && (
        <>
          <div className="jp-ft-formrow jp-ft-pick-models">
            <span>Models:</span>
            {info.models.map(m => (
              <label key={m} className="jp-ft-check">
                <input
                  type="checkbox"
                  checked={picked.includes(m)}
                  onChange={e => setPicked(p => (e.target.checked ? [...p, m] : p.filter(x => x !== m)))}
                />{' '}
                <span title={m}>{shortId(m)}</span>
              </label>
            ))}
            {info.models.length === 0 && <span className="jp-ft-muted">this endpoint serves no model yet</span>}
          </div>
          <textarea
            className="jp-ft-input jp-ft-prompt"
            rows={3}
            value={prompt}
            onChange={e => setPrompt(e.target.value)}
            aria-label="prompt"
          />
          <div className="jp-ft-toolbar">
            <label>
              max tokens{' '}
              <input
                className="jp-ft-input jp-ft-num"
                type="number"
                min={1}
                max={4096}
                value={chat.max_tokens}
                onChange={e => setChat(c => ({ ...c, max_tokens: Math.max(1, Number(e.target.value) || 1) }))}
              />
            </label>
            <label>
              temperature{' '}
              <input
                className="jp-ft-input jp-ft-num"
                type="number"
                min={0}
                max={2}
                step={0.1}
                value={chat.temperature}
                onChange={e => setChat(c => ({ ...c, temperature: Math.min(2, Math.max(0, Number(e.target.value) || 0)) }))}
              />
            </label>
            <button
              className="jp-ft-button jp-mod-accept jp-ft-send"
              disabled={!running || streaming || picked.length === 0 || !prompt.trim()}
              onClick={() => void send()}
            >
              Send
            </button>
            {streaming && (
              <button className="jp-ft-button jp-ft-stop-stream" onClick={() => abort.current?.abort()}>
                Stop
              </button>
            )}
          </div>
          <div className="jp-ft-columns">
            {columns.map(c => (
              <div key={c.model} className={`jp-ft-column jp-ft-column-${c.state}`} data-model={c.model} data-state={c.state}>
                <div className="jp-ft-column-head">
                  <strong title={c.model}>{shortId(c.model)}</strong>
                  <span className="jp-ft-muted">
                    {c.state === 'streaming' ? 'streaming…' : c.state}
                    {c.firstTokenMs !== null ? ` · first token ${c.firstTokenMs} ms` : ''}
                    {c.totalMs !== null ? ` · ${c.totalMs} ms` : ''}
                  </span>
                </div>
                <div className="jp-ft-answer">{c.text}</div>
                {c.error && <div className="jp-ft-error">{c.error}</div>}
              </div>
            ))}
          </div>
          {canVote && (
            <div className="jp-ft-actions jp-ft-side-vote">
              <span>Which is better?</span>
              <button className="jp-ft-button" onClick={() => void vote('A')}>
                {shortId(columns[0].model)}
              </button>
              <button className="jp-ft-button" onClick={() => void vote('tie')}>
                Tie
              </button>
              <button className="jp-ft-button" onClick={() => void vote('B')}>
                {shortId(columns[1].model)}
              </button>
              {voted && <span className="jp-ft-muted">{voted}</span>}
            </div>
          )}
          <BlindVote api={api} endpoint={endpoint} models={info.models} prompt={prompt} chat={chat} running={running} />
        </>
      )}
    </div>
  );
}

/** A blind A/B pair: two served models answer, shown as A and B; the vote reveals which was which. */
function BlindVote({
  api,
  endpoint,
  models,
  prompt,
  chat,
  running
}: {
  api: FineTuningAPI;
  endpoint: string;
  models: string[];
  prompt: string;
  chat: IChatSettings;
  running: boolean;
}): JSX.Element {
  const [pair, setPair] = useState<BlindPair | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [reveal, setReveal] = useState<BlindReveal | null>(null);
  const [a, setA] = useState(models[0] ?? '');
  const [b, setB] = useState(models[1] ?? '');
  const ask = async () => {
    setBusy(true);
    setError(null);
    setReveal(null);
    setPair(null);
    try {
      setPair(
        await api.blindPair({ endpoint, prompt, models: [a, b], settings: chat })
      );
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  const vote = async (winner: 'A' | 'B' | 'tie') => {
    if (!pair) {
      return;
    }
    setError(null);
    try {
      setReveal(await api.blindVote(pair.pair_id, winner));
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <section className="jp-ft-section jp-ft-blind">
      <h3>Blind A/B</h3>
      {models.length < 2 ? (
        <div className="jp-ft-empty">A blind vote needs two models on this endpoint (add an adapter, or the base).</div>
      ) : (
        <>
          <div className="jp-ft-toolbar">
            <select className="jp-ft-input" value={a} onChange={e => setA(e.target.value)} aria-label="first model">
              {models.map(m => (
                <option key={m} value={m}>
                  {shortId(m)}
                </option>
              ))}
            </select>
            <span>vs</span>
            <select className="jp-ft-input" value={b} onChange={e => setB(e.target.value)} aria-label="second model">
              {models.map(m => (
                <option key={m} value={m}>
                  {shortId(m)}
                </option>
              ))}
            </select>
            <button className="jp-ft-button jp-ft-blind-ask" disabled={!running || busy || a === b || !prompt.trim()} onClick={() => void ask()}>
              {busy ? 'Asking both…' : 'Ask blind'}
            </button>
            {a === b && <span className="jp-ft-muted">pick two different models</span>}
          </div>
          {error && (
            <div className="jp-ft-error" role="alert">
              {error}
            </div>
          )}
          {pair && (
            <div className="jp-ft-columns" data-pair-id={pair.pair_id}>
              {pair.answers.map(ans => (
                <div key={ans.slot} className="jp-ft-column jp-ft-blind-answer" data-slot={ans.slot}>
                  <div className="jp-ft-column-head">
                    <strong>{ans.slot}</strong>
                    {reveal && <span className="jp-ft-reveal">{shortId(String(reveal[ans.slot] ?? ''))}</span>}
                  </div>
                  <div className="jp-ft-answer">{ans.text}</div>
                </div>
              ))}
            </div>
          )}
          {pair && !reveal && (
            <div className="jp-ft-actions jp-ft-blind-vote">
              <span>Which is better?</span>
              <button className="jp-ft-button" data-winner="A" onClick={() => void vote('A')}>
                A
              </button>
              <button className="jp-ft-button" data-winner="tie" onClick={() => void vote('tie')}>
                Tie
              </button>
              <button className="jp-ft-button" data-winner="B" onClick={() => void vote('B')}>
                B
              </button>
            </div>
          )}
          {reveal && (
            <div className="jp-ft-notice jp-ft-blind-revealed">
              Vote recorded ({reveal.winner === 'tie' ? 'tie' : `${reveal.winner} = ${shortId(String(reveal[reveal.winner ?? ''] ?? ''))}`}): A was{' '}
              <span title={reveal.A}>{shortId(reveal.A)}</span>, B was <span title={reveal.B}>{shortId(reveal.B)}</span>.
            </div>
          )}
        </>
      )}
    </section>
  );
}

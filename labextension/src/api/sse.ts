/**
 * Server-sent events read from a fetch body, for the playground's streaming columns: an OpenAI-compatible
 * endpoint answers `stream: true` with `data: {chunk}` events ending on `data: [DONE]`. Pure (no JupyterLab
 * imports) so the parsing is unit-tested; the caller makes the request (with Jupyter's token/XSRF headers).
 */

/** One dispatched event (the WHATWG event-stream fields we use). */
export interface ISSEEvent {
  event: string;
  data: string;
  id: string | null;
}

/**
 * Incremental event-stream parser: `feed` any slice of the text (a chunk may end mid-line or mid-event) and get
 * the events completed so far. Line ends may be LF, CRLF or CR; comments (`:`) are ignored; `data` lines join
 * with LF; an event without data is not dispatched (as browsers do).
 */
export class SSEParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | null = null;
  private pendingCR = false;

  feed(text: string): ISSEEvent[] {
    if (this.pendingCR && text.startsWith('\n')) {
      text = text.slice(1); // the LF of a CRLF split across two chunks
    }
    this.pendingCR = false;
    this.buffer += text;
    const out: ISSEEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (!m) {
        break;
      }
      if (m[0] === '\r' && m.index === this.buffer.length - 1) {
        this.pendingCR = true; // maybe the first half of a CRLF: the line is complete either way
      }
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const ev = this.line(line);
      if (ev) {
        out.push(ev);
      }
    }
    return out;
  }

  /** The stream ended: an event still being built is dropped unless its blank line arrived (the spec's rule). */
  end(): ISSEEvent[] {
    const rest = this.buffer;
    this.buffer = '';
    if (rest) {
      this.line(rest);
    }
    return [];
  }

  private line(line: string): ISSEEvent | null {
    if (line === '') {
      if (this.data.length === 0) {
        this.event = '';
        return null;
      }
      const ev: ISSEEvent = { event: this.event || 'message', data: this.data.join('\n'), id: this.id };
      this.data = [];
      this.event = '';
      return ev;
    }
    if (line.startsWith(':')) {
      return null;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    if (field === 'data') {
      this.data.push(value);
    } else if (field === 'event') {
      this.event = value;
    } else if (field === 'id' && !value.includes('\0')) {
      this.id = value;
    }
    return null;
  }
}

/** Read a byte stream as server-sent events, calling `onEvent` as each one completes. */
export async function readSSE(
  body: ReadableStream<Uint8Array>,
  onEvent: (ev: ISSEEvent) => void,
  signal?: AbortSignal
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SSEParser();
  try {
    for (;;) {
      if (signal?.aborted) {
        await reader.cancel();
        return;
      }
      const { done, value } = await reader.read();
      if (done) {
        break;
      }
      parser.feed(decoder.decode(value, { stream: true })).forEach(onEvent);
    }
    parser.feed(decoder.decode()).forEach(onEvent);
    parser.end();
  } finally {
    reader.releaseLock();
  }
}

/** What one OpenAI streaming chunk adds to an answer. */
export interface IChatDelta {
  /** Text to append (empty when the chunk carries none). */
  text: string;
  /** `finish_reason` when the chunk ends the choice. */
  finish: string | null;
  /** True for the closing `[DONE]` sentinel. */
  done: boolean;
  /** An error the server sent inside the stream (OpenAI's `{"error": {"message"}}`). */
  error: string | null;
}

/**
 * Decode one event of an OpenAI-compatible stream: a chat chunk (`choices[0].delta.content`), a completion chunk
 * (`choices[0].text`), an in-stream error, or `[DONE]`. Anything unparseable is reported as an error rather than
 * dropped, so a broken endpoint shows why the column stopped.
 */
export function chatDelta(ev: ISSEEvent): IChatDelta {
  const data = ev.data.trim();
  if (data === '[DONE]') {
    return { text: '', finish: null, done: true, error: null };
  }
  let chunk: any;
  try {
    chunk = JSON.parse(data);
  } catch {
    return { text: '', finish: null, done: false, error: `unreadable stream event: ${data.slice(0, 120)}` };
  }
  if (chunk && chunk.error) {
    const message = typeof chunk.error === 'string' ? chunk.error : chunk.error.message ?? JSON.stringify(chunk.error);
    return { text: '', finish: null, done: false, error: String(message) };
  }
  const choice = chunk?.choices?.[0];
  if (!choice) {
    return { text: '', finish: null, done: false, error: null }; // e.g. a usage-only chunk
  }
  const text = choice.delta?.content ?? choice.text ?? '';
  return { text: typeof text === 'string' ? text : '', finish: choice.finish_reason ?? null, done: false, error: null };
}

/** The message of an OpenAI-format error body (`{"error": {"message"}}`), a Jupyter one, or the raw text. */
export function errorMessage(status: number, text: string): string {
  try {
    const body = JSON.parse(text);
    const msg = body?.error?.message ?? (typeof body?.error === 'string' ? body.error : null) ?? body?.message;
    if (msg) {
      return `${status}: ${msg}`;
    }
  } catch {
    // not JSON
  }
  return `${status}: ${text.slice(0, 200) || 'no answer body'}`;
}

/**
 * A chat answer streamed from an endpoint through Jupyter's proxy (`/jupyter-ft/endpoints/{name}/v1/chat/completions`
 * with `stream: true`), read as server-sent events while they arrive. The request goes through `ServerConnection`
 * like every other call of the client (it carries the session's token/XSRF); only the body is read as a stream.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { chatDelta, errorMessage, readSSE } from './sse';

/** Generation settings sent with each chat request (a type, not an interface, so it is a JSON object). */
export type IChatSettings = {
  max_tokens: number;
  temperature: number;
};

/** The chat-completions URL of an endpoint through Jupyter's proxy. */
export function chatURL(settings: ServerConnection.ISettings, endpoint: string, proxyUrl: string | null): string {
  const path = proxyUrl ? proxyUrl.replace(/^\/+/, '') : `jupyter-ft/endpoints/${encodeURIComponent(endpoint)}/v1`;
  return URLExt.join(settings.baseUrl, path, 'chat/completions');
}

/**
 * Stream one chat answer: `onText` gets each piece as it arrives. Resolves when the stream ends; rejects with a
 * readable message on an HTTP error, an in-stream error, or a stream that ends without `[DONE]` or a finish.
 */
export async function streamChat(
  settings: ServerConnection.ISettings,
  url: string,
  model: string,
  prompt: string,
  chat: IChatSettings,
  onText: (piece: string) => void,
  signal?: AbortSignal
): Promise<void> {
  const init: RequestInit = {
    method: 'POST',
    body: JSON.stringify({ model, messages: [{ role: 'user', content: prompt }], stream: true, ...chat }),
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    signal
  };
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    if ((error as any)?.name === 'AbortError') {
      throw new Error('stopped');
    }
    throw new Error(`cannot reach the endpoint through Jupyter: ${(error as Error).message}`);
  }
  if (!response.ok || !response.body) {
    throw new Error(errorMessage(response.status, await response.text()));
  }
  let finished = false;
  let failure: string | null = null;
  await readSSE(
    response.body,
    ev => {
      const d = chatDelta(ev);
      if (d.error) {
        failure = d.error;
      }
      if (d.text) {
        onText(d.text);
      }
      if (d.done || d.finish) {
        finished = true;
      }
    },
    signal
  );
  if (failure) {
    throw new Error(failure);
  }
  if (signal?.aborted) {
    throw new Error('stopped');
  }
  if (!finished) {
    throw new Error('the stream ended before the answer finished (the endpoint may have stopped)');
  }
}

/**
 * The one place that talks HTTP to the jupyter_ft server extension (`<base_url>/jupyter-ft/api/...`).
 * Requests go through `ServerConnection`, so they carry the session's token/XSRF like every JupyterLab call.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The server extension's route prefix (see jupyter_ft/server/app.py). */
export const API_NAMESPACE = 'jupyter-ft/api';

/** Call `endPoint` (relative to the API namespace) and return its JSON body; throws on transport or HTTP errors. */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_NAMESPACE, endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let body: any = text;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON (e.g. an HTML error page from a proxy): keep the text for the error message
    }
  }
  if (!response.ok) {
    const message =
      (body && typeof body === 'object' && body.message) ||
      (typeof body === 'string' && body.slice(0, 200)) ||
      response.statusText;
    throw new ServerConnection.ResponseError(response, message);
  }
  return body as T;
}

/** A sentence a person can act on, for any error `requestAPI` throws. */
export function describeError(error: unknown): string {
  if (error instanceof ServerConnection.NetworkError) {
    return `Cannot reach the Jupyter server (${error.message}). Is it still running?`;
  }
  if (error instanceof ServerConnection.ResponseError) {
    const status = error.response.status;
    let hint = '';
    if (status >= 500) {
      hint = ' The details are in the Jupyter server log.';
    } else if (status === 404 && error.response.url.endsWith('/jobs')) {
      hint = ' Is the jupyter_ft server extension enabled? (jupyter server extension list)';
    }
    return `The server answered ${status}: ${error.message}.${hint}`;
  }
  return error instanceof Error ? error.message : String(error);
}

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
    const error = new ServerConnection.ResponseError(response, message);
    (error as any).body = body && typeof body === 'object' ? body : { message };
    throw error;
  }
  return body as T;
}

/**
 * The JSON body of a 4xx, as `server/errors.py` writes it. Hand-written: the document's `Error` schema has only
 * `message` and `errors`, not the counts an upload's validation adds (`counts`, `invalid_rows`, `rows`).
 */
export interface IErrorBody {
  message: string;
  errors?: { row?: number | null; field?: string | null; message: string }[];
  counts?: Record<string, number>;
  invalid_rows?: number | null;
  rows?: number | null;
  [extra: string]: unknown;
}

/** An HTTP error from a request made without ServerConnection (the upload's XMLHttpRequest). */
export class APIError extends Error {
  constructor(
    readonly status: number,
    readonly body: IErrorBody
  ) {
    super(body.message || `HTTP ${status}`);
  }
}

/** The server's JSON error body carried by an error `requestAPI` or an upload threw; null for other errors. */
export function errorBody(error: unknown): IErrorBody | null {
  const body = (error as any)?.body;
  return body && typeof body === 'object' ? (body as IErrorBody) : null;
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
  if (error instanceof APIError) {
    return `The server answered ${error.status}: ${error.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}

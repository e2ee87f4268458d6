/**
 * A file upload to the catalog with progress. XMLHttpRequest rather than fetch, since only it reports upload
 * progress; it sends the same token/XSRF headers `ServerConnection` would, and fails with the same JSON error body
 * (`APIError`, read by `errorBody`/`describeError` like any error of the client).
 */
import { ServerConnection } from '@jupyterlab/services';

import { APIError, IErrorBody } from './request';
import type { UploadResult } from './types';

export interface IUploadOptions {
  name?: string;
  technique?: string;
  eval_fraction?: number;
  drop_invalid?: boolean;
  onProgress?: (loaded: number, total: number) => void;
}

/** POST `file` as multipart to `<baseUrl>/<namespace>/<endPoint>?<options>`. */
export function uploadFile(
  settings: ServerConnection.ISettings,
  namespace: string,
  endPoint: string,
  file: File,
  options: IUploadOptions = {}
): Promise<UploadResult> {
  const query = new URLSearchParams();
  for (const key of ['name', 'technique', 'eval_fraction', 'drop_invalid'] as const) {
    const value = options[key];
    if (value !== undefined && value !== '') {
      query.set(key, String(value));
    }
  }
  const url = joinUrl(settings.baseUrl, `${namespace}/${endPoint}?${query.toString()}`);
  const form = new FormData();
  form.append('file', file, file.name);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    for (const [key, value] of Object.entries(authHeaders(settings))) {
      xhr.setRequestHeader(key, value);
    }
    xhr.upload.onprogress = ev => options.onProgress?.(ev.loaded, ev.total);
    xhr.onerror = () => reject(new Error('Cannot reach the Jupyter server. Is it still running?'));
    xhr.onload = () => {
      let body: any = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = { message: xhr.responseText.slice(0, 200) || xhr.statusText };
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(body as UploadResult);
      } else {
        reject(new APIError(xhr.status, body as IErrorBody));
      }
    };
    xhr.send(form);
  });
}

function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + '/' + path.replace(/^\/+/, '');
}

/** The headers ServerConnection adds: the token (if any) and the XSRF cookie echoed back. */
function authHeaders(settings: ServerConnection.ISettings): Record<string, string> {
  const headers: Record<string, string> = {};
  if (settings.token) {
    headers['Authorization'] = `token ${settings.token}`;
  }
  const xsrf = typeof document !== 'undefined' ? document.cookie.match('\\b_xsrf=([^;]*)\\b') : null;
  if (xsrf) {
    headers['X-XSRFToken'] = xsrf[1];
  }
  return headers;
}

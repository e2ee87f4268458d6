/** Endpoint facts the Endpoints tab, the deploy form and the playground share (pure, tested by jest). */

/** Endpoint states in which it will answer soon (the model is loading). */
export const COMING_UP = ['starting', 'restarting'];

/** The absolute proxied URL of an endpoint (`proxy_url` is Jupyter-relative: "/jupyter-ft/endpoints/x/v1"). */
export function proxiedURL(baseUrl: string, proxyUrl: string, origin?: string): string {
  const url = baseUrl.replace(/\/+$/, '') + '/' + proxyUrl.replace(/^\/+/, '');
  return origin && !/^https?:/.test(url) ? origin + url : url;
}

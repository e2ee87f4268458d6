/** Whether the base-model catalog could search the hub, from its answer (pure, tested by jest). */

/**
 * What `hubState` reads of a `GET base-models` answer. Hand-written on purpose: besides the shape the document gives
 * (`hub: {searched, available, reason}`, the generated `BaseModelsReply`), it accepts the older shapes a server may
 * still send (`online`/`offline` flags, `hub` as a word or `{state, error}`).
 */
export interface IHubReply {
  /** The hub search's state, when the server reports it (D1's catalog: `hub`, `online` or `offline`). */
  hub?: { searched?: boolean; available?: boolean | null; reason?: string | null; online?: boolean; state?: string; error?: string | null } | string | null;
  online?: boolean;
  offline?: boolean;
  hub_error?: string | null;
}

/** "offline" / "online" / null (unknown) from whatever shape the catalog answers. */
export function hubState(reply: IHubReply): { online: boolean | null; note: string | null } {
  if (reply.offline === true) {
    return { online: false, note: reply.hub_error ?? null };
  }
  if (reply.online === true) {
    return { online: true, note: null };
  }
  if (reply.online === false) {
    return { online: false, note: reply.hub_error ?? null };
  }
  const hub = reply.hub;
  if (typeof hub === 'string') {
    return { online: hub === 'online' ? true : hub === 'offline' ? false : null, note: null };
  }
  if (hub && typeof hub === 'object' && 'available' in hub) {
    // the catalog's shape: {searched, available, reason}; available is null until a query asked the hub
    return { online: hub.available ?? null, note: hub.reason ?? null };
  }
  if (hub && typeof hub === 'object') {
    const online = hub.online ?? (hub.state === 'online' ? true : hub.state === 'offline' ? false : null);
    return { online, note: hub.error ?? null };
  }
  return { online: null, note: reply.hub_error ?? null };
}

/**
 * Live updates by polling with cursors: `task` runs now and then every `intervalMs` after the previous call ended,
 * while `active` (the panel is visible). Calls never overlap; a pending timer is dropped when inactive or
 * unmounted. The tasks ask only for what changed (`since=`/`after=` cursors), so a tick costs a few hundred bytes.
 * `task` may return false to stop (e.g. the job ended and everything has been read), or a number: the delay
 * before the next call (0 right after a long-poll answer, since the server already held the request until
 * something changed).
 */
import { useEffect, useRef } from 'react';

export function usePoll(task: () => Promise<boolean | number | void>, intervalMs: number, active: boolean): void {
  const latest = useRef(task);
  latest.current = task;

  useEffect(() => {
    if (!active) {
      return;
    }
    let stopped = false;
    let timer: number | undefined;
    const tick = async () => {
      let again: boolean | number | void = true;
      try {
        again = await latest.current();
      } catch {
        again = true; // the task shows its own error; keep trying
      } finally {
        if (!stopped && again !== false) {
          timer = window.setTimeout(tick, typeof again === 'number' ? again : intervalMs);
        }
      }
    };
    void tick();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [active, intervalMs]);
}

import { useEffect, useRef } from 'react';

/**
 * Call `task` now and then every `intervalMs` after the previous call ended, while `active`
 * (the panel is visible). Calls never overlap; a pending timer is dropped when inactive or unmounted.
 */
export function usePoll(task: () => Promise<void>, intervalMs: number, active: boolean): void {
  const latest = useRef(task);
  latest.current = task;

  useEffect(() => {
    if (!active) {
      return;
    }
    let stopped = false;
    let timer: number | undefined;
    const tick = async () => {
      try {
        await latest.current();
      } finally {
        if (!stopped) {
          timer = window.setTimeout(tick, intervalMs);
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

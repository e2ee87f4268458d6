/**
 * A job's log tail that follows the end like `tail -f` unless the reader scrolled up; shared by the Jobs tab and
 * the main-area job view. `live: false` (the job ended) reads once more and stops.
 */
import React, { useEffect, useRef, useState } from 'react';

import { describeError } from '../api';
import { usePoll } from '../shell/usePoll';

export function LogTail({ read, intervalMs, active, live = true, className, heading }: {
  read: () => Promise<string>;
  intervalMs: number;
  active: boolean;
  live?: boolean;
  className: string;
  heading?: string;
}): JSX.Element {
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const pre = useRef<HTMLPreElement>(null);
  const stickToEnd = useRef(true);
  const finalRead = useRef(false);
  usePoll(
    async () => {
      if (finalRead.current) {
        return false;
      }
      const last = !live;
      try {
        const node = pre.current;
        stickToEnd.current = !node || node.scrollHeight - node.scrollTop - node.clientHeight < 20;
        setText((await read()).replace(/^\n+/, ''));
        setError(null);
        if (last) {
          finalRead.current = true;
          return false;
        }
      } catch (err) {
        setError(describeError(err));
      }
    },
    intervalMs,
    active
  );
  useEffect(() => {
    if (stickToEnd.current && pre.current) {
      pre.current.scrollTop = pre.current.scrollHeight;
    }
  }, [text]);
  const Tag = heading ? 'section' : 'div';
  return (
    <Tag className={className}>
      {heading && <h3>{heading}</h3>}
      {error && <div className="jp-ft-error">{error}</div>}
      <pre ref={pre}>{text === null ? 'Loading log…' : text || '(the log is empty so far)'}</pre>
    </Tag>
  );
}

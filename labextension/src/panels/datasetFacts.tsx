/** What a dataset version is, in one line (rows, splits, dropped, ref), and the conversion applied to it. */
import React from 'react';

import type { DatasetVersion } from '../api';

export function VersionFacts({ v }: { v: DatasetVersion }): JSX.Element {
  return (
    <div className="jp-ft-job-meta jp-ft-dataset-facts">
      <span className="jp-ft-rows">{v.num_rows.toLocaleString()} rows</span>
      <span className="jp-ft-splits">
        train {v.num_train.toLocaleString()} · eval {v.num_eval.toLocaleString()}
      </span>
      {(v.dropped ?? 0) > 0 && <span title="invalid rows left out (drop_invalid)">{v.dropped} dropped</span>}
      <span className="jp-ft-ref" title={v.ref}>
        {v.ref}
      </span>
    </div>
  );
}

/** The conversion the catalog applied (to the chat or preference format), one line per step. */
export function conversionLines(v: DatasetVersion): string[] {
  const c = v.conversion;
  return Array.isArray(c) ? c.map(String) : c ? [typeof c === 'string' ? c : JSON.stringify(c)] : [];
}

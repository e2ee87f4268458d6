/**
 * The "Jobs" tab: every job of the workspace with its state, progress and attempt, a Cancel button for
 * queued/running ones, an expandable log tail, and "Open" for the main-area job view. Live by long-poll on the
 * jobs cursor (`GET jobs?since=<cursor>&wait=10`): the server answers as soon as any job changes (started from
 * a kernel, the CLI or another tab alike) and only with the changed jobs; an idle sidebar makes one small
 * request per 10 s (and a broken server is reported within that). A server without cursors gets the old full-list poll every 2 s.
 */
import React, { useCallback, useRef, useState } from 'react';

import { FineTuningAPI, JobSummary } from '../api';
import { applyPage, EMPTY, ILiveJobs } from './liveJobs';
import { LogTail } from '../panels/logTail';
import { describeError } from '../api';
import { ITabProps } from '../shell/tabList';
import { usePoll } from '../shell/usePoll';
import { confirmCancel } from '../shell/confirmCancel';

export const POLL_MS = 2000;
/** How long the server may hold a jobs long-poll (its maximum is 30 s). */
export const LONG_POLL_S = 10;
export const LOG_TAIL = 50;

const CANCELLABLE = new Set(['queued', 'running']);

/** What the progress label says before the first training step is known. */
const NO_STEPS: Record<string, string> = { queued: 'waiting in queue', running: 'starting…' };

export function JobsTab({ api, visible, openJob, openCustomize }: ITabProps): JSX.Element {
  const [live, setLive] = useState<ILiveJobs | null>(null);
  const liveRef = useRef<ILiveJobs>(EMPTY);
  const jobs = live === null ? null : live.jobs;
  const [error, setError] = useState<string | null>(null); // of the last refresh; cleared by the next good one
  const [actionError, setActionError] = useState<string | null>(null); // of the last cancel; stays until dismissed
  const [openLogs, setOpenLogs] = useState<Set<string>>(new Set());
  const seq = useRef(0);
  const failed = useRef(false); // after an error, the next round asks for the full list at once (no long hold)

  /** One round: a long-poll from the cursor (or the full list on a refresh); returns the delay to the next. */
  const load = useCallback(
    async (fresh = false): Promise<number> => {
      const mine = ++seq.current;
      fresh = fresh || failed.current;
      const cursor = fresh ? null : liveRef.current.cursor;
      try {
        const page = await api.jobsSince(cursor, LONG_POLL_S);
        if (mine !== seq.current) {
          return 0; // a newer round (e.g. Refresh) started meanwhile
        }
        liveRef.current = applyPage(fresh ? EMPTY : liveRef.current, page);
        failed.current = false;
        setLive(liveRef.current);
        setError(null);
        return liveRef.current.cursor === null ? POLL_MS : 50;
      } catch (err) {
        if (mine === seq.current) {
          failed.current = true;
          setError(describeError(err));
        }
        return POLL_MS;
      }
    },
    [api]
  );

  usePoll(() => load(), POLL_MS, visible);

  const cancel = async (job: JobSummary) => {
    if (!(await confirmCancel(job))) {
      return;
    }
    setActionError(null);
    try {
      await api.cancelJob(job.id);
    } catch (err) {
      setActionError(`Could not cancel ${job.id}: ${describeError(err)}`);
      return;
    }
    await load(true);
  };

  const toggleLogs = (id: string) => {
    setOpenLogs(prev => {
      const next = new Set(prev);
      next.has(id) ? next.delete(id) : next.add(id);
      return next;
    });
  };

  return (
    <div className="jp-ft-jobs">
      <div className="jp-ft-toolbar">
        <span className="jp-ft-count">{jobs === null ? '' : `${jobs.length} job${jobs.length === 1 ? '' : 's'}`}</span>
        <button className="jp-ft-button jp-ft-refresh" title="Refresh now" onClick={() => void load(true)}>
          Refresh
        </button>
      </div>
      {error && (
        <div className="jp-ft-error jp-ft-refresh-error" role="alert">
          {error}
        </div>
      )}
      {actionError && (
        <div className="jp-ft-error jp-ft-action-error" role="alert" title="Click to dismiss" onClick={() => setActionError(null)}>
          {actionError}
        </div>
      )}
      {jobs === null && !error && <div className="jp-ft-empty">Loading jobs…</div>}
      {jobs !== null && jobs.length === 0 && (
        <div className="jp-ft-empty">
          No jobs in this workspace yet.{' '}
          <button className="jp-ft-link jp-ft-new-job" onClick={() => openCustomize({})}>
            New fine-tuning job…
          </button>{' '}
          (or <code>ft.train(...)</code> in a notebook, <code>jupyter-ft submit spec.yaml</code>).
        </div>
      )}
      {jobs !== null && jobs.length > 0 && (
        <ul className="jp-ft-job-list">
          {jobs.map(job => (
            <JobRow
              key={job.id}
              job={job}
              api={api}
              visible={visible}
              logsOpen={openLogs.has(job.id)}
              onToggleLogs={() => toggleLogs(job.id)}
              onCancel={() => void cancel(job)}
              onOpen={() => openJob(job.id)}
            />
          ))}
        </ul>
      )}
    </div>
  );
}

interface IJobRowProps {
  job: JobSummary;
  api: FineTuningAPI;
  visible: boolean;
  logsOpen: boolean;
  onToggleLogs: () => void;
  onCancel: () => void;
  onOpen: () => void;
}

function JobRow({ job, api, visible, logsOpen, onToggleLogs, onCancel, onOpen }: IJobRowProps): JSX.Element {
  return (
    <li className="jp-ft-job" data-job-id={job.id} data-state={job.state}>
      <div className="jp-ft-job-head">
        <span className={`jp-ft-state jp-ft-state-${job.state}`}>{job.state}</span>
        <span className="jp-ft-job-id" title={job.id}>
          {job.id}
        </span>
      </div>
      <div className="jp-ft-job-meta">
        {job.name && <span className="jp-ft-job-name">{job.name}</span>}
        <span className="jp-ft-technique">{job.technique}</span>
        <span title={job.dataset ?? ''}>data: {basename(job.dataset ?? null)}</span>
        {job.attempt > 0 && (
          <span>
            attempt {job.attempt}/{job.max_attempts}
          </span>
        )}
      </div>
      <Progress job={job} />
      {(job.warnings ?? []).map(w => (
        <div key={w.code} className="jp-ft-job-warning" title={w.message} data-code={w.code}>
          ⚠ {w.title}
        </div>
      ))}
      {job.error && (
        <div className="jp-ft-job-error" title={job.error}>
          {job.error}
        </div>
      )}
      <div className="jp-ft-job-actions">
        <button className="jp-ft-button jp-ft-open-job" title="Chart, log, spec, MLflow run" onClick={onOpen}>
          Open
        </button>
        <button className="jp-ft-button jp-ft-logs-toggle" onClick={onToggleLogs}>
          {logsOpen ? 'Hide log' : 'Log'}
        </button>
        {CANCELLABLE.has(job.state) && (
          <button className="jp-ft-button jp-ft-cancel" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
      {logsOpen && <JobLog api={api} jobId={job.id} active={visible} />}
    </li>
  );
}

function Progress({ job }: { job: JobSummary }): JSX.Element {
  const fraction = job.progress ?? 0;
  const label = job.total_steps
    ? `step ${job.step}/${job.total_steps}`
    : job.step
      ? `step ${job.step}`
      : NO_STEPS[job.state] ?? 'no steps run';
  return (
    <div className="jp-ft-progress" title={label}>
      <div className="jp-ft-progress-bar">
        <div className={`jp-ft-progress-fill jp-ft-state-${job.state}`} style={{ width: `${Math.round(fraction * 100)}%` }} />
      </div>
      <span className="jp-ft-progress-label">{label}</span>
    </div>
  );
}

function JobLog({ api, jobId, active }: { api: FineTuningAPI; jobId: string; active: boolean }): JSX.Element {
  return <LogTail read={() => api.jobLogs(jobId, LOG_TAIL)} intervalMs={POLL_MS} active={active} className="jp-ft-log" />;
}

function basename(path: string | null): string {
  if (!path) {
    return '—';
  }
  const parts = path.split(/[\\/]/).filter(Boolean);
  return parts[parts.length - 1] ?? path;
}

/**
 * The main-area view of one job: status and ETA, a live chart with a panel per metric kind, attempts and
 * resumes, the log tail, the stored spec, links to its MLflow run and registered model version, Cancel, and
 * "Clone into the form". The chart updates by long-poll on the metrics cursor (`metrics?since=&wait=`) while the
 * view is shown and the job runs.
 */
import React, { useContext, useEffect, useRef, useState } from 'react';

import { JobDetail, MetricRow, WithJobState } from '../api';
import { ChartPanel } from '../charts/chart';
import { mlflowUrl } from '../shell/commands';
import { VisibleContext } from '../shell/mainArea';
import { describeError } from '../api';
import { prefillFrom } from './schemaForm';
import { etaSeconds, formatDuration, mergeMetrics, panels } from '../charts/series';
import { LogTail } from './logTail';
import { IStudio } from '../shell/sidebar';
import { usePoll } from '../shell/usePoll';
import { confirmCancel } from '../shell/confirmCancel';

export const METRICS_MS = 500;
export const METRICS_WAIT_S = 10;
export const JOB_MS = 1000;
export const LOG_MS = 2000;
const DONE = new Set(['succeeded', 'failed', 'cancelled']);
const CANCELLABLE = new Set(['queued', 'running']);

export function JobView({ studio, jobId }: { studio: IStudio; jobId: string }): JSX.Element {
  const visible = useContext(VisibleContext);
  const [job, setJob] = useState<WithJobState<JobDetail> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [rows, setRows] = useState<MetricRow[]>([]);
  const seq = useRef(0);
  const done = job !== null && DONE.has(job.state);
  const doneRead = useRef(false);
  const longPoll = useRef(false);

  usePoll(
    async () => {
      try {
        const j = await studio.api.getJob(jobId);
        setJob(j);
        setError(null);
        return !DONE.has(j.state); // a finished job does not change any more
      } catch (err) {
        setError(describeError(err));
      }
    },
    JOB_MS,
    visible
  );

  usePoll(
    async () => {
      if (doneRead.current) {
        return false;
      }
      const finished = done; // read before the request: rows logged before the end are all in this answer
      // With the server's cursors the request is held until a new point is logged (long-poll): the point shows
      // at once and an idle job costs one request per METRICS_WAIT_S; without them, a plain poll every METRICS_MS.
      const page = await studio.api.jobMetrics(jobId, seq.current, longPoll.current && !finished ? METRICS_WAIT_S : 0);
      longPoll.current = page.cursor !== undefined;
      seq.current = page.last_seq;
      if (page.from_step !== null) {
        setRows(prev => mergeMetrics(prev, page));
      }
      if (finished) {
        doneRead.current = true;
        return false;
      }
      return longPoll.current ? 0 : METRICS_MS;
    },
    METRICS_MS,
    visible
  );

  const [host, width] = useWidth();
  if (!job) {
    return (
      <div className="jp-ft-jobview">
        {error ? <div className="jp-ft-error" role="alert">{error}</div> : <div className="jp-ft-empty">Loading job {jobId}…</div>}
      </div>
    );
  }
  const chartPanels = panels(rows);
  const eta = etaSeconds(job.step, job.total_steps ?? null, job.started_at ?? null, Date.now() / 1000, job.state);
  const cancel = async () => {
    if (!(await confirmCancel(job))) {
      return;
    }
    try {
      await studio.api.cancelJob(job.id);
      setJob({ ...job, state: 'cancelling' });
    } catch (err) {
      setError(`Could not cancel ${job.id}: ${describeError(err)}`);
    }
  };
  const runUrl =
    job.mlflow_run_id && job.mlflow_experiment_id
      ? `${mlflowUrl(studio.api.settings.baseUrl)}#/experiments/${job.mlflow_experiment_id}/runs/${job.mlflow_run_id}`
      : null;

  return (
    <div className="jp-ft-jobview" ref={host} data-job-id={job.id} data-state={job.state}>
      <header className="jp-ft-jobview-head">
        <span className={`jp-ft-state jp-ft-state-${job.state}`}>{job.state}</span>
        <h2>{job.name || job.id}</h2>
        <span className="jp-ft-technique">{job.technique}</span>
      </header>
      {error && <div className="jp-ft-error" role="alert">{error}</div>}
      <dl className="jp-ft-facts">
        <dt>Job</dt>
        <dd className="jp-ft-job-id">{job.id}</dd>
        <dt>Model</dt>
        <dd title={job.model ?? ''}>{job.model ?? '—'}</dd>
        <dt>Dataset</dt>
        <dd>{job.dataset ?? '—'}</dd>
        <dt>Progress</dt>
        <dd className="jp-ft-jobview-progress">
          {job.total_steps ? `step ${job.step}/${job.total_steps}` : job.step ? `step ${job.step}` : job.state === 'queued' ? 'waiting in queue' : 'no steps yet'}
          {eta !== null && <span className="jp-ft-eta"> · about {formatDuration(eta)} left</span>}
          {job.finished_at && job.started_at && <span> · took {formatDuration(job.finished_at - job.started_at)}</span>}
        </dd>
        <dt>Attempts</dt>
        <dd className="jp-ft-attempts">
          {job.attempt > 0 ? `attempt ${job.attempt} of at most ${job.max_attempts}` : `not started (up to ${job.max_attempts} attempts)`}
          {job.attempt > 1 && ' · resumed from its last checkpoint'}
        </dd>
        <dt>MLflow</dt>
        <dd>
          {runUrl ? (
            <a className="jp-ft-mlflow-link" href={runUrl} target="_blank" rel="noreferrer">
              run {job.mlflow_run_id!.slice(0, 8)}
            </a>
          ) : (
            'no run yet'
          )}
        </dd>
        <dt>Model version</dt>
        <dd className="jp-ft-registration">{registrationText(job)}</dd>
      </dl>
      {job.error && <div className={job.state === 'failed' ? 'jp-ft-error' : 'jp-ft-note'}>{job.error}</div>}
      {(job.warnings ?? []).map(w => (
        <div key={w.code} className="jp-ft-warning" role="status" data-code={w.code}>
          <b>⚠ {w.title}</b>
          {w.step !== null && w.step !== undefined && <span className="jp-ft-warning-step"> (step {w.step})</span>}
          <div>{w.message}</div>
        </div>
      ))}
      <div className="jp-ft-job-actions">
        {CANCELLABLE.has(job.state) && (
          <button className="jp-ft-button jp-ft-cancel" onClick={() => void cancel()}>
            Cancel
          </button>
        )}
        <button
          className="jp-ft-button jp-ft-clone"
          title="Open the Customize form with this job's settings"
          onClick={() => studio.openCustomize(prefillFrom(job.submitted ?? job.spec))}
        >
          Clone into the form
        </button>
      </div>
      <section className="jp-ft-charts" data-rows={rows.length}>
        {chartPanels.length === 0 ? (
          <div className="jp-ft-empty">{done ? 'This job logged no metrics.' : 'The chart fills in as the job logs its first steps…'}</div>
        ) : (
          chartPanels.map(p => <ChartPanel key={p.id} panel={p} width={chartWidth(width)} />)
        )}
      </section>
      <JobLog studio={studio} jobId={job.id} active={visible} live={!done} />
      <details className="jp-ft-spec">
        <summary>Spec (as stored, auto values filled in)</summary>
        <pre>{JSON.stringify(job.spec, null, 2)}</pre>
      </details>
    </div>
  );
}

function registrationText(job: WithJobState<JobDetail>): string {
  const r = job.registration;
  if (!r) {
    return DONE.has(job.state) ? 'not registered' : 'registered when the job succeeds';
  }
  if (r.state === 'registered' && r.model) {
    return r.model;
  }
  if (r.state === 'failed') {
    return `registration failed: ${r.error ?? 'unknown error'}`;
  }
  return r.state;
}

function chartWidth(total: number): number {
  // two panels side by side when there is room
  return total >= 900 ? Math.floor(total / 2) - 24 : total - 24;
}

function useWidth(): [React.RefObject<HTMLDivElement>, number] {
  const host = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(800);
  useEffect(() => {
    const node = host.current;
    if (!node) {
      return;
    }
    const observer = new ResizeObserver(entries => {
      const w = Math.round(entries[0].contentRect.width);
      setWidth(prev => (Math.abs(prev - w) > 20 ? w : prev));
    });
    observer.observe(node);
    return () => observer.disconnect();
  }, [host.current]);
  return [host, width];
}

function JobLog({ studio, jobId, active, live }: { studio: IStudio; jobId: string; active: boolean; live: boolean }): JSX.Element {
  return (
    <LogTail read={() => studio.api.jobLogs(jobId, 200)} intervalMs={LOG_MS} active={active} live={live}
      className="jp-ft-log jp-ft-jobview-log" heading="Log" />
  );
}

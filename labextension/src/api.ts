/**
 * Typed calls to the jupyter_ft REST routes. One method per route; no state is kept here
 * (the workspace on the server is the only source of truth).
 */
import { ServerConnection } from '@jupyterlab/services';

import { requestAPI } from './request';

/** Job states, as stored in the workspace database (plus `cancelling`, which DELETE may answer). */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'cancelling';

/** One row of `GET /jupyter-ft/api/jobs` (jupyter_ft/server/handlers.py: SUMMARY_FIELDS). */
export interface IJobSummary {
  id: string;
  kind: string;
  technique: string;
  name: string | null;
  state: JobState;
  device: string;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  attempt: number;
  max_attempts: number;
  error: string | null;
  step: number;
  total_steps: number | null;
  progress: number | null;
  model: string | null;
  dataset: string | null;
  mlflow_run_id: string | null;
  mlflow_experiment_id: string | null;
}

/** Client for the jupyter_ft server extension, bound to one server's settings. */
export class FineTuningAPI {
  constructor(readonly settings: ServerConnection.ISettings) {}

  async listJobs(): Promise<IJobSummary[]> {
    const body = await requestAPI<{ jobs: IJobSummary[] }>('jobs', {}, this.settings);
    return body.jobs;
  }

  /** Cancel a queued job at once, or ask a running one to stop. Returns the state the server reports. */
  async cancelJob(id: string): Promise<JobState> {
    const body = await requestAPI<{ state: JobState }>(
      `jobs/${encodeURIComponent(id)}`,
      { method: 'DELETE' },
      this.settings
    );
    return body.state;
  }

  /** The last `tail` lines of the job's log. */
  async jobLogs(id: string, tail = 50): Promise<string> {
    const body = await requestAPI<{ logs: string }>(
      `jobs/${encodeURIComponent(id)}/logs?tail=${tail}`,
      {},
      this.settings
    );
    return body.logs;
  }
}

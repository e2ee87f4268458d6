/**
 * Typed calls to the jupyter_ft REST routes. One method per route; no state is kept here
 * (the workspace on the server is the only source of truth).
 */
import { Contents, ServerConnection } from '@jupyterlab/services';

import { APIError, IErrorBody, requestAPI } from './request';

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
  [extra: string]: unknown;
}

/** `GET jobs/{id}`: the summary plus the stored spec (and, with the registry, the registration state). */
export interface IJobDetail extends IJobSummary {
  spec: Record<string, any>;
  submitted?: Record<string, any>;
  registration?: { state: string; model: string | null; error: string | null };
  mlflow_url?: string | null;
}

/** `GET jobs?since=`: the jobs changed since `cursor` (all of them without one) and the next cursor. */
export interface IJobsPage {
  jobs: IJobSummary[];
  /** Absent when the server has no cursors: then `jobs` is the full list. */
  cursor?: string | number | null;
  /** True: `jobs` is every job (replace the list); false: only the changed ones. */
  full?: boolean;
}

/** `GET jobs/{id}/logs?offset=`: the log from byte `offset` on. */
export interface ILogChunk {
  logs: string;
  /** Absent when the server only knows `tail` (then `logs` is the whole tail). */
  next_offset?: number;
  offset?: number;
  reset?: boolean;
}

/** One metric row as `Job.metrics()` sees it: `step` plus any number of named values. */
export interface IMetricRow {
  step: number;
  [name: string]: number | string | null | undefined;
}

export interface IMetricsPage {
  metrics: IMetricRow[];
  /** Present when the server holds `wait=` requests (the next call's `since`). */
  cursor?: number;
  state?: string;
  /** The first step these rows cover: the client drops its rows from there on, then appends. null: nothing new. */
  from_step: number | null;
  last_seq: number;
}

/** `GET schemas/{kind}`: the spec's JSON schema plus layout hints (core/form_schema.py). */
export interface IFormSchema {
  kind: string;
  schema: Record<string, any>;
  uiSchema?: Record<string, any>;
  /** Every field once: the main group first, then the Advanced ones a form folds. */
  groups?: IFormGroup[];
  /** technique -> its options field. */
  technique_blocks?: Record<string, string>;
}

export interface IFormGroup {
  name: string;
  title: string;
  fields: string[];
  advanced: boolean;
}

/** `POST preview`: the sized spec, each auto value with its reason, and the errors naming fields. */
export interface IPreview {
  valid: boolean;
  spec: Record<string, any> | null;
  auto: Record<string, { value: unknown; why: string } | string>;
  errors: { field: string | null; message: string }[];
  dataset_chosen?: boolean;
}

/** A catalog version (`DatasetVersion.to_dict()` in core/datasets/catalog.py). */
export interface IDatasetVersion {
  name: string;
  version: string;
  ref: string;
  kind: string;
  format: string;
  conversational: boolean;
  num_rows: number;
  num_train: number;
  num_eval: number;
  dropped: number;
  source_rows: number;
  created_at: number;
  source: Record<string, any>;
  technique: string | null;
  mapping: Record<string, string>;
  conversion: any;
  columns: string[];
  split: Record<string, any>;
  problems: any;
  /** Only on `GET datasets`: how many versions the dataset has. */
  versions?: number;
  [extra: string]: unknown;
}

export interface IRowsPage {
  ref: string;
  split: string;
  offset: number;
  limit: number;
  total: number;
  format: string;
  kind: string;
  rows: Record<string, any>[];
}

export interface ITokenStats {
  ref: string;
  split: string;
  rows: number;
  measured: number;
  max_length: number;
  over_max_length: number;
  over_fraction: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  histogram: { edges: number[]; counts: number[] };
}

/** What an upload answered: the version made (or found, when the same content was uploaded before). */
export interface IUploadResult {
  version: IDatasetVersion;
  created: boolean;
}

export interface IUploadOptions {
  name?: string;
  technique?: string;
  eval_fraction?: number;
  drop_invalid?: boolean;
  onProgress?: (loaded: number, total: number) => void;
}

/** Client for the jupyter_ft server extension, bound to one server's settings. */
export class FineTuningAPI {
  constructor(readonly settings: ServerConnection.ISettings) {}

  async listJobs(): Promise<IJobSummary[]> {
    const body = await requestAPI<{ jobs: IJobSummary[] }>('jobs', {}, this.settings);
    return body.jobs;
  }

  /**
   * Jobs changed since `cursor` (every job when null). With `waitS` the server holds the request until a job
   * changes (at most that long): a long-poll, so an idle sidebar makes one small request per `waitS`.
   */
  async jobsSince(cursor: string | number | null, waitS = 0): Promise<IJobsPage> {
    const q =
      cursor === null || cursor === undefined ? '' : `?since=${encodeURIComponent(String(cursor))}&wait=${waitS}`;
    return requestAPI<IJobsPage>(`jobs${q}`, {}, this.settings);
  }

  async getJob(id: string): Promise<IJobDetail> {
    const body = await requestAPI<{ job: IJobDetail }>(`jobs/${encodeURIComponent(id)}`, {}, this.settings);
    return body.job;
  }

  /** Submit a TrainSpec (as JSON); the server validates it with the same pydantic spec as every face. */
  async submitJob(spec: object): Promise<IJobSummary> {
    const body = await requestAPI<{ job: IJobSummary }>(
      'jobs',
      { method: 'POST', body: JSON.stringify(spec) },
      this.settings
    );
    return body.job;
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

  /** Metric rows logged since `afterSeq` (all of them with 0); `waitS` holds the request until a new point. */
  async jobMetrics(id: string, afterSeq = 0, waitS = 0): Promise<IMetricsPage> {
    const q = afterSeq ? `after=${afterSeq}&since=${afterSeq}&wait=${waitS}` : 'after=0';
    return requestAPI<IMetricsPage>(`jobs/${encodeURIComponent(id)}/metrics?${q}`, {}, this.settings);
  }

  /** The log from byte `offset` on (held up to `waitS` until it grows). */
  async jobLogsFrom(id: string, offset: number, waitS = 0): Promise<ILogChunk> {
    return requestAPI<ILogChunk>(
      `jobs/${encodeURIComponent(id)}/logs?offset=${offset}&wait=${waitS}&tail=200`,
      {},
      this.settings
    );
  }

  /** The TrainSpec JSON schema the server publishes, with its layout hints (for the Customize form). */
  async trainSchema(): Promise<IFormSchema> {
    return requestAPI<IFormSchema>('schemas/train', {}, this.settings);
  }

  /** What submitting `spec` would store (auto-sized: each empty field's value and why), without submitting. */
  async previewJob(spec: object): Promise<IPreview> {
    return requestAPI<IPreview>('preview', { method: 'POST', body: JSON.stringify(spec) }, this.settings);
  }

  async listDatasets(): Promise<IDatasetVersion[]> {
    const body = await requestAPI<{ datasets: IDatasetVersion[] }>('datasets', {}, this.settings);
    return body.datasets;
  }

  async datasetVersions(name: string): Promise<IDatasetVersion[]> {
    const body = await requestAPI<{ versions: IDatasetVersion[] }>(
      `datasets/${encodeURIComponent(name)}`,
      {},
      this.settings
    );
    return body.versions;
  }

  async datasetRows(ref: string, split: string, offset: number, limit: number): Promise<IRowsPage> {
    const [name, version] = splitRef(ref);
    const q = `split=${encodeURIComponent(split)}&offset=${offset}&limit=${limit}`;
    return requestAPI<IRowsPage>(
      `datasets/${encodeURIComponent(name)}/${encodeURIComponent(version)}/rows?${q}`,
      {},
      this.settings
    );
  }

  /** Token lengths of the rows as `model`'s tokenizer and the technique see them (measured on the server). */
  async tokenStats(ref: string, model: string, maxLength: number, split = 'train'): Promise<ITokenStats> {
    const [name, version] = splitRef(ref);
    const q = `model=${encodeURIComponent(model)}&max_length=${maxLength}&split=${encodeURIComponent(split)}`;
    const body = await requestAPI<{ stats: ITokenStats }>(
      `datasets/${encodeURIComponent(name)}/${encodeURIComponent(version)}/tokens?${q}`,
      {},
      this.settings
    );
    return body.stats;
  }

  /**
   * Upload a file to the catalog (multipart, streamed to disk by the server). XMLHttpRequest rather than fetch so
   * the upload reports progress; it sends the same token/XSRF headers ServerConnection would.
   */
  uploadDataset(file: File, options: IUploadOptions = {}): Promise<IUploadResult> {
    const query = new URLSearchParams();
    for (const key of ['name', 'technique', 'eval_fraction', 'drop_invalid'] as const) {
      const value = options[key];
      if (value !== undefined && value !== '') {
        query.set(key, String(value));
      }
    }
    const url = joinUrl(this.settings.baseUrl, `jupyter-ft/api/datasets?${query.toString()}`);
    const form = new FormData();
    form.append('file', file, file.name);
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', url);
      for (const [key, value] of Object.entries(authHeaders(this.settings))) {
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
          resolve(body as IUploadResult);
        } else {
          reject(new APIError(xhr.status, body as IErrorBody));
        }
      };
      xhr.send(form);
    });
  }

  /** Copy a shipped notebook template into the server root's current folder; returns the new notebook's path. */
  async newNotebookFromTemplate(name: string, contents: Contents.IManager, folder = ''): Promise<string> {
    const body = await requestAPI<{ name: string; filename: string; notebook: any }>(
      `templates/${encodeURIComponent(name)}`,
      {},
      this.settings
    );
    const model = await contents.newUntitled({ path: folder, type: 'notebook' });
    const stem = body.filename.replace(/\.ipynb$/, '');
    let path = model.path;
    for (let i = 0; i < 50; i++) {
      const candidate = joinPath(folder, i === 0 ? `${stem}.ipynb` : `${stem}-${i}.ipynb`);
      try {
        await contents.get(candidate, { content: false });
      } catch {
        path = (await contents.rename(model.path, candidate)).path;
        break;
      }
    }
    await contents.save(path, { type: 'notebook', format: 'json', content: body.notebook });
    return path;
  }
}

/** `name@version` -> [name, version]; a bare name means its latest version. */
export function splitRef(ref: string): [string, string] {
  const at = ref.lastIndexOf('@');
  return at < 0 ? [ref, 'latest'] : [ref.slice(0, at), ref.slice(at + 1) || 'latest'];
}

function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + '/' + path.replace(/^\/+/, '');
}

function joinPath(folder: string, name: string): string {
  return folder ? `${folder.replace(/\/+$/, '')}/${name}` : name;
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

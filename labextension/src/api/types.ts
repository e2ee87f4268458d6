/**
 * The shapes the REST routes answer, as named types for the Studio. Each is an alias of the type
 * `openapi-typescript` generated from the server's OpenAPI document (`schema.d.ts`, from `../../openapi.json`;
 * regenerate both with `make api-types`), so a route whose shape changes breaks the build here instead of a panel
 * at run time. The few types the document has no schema for are written by hand below, each saying so.
 */
import type { components, paths } from './schema';

/** A route path relative to the API namespace, as the document names it (`jobs/{job_id}`). */
export type ApiPath = keyof paths extends infer K ? (K extends `/jupyter-ft/api/${infer R}` ? R : never) : never;
type Method = 'get' | 'post' | 'delete';
type Operation<P extends ApiPath, M extends Method> = paths[`/jupyter-ft/api/${P}` & keyof paths] extends infer O
  ? O extends { [m in M]: infer Op }
    ? Op
    : never
  : never;
type Ok<R> = R extends { 200: { content: { 'application/json': infer B } } }
  ? B
  : R extends { 201: { content: { 'application/json': infer B } } }
    ? B
    : never;

/** The JSON body of the successful answer (200 or 201) of `method` on `path`. */
export type Reply<P extends ApiPath, M extends Method> = Operation<P, M> extends { responses: infer R } ? Ok<R> : never;
/** The JSON body a POST on `path` takes. */
export type Body<P extends ApiPath> = Operation<P, 'post'> extends {
  requestBody?: { content: { 'application/json': infer B } };
}
  ? B
  : never;

// --- specs (the pydantic models every face builds) ----------------------------------------------------------------

export type TrainSpec = components['schemas']['TrainSpec'];
export type EvalSpec = components['schemas']['EvalSpec'];
export type DeploySpec = components['schemas']['DeploySpec'];
/** The JSON body of a 4xx (`server/errors.py`). */
export type ErrorReply = components['schemas']['Error'];

// --- jobs -----------------------------------------------------------------------------------------------------------

/** `GET jobs`: the jobs changed since `since` (every job without it), the next cursor, and whether it is the full list. */
export type JobsPage = Reply<'jobs', 'get'>;
/** One row of `GET jobs`. */
export type JobSummary = JobsPage['jobs'][number];
/** `GET jobs/{id}`: the summary plus the stored spec (and, with the registry, the registration state). */
export type JobDetail = Reply<'jobs/{job_id}', 'get'>['job'];
/**
 * A job's state as stored, plus `cancelling`: the state `DELETE jobs/{id}` may answer (the document types that
 * answer's `state` as any string, so this one value is written by hand).
 */
export type JobState = JobSummary['state'] | 'cancelling';
/** A job as a view shows it: right after a cancel its state is the `cancelling` the server answered. */
export type WithJobState<J> = { [K in keyof J]: K extends 'state' ? JobState : J[K] };
/** `GET jobs/{id}/logs`: the last `tail` lines, or the log from byte `offset` on. */
export type LogChunk = Reply<'jobs/{job_id}/logs', 'get'>;
/** `GET jobs/{id}/metrics`. */
export type MetricsPage = Reply<'jobs/{job_id}/metrics', 'get'>;
/** One metric row as `Job.metrics()` sees it: `step` plus any number of named values. */
export type MetricRow = MetricsPage['metrics'][number];

// --- forms ----------------------------------------------------------------------------------------------------------

/** `GET schemas/{kind}`: the spec's JSON schema plus layout hints (main group first, Advanced ones folded). */
export type FormSchema = Reply<'schemas/{kind}', 'get'>;
export type FormGroup = FormSchema['groups'][number];
/** `POST preview`: the sized spec, each auto value with its reason, and the errors naming fields. */
export type Preview = Reply<'preview', 'post'>;

// --- datasets -------------------------------------------------------------------------------------------------------

/** A catalog version as `GET datasets` lists it (with `versions`: how many the dataset has). */
export type DatasetVersion = Reply<'datasets', 'get'>['datasets'][number];
/** `GET datasets/{name}/{version}/rows`. */
export type RowsPage = Reply<'datasets/{name}/{version}/rows', 'get'>;
/** `GET datasets/{name}/{version}/tokens`: token lengths as a model's tokenizer and the technique see them. */
export type TokenStats = Reply<'datasets/{name}/{version}/tokens', 'get'>['stats'];
/** `POST datasets`: the version made (or found, when the same content was uploaded before). */
export type UploadResult = Reply<'datasets', 'post'>;
/** `GET templates/{name}`: a notebook template. */
export type NotebookTemplate = Reply<'templates/{name}', 'get'>;

// --- models ---------------------------------------------------------------------------------------------------------

/**
 * `GET base-models`: local folders and GGUF files, the fetchable models, the Hugging Face cache and (with `q`) a hub
 * search, with the hub's state.
 */
export type BaseModelsReply = Reply<'base-models', 'get'>;
export type BaseModel = BaseModelsReply['models'][number];
/** `GET base-models/fetch/{name}` (and the answer of `POST base-models/fetch`): where a model's fetch stands. */
export type FetchStatus = Reply<'base-models/fetch/{name}', 'get'>;
/** A registered model of `GET models`, with its versions and aliases. */
export type RegisteredModel = Reply<'models', 'get'>['models'][number];
export type ModelVersion = RegisteredModel['versions'][number];
/** One alias move of `GET models/{name}/aliases/history`. */
export type AliasMove = Reply<'models/{name}/aliases/history', 'get'>['history'][number];
/** `GET lineage?ref=`: the graph around a model version (datasets, jobs, versions, evaluations, endpoints). */
export type Lineage = Reply<'lineage', 'get'>;
export type LineageNode = Lineage['nodes'][number];
export type LineageEdge = Lineage['edges'][number];
/** Core's layout of a lineage (`core/registry/versions/lineage_layout.py`): what the Studio draws. */
export type LineageLayout = Lineage['layout'];
export type LineagePlacedNode = LineageLayout['nodes'][number];
export type LineagePlacedEdge = LineageLayout['edges'][number];

// --- evaluations ----------------------------------------------------------------------------------------------------

/** One row of `GET evaluations`: a job summary plus the models compared. */
export type EvaluationSummary = Reply<'evaluations', 'get'>['evaluations'][number];
/** `GET evaluations/{id}/results`: results.json so far, with core's bar panels and pairwise rows beside it. */
export type EvalResultsReply = Reply<'evaluations/{job_id}/results', 'get'>;
export type IEvalResults = EvalResultsReply;
/** One metric of one model by one evaluator, with its 95% interval. */
export type IEvalMetricRow = EvalResultsReply['metrics'][number];
export type IEvalSample = EvalResultsReply['samples'][number];
/** One bar panel as core (`core/evaluate/view.py`) groups it: an evaluator's metrics of one order of magnitude. */
export type EvalPanel = EvalResultsReply['panels'][number];
/** One model's bars in a panel: values and 95% interval half-widths, lined up with the panel's `metrics`. */
export type EvalBars = EvalPanel['bars'][number];
/** One pairwise judge's row: win/tie/loss and the win rate with intervals, consistency, mean answer lengths. */
export type PairwiseRow = EvalResultsReply['pairwise_rows'][number];
/** A model's mean difference from the baseline on one metric, with its paired 95% interval and its side of zero. */
export type DifferenceRow = EvalResultsReply['difference_rows'][number];
/** Whether a model's answers became more human-like than the baseline's, with the reasons. */
export type StyleVerdict = EvalResultsReply['style_verdicts'][number];

// --- endpoints and the playground -----------------------------------------------------------------------------------

/** One endpoint of `GET endpoints` (state, served models, load). */
export type Endpoint = Reply<'endpoints', 'get'>['endpoints'][number];
/** `POST playground/blind`: two answers as A and B; which model wrote which stays on the server until the vote. */
export type BlindPair = Reply<'playground/blind', 'post'>;
/** `POST playground/blind/{pair_id}/vote`: which model was A and which B. */
export type BlindReveal = Reply<'playground/blind/{pair_id}/vote', 'post'>;

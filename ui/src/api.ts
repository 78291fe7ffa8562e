// The MLflow REST API as the UI uses it: `/ajax-api/...` (MLflow's UI prefix), resolved
// against the page's <base href>, which the server sets to its `--static-prefix`.

export interface KeyValue { key: string; value: string }
export interface Metric { key: string; value: number; timestamp: number; step: number; run_id?: string }
export interface RunInfo {
  run_id: string; run_name?: string; experiment_id: string; user_id?: string;
  status: string; start_time?: number; end_time?: number; artifact_uri?: string;
  lifecycle_stage: string;
}
export interface DatasetInput {
  dataset: { name: string; digest: string; source_type?: string; source?: string; schema?: string; profile?: string };
  tags?: KeyValue[];
}
export interface Run {
  info: RunInfo;
  data: { params?: KeyValue[]; metrics?: Metric[]; tags?: KeyValue[] };
  inputs?: { dataset_inputs?: DatasetInput[]; model_inputs?: { model_id: string }[] };
  outputs?: { model_outputs?: { model_id: string; step: number }[] };
}
export interface Experiment {
  experiment_id: string; name: string; artifact_location?: string; lifecycle_stage: string;
  last_update_time?: number; creation_time?: number; tags?: KeyValue[];
}
export interface ModelVersion {
  name: string; version: string; creation_timestamp?: number; last_updated_timestamp?: number;
  current_stage?: string; description?: string; source?: string; run_id?: string;
  status?: string; tags?: KeyValue[]; aliases?: string[]; user_id?: string;
}
export interface RegisteredModel {
  name: string; creation_timestamp?: number; last_updated_timestamp?: number; description?: string;
  latest_versions?: ModelVersion[]; tags?: KeyValue[]; aliases?: { alias: string; version: string }[];
}
export interface FileInfo { path: string; is_dir?: boolean; file_size?: number }

/** An error answered by the server, with MLflow's `error_code` and message. */
export class ApiError extends Error {
  constructor(message: string, public errorCode: string, public status: number) {
    super(message);
  }
}

/** Absolute URL of a server path such as `ajax-api/2.0/mlflow/runs/get` (no leading slash). */
export function serverUrl(path: string): string {
  return new URL(path, document.baseURI).toString();
}

type Query = Record<string, string | number | boolean | undefined | (string | number)[]>;

function withQuery(path: string, query?: Query): string {
  const url = new URL(serverUrl(path));
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined) continue;
    if (Array.isArray(v)) v.forEach((x) => url.searchParams.append(k, String(x)));
    else url.searchParams.set(k, String(v));
  }
  return url.toString();
}

async function call<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
  const resp = await fetch(withQuery(`ajax-api/2.0/mlflow/${path}`, query), {
    method,
    headers: body === undefined ? undefined : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  let json: any = {};
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = { message: text };
  }
  if (!resp.ok) {
    throw new ApiError(json.message || `${resp.status} ${resp.statusText}`, json.error_code || "", resp.status);
  }
  return json as T;
}

export const get = <T>(path: string, query?: Query) => call<T>("GET", path, undefined, query);
export const post = <T>(path: string, body: unknown) => call<T>("POST", path, body);
export const patch = <T>(path: string, body: unknown) => call<T>("PATCH", path, body);
export const del = <T>(path: string, body: unknown) => call<T>("DELETE", path, body);

// ---- tracking

export type ViewType = "ACTIVE_ONLY" | "DELETED_ONLY" | "ALL";

export async function searchExperiments(filter: string, viewType: ViewType): Promise<Experiment[]> {
  const out: Experiment[] = [];
  let page_token: string | undefined;
  do {
    const r = await post<{ experiments?: Experiment[]; next_page_token?: string }>("experiments/search", {
      filter: filter || undefined, view_type: viewType, max_results: 1000, page_token,
      order_by: ["last_update_time DESC"],
    });
    out.push(...(r.experiments ?? []));
    page_token = r.next_page_token;
  } while (page_token);
  return out;
}

export const getExperiment = (id: string) =>
  get<{ experiment: Experiment }>("experiments/get", { experiment_id: id }).then((r) => r.experiment);

export interface RunsPage { runs: Run[]; next_page_token?: string }

/**
 * Every run matching the search. The first page is small (1000 runs, MLflow's UI page size)
 * so the table shows rows at once; the rest follows in pages of `RUNS_BULK_PAGE` (the
 * server allows up to 50000), each page asked for as soon as the previous token arrives.
 */
export const RUNS_FIRST_PAGE = 1000;
export const RUNS_BULK_PAGE = 25000;
export async function searchAllRuns(
  experimentIds: string[], filter: string, viewType: ViewType, orderBy: string[],
  onPage?: (runs: Run[]) => void,
): Promise<Run[]> {
  const out: Run[] = [];
  let page_token: string | undefined;
  do {
    const r = await post<RunsPage>("runs/search", {
      experiment_ids: experimentIds, filter: filter || undefined, run_view_type: viewType,
      max_results: page_token ? RUNS_BULK_PAGE : RUNS_FIRST_PAGE, order_by: orderBy, page_token,
    });
    out.push(...(r.runs ?? []));
    page_token = r.next_page_token;
    if (page_token) onPage?.(out.slice());
  } while (page_token);
  return out;
}

export const getRun = (runId: string) => get<{ run: Run }>("runs/get", { run_id: runId }).then((r) => r.run);

export const setTag = (runId: string, key: string, value: string) =>
  post("runs/set-tag", { run_id: runId, key, value });
export const deleteTag = (runId: string, key: string) => post("runs/delete-tag", { run_id: runId, key });

export async function listArtifacts(runId: string, path: string): Promise<FileInfo[]> {
  const r = await get<{ files?: FileInfo[] }>("artifacts/list", { run_id: runId, path: path || undefined });
  return r.files ?? [];
}

export const artifactUrl = (runId: string, path: string) =>
  withQuery("get-artifact", { path, run_uuid: runId });

/** Sampled metric history of several runs (the server keeps every k-th step and the last). */
export async function metricHistory(runIds: string[], key: string, maxResults = 1000): Promise<Metric[]> {
  const r = await get<{ metrics?: Metric[] }>("metrics/get-history-bulk-interval", {
    run_ids: runIds, metric_key: key, max_results: maxResults,
  });
  return r.metrics ?? [];
}

// ---- registry

export async function searchRegisteredModels(filter: string): Promise<RegisteredModel[]> {
  const out: RegisteredModel[] = [];
  let page_token: string | undefined;
  do {
    const r = await get<{ registered_models?: RegisteredModel[]; next_page_token?: string }>(
      "registered-models/search", { filter: filter || undefined, max_results: 1000, page_token },
    );
    out.push(...(r.registered_models ?? []));
    page_token = r.next_page_token;
  } while (page_token);
  return out;
}

export const getRegisteredModel = (name: string) =>
  get<{ registered_model: RegisteredModel }>("registered-models/get", { name }).then((r) => r.registered_model);

export async function searchModelVersions(name: string): Promise<ModelVersion[]> {
  const out: ModelVersion[] = [];
  let page_token: string | undefined;
  const filter = `name = '${name.replace(/'/g, "\\'")}'`;
  do {
    const r = await get<{ model_versions?: ModelVersion[]; next_page_token?: string }>(
      "model-versions/search", { filter, max_results: 10000, page_token, order_by: ["version_number DESC"] },
    );
    out.push(...(r.model_versions ?? []));
    page_token = r.next_page_token;
  } while (page_token);
  return out;
}

// ---- helpers

export const tagValue = (run: Run, key: string) => run.data.tags?.find((t) => t.key === key)?.value;

export function formatTime(ms?: number): string {
  if (!ms) return "";
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function formatDuration(start?: number, end?: number): string {
  if (!start) return "";
  const ms = (end || Date.now()) - start;
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}min ${Math.round(s % 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}min`;
}

export function formatValue(v: number | undefined): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(4) : String(Number(v.toPrecision(6)));
}

// ---- logged models and registering them

export interface LoggedModel {
  info: {
    model_id: string; name?: string; experiment_id?: string; source_run_id?: string; artifact_uri?: string;
    status?: string; model_type?: string; creation_timestamp_ms?: number;
  };
  data?: { params?: KeyValue[]; metrics?: Metric[] };
}

const quoteFilter = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

/** The logged models a run produced: those whose source is the run, plus its `model_outputs`. */
export async function runLoggedModels(run: Run): Promise<LoggedModel[]> {
  const r = await post<{ models?: LoggedModel[] }>("logged-models/search", {
    experiment_ids: [run.info.experiment_id], filter: `source_run_id = ${quoteFilter(run.info.run_id)}`, max_results: 100,
  });
  const found = r.models ?? [];
  const ids = new Set(found.map((m) => m.info.model_id));
  const extra = (run.outputs?.model_outputs ?? []).filter((o) => !ids.has(o.model_id));
  const more = await Promise.all(extra.map((o) =>
    get<{ model: LoggedModel }>(`logged-models/${encodeURIComponent(o.model_id)}`).then((x) => x.model, () => ({ info: { model_id: o.model_id } }))));
  return [...found, ...more];
}

/** Model versions matching a filter, e.g. `run_id = '...'`. */
export async function searchVersions(filter: string): Promise<ModelVersion[]> {
  const r = await get<{ model_versions?: ModelVersion[] }>("model-versions/search", {
    filter, max_results: 10000, order_by: ["name ASC", "version_number DESC"],
  });
  return r.model_versions ?? [];
}

export const runVersions = (runId: string) => searchVersions(`run_id = ${quoteFilter(runId)}`);

export const getModelVersion = (name: string, version: string) =>
  get<{ model_version: ModelVersion }>("model-versions/get", { name, version }).then((r) => r.model_version);

/** Registers a logged model as a new version of `name`, creating the registered model first if asked. */
export async function registerLoggedModel(name: string, createModel: boolean, model: LoggedModel, runId: string): Promise<ModelVersion> {
  if (createModel) await post("registered-models/create", { name });
  const r = await post<{ model_version: ModelVersion }>("model-versions/create", {
    name, source: `models:/${model.info.model_id}`, run_id: runId, model_id: model.info.model_id,
  });
  return r.model_version;
}

export const versionPath = (name: string, version: string) => `/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`;

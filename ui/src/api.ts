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
export const del = <T>(path: string, body?: unknown) => call<T>("DELETE", path, body);

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

/** MLflow's page token for an offset (base64 of `{"offset": n}`, as its stores make them). */
export const offsetPageToken = (offset: number) => btoa(`{"offset": ${offset}}`);

/**
 * Every run matching the search. The first page is small (500 runs, more than a screen
 * shows) so the table shows rows at once (`onPage`). The rest comes in `RUNS_PARALLEL` concurrent
 * pages at computed offsets (MLflow's offset page tokens), the first of them asked for
 * together with the first page: the server answers them on several cores while the first
 * page is drawn. Without a count, pages after the first are 5500 runs, then grow with the
 * offset (at most `RUNS_BULK_PAGE`): 10k runs are 500 + 5500 + 4000 (the page asked for
 * beside the first one starts earlier, so it is the larger); a search that turns out to have
 * fewer than 500 runs costs one empty answer, once. Once the count of a search is known
 * (reloads, live updates), small searches ask for one page only and large ones are split in
 * two the same way (`speculate = false`: no page beside the first while the count is unknown,
 * for searches that are usually small). A server that refuses a computed token gets the
 * sequential walk with its own tokens. Measured numbers: ui/README.md.
 */
export const RUNS_FIRST_PAGE = 500;
export const RUNS_REST_PAGE = 5500;
export const RUNS_BULK_PAGE = 25000;
export const RUNS_PARALLEL = 2;
const runCounts = new Map<string, number>();
export async function searchAllRuns(
  experimentIds: string[], filter: string, viewType: ViewType, orderBy: string[],
  onPage?: (runs: Run[]) => void, speculate = true,
): Promise<Run[]> {
  const search = (max_results: number, page_token?: string) => post<RunsPage>("runs/search", {
    experiment_ids: experimentIds, filter: filter || undefined, run_view_type: viewType,
    max_results, order_by: orderBy, page_token,
  });
  const key = JSON.stringify([experimentIds, filter, viewType, orderBy]);
  const known = runCounts.get(key);
  // The page after the first is asked for at once (one request beside the first page: more
  // would slow the first rows down); the other workers join when the first page is in.
  let rest: ParallelPages | undefined;
  if (known === undefined ? speculate : known > RUNS_FIRST_PAGE) {
    rest = parallelPages(search, RUNS_FIRST_PAGE, known, 1);
    rest.pages.catch(() => undefined); // awaited below, or dropped if the first page is all
  }
  const first = await search(RUNS_FIRST_PAGE);
  const head = first.runs ?? [];
  if (!first.next_page_token) {
    runCounts.set(key, head.length);
    return head;
  }
  onPage?.(head);
  let pages: Run[][];
  try {
    if (rest) rest.widen();
    else rest = parallelPages(search, RUNS_FIRST_PAGE, known, RUNS_PARALLEL);
    pages = await rest.pages;
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 400 || !/page token/i.test(e.message)) throw e;
    pages = [];
    for (let token: string | undefined = first.next_page_token; token;) {
      const r = await search(RUNS_BULK_PAGE, token);
      pages.push(r.runs ?? []);
      token = r.next_page_token;
    }
  }
  // Runs created meanwhile shift the offsets: a run seen twice is kept once.
  const seen = new Set<string>();
  const out: Run[] = [];
  for (const page of [head, ...pages]) {
    for (const r of page) {
      if (seen.has(r.info.run_id)) continue;
      seen.add(r.info.run_id);
      out.push(r);
    }
  }
  runCounts.set(key, out.length);
  return out;
}

interface ParallelPages { pages: Promise<Run[][]>; widen: () => void }

/**
 * Pages from offset `start` on, `workers` requests in flight (`widen()`: `RUNS_PARALLEL`),
 * until a page comes back short. With a `known` count the first two pages cover it (with
 * room to spare, so that the last one comes back short and no empty page is asked for).
 */
function parallelPages(search: (max: number, token?: string) => Promise<RunsPage>, start: number, known: number | undefined, workers: number): ParallelPages {
  const pages: { offset: number; runs: Run[] }[] = [];
  // With a known count: two pages, the first (asked for beside the first page, so started
  // earlier) a little larger, the second with room to spare.
  const left = known !== undefined ? known - start : 0;
  const plan = left > 0 ? [Math.ceil(left * 0.55), Math.ceil(left * 0.45) + 100].map((n) => Math.min(RUNS_BULK_PAGE, n)) : [];
  let next = start;
  let end = Infinity; // offset of the first run past the end, once known
  // Past the planned pages only if the last of them came back full (the count grew).
  let limit = plan.length ? start + plan.reduce((a, b) => a + b, 0) : Infinity;
  const worker = async () => {
    while (next < end && next < limit) {
      const offset = next;
      const size = plan.shift() ?? Math.min(RUNS_BULK_PAGE, Math.max(RUNS_REST_PAGE, offset));
      next += size;
      const r = await search(size, offsetPageToken(offset));
      const runs = r.runs ?? [];
      pages.push({ offset, runs });
      if (runs.length < size || !r.next_page_token) end = Math.min(end, offset + runs.length);
      else if (offset + size === limit) { limit = Infinity; add(); }
    }
  };
  const running: Promise<void>[] = [];
  let target = workers;
  const add = () => { while (running.length < target && next < end && next < limit) running.push(worker()); };
  add();
  const settle = async () => {
    for (let n = -1; n !== running.length;) { n = running.length; await Promise.all(running); }
    return pages.filter((p) => p.offset < end).sort((a, b) => a.offset - b.offset).map((p) => p.runs);
  };
  return { pages: settle(), widen: () => { target = RUNS_PARALLEL; add(); } };
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

export interface LoggedModelMetric extends Metric { dataset_name?: string; dataset_digest?: string; model_id?: string }
export interface LoggedModel {
  info: {
    model_id: string; name?: string; experiment_id?: string; source_run_id?: string; artifact_uri?: string;
    status?: string; status_message?: string; model_type?: string; creation_timestamp_ms?: number;
    last_updated_timestamp_ms?: number; creator_id?: string; tags?: KeyValue[];
  };
  data?: { params?: KeyValue[]; metrics?: LoggedModelMetric[] };
}

/** Logged models of some experiments (MLflow 3), newest first unless ordered; `filter` in MLflow's grammar. */
export async function searchLoggedModels(
  experimentIds: string[], filter: string, orderBy: { field_name: string; ascending: boolean } = { field_name: "creation_timestamp", ascending: false },
): Promise<LoggedModel[]> {
  const out: LoggedModel[] = [];
  let page_token: string | undefined;
  do {
    const r = await post<{ models?: LoggedModel[]; next_page_token?: string }>("logged-models/search", {
      experiment_ids: experimentIds, filter: filter || undefined, max_results: 1000, page_token,
      order_by: [orderBy],
    });
    out.push(...(r.models ?? []));
    page_token = r.next_page_token;
  } while (page_token);
  return out;
}

export const getLoggedModel = (modelId: string) =>
  get<{ model: LoggedModel }>(`logged-models/${encodeURIComponent(modelId)}`).then((r) => r.model);

export const setLoggedModelTag = (modelId: string, key: string, value: string) =>
  patch(`logged-models/${encodeURIComponent(modelId)}/tags`, { tags: [{ key, value }] });
export const deleteLoggedModelTag = (modelId: string, key: string) =>
  del(`logged-models/${encodeURIComponent(modelId)}/tags/${encodeURIComponent(key)}`, undefined);

/** Name, id and experiment of the given runs, one search (`run_id IN (...)`), in chunks. */
export async function runNames(experimentIds: string[], runIds: string[]): Promise<Map<string, RunInfo>> {
  const out = new Map<string, RunInfo>();
  const ids = [...new Set(runIds.filter(Boolean))];
  for (let i = 0; i < ids.length; i += 100) {
    const chunk = ids.slice(i, i + 100);
    const r = await post<RunsPage>("runs/search", {
      experiment_ids: experimentIds, run_view_type: "ALL", max_results: chunk.length,
      filter: `attributes.run_id IN (${chunk.map(quoteFilter).join(", ")})`,
    });
    for (const run of r.runs ?? []) out.set(run.info.run_id, run.info);
  }
  return out;
}

/** Where an artifact browser lists and fetches files: a run's artifacts or a logged model's. */
export interface ArtifactSource {
  key: string;
  list: (path: string) => Promise<FileInfo[]>;
  url: (path: string) => string;
}

export const runArtifacts = (runId: string): ArtifactSource => ({
  key: `run:${runId}`,
  list: (path) => listArtifacts(runId, path),
  url: (path) => artifactUrl(runId, path),
});

export const loggedModelArtifacts = (modelId: string): ArtifactSource => {
  const base = `ajax-api/2.0/mlflow/logged-models/${encodeURIComponent(modelId)}/artifacts`;
  return {
    key: `model:${modelId}`,
    list: async (path) => {
      const r = await get<{ files?: FileInfo[] }>(`logged-models/${encodeURIComponent(modelId)}/artifacts/directories`,
        { artifact_directory_path: path || undefined });
      return r.files ?? [];
    },
    url: (path) => withQuery(`${base}/files`, { artifact_file_path: path }),
  };
};

export const loggedModelPath = (experimentId: string, modelId: string) =>
  `/experiments/${encodeURIComponent(experimentId)}/models/${encodeURIComponent(modelId)}`;

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
    name, source: `models:/${model.info.model_id}`, run_id: runId || undefined, model_id: model.info.model_id,
  });
  return r.model_version;
}

export const versionPath = (name: string, version: string) => `/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`;

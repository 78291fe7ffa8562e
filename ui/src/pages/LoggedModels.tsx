import { FormEvent, useEffect, useMemo, useState } from "react";
import { Link, useParams } from "react-router";
import {
  LoggedModel, LoggedModelMetric, RunInfo, deleteLoggedModelTag, formatTime, formatValue, getExperiment,
  getLoggedModel, loggedModelArtifacts, loggedModelPath, runNames, runVersions, searchLoggedModels,
  setLoggedModelTag, versionPath,
} from "../api";
import { useLoad, useQueryParam, useQueryUpdate } from "../hooks";
import { ArtifactBrowser } from "../components/Artifacts";
import { RegisterModelDialog } from "../components/RegisterModel";
import { TagsEditor } from "../components/Registry";

/** `LOGGED_MODEL_READY` → `Ready`. */
export const statusLabel = (s?: string) => {
  const short = (s ?? "").replace(/^LOGGED_MODEL_(STATUS_)?/, "").toLowerCase().replace(/_/g, " ");
  return short ? short[0].toUpperCase() + short.slice(1) : "";
};

function StatusBadge({ status }: { status?: string }) {
  return <span className={`status lm-${(status ?? "").replace(/^LOGGED_MODEL_/, "")}`}>{statusLabel(status)}</span>;
}

/** The latest value of each metric key (several datasets: one entry each). */
function latestMetrics(metrics: LoggedModelMetric[] = []): LoggedModelMetric[] {
  const best = new Map<string, LoggedModelMetric>();
  for (const m of metrics) {
    const k = `${m.key}\u0000${m.dataset_name ?? ""}\u0000${m.dataset_digest ?? ""}`;
    const cur = best.get(k);
    if (!cur || m.step > cur.step || (m.step === cur.step && m.timestamp >= cur.timestamp)) best.set(k, m);
  }
  return [...best.values()].sort((a, b) => a.key.localeCompare(b.key) || (a.dataset_name ?? "").localeCompare(b.dataset_name ?? ""));
}

const SUMMARY = 3;

function RunLink({ experimentId, runId, runs }: { experimentId?: string; runId?: string; runs?: Map<string, RunInfo> }) {
  if (!runId) return <span className="muted">none</span>;
  const info = runs?.get(runId);
  return (
    <Link to={`/experiments/${info?.experiment_id ?? experimentId}/runs/${runId}`} data-testid="source-run">
      {info?.run_name || runId}
    </Link>
  );
}

/**
 * The logged models of some experiments (`?tab=models`): name, status, source run, creation
 * time, and a summary of metrics and params; a filter in MLflow's grammar (`mfilter`).
 */
export function LoggedModelsView({ experimentIds }: { experimentIds: string[] }) {
  const [filter, setFilter] = useQueryParam("mfilter");
  const [draft, setDraft] = useState(filter);
  useEffect(() => setDraft(filter), [filter]);
  const [sort] = useQueryParam("msort", "creation_timestamp");
  const [dirParam] = useQueryParam("mdir");
  const defaultDir = (field: string) => (field === "creation_timestamp" ? "desc" : "asc");
  const dir = dirParam || defaultDir(sort);
  const updateQuery = useQueryUpdate();
  const ids = experimentIds.join(",");
  const models = useLoad(() => searchLoggedModels(experimentIds, filter, { field_name: sort, ascending: dir === "asc" }), [ids, filter, sort, dir]);
  // Server-side order: name, status or creation time; a second click reverses it.
  const header = (field: string, label: string) => {
    const click = () => {
      const next = sort === field ? (dir === "asc" ? "desc" : "asc") : defaultDir(field);
      updateQuery({ msort: field === "creation_timestamp" ? "" : field, mdir: next === defaultDir(field) ? "" : next });
    };
    return (
      <th className="sortable" tabIndex={0} aria-sort={sort === field ? (dir === "asc" ? "ascending" : "descending") : "none"} onClick={click}
        onKeyDown={(e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); click(); } }}>
        {label}{sort === field ? (dir === "asc" ? " ▲" : " ▼") : ""}
      </th>
    );
  };
  const sourceRuns = useLoad(
    () => runNames(experimentIds, (models.data ?? []).map((m) => m.info.source_run_id ?? "")).catch(() => new Map<string, RunInfo>()),
    [models.data],
  );
  const submit = (e: FormEvent) => { e.preventDefault(); setFilter(draft.trim()); };
  return (
    <div data-testid="logged-models-view">
      <form className="toolbar" onSubmit={submit}>
        <input className="filter" aria-label="Filter models" value={draft} onChange={(e) => setDraft(e.target.value)}
          placeholder="metrics.rmse < 1 and params.alpha = '0.1' and name LIKE 'model%'" />
        <button type="submit">Search</button>
        {filter && <button type="button" onClick={() => setFilter("")}>Clear</button>}
        <span className="muted" data-testid="model-count">
          {models.loading ? "Loading…" : `${models.data?.length ?? 0} model${models.data?.length === 1 ? "" : "s"}`}
        </span>
      </form>
      {models.error && <p className="error" role="alert" data-testid="models-error">{models.error}</p>}
      <table className="grid" data-testid="logged-models-table">
        <thead>
          <tr>{header("name", "Name")}{header("status", "Status")}<th>Source run</th>{header("creation_timestamp", "Created")}<th>Metrics</th><th>Parameters</th></tr>
        </thead>
        <tbody>
          {(models.data ?? []).map((m) => {
            const metrics = latestMetrics(m.data?.metrics);
            const params = [...(m.data?.params ?? [])].sort((a, b) => a.key.localeCompare(b.key));
            return (
              <tr key={m.info.model_id} data-model-id={m.info.model_id}>
                <td>
                  <Link to={loggedModelPath(m.info.experiment_id ?? experimentIds[0], m.info.model_id)}>{m.info.name || m.info.model_id}</Link>
                  <div className="mono muted">{m.info.model_id}</div>
                </td>
                <td><StatusBadge status={m.info.status} /></td>
                <td><RunLink experimentId={m.info.experiment_id} runId={m.info.source_run_id} runs={sourceRuns.data} /></td>
                <td>{formatTime(m.info.creation_timestamp_ms)}</td>
                <td className="summary" data-testid="metrics-summary">
                  {metrics.slice(0, SUMMARY).map((x) => (
                    <div key={`${x.key}/${x.dataset_name}/${x.dataset_digest}`}>
                      <span className="metric-key">{x.key}</span>{x.dataset_name && <span className="muted"> ({x.dataset_name})</span>} {formatValue(x.value)}
                    </div>
                  ))}
                  {metrics.length > SUMMARY && <span className="muted">+{metrics.length - SUMMARY} more</span>}
                </td>
                <td className="summary" data-testid="params-summary">
                  {params.slice(0, SUMMARY).map((p) => <div key={p.key}><span className="param-key">{p.key}</span> {p.value}</div>)}
                  {params.length > SUMMARY && <span className="muted">+{params.length - SUMMARY} more</span>}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {models.data && models.data.length === 0 && !models.error && <p className="muted">No logged models{filter ? " match the filter" : ""}.</p>}
    </div>
  );
}

/**
 * One logged model (`#/experiments/<id>/models/<model id>`): status, times, source run,
 * metrics with their dataset and step, params, tags, "Register model", the registry versions
 * made from it, and its artifacts (`?tab=artifacts&path=`).
 */
export function LoggedModelPage() {
  const { expId = "", modelId = "" } = useParams();
  const [tab, setTab] = useQueryParam("tab", "overview");
  const [artifactPath, setArtifactPath] = useQueryParam("path");
  const model = useLoad(() => getLoggedModel(modelId), [modelId]);
  const experimentId = model.data?.info.experiment_id ?? expId;
  const experiment = useLoad(() => getExperiment(experimentId), [experimentId]);
  const runId = model.data?.info.source_run_id;
  const sourceRun = useLoad(() => (runId ? runNames([experimentId], [runId]).catch(() => undefined) : Promise.resolve(undefined)), [runId, experimentId]);
  const versions = useLoad(
    () => (runId ? runVersions(runId) : Promise.resolve([])).then((vs) =>
      vs.filter((v) => v.source === `models:/${modelId}` || (v as { model_id?: string }).model_id === modelId)),
    [runId, modelId],
  );
  const [registering, setRegistering] = useState<LoggedModel>();
  const [showSystem, setShowSystem] = useState(false);
  const source = useMemo(() => loggedModelArtifacts(modelId), [modelId]);

  const crumbs = (
    <div className="crumbs">
      <Link to="/experiments">Experiments</Link> ›{" "}
      <Link to={`/experiments/${experimentId}`}>{experiment.data?.name ?? experimentId}</Link> ›{" "}
      <Link to={`/experiments/${experimentId}?tab=models`}>Models</Link>
    </div>
  );
  if (model.error) return <div className="page">{crumbs}<p className="error">{model.error}</p></div>;
  const m = model.data;
  if (!m) return <div className="page">{crumbs}<p className="muted">Loading…</p></div>;
  const info = m.info;
  const metrics = [...(m.data?.metrics ?? [])].sort((a, b) => a.key.localeCompare(b.key) || a.step - b.step);
  const params = [...(m.data?.params ?? [])].sort((a, b) => a.key.localeCompare(b.key));
  const tags = (info.tags ?? []).filter((t) => showSystem || !t.key.startsWith("mlflow."));
  return (
    <div className="page">
      {crumbs}
      <h1>{info.name || info.model_id} <StatusBadge status={info.status} /></h1>
      <nav className="tabs" role="tablist" aria-label="Model views">
        {[["overview", "Overview"], ["artifacts", "Artifacts"]].map(([t, label]) => (
          <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? "active" : ""} onClick={() => setTab(t)}>{label}</button>
        ))}
      </nav>
      {tab === "overview" && (
        <div className="columns">
          <div>
            <table className="grid kv" data-testid="model-overview">
              <tbody>
                <tr><th>Model ID</th><td className="mono">{info.model_id}</td></tr>
                <tr><th>Status</th><td><StatusBadge status={info.status} />{info.status_message && <span className="muted"> {info.status_message}</span>}</td></tr>
                <tr><th>Created</th><td>{formatTime(info.creation_timestamp_ms)}</td></tr>
                <tr><th>Last modified</th><td>{formatTime(info.last_updated_timestamp_ms)}</td></tr>
                {info.model_type && <tr><th>Model type</th><td>{info.model_type}</td></tr>}
                <tr><th>Source run</th><td><RunLink experimentId={experimentId} runId={runId} runs={sourceRun.data} /></td></tr>
                <tr><th>Artifact URI</th><td className="mono">{info.artifact_uri}</td></tr>
              </tbody>
            </table>
            <section>
              <h2>Registered versions <button className="small" onClick={() => setRegistering(m)}>Register model</button></h2>
              {versions.error && <p className="error">{versions.error}</p>}
              {versions.data?.length ? (
                <ul data-testid="model-versions">
                  {versions.data.map((v) => (
                    <li key={v.name + v.version}>
                      <Link to={versionPath(v.name, v.version)}>{v.name} version {v.version}</Link>
                      {v.current_stage && v.current_stage !== "None" && <> <span className={`stage ${v.current_stage}`}>{v.current_stage}</span></>}
                    </li>
                  ))}
                </ul>
              ) : <p className="muted">Not registered yet.</p>}
            </section>
            <section>
              <h2>Parameters ({params.length})</h2>
              {params.length === 0 ? <p className="muted">No parameters.</p> : (
                <table className="grid kv" data-testid="model-params">
                  <tbody>{params.map((p) => <tr key={p.key}><th>{p.key}</th><td>{p.value}</td></tr>)}</tbody>
                </table>
              )}
            </section>
          </div>
          <div>
            <section>
              <h2>Metrics ({metrics.length})</h2>
              {metrics.length === 0 ? <p className="muted">No metrics.</p> : (
                <table className="grid" data-testid="model-metrics">
                  <thead><tr><th>Metric</th><th>Value</th><th>Step</th><th>Dataset</th><th>Run</th></tr></thead>
                  <tbody>{metrics.map((x, i) => (
                    <tr key={i} data-metric={x.key}>
                      <td>{x.key}</td>
                      <td className="num">{formatValue(x.value)}</td>
                      <td>{x.step}</td>
                      <td>{x.dataset_name ? <>{x.dataset_name} {x.dataset_digest && <span className="mono muted">({x.dataset_digest})</span>}</> : <span className="muted">—</span>}</td>
                      <td>{x.run_id ? <Link to={`/experiments/${experimentId}/runs/${x.run_id}`} className="mono" aria-label={`run ${x.run_id}`}>{x.run_id.slice(0, 8)}</Link> : null}</td>
                    </tr>
                  ))}</tbody>
                </table>
              )}
            </section>
            <section>
              <h2>Tags</h2>
              <label className="muted"><input type="checkbox" checked={showSystem} onChange={(e) => setShowSystem(e.target.checked)} /> show system tags (mlflow.*)</label>
              <TagsEditor tags={tags} testId="model-tags" onChanged={model.reload}
                onSet={(key, value) => setLoggedModelTag(modelId, key, value)}
                onDelete={(key) => deleteLoggedModelTag(modelId, key)} />
            </section>
          </div>
        </div>
      )}
      {tab === "artifacts" && <ArtifactBrowser source={source} path={artifactPath} onPath={setArtifactPath} />}
      {registering && (
        <RegisterModelDialog model={registering} runId={runId ?? ""}
          onClose={() => setRegistering(undefined)} onRegistered={() => versions.reload()} />
      )}
    </div>
  );
}

import { useEffect, useState } from "react";
import { Link, useParams } from "react-router";
import {
  LoggedModel, Run, deleteTag, formatDuration, formatTime, formatValue, getExperiment, getRun, post,
  loggedModelPath, runArtifacts, runLoggedModels, runVersions, searchAllRuns, setTag, tagValue, versionPath,
} from "../api";
import { useLoad, usePoll, useQueryParam, useQueryUpdate } from "../hooks";
import { RegisterModelDialog } from "../components/RegisterModel";
import { MetricChart } from "../components/MetricChart";
import { ArtifactBrowser } from "../components/Artifacts";
import { TagsEditor } from "../components/Registry";

const NOTE = "mlflow.note.content";

function Description({ run, onSaved }: { run: Run; onSaved: () => void }) {
  const current = tagValue(run, NOTE) ?? "";
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(current);
  const [error, setError] = useState<string>();
  useEffect(() => setText(current), [current]);
  const save = async () => {
    try {
      await setTag(run.info.run_id, NOTE, text);
      setEditing(false);
      onSaved();
    } catch (e: any) {
      setError(e.message);
    }
  };
  return (
    <section>
      <h2>Description {!editing && <button className="small" onClick={() => setEditing(true)}>Edit</button>}</h2>
      {editing ? (
        <div>
          <textarea aria-label="Description" rows={5} value={text} onChange={(e) => setText(e.target.value)} />
          <div className="toolbar">
            <button onClick={save}>Save</button>
            <button onClick={() => { setEditing(false); setText(current); }}>Cancel</button>
          </div>
          {error && <p className="error">{error}</p>}
        </div>
      ) : current ? <p className="note" data-testid="description">{current}</p> : <p className="muted">No description.</p>}
    </section>
  );
}

/** The run's tags (system `mlflow.*` tags on request), with the shared tag editor. */
function Tags({ run, onChanged }: { run: Run; onChanged: () => void }) {
  const [showSystem, setShowSystem] = useState(false);
  const tags = (run.data.tags ?? []).filter((t) => showSystem || !t.key.startsWith("mlflow."));
  return (
    <section>
      <h2>Tags</h2>
      <label className="muted"><input type="checkbox" checked={showSystem} onChange={(e) => setShowSystem(e.target.checked)} /> show system tags (mlflow.*)</label>
      <TagsEditor
        tags={tags}
        onSet={(key, value) => setTag(run.info.run_id, key, value)}
        onDelete={(key) => deleteTag(run.info.run_id, key)}
        onChanged={onChanged}
      />
    </section>
  );
}

/** The run's logged models, each with "Register model", and the registry versions made from the run. */
function RunModels({ run }: { run: Run }) {
  const models = useLoad(() => runLoggedModels(run), [run.info.run_id, (run.outputs?.model_outputs ?? []).length]);
  const versions = useLoad(() => runVersions(run.info.run_id), [run.info.run_id]);
  const [registering, setRegistering] = useState<LoggedModel>();
  if (!models.data?.length && !versions.data?.length && !models.error && !versions.error) return null;
  return (
    <section>
      <h2>Logged models</h2>
      {models.error && <p className="error">{models.error}</p>}
      <table className="grid" data-testid="logged-models">
        <tbody>
          {(models.data ?? []).map((m) => (
            <tr key={m.info.model_id} data-model-id={m.info.model_id}>
              <td><Link to={loggedModelPath(m.info.experiment_id ?? run.info.experiment_id, m.info.model_id)}>{m.info.name || "model"}</Link></td>
              <td className="mono">{m.info.model_id}</td>
              <td className="muted">{m.info.model_type}</td>
              <td className="actions"><button className="small" onClick={() => setRegistering(m)}>Register model</button></td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Registered versions</h2>
      {versions.error && <p className="error">{versions.error}</p>}
      {versions.data?.length ? (
        <ul data-testid="run-versions">
          {versions.data.map((v) => (
            <li key={v.name + v.version}>
              <Link to={versionPath(v.name, v.version)}>{v.name} version {v.version}</Link>
              {v.current_stage && v.current_stage !== "None" && <> <span className={`stage ${v.current_stage}`}>{v.current_stage}</span></>}
            </li>
          ))}
        </ul>
      ) : <p className="muted">No registered versions from this run.</p>}
      {registering && (
        <RegisterModelDialog model={registering} runId={run.info.run_id}
          onClose={() => setRegistering(undefined)} onRegistered={() => versions.reload()} />
      )}
    </section>
  );
}

/** One run (`#/experiments/<id>/runs/<run id>`): overview, description, params, metrics, tags, artifacts. */
export function RunPage() {
  const { runId = "" } = useParams();
  const [tab, setTab] = useQueryParam("tab", "overview");
  const updateQuery = useQueryUpdate();
  const [artifactPath, setArtifactPath] = useQueryParam("path");
  const [chartKey, setChartKey] = useQueryParam("metric");
  const { data: run, error, reload, refresh, settled } = useLoad(() => getRun(runId), [runId]);
  const experiment = useLoad(() => (run ? getExperiment(run.info.experiment_id) : Promise.resolve(undefined)), [run?.info.experiment_id]);
  const children = useLoad(
    () => (run ? searchAllRuns([run.info.experiment_id], `tags.mlflow.parentRunId = '${run.info.run_id}'`, "ALL", ["attributes.start_time ASC"], undefined, false) : Promise.resolve([])),
    [run?.info.run_id],
  );
  const [actionError, setActionError] = useState<string>();

  // Live updates while the run is still logging: poll the run (backing off while nothing
  // changes); the chart fetches its history again when the metric's latest point moves.
  const latest = (run?.data.metrics ?? []).map((m) => `${m.key}:${m.step}:${m.timestamp}`).sort().join(",");
  usePoll(run?.info.status === "RUNNING", refresh, settled, `${run?.info.status}|${latest}`);

  if (error) return <div className="page"><p className="error">{error}</p></div>;
  if (!run) return <div className="page"><p className="muted">Loading…</p></div>;
  const info = run.info;
  const parent = tagValue(run, "mlflow.parentRunId");
  const metrics = [...(run.data.metrics ?? [])].sort((a, b) => a.key.localeCompare(b.key));
  const params = [...(run.data.params ?? [])].sort((a, b) => a.key.localeCompare(b.key));
  const selectedMetric = chartKey || metrics[0]?.key;
  const selectedLatest = metrics.find((m) => m.key === selectedMetric);
  const gitCommit = tagValue(run, "mlflow.source.git.commit");
  const lifecycle = async (path: string) => {
    try { await post(path, { run_id: info.run_id }); reload(); } catch (e: any) { setActionError(e.message); }
  };

  return (
    <div className="page">
      <div className="crumbs">
        <Link to="/experiments">Experiments</Link> › <Link to={`/experiments/${info.experiment_id}`}>{experiment.data?.name ?? info.experiment_id}</Link>
      </div>
      <h1>
        {info.run_name || info.run_id} <span className={`status ${info.status}`} data-testid="run-status">{info.status}</span>
        {info.status === "RUNNING" && <span className="live" data-testid="live">● live</span>}
        {info.lifecycle_stage === "deleted" && <span className="status deleted">deleted</span>}
      </h1>
      <nav className="tabs" role="tablist" aria-label="Run views">
        {["overview", "metrics", "artifacts"].map((t) => (
          <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? "active" : ""} onClick={() => setTab(t)}>{t[0].toUpperCase() + t.slice(1)}</button>
        ))}
      </nav>
      {actionError && <p className="error">{actionError}</p>}

      {tab === "overview" && (
        <div className="columns">
          <div>
            <section>
              <table className="grid kv" data-testid="run-overview">
                <tbody>
                  <tr><th>Run ID</th><td className="mono">{info.run_id}</td></tr>
                  <tr><th>Status</th><td>{info.status}</td></tr>
                  <tr><th>Started</th><td>{formatTime(info.start_time)}</td></tr>
                  <tr><th>Ended</th><td>{formatTime(info.end_time)}</td></tr>
                  <tr><th>Duration</th><td>{formatDuration(info.start_time, info.end_time)}</td></tr>
                  <tr><th>User</th><td>{info.user_id || tagValue(run, "mlflow.user")}</td></tr>
                  <tr><th>Source</th><td>{tagValue(run, "mlflow.source.name")} {tagValue(run, "mlflow.source.type") && <span className="muted">({tagValue(run, "mlflow.source.type")})</span>}</td></tr>
                  {gitCommit && <tr><th>Git commit</th><td className="mono">{gitCommit}</td></tr>}
                  {parent && <tr><th>Parent run</th><td><Link to={`/experiments/${info.experiment_id}/runs/${parent}`} className="mono">{parent}</Link></td></tr>}
                  {!!children.data?.length && (
                    <tr><th>Child runs</th><td>{children.data.map((c) => (
                      <div key={c.info.run_id}><Link to={`/experiments/${info.experiment_id}/runs/${c.info.run_id}`}>{c.info.run_name || c.info.run_id}</Link></div>
                    ))}</td></tr>
                  )}
                  <tr><th>Artifact URI</th><td className="mono">{info.artifact_uri}</td></tr>
                  <tr><th>Lifecycle</th><td>{info.lifecycle_stage}{" "}
                    {info.lifecycle_stage === "deleted"
                      ? <button className="small" onClick={() => lifecycle("runs/restore")}>Restore</button>
                      : <button className="small" onClick={() => confirm("Delete this run?") && lifecycle("runs/delete")}>Delete</button>}
                  </td></tr>
                </tbody>
              </table>
            </section>
            <Description run={run} onSaved={reload} />
            {!!run.inputs?.dataset_inputs?.length && (
              <section>
                <h2>Datasets</h2>
                <table className="grid"><thead><tr><th>Name</th><th>Digest</th><th>Source</th><th>Context</th></tr></thead>
                  <tbody>{run.inputs.dataset_inputs.map((d, i) => (
                    <tr key={i}><td>{d.dataset.name}</td><td className="mono">{d.dataset.digest}</td><td>{d.dataset.source_type}</td>
                      <td>{d.tags?.find((t) => t.key === "mlflow.data.context")?.value}</td></tr>
                  ))}</tbody>
                </table>
              </section>
            )}
            <RunModels run={run} />
          </div>
          <div>
            <section>
              <h2>Parameters ({params.length})</h2>
              <table className="grid kv" data-testid="params-table">
                <tbody>{params.map((p) => <tr key={p.key}><th>{p.key}</th><td>{p.value}</td></tr>)}</tbody>
              </table>
            </section>
            <section>
              <h2>Metrics ({metrics.length})</h2>
              <table className="grid kv" data-testid="metrics-table">
                <tbody>{metrics.map((m) => (
                  <tr key={m.key}>
                    <th><button className="link" onClick={() => updateQuery({ metric: m.key, tab: "metrics" })}>{m.key}</button></th>
                    <td>{formatValue(m.value)}</td><td className="muted">step {m.step}</td>
                  </tr>
                ))}</tbody>
              </table>
            </section>
            <Tags run={run} onChanged={reload} />
          </div>
        </div>
      )}

      {tab === "metrics" && (
        <section>
          {metrics.length === 0 ? <p className="muted">No metrics.</p> : (
            <>
              <div className="toolbar">
                <label>Metric{" "}
                  <select aria-label="Metric" value={selectedMetric} onChange={(e) => setChartKey(e.target.value)}>
                    {metrics.map((m) => <option key={m.key} value={m.key}>{m.key}</option>)}
                  </select>
                </label>
              </div>
              <MetricChart runIds={[info.run_id]} runNames={{ [info.run_id]: info.run_name ?? info.run_id }} metricKey={selectedMetric!}
                refreshKey={selectedLatest ? `${selectedLatest.step}:${selectedLatest.timestamp}` : ""} />
            </>
          )}
        </section>
      )}

      {tab === "artifacts" && <ArtifactBrowser source={runArtifacts(info.run_id)} path={artifactPath} onPath={setArtifactPath} />}
    </div>
  );
}

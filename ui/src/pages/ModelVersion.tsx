import { FormEvent, useState } from "react";
import { Link, useParams } from "react-router";
import { del, formatTime, getModelVersion, getRegisteredModel, getRun, patch, post } from "../api";
import { useLoad } from "../hooks";
import { DescriptionEditor, StageTransition, TagsEditor } from "../components/Registry";

/**
 * One model version (`#/models/<name>/versions/<version>`, as MLflow's UI): stage transition
 * with "archive existing versions", aliases, tags, description, and the source run.
 */
export function ModelVersionPage() {
  const { name = "", version = "" } = useParams();
  const mv = useLoad(() => getModelVersion(name, version), [name, version]);
  const model = useLoad(() => getRegisteredModel(name), [name]);
  const run = useLoad(() => (mv.data?.run_id ? getRun(mv.data.run_id).catch(() => undefined) : Promise.resolve(undefined)), [mv.data?.run_id]);
  const [error, setError] = useState<string>();
  const [alias, setAlias] = useState("");
  const reload = (e?: string) => { setError(e); mv.reload(); model.reload(); };
  const act = async (f: () => Promise<unknown>) => {
    setError(undefined);
    try { await f(); reload(); } catch (e: any) { setError(e.message); }
  };
  const submitAlias = (e: FormEvent) => {
    e.preventDefault();
    if (alias.trim()) act(async () => { await post("registered-models/alias", { name, alias: alias.trim(), version }); setAlias(""); });
  };

  const crumbs = (
    <div className="crumbs">
      <Link to="/models">Registered models</Link> › <Link to={`/models/${encodeURIComponent(name)}`}>{name}</Link>
    </div>
  );
  if (mv.error) return <div className="page">{crumbs}<p className="error">{mv.error}</p></div>;
  const v = mv.data;
  if (!v) return <div className="page">{crumbs}<p className="muted">Loading…</p></div>;
  // Aliases pointing here: the version's own list, or the model's alias table.
  const aliases = [...new Set([...(v.aliases ?? []), ...(model.data?.aliases ?? []).filter((a) => a.version === v.version).map((a) => a.alias)])];
  return (
    <div className="page">
      {crumbs}
      <h1>{name} <span className="muted">version {v.version}</span>
        <span className={`stage ${v.current_stage}`} data-testid="version-stage">{v.current_stage || "None"}</span>
      </h1>
      {error && <p className="error" role="alert">{error}</p>}
      <div className="columns">
        <div>
          <table className="grid kv" data-testid="version-overview">
            <tbody>
              <tr><th>Registered</th><td>{formatTime(v.creation_timestamp)}</td></tr>
              <tr><th>Last modified</th><td>{formatTime(v.last_updated_timestamp)}</td></tr>
              {v.user_id && <tr><th>Creator</th><td>{v.user_id}</td></tr>}
              <tr><th>Status</th><td>{v.status}</td></tr>
              <tr><th>Stage</th><td><StageTransition version={v} onDone={reload} /></td></tr>
              <tr><th>Source run</th><td>{v.run_id
                ? <Link data-testid="source-run" to={run.data ? `/experiments/${run.data.info.experiment_id}/runs/${v.run_id}` : `/runs/${v.run_id}`}>{run.data?.info.run_name || v.run_id}</Link>
                : <span className="muted">none</span>}</td></tr>
              <tr><th>Source</th><td className="mono">{v.source}</td></tr>
            </tbody>
          </table>
          <DescriptionEditor label="Version description" value={v.description ?? ""}
            onSave={(description) => patch("model-versions/update", { name, version, description })} onSaved={() => reload()} />
        </div>
        <div>
          <section>
            <h2>Aliases</h2>
            <div data-testid="version-aliases">
              {aliases.length === 0 && <span className="muted">No aliases.</span>}
              {aliases.map((a) => (
                <span key={a} className="alias">@{a}{" "}
                  <button className="small" aria-label={`delete alias ${a}`} onClick={() => act(() => del("registered-models/alias", { name, alias: a }))}>×</button>
                </span>
              ))}
            </div>
            <form className="toolbar" onSubmit={submitAlias}>
              <input aria-label="Alias" placeholder="alias, e.g. champion" value={alias} onChange={(e) => setAlias(e.target.value)} />
              <button type="submit">Set alias</button>
            </form>
          </section>
          <section>
            <h2>Tags</h2>
            <TagsEditor tags={v.tags ?? []} testId="version-tags" onChanged={() => reload()}
              onSet={(key, value) => post("model-versions/set-tag", { name, version, key, value })}
              onDelete={(key) => del("model-versions/delete-tag", { name, version, key })} />
          </section>
        </div>
      </div>
    </div>
  );
}

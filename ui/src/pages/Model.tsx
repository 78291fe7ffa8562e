import { FormEvent, useState } from "react";
import { Link, useParams } from "react-router";
import { ModelVersion, del, formatTime, getRegisteredModel, patch, post, searchModelVersions } from "../api";
import { useLoad } from "../hooks";

const STAGES = ["None", "Staging", "Production", "Archived"];

/** A stage change of one version, with MLflow's "archive existing versions" option. */
function StageTransition({ version, onDone }: { version: ModelVersion; onDone: (error?: string) => void }) {
  const [stage, setStage] = useState<string>();
  const [archive, setArchive] = useState(true);
  const current = version.current_stage || "None";
  const submit = async () => {
    try {
      await post("model-versions/transition-stage", {
        name: version.name, version: version.version, stage,
        archive_existing_versions: (stage === "Staging" || stage === "Production") && archive,
      });
      setStage(undefined);
      onDone();
    } catch (e: any) {
      onDone(e.message);
    }
  };
  return (
    <span className="stage-transition">
      <select aria-label={`Stage of version ${version.version}`} value={stage ?? current} onChange={(e) => setStage(e.target.value === current ? undefined : e.target.value)}>
        {STAGES.map((s) => <option key={s} value={s}>{s}</option>)}
      </select>
      {stage && (
        <>
          {(stage === "Staging" || stage === "Production") && (
            <label><input type="checkbox" checked={archive} onChange={(e) => setArchive(e.target.checked)} /> Archive existing {stage} versions</label>
          )}
          <button onClick={submit}>Transition to {stage}</button>
          <button onClick={() => setStage(undefined)}>Cancel</button>
        </>
      )}
    </span>
  );
}

/** One registered model: description, aliases, tags, and its versions with stage transitions. */
export function ModelPage() {
  const { name = "" } = useParams();
  const model = useLoad(() => getRegisteredModel(name), [name]);
  const versions = useLoad(() => searchModelVersions(name), [name]);
  const [error, setError] = useState<string>();
  const [alias, setAlias] = useState("");
  const [aliasVersion, setAliasVersion] = useState("");
  const [editing, setEditing] = useState<string>();
  const reload = (e?: string) => { setError(e); model.reload(); versions.reload(); };
  const act = async (f: () => Promise<unknown>) => {
    setError(undefined);
    try { await f(); reload(); } catch (e: any) { setError(e.message); }
  };
  const submitAlias = (e: FormEvent) => {
    e.preventDefault();
    const version = aliasVersion || versions.data?.[0]?.version;
    if (!alias.trim() || !version) return;
    act(async () => { await post("registered-models/alias", { name, alias: alias.trim(), version }); setAlias(""); });
  };

  if (model.error) return <div className="page"><p className="error">{model.error}</p></div>;
  const m = model.data;
  return (
    <div className="page">
      <div className="crumbs"><Link to="/models">Registered models</Link></div>
      <h1>{name}</h1>
      {error && <p className="error" role="alert">{error}</p>}
      {m && (
        <>
          <section>
            <h2>Description {editing === undefined && <button className="small" onClick={() => setEditing(m.description ?? "")}>Edit</button>}</h2>
            {editing !== undefined ? (
              <div>
                <textarea aria-label="Model description" rows={4} value={editing} onChange={(e) => setEditing(e.target.value)} />
                <div className="toolbar">
                  <button onClick={() => act(async () => { await patch("registered-models/update", { name, description: editing }); setEditing(undefined); })}>Save</button>
                  <button onClick={() => setEditing(undefined)}>Cancel</button>
                </div>
              </div>
            ) : <p className={m.description ? "note" : "muted"}>{m.description || "No description."}</p>}
          </section>
          <section>
            <h2>Aliases</h2>
            <div data-testid="aliases">
              {(m.aliases ?? []).length === 0 && <span className="muted">No aliases.</span>}
              {(m.aliases ?? []).map((a) => (
                <span key={a.alias} className="alias">@{a.alias} → v{a.version}{" "}
                  <button className="small" aria-label={`delete alias ${a.alias}`} onClick={() => act(() => del("registered-models/alias", { name, alias: a.alias }))}>×</button>
                </span>
              ))}
            </div>
            <form className="toolbar" onSubmit={submitAlias}>
              <input aria-label="Alias" placeholder="alias, e.g. champion" value={alias} onChange={(e) => setAlias(e.target.value)} />
              <select aria-label="Alias version" value={aliasVersion} onChange={(e) => setAliasVersion(e.target.value)}>
                {(versions.data ?? []).map((v) => <option key={v.version} value={v.version}>Version {v.version}</option>)}
              </select>
              <button type="submit">Set alias</button>
            </form>
          </section>
          {!!m.tags?.length && (
            <section>
              <h2>Tags</h2>
              <table className="grid kv"><tbody>{m.tags.map((t) => <tr key={t.key}><th>{t.key}</th><td>{t.value}</td></tr>)}</tbody></table>
            </section>
          )}
        </>
      )}
      <section>
        <h2>Versions</h2>
        {versions.error && <p className="error">{versions.error}</p>}
        <table className="grid" data-testid="versions-table">
          <thead><tr><th>Version</th><th>Registered</th><th>Stage</th><th>Aliases</th><th>Source run</th><th>Status</th></tr></thead>
          <tbody>
            {(versions.data ?? []).map((v) => (
              <tr key={v.version} data-version={v.version}>
                <td>Version {v.version}</td>
                <td>{formatTime(v.creation_timestamp)}</td>
                <td>
                  <span className={`stage ${v.current_stage}`} data-testid={`stage-${v.version}`}>{v.current_stage || "None"}</span>{" "}
                  <StageTransition version={v} onDone={reload} />
                </td>
                <td>{[...new Set([...(v.aliases ?? []), ...(m?.aliases ?? []).filter((a) => a.version === v.version).map((a) => a.alias)])].map((a) => <span key={a} className="alias">@{a}</span>)}</td>
                <td>{v.run_id ? <Link to={`/runs/${v.run_id}`} className="mono">{v.run_id.slice(0, 12)}</Link> : <span className="mono">{v.source}</span>}</td>
                <td>{v.status}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}

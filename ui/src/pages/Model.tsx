import { FormEvent, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { del, formatTime, getRegisteredModel, patch, post, searchModelVersions, versionPath } from "../api";
import { useLoad } from "../hooks";
import { DescriptionEditor, StageTransition, TagsEditor } from "../components/Registry";

/** One registered model: rename, delete, description, aliases, tags, and its versions with stage transitions. */
export function ModelPage() {
  const { name = "" } = useParams();
  const navigate = useNavigate();
  const model = useLoad(() => getRegisteredModel(name), [name]);
  const versions = useLoad(() => searchModelVersions(name), [name]);
  const [error, setError] = useState<string>();
  const [alias, setAlias] = useState("");
  const [aliasVersion, setAliasVersion] = useState("");
  const [renaming, setRenaming] = useState<string>();
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
  const rename = async (e: FormEvent) => {
    e.preventDefault();
    const newName = renaming?.trim();
    if (!newName || newName === name) { setRenaming(undefined); return; }
    try {
      await post("registered-models/rename", { name, new_name: newName });
      setRenaming(undefined);
      navigate(`/models/${encodeURIComponent(newName)}`, { replace: true });
    } catch (err: any) {
      setError(err.message);
    }
  };
  const remove = async () => {
    if (!confirm(`Delete the registered model "${name}" and all its versions?`)) return;
    try {
      await del("registered-models/delete", { name });
      navigate("/models");
    } catch (err: any) {
      setError(err.message);
    }
  };

  if (model.error) return <div className="page"><div className="crumbs"><Link to="/models">Registered models</Link></div><p className="error">{model.error}</p></div>;
  const m = model.data;
  return (
    <div className="page">
      <div className="crumbs"><Link to="/models">Registered models</Link></div>
      {renaming !== undefined ? (
        <form className="toolbar" onSubmit={rename}>
          <input aria-label="New name" value={renaming} onChange={(e) => setRenaming(e.target.value)} autoFocus />
          <button type="submit">Save name</button>
          <button type="button" onClick={() => setRenaming(undefined)}>Cancel</button>
        </form>
      ) : (
        <h1>{name}
          <button className="small" onClick={() => setRenaming(name)}>Rename</button>
          <button className="small danger" onClick={remove}>Delete model</button>
        </h1>
      )}
      {error && <p className="error" role="alert">{error}</p>}
      {m && (
        <>
          <DescriptionEditor label="Model description" value={m.description ?? ""}
            onSave={(description) => patch("registered-models/update", { name, description })} onSaved={() => reload()} />
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
          <section>
            <h2>Tags</h2>
            <TagsEditor tags={m.tags ?? []} testId="model-tags" onChanged={() => reload()}
              onSet={(key, value) => post("registered-models/set-tag", { name, key, value })}
              onDelete={(key) => del("registered-models/delete-tag", { name, key })} />
          </section>
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
                <td><Link to={versionPath(name, v.version)}>Version {v.version}</Link></td>
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

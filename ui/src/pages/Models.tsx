import { useState } from "react";
import { Link } from "react-router";
import { RegisteredModel, formatTime, searchRegisteredModels } from "../api";
import { useLoad, useQueryParam } from "../hooks";

/** The registered models, searchable by name. */
export function ModelsPage() {
  const [search, setSearch] = useQueryParam("q");
  const [draft, setDraft] = useState(search);
  const filter = search ? `name ILIKE '%${search.replace(/'/g, "\\'")}%'` : "";
  const { data, error } = useLoad(() => searchRegisteredModels(filter), [filter]);
  return (
    <div className="page">
      <h1>Registered models</h1>
      <form className="toolbar" onSubmit={(e) => { e.preventDefault(); setSearch(draft); }}>
        <input aria-label="Search models" placeholder="Search by name" value={draft} onChange={(e) => setDraft(e.target.value)} />
        <button type="submit">Search</button>
      </form>
      {error && <p className="error">{error}</p>}
      <table className="grid" data-testid="models-table">
        <thead><tr><th>Name</th><th>Latest version</th><th>Stages</th><th>Aliases</th><th>Last modified</th></tr></thead>
        <tbody>
          {(data ?? []).map((m: RegisteredModel) => {
            const versions = m.latest_versions ?? [];
            const latest = versions.reduce((a, v) => Math.max(a, Number(v.version)), 0);
            return (
              <tr key={m.name}>
                <td><Link to={`/models/${encodeURIComponent(m.name)}`}>{m.name}</Link></td>
                <td>{latest ? `Version ${latest}` : ""}</td>
                <td>{versions.filter((v) => v.current_stage && v.current_stage !== "None").map((v) => (
                  <span key={v.version} className={`stage ${v.current_stage}`}>{v.current_stage}: v{v.version}</span>
                ))}</td>
                <td>{(m.aliases ?? []).map((a) => <span key={a.alias} className="alias">@{a.alias}: v{a.version}</span>)}</td>
                <td>{formatTime(m.last_updated_timestamp)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {data && data.length === 0 && <p className="muted">No registered models.</p>}
    </div>
  );
}

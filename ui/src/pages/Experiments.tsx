import { FormEvent, useState } from "react";
import { Link, useNavigate } from "react-router";
import { Experiment, ViewType, formatTime, post, searchExperiments } from "../api";
import { useLoad, useQueryParam } from "../hooks";

/** The experiments list: search by name, create, rename, delete, restore, open one or several. */
export function ExperimentsPage() {
  const [search, setSearch] = useQueryParam("q");
  const [view, setView] = useQueryParam("view", "ACTIVE_ONLY");
  const [draft, setDraft] = useState(search);
  const [newName, setNewName] = useState("");
  const [actionError, setActionError] = useState<string>();
  const [checked, setChecked] = useState<Set<string>>(new Set());
  const [renaming, setRenaming] = useState<{ id: string; name: string }>();
  const navigate = useNavigate();
  const filter = search ? `name ILIKE '%${search.replace(/'/g, "\\'")}%'` : "";
  const { data, error, loading, reload } = useLoad(() => searchExperiments(filter, view as ViewType), [filter, view]);

  const act = async (f: () => Promise<unknown>) => {
    setActionError(undefined);
    try {
      await f();
      reload();
    } catch (e: any) {
      setActionError(e.message);
    }
  };
  const create = (e: FormEvent) => {
    e.preventDefault();
    if (!newName.trim()) return;
    act(async () => {
      await post("experiments/create", { name: newName.trim() });
      setNewName("");
    });
  };
  const toggle = (id: string) => {
    const next = new Set(checked);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setChecked(next);
  };

  return (
    <div className="page">
      <h1>Experiments</h1>
      <div className="toolbar">
        <form onSubmit={(e) => { e.preventDefault(); setSearch(draft); }}>
          <input aria-label="Search experiments" placeholder="Search by name" value={draft} onChange={(e) => setDraft(e.target.value)} />
          <button type="submit">Search</button>
        </form>
        <select aria-label="Lifecycle" value={view} onChange={(e) => setView(e.target.value)}>
          <option value="ACTIVE_ONLY">Active</option>
          <option value="DELETED_ONLY">Deleted</option>
          <option value="ALL">All</option>
        </select>
        <form onSubmit={create} className="push-right">
          <input aria-label="New experiment name" placeholder="New experiment name" value={newName} onChange={(e) => setNewName(e.target.value)} />
          <button type="submit">Create experiment</button>
        </form>
      </div>
      <div className="toolbar">
        <button disabled={checked.size === 0} onClick={() => navigate(`/experiments/${[...checked].join(",")}`)}>
          Compare runs of {checked.size} selected
        </button>
      </div>
      {error && <p className="error">{error}</p>}
      {actionError && <p className="error" role="alert">{actionError}</p>}
      {loading && !data && <p className="muted">Loading…</p>}
      <table className="grid" data-testid="experiments-table">
        <thead>
          <tr><th></th><th>Name</th><th>ID</th><th>Last modified</th><th>Created</th><th></th></tr>
        </thead>
        <tbody>
          {(data ?? []).map((x: Experiment) => (
            <tr key={x.experiment_id} className={x.lifecycle_stage === "deleted" ? "deleted" : ""}>
              <td><input type="checkbox" aria-label={`select ${x.name}`} checked={checked.has(x.experiment_id)} onChange={() => toggle(x.experiment_id)} /></td>
              <td>
                {renaming?.id === x.experiment_id ? (
                  <form onSubmit={(e) => { e.preventDefault(); act(async () => { await post("experiments/update", { experiment_id: x.experiment_id, new_name: renaming.name }); setRenaming(undefined); }); }}>
                    <input aria-label="New name" value={renaming.name} onChange={(e) => setRenaming({ id: x.experiment_id, name: e.target.value })} autoFocus />
                    <button type="submit">Save</button>
                    <button type="button" onClick={() => setRenaming(undefined)}>Cancel</button>
                  </form>
                ) : (
                  <Link to={`/experiments/${x.experiment_id}`}>{x.name}</Link>
                )}
              </td>
              <td className="mono">{x.experiment_id}</td>
              <td>{formatTime(x.last_update_time)}</td>
              <td>{formatTime(x.creation_time)}</td>
              <td className="actions">
                {x.lifecycle_stage === "deleted" ? (
                  <button onClick={() => act(() => post("experiments/restore", { experiment_id: x.experiment_id }))}>Restore</button>
                ) : (
                  <>
                    <button onClick={() => setRenaming({ id: x.experiment_id, name: x.name })}>Rename</button>
                    <button onClick={() => confirm(`Delete experiment "${x.name}"?`) && act(() => post("experiments/delete", { experiment_id: x.experiment_id }))}>Delete</button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {data && data.length === 0 && <p className="muted">No experiments.</p>}
    </div>
  );
}

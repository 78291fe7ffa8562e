import { FormEvent, useState } from "react";
import { KeyValue, ModelVersion, post } from "../api";

export const STAGES = ["None", "Staging", "Production", "Archived"];

/** A stage change of one version, with MLflow's "archive existing versions" option. */
export function StageTransition({ version, onDone }: { version: ModelVersion; onDone: (error?: string) => void }) {
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

/** A tag table with add, edit and delete; `onSet` / `onDelete` call the server. */
export function TagsEditor(props: {
  tags: KeyValue[]; onSet: (key: string, value: string) => Promise<unknown>; onDelete: (key: string) => Promise<unknown>;
  onChanged: () => void; testId?: string;
}) {
  const { tags, onSet, onDelete, onChanged } = props;
  const [key, setKey] = useState("");
  const [value, setValue] = useState("");
  const [editing, setEditing] = useState<KeyValue>();
  const [error, setError] = useState<string>();
  const act = async (f: () => Promise<unknown>) => {
    setError(undefined);
    try { await f(); onChanged(); } catch (e: any) { setError(e.message); }
  };
  const add = (e: FormEvent) => {
    e.preventDefault();
    if (key.trim()) act(async () => { await onSet(key.trim(), value); setKey(""); setValue(""); });
  };
  const sorted = [...tags].sort((a, b) => a.key.localeCompare(b.key));
  return (
    <div>
      <table className="grid kv" data-testid={props.testId ?? "tags-table"}>
        <tbody>
          {sorted.length === 0 && <tr><td className="muted">No tags.</td></tr>}
          {sorted.map((t) => (
            <tr key={t.key} data-tag={t.key}>
              <th>{t.key}</th>
              <td>
                {editing?.key === t.key ? (
                  <form onSubmit={(e) => { e.preventDefault(); act(async () => { await onSet(t.key, editing.value); setEditing(undefined); }); }}>
                    <input aria-label={`value of ${t.key}`} value={editing.value} onChange={(e) => setEditing({ key: t.key, value: e.target.value })} autoFocus />
                    <button type="submit">Save</button>
                    <button type="button" onClick={() => setEditing(undefined)}>Cancel</button>
                  </form>
                ) : t.value}
              </td>
              <td className="actions">
                <button className="small" aria-label={`edit tag ${t.key}`} onClick={() => setEditing({ key: t.key, value: t.value })}>Edit</button>
                <button className="small" aria-label={`delete tag ${t.key}`} onClick={() => act(() => onDelete(t.key))}>Delete</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="toolbar" onSubmit={add}>
        <input aria-label="Tag key" placeholder="key" value={key} onChange={(e) => setKey(e.target.value)} />
        <input aria-label="Tag value" placeholder="value" value={value} onChange={(e) => setValue(e.target.value)} />
        <button type="submit">Add tag</button>
      </form>
      {error && <p className="error" role="alert">{error}</p>}
    </div>
  );
}

/** Editable markdown-free description text. */
export function DescriptionEditor(props: { value: string; onSave: (text: string) => Promise<unknown>; onSaved: () => void; label: string }) {
  const [editing, setEditing] = useState<string>();
  const [error, setError] = useState<string>();
  const save = async () => {
    try { await props.onSave(editing ?? ""); setEditing(undefined); setError(undefined); props.onSaved(); } catch (e: any) { setError(e.message); }
  };
  return (
    <section>
      <h2>Description {editing === undefined && <button className="small" onClick={() => setEditing(props.value)}>Edit</button>}</h2>
      {editing !== undefined ? (
        <div>
          <textarea aria-label={props.label} rows={4} value={editing} onChange={(e) => setEditing(e.target.value)} />
          <div className="toolbar">
            <button onClick={save}>Save</button>
            <button onClick={() => setEditing(undefined)}>Cancel</button>
          </div>
          {error && <p className="error">{error}</p>}
        </div>
      ) : <p className={props.value ? "note" : "muted"} data-testid="description">{props.value || "No description."}</p>}
    </section>
  );
}

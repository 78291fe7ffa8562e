import { FormEvent, useState } from "react";
import { Link } from "react-router";
import { LoggedModel, ModelVersion, registerLoggedModel, searchRegisteredModels, versionPath } from "../api";
import { useLoad } from "../hooks";

/**
 * "Register model": a dialog that registers one logged model of a run as a new version of a
 * new registered model (created first) or of an existing one.
 */
export function RegisterModelDialog(props: { model: LoggedModel; runId: string; onClose: () => void; onRegistered: (v: ModelVersion) => void }) {
  const { model, runId, onClose, onRegistered } = props;
  const existing = useLoad(() => searchRegisteredModels(""), []);
  const [mode, setMode] = useState<"new" | "existing">("new");
  const [newName, setNewName] = useState(model.info.name && model.info.name !== "model" ? model.info.name : "");
  const [chosen, setChosen] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<ModelVersion>();
  const target = mode === "new" ? newName.trim() : chosen || existing.data?.[0]?.name || "";
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!target) return;
    setBusy(true);
    setError(undefined);
    try {
      const v = await registerLoggedModel(target, mode === "new", model, runId);
      setDone(v);
      onRegistered(v);
    } catch (err: any) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="modal-backdrop" onClick={onClose} onKeyDown={(e) => { if (e.key === "Escape") onClose(); }}>
      <div className="modal" role="dialog" aria-modal="true" aria-label="Register model" onClick={(e) => e.stopPropagation()}>
        <h2>Register model</h2>
        <p className="muted mono">models:/{model.info.model_id}</p>
        {done ? (
          <>
            <p data-testid="registered">Registered <Link to={versionPath(done.name, done.version)}>{done.name} version {done.version}</Link>.</p>
            <div className="toolbar"><button onClick={onClose}>Close</button></div>
          </>
        ) : (
          <form onSubmit={submit}>
            <label className="block"><input type="radio" name="mode" checked={mode === "new"} onChange={() => setMode("new")} /> Create a new model</label>
            {mode === "new" && (
              <input aria-label="New model name" placeholder="model name" value={newName} onChange={(e) => setNewName(e.target.value)} autoFocus />
            )}
            <label className="block"><input type="radio" name="mode" checked={mode === "existing"} onChange={() => setMode("existing")}
              disabled={!existing.data?.length} /> Add a version to an existing model</label>
            {mode === "existing" && (
              <select aria-label="Existing model" value={chosen || existing.data?.[0]?.name || ""} onChange={(e) => setChosen(e.target.value)}>
                {(existing.data ?? []).map((m) => <option key={m.name} value={m.name}>{m.name}</option>)}
              </select>
            )}
            {error && <p className="error" role="alert">{error}</p>}
            <div className="toolbar">
              <button type="submit" disabled={!target || busy}>Register</button>
              <button type="button" onClick={onClose}>Cancel</button>
            </div>
          </form>
        )}
      </div>
    </div>
  );
}

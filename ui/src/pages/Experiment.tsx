import { useMemo, useState } from "react";
import { useParams } from "react-router";
import { Experiment, getExperiment, post } from "../api";
import { useLoad, useQueryParam } from "../hooks";
import { DescriptionEditor, TagsEditor } from "../components/Registry";
import { RunsView } from "./Runs";
import { LoggedModelsView } from "./LoggedModels";

export const NOTE = "mlflow.note.content";

const TABS = [["runs", "Runs"], ["models", "Models"], ["about", "Description & tags"]] as const;

/** Description (`mlflow.note.content`) and tags of one experiment, both editable. */
function ExperimentAbout({ experiment, onChanged }: { experiment: Experiment; onChanged: () => void }) {
  const [showSystem, setShowSystem] = useState(false);
  const id = experiment.experiment_id;
  const note = experiment.tags?.find((t) => t.key === NOTE)?.value ?? "";
  const tags = (experiment.tags ?? []).filter((t) => t.key !== NOTE && (showSystem || !t.key.startsWith("mlflow.")));
  const setTag = (key: string, value: string) => post("experiments/set-experiment-tag", { experiment_id: id, key, value });
  return (
    <div className="columns" data-testid="experiment-about">
      <div>
        <DescriptionEditor label="Experiment description" value={note} onSave={(text) => setTag(NOTE, text)} onSaved={onChanged} />
        <table className="grid kv">
          <tbody>
            <tr><th>Experiment ID</th><td className="mono">{id}</td></tr>
            <tr><th>Artifact location</th><td className="mono">{experiment.artifact_location}</td></tr>
            <tr><th>Lifecycle</th><td>{experiment.lifecycle_stage}</td></tr>
          </tbody>
        </table>
      </div>
      <section>
        <h2>Tags</h2>
        <label className="muted"><input type="checkbox" checked={showSystem} onChange={(e) => setShowSystem(e.target.checked)} /> show system tags (mlflow.*)</label>
        <TagsEditor tags={tags} testId="experiment-tags" onChanged={onChanged} onSet={setTag}
          onDelete={(key) => post("experiments/delete-experiment-tag", { experiment_id: id, key })} />
      </section>
    </div>
  );
}

/**
 * One or several experiments (`#/experiments/1` or `#/experiments/1,2`): the runs table,
 * the logged models (MLflow 3), and for one experiment its description and tags
 * (`?tab=runs|models|about`).
 */
export function ExperimentPage() {
  const { ids = "" } = useParams();
  const experimentIds = useMemo(() => ids.split(",").filter(Boolean), [ids]);
  const [tab, setTab] = useQueryParam("tab", "runs");
  const experiments = useLoad(() => Promise.all(experimentIds.map(getExperiment)), [ids]);
  const title = experiments.data?.map((e: Experiment) => e.name).join(", ") ?? "";
  const single = experimentIds.length === 1 ? experiments.data?.[0] : undefined;
  const note = single?.tags?.find((t) => t.key === NOTE)?.value;
  const tabs = TABS.filter(([t]) => t !== "about" || experimentIds.length === 1);
  return (
    <div className="page runs-page">
      <h1>{title || "Runs"}</h1>
      {note && tab !== "about" && <p className="exp-note" data-testid="experiment-note" title={note}>{note}</p>}
      {experiments.error && <p className="error">{experiments.error}</p>}
      <nav className="tabs" role="tablist" aria-label="Experiment views">
        {tabs.map(([t, label]) => (
          <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? "active" : ""} onClick={() => setTab(t)}>{label}</button>
        ))}
      </nav>
      {tab === "runs" && <RunsView experimentIds={experimentIds} experiments={experiments.data} />}
      {tab === "models" && <LoggedModelsView experimentIds={experimentIds} />}
      {tab === "about" && single && <ExperimentAbout experiment={single} onChanged={experiments.reload} />}
    </div>
  );
}

import { StrictMode, Suspense, lazy } from "react";
import { createRoot } from "react-dom/client";
import { HashRouter, Navigate, NavLink, Route, Routes } from "react-router";
import "./styles.css";
import { ExperimentsPage } from "./pages/Experiments";
import { ExperimentPage } from "./pages/Experiment";
import { LoggedModelPage } from "./pages/LoggedModels";
import { RunPage } from "./pages/Run";
import { ModelsPage } from "./pages/Models";
import { ModelPage } from "./pages/Model";
import { ModelVersionPage } from "./pages/ModelVersion";

// The compare view carries the heavy chart library: loaded only when opened.
const ComparePage = lazy(() => import("./pages/Compare"));

// Hash routes, as MLflow's UI has them (`#/experiments/1/runs/<id>`): any URL works behind
// any `--static-prefix` and survives a reload.
function App() {
  return (
    <HashRouter>
      <header className="topbar">
        <a className="brand" href="#/experiments">Ferroflow</a>
        <NavLink to="/experiments">Experiments</NavLink>
        <NavLink to="/models">Models</NavLink>
      </header>
      <main>
        <Suspense fallback={<p className="muted">Loading…</p>}>
          <Routes>
            <Route path="/" element={<Navigate to="/experiments" replace />} />
            <Route path="/experiments" element={<ExperimentsPage />} />
            <Route path="/experiments/:ids" element={<ExperimentPage />} />
            <Route path="/experiments/:expId/models/:modelId" element={<LoggedModelPage />} />
            <Route path="/experiments/:expId/runs/:runId" element={<RunPage />} />
            <Route path="/runs/:runId" element={<RunPage />} />
            <Route path="/compare-runs" element={<ComparePage />} />
            <Route path="/models" element={<ModelsPage />} />
            <Route path="/models/:name" element={<ModelPage />} />
            <Route path="/models/:name/versions/:version" element={<ModelVersionPage />} />
            <Route path="*" element={<p className="error">No such page. <a href="#/experiments">Experiments</a></p>} />
          </Routes>
        </Suspense>
      </main>
    </HashRouter>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);

import { FormEvent, useEffect, useMemo, useRef, useState } from "react";
import { Link, useNavigate } from "react-router";
import { useVirtualizer } from "@tanstack/react-virtual";
import {
  Experiment, Run, ViewType, formatDuration, formatTime, formatValue, loggedModelPath, post,
  searchAllRuns, searchLoggedModels, tagValue,
} from "../api";
import { useLoad, usePoll, useQueryParam, useQueryUpdate } from "../hooks";

/** A column of the runs table: a fixed attribute, or a param / metric / tag key. */
interface Column {
  id: string; // "attr:start_time", "p:alpha", "m:rmse", "t:model"
  label: string;
  width: number;
  value: (r: Run) => string | number | undefined;
  render?: (r: Run) => React.ReactNode;
  numeric?: boolean;
}

const ROW_HEIGHT = 32;
const STATUSES = ["", "RUNNING", "FINISHED", "FAILED", "KILLED", "SCHEDULED"];
const SINCE: Record<string, number> = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };

const param = (r: Run, k: string) => r.data.params?.find((p) => p.key === k)?.value;
const metric = (r: Run, k: string) => r.data.metrics?.find((m) => m.key === k)?.value;
const quote = (s: string) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? s : "`" + s + "`");

/** The server's filter: the user's text plus the status and time pickers. */
function combinedFilter(text: string, status: string, since: string): string {
  const parts = [text.trim()];
  if (status) parts.push(`attributes.status = '${status}'`);
  if (since && SINCE[since]) parts.push(`attributes.start_time >= ${Date.now() - SINCE[since]}`);
  return parts.filter(Boolean).join(" AND ");
}

interface Row { run: Run; depth: number; childCount: number }

/**
 * The last few searches' runs, so that coming back to a table (from a run page, another
 * tab) shows it at once while it is searched again quietly.
 */
const RUNS_CACHE_SIZE = 4;
const runsCache = new Map<string, Run[]>();
function remember(key: string, runs: Run[]) {
  runsCache.delete(key);
  runsCache.set(key, runs);
  while (runsCache.size > RUNS_CACHE_SIZE) runsCache.delete(runsCache.keys().next().value!);
}

/** Runs with their children nested under them (by `mlflow.parentRunId`), siblings sorted. */
function groupRows(runs: Run[], cmp: (a: Run, b: Run) => number, collapsed: Set<string>): Row[] {
  const ids = new Set(runs.map((r) => r.info.run_id));
  const children = new Map<string, Run[]>();
  const roots: Run[] = [];
  for (const r of runs) {
    const parent = tagValue(r, "mlflow.parentRunId");
    if (parent && ids.has(parent) && parent !== r.info.run_id) {
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent)!.push(r);
    } else roots.push(r);
  }
  const out: Row[] = [];
  const seen = new Set<string>();
  const walk = (list: Run[], depth: number) => {
    list.sort(cmp);
    for (const r of list) {
      if (seen.has(r.info.run_id)) continue; // a parent cycle must not loop forever
      seen.add(r.info.run_id);
      const kids = children.get(r.info.run_id) ?? [];
      out.push({ run: r, depth, childCount: kids.length });
      if (kids.length && !collapsed.has(r.info.run_id)) walk(kids, depth + 1);
    }
  };
  walk(roots, 0);
  return out;
}

/** Runs of one or several experiments (`#/experiments/1,2`): a virtualized, sortable table. */
export function RunsView({ experimentIds, experiments }: { experimentIds: string[]; experiments?: Experiment[] }) {
  const ids = experimentIds.join(",");
  const navigate = useNavigate();
  const [filter, setFilter] = useQueryParam("filter");
  const [status, setStatus] = useQueryParam("status");
  const [since, setSince] = useQueryParam("since");
  const [view, setView] = useQueryParam("view", "ACTIVE_ONLY");
  const [sort] = useQueryParam("sort", "attr:start_time");
  const [dir] = useQueryParam("dir", "desc");
  const updateQuery = useQueryUpdate();
  const [colsParam, setColsParam] = useQueryParam("cols");
  const [draft, setDraft] = useState(filter);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set());
  const [chooser, setChooser] = useState(false);
  const [actionError, setActionError] = useState<string>();
  // While loading: the rows of the first page (the table fills at once), or the runs this
  // search found last time (`cached`), shown until the new answer replaces them.
  const [partial, setPartial] = useState<{ runs: Run[]; cached: boolean }>();
  useEffect(() => setDraft(filter), [filter]);

  const serverFilter = combinedFilter(filter, status, since);
  const cacheKey = JSON.stringify([ids, serverFilter, view]);
  const runs = useLoad(
    () => {
      const cached = runsCache.get(cacheKey);
      setPartial(cached && { runs: cached, cached: true });
      return searchAllRuns(experimentIds, serverFilter, view as ViewType, ["attributes.start_time DESC"],
        cached ? undefined : (head) => setPartial({ runs: head, cached: false }))
        .then((all) => { remember(cacheKey, all); return all; });
    },
    [cacheKey],
  );
  const shown = runs.loading ? partial?.runs ?? runs.data : runs.data;

  // Live updates: while any shown run is RUNNING, search again quietly (1.5 s, backing off
  // to 30 s while nothing changes); stops once none is running.
  const running = useMemo(() => (runs.data ?? []).filter((r) => r.info.status === "RUNNING"), [runs.data]);
  // Only needed while polling: not computed for a table with nothing running (10k runs).
  const signature = useMemo(
    () => running.length === 0 ? "" : (runs.data ?? []).map((r) => r.info.status + (r.data.metrics ?? []).map((m) => m.timestamp + ":" + m.step).join(",")).join(";"),
    [runs.data, running.length],
  );
  usePoll(running.length > 0, runs.refresh, runs.settled, signature);

  // Names of the logged models the runs produced (one search, only if any run has one).
  const hasModels = useMemo(() => (shown ?? []).some((r) => r.outputs?.model_outputs?.length), [shown]);
  const loggedModels = useLoad(() => (hasModels ? searchLoggedModels(experimentIds, "") : Promise.resolve([])), [ids, hasModels]);
  const modelNames = useMemo(
    () => new Map((loggedModels.data ?? []).map((m) => [m.info.model_id, m.info.name || m.info.model_id])),
    [loggedModels.data],
  );

  const keys = useMemo(() => {
    const p = new Set<string>(), m = new Set<string>(), t = new Set<string>();
    for (const r of shown ?? []) {
      r.data.params?.forEach((x) => p.add(x.key));
      r.data.metrics?.forEach((x) => m.add(x.key));
      r.data.tags?.forEach((x) => { if (!x.key.startsWith("mlflow.")) t.add(x.key); });
    }
    return { params: [...p].sort(), metrics: [...m].sort(), tags: [...t].sort() };
  }, [shown]);

  // Chosen columns (URL `cols`); by default the first few metrics and params.
  const chosen = useMemo(() => {
    if (colsParam) return colsParam.split(",").filter(Boolean).map(decodeURIComponent);
    return [...keys.metrics.slice(0, 4).map((k) => "m:" + k), ...keys.params.slice(0, 4).map((k) => "p:" + k)];
  }, [colsParam, keys]);
  const setChosen = (list: string[]) => setColsParam(list.map(encodeURIComponent).join(",") || ",");

  const columns: Column[] = useMemo(() => {
    const fixed: Column[] = [
      {
        id: "attr:run_name", label: "Run name", width: 240, value: (r) => r.info.run_name ?? "",
        render: (r) => <Link to={`/experiments/${r.info.experiment_id}/runs/${r.info.run_id}`}>{r.info.run_name || r.info.run_id}</Link>,
      },
      { id: "attr:start_time", label: "Created", width: 165, value: (r) => r.info.start_time ?? 0, render: (r) => formatTime(r.info.start_time), numeric: true },
      { id: "attr:duration", label: "Duration", width: 90, value: (r) => (r.info.end_time || Date.now()) - (r.info.start_time || 0), render: (r) => formatDuration(r.info.start_time, r.info.end_time), numeric: true },
      { id: "attr:status", label: "Status", width: 90, value: (r) => r.info.status, render: (r) => <span className={`status ${r.info.status}`}>{r.info.status}</span> },
      { id: "attr:user", label: "User", width: 100, value: (r) => r.info.user_id ?? tagValue(r, "mlflow.user") ?? "" },
    ];
    if (hasModels) {
      // MLflow 3: the logged models each run produced (`outputs.model_outputs`), by name.
      const ids = (r: Run) => (r.outputs?.model_outputs ?? []).map((o) => o.model_id);
      fixed.push({
        id: "attr:models", label: "Models", width: 130,
        value: (r) => ids(r).map((id) => modelNames.get(id) ?? id).join(", "),
        render: (r) => ids(r).map((id, i) => (
          <span key={id}>{i > 0 && ", "}<Link to={loggedModelPath(r.info.experiment_id, id)}>{modelNames.get(id) ?? id.slice(0, 10)}</Link></span>
        )),
      });
    }
    if (experimentIds.length > 1) {
      fixed.push({
        id: "attr:experiment", label: "Experiment", width: 120,
        value: (r) => experiments?.find((e) => e.experiment_id === r.info.experiment_id)?.name ?? r.info.experiment_id,
      });
    }
    const dynamic = chosen.map((c): Column => {
      const [kind, ...rest] = c.split(":");
      const key = rest.join(":");
      if (kind === "m") return { id: c, label: key, width: 110, value: (r) => metric(r, key), render: (r) => formatValue(metric(r, key)), numeric: true };
      if (kind === "p") return { id: c, label: key, width: 110, value: (r) => param(r, key) };
      return { id: c, label: key, width: 110, value: (r) => tagValue(r, key) };
    });
    return [...fixed, ...dynamic];
  }, [chosen, experimentIds.length, experiments, hasModels, modelNames]);

  const rows = useMemo(() => {
    const col = columns.find((c) => c.id === sort) ?? columns[1];
    const sign = dir === "asc" ? 1 : -1;
    const cmp = (a: Run, b: Run) => {
      const va = col.value(a), vb = col.value(b);
      // Missing values last whatever the direction, as MLflow orders NULLs.
      const ma = va === undefined || va === "" || (typeof va === "number" && isNaN(va));
      const mb = vb === undefined || vb === "" || (typeof vb === "number" && isNaN(vb));
      if (ma || mb) return ma === mb ? 0 : ma ? 1 : -1;
      const na = Number(va), nb = Number(vb);
      if (!isNaN(na) && !isNaN(nb) && va !== "" && vb !== "") return (na - nb) * sign;
      return String(va).localeCompare(String(vb)) * sign;
    };
    return groupRows(shown ?? [], cmp, collapsed);
  }, [shown, columns, sort, dir, collapsed]);

  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
  });
  const totalWidth = 36 + columns.reduce((s, c) => s + c.width, 0);
  // Keyboard: ArrowDown/ArrowUp move the focus (run link or checkbox) to the next/previous row,
  // scrolling it into the virtual window first.
  const onTableKey = (e: React.KeyboardEvent) => {
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    const target = e.target as HTMLElement;
    const row = target.closest<HTMLElement>("[data-index]");
    if (!row) return;
    const index = Number(row.dataset.index) + (e.key === "ArrowDown" ? 1 : -1);
    if (index < 0 || index >= rows.length) return;
    e.preventDefault();
    virtualizer.scrollToIndex(index);
    const what = target.tagName === "INPUT" ? "input[type=checkbox]" : "a";
    const focus = (tries: number) => {
      const el = scrollRef.current?.querySelector<HTMLElement>(`[data-index="${index}"] ${what}`);
      if (el) el.focus();
      else if (tries > 0) requestAnimationFrame(() => focus(tries - 1));
    };
    focus(10);
  };

  const clickHeader = (id: string) => {
    const nextDir = sort === id ? (dir === "asc" ? "desc" : "asc") : id.startsWith("attr:") && id !== "attr:run_name" ? "desc" : "asc";
    updateQuery({ sort: id, dir: nextDir });
  };
  const submitFilter = (e: FormEvent) => {
    e.preventDefault();
    setFilter(draft.trim());
  };
  const toggleSelect = (id: string) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  };
  const allSelected = rows.length > 0 && rows.every((r) => selected.has(r.run.info.run_id));
  const bulk = async (path: string) => {
    setActionError(undefined);
    try {
      for (const id of selected) await post(path, { run_id: id });
      setSelected(new Set());
      runsCache.delete(cacheKey);
      runs.reload();
    } catch (e: any) {
      setActionError(e.message);
    }
  };
  const toggleCol = (id: string) => setChosen(chosen.includes(id) ? chosen.filter((c) => c !== id) : [...chosen, id]);

  return (
    <div className="runs-view">
      <form className="toolbar" onSubmit={submitFilter}>
        <input
          className="filter" aria-label="Filter runs" value={draft} onChange={(e) => setDraft(e.target.value)}
          placeholder="metrics.rmse < 1 and params.model = 'tree' and tags.mlflow.runName LIKE 'run%'"
        />
        <button type="submit">Search</button>
        {filter && <button type="button" onClick={() => setFilter("")}>Clear</button>}
        <select aria-label="Status" value={status} onChange={(e) => setStatus(e.target.value)}>
          {STATUSES.map((s) => <option key={s} value={s}>{s || "Any status"}</option>)}
        </select>
        <select aria-label="Started" value={since} onChange={(e) => setSince(e.target.value)}>
          <option value="">Any time</option>
          {Object.keys(SINCE).map((s) => <option key={s} value={s}>Last {s}</option>)}
        </select>
        <label><input type="checkbox" checked={view === "DELETED_ONLY"} onChange={(e) => setView(e.target.checked ? "DELETED_ONLY" : "ACTIVE_ONLY")} /> Deleted runs</label>
      </form>
      {runs.error && <p className="error" role="alert" data-testid="filter-error">{runs.error}</p>}
      {actionError && <p className="error" role="alert">{actionError}</p>}
      <div className="toolbar">
        <span className="muted" data-testid="run-count">
          {!runs.loading ? `${runs.data?.length ?? 0} runs`
            : partial?.cached ? `${partial.runs.length} runs, refreshing…`
            : `Loading… ${partial ? partial.runs.length + " runs so far" : ""}`}
        </span>
        {running.length > 0 && <span className="live" data-testid="live">● live: {running.length} running</span>}
        <button disabled={selected.size < 1} onClick={() => navigate(`/compare-runs?runs=${[...selected].join(",")}&experiments=${ids}`)}>
          Compare {selected.size || ""}
        </button>
        {view === "DELETED_ONLY"
          ? <button disabled={!selected.size} onClick={() => bulk("runs/restore")}>Restore</button>
          : <button disabled={!selected.size} onClick={() => confirm(`Delete ${selected.size} run(s)?`) && bulk("runs/delete")}>Delete</button>}
        <button type="button" onClick={() => setChooser(!chooser)} aria-expanded={chooser}>Columns</button>
        <button type="button" onClick={runs.reload}>Refresh</button>
      </div>
      {chooser && (
        <div className="chooser" data-testid="column-chooser">
          {([["Metrics", "m", keys.metrics], ["Parameters", "p", keys.params], ["Tags", "t", keys.tags]] as const).map(([label, kind, list]) => (
            <fieldset key={kind}>
              <legend>{label}</legend>
              {list.length === 0 && <span className="muted">none</span>}
              {list.map((k) => (
                <label key={k}><input type="checkbox" checked={chosen.includes(`${kind}:${k}`)} onChange={() => toggleCol(`${kind}:${k}`)} /> {k}</label>
              ))}
            </fieldset>
          ))}
        </div>
      )}
      <div className="vtable" ref={scrollRef} data-testid="runs-table" onKeyDown={onTableKey}>
        <div className="vrow vhead" style={{ width: totalWidth }}>
          <div className="vcell check" style={{ width: 36 }}>
            <input type="checkbox" aria-label="select all" checked={allSelected}
              onChange={() => setSelected(allSelected ? new Set() : new Set(rows.map((r) => r.run.info.run_id)))} />
          </div>
          {columns.map((c) => (
            <div key={c.id} className={`vcell sortable ${c.id.startsWith("m:") ? "metric" : c.id.startsWith("p:") ? "param" : ""}`}
              style={{ width: c.width }} title={c.id.startsWith("m:") ? `metrics.${quote(c.label)}` : c.id.startsWith("p:") ? `params.${quote(c.label)}` : c.label}
              onClick={() => clickHeader(c.id)} tabIndex={0}
              onKeyDown={(e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); clickHeader(c.id); } }}
              role="columnheader" aria-sort={sort === c.id ? (dir === "asc" ? "ascending" : "descending") : "none"}>
              {c.label}{sort === c.id ? (dir === "asc" ? " ▲" : " ▼") : ""}
            </div>
          ))}
        </div>
        <div style={{ height: virtualizer.getTotalSize(), width: totalWidth, position: "relative" }}>
          {virtualizer.getVirtualItems().map((v) => {
            const { run, depth, childCount } = rows[v.index];
            const id = run.info.run_id;
            return (
              <div key={id} className={`vrow ${selected.has(id) ? "selected" : ""}`} data-run-id={id} data-index={v.index} role="row"
                style={{ position: "absolute", top: 0, transform: `translateY(${v.start}px)`, height: ROW_HEIGHT, width: totalWidth }}>
                <div className="vcell check" style={{ width: 36 }}>
                  <input type="checkbox" aria-label={`select ${run.info.run_name}`} checked={selected.has(id)} onChange={() => toggleSelect(id)} />
                </div>
                {columns.map((c, i) => (
                  <div key={c.id} className={`vcell ${c.numeric ? "num" : ""}`} style={{ width: c.width }} data-col={c.id}>
                    {i === 0 && (
                      <span style={{ paddingLeft: depth * 16 }}>
                        {childCount > 0 ? (
                          <button className="twisty" aria-label={collapsed.has(id) ? "expand" : "collapse"}
                            onClick={() => { const n = new Set(collapsed); if (n.has(id)) n.delete(id); else n.add(id); setCollapsed(n); }}>
                            {collapsed.has(id) ? "▸" : "▾"}
                          </button>
                        ) : depth > 0 ? <span className="twisty-space" /> : null}
                      </span>
                    )}
                    {c.render ? c.render(run) : String(c.value(run) ?? "")}
                    {i === 0 && childCount > 0 && <span className="muted"> ({childCount})</span>}
                  </div>
                ))}
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}

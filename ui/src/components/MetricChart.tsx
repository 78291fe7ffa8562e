import { useEffect, useMemo, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { Metric, metricHistory } from "../api";

export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

// The server's limit on run_ids per get-history-bulk-interval request.
const RUNS_PER_REQUEST = 100;

type XAxis = "step" | "wall" | "relative";

/** Exponential moving average, bias-corrected as TensorBoard smooths. */
function smooth(ys: (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return ys;
  let last = 0, n = 0;
  return ys.map((y) => {
    if (y === null || !isFinite(y)) return y;
    last = last * weight + (1 - weight) * y;
    n += 1;
    return last / (1 - Math.pow(weight, n));
  });
}

/**
 * One metric of one or several runs as lines (uPlot). History comes sampled by the server
 * (`metrics/get-history-bulk-interval`), so a million-point metric costs ~1000 points.
 * Drag to zoom, double-click to reset. A new `refreshKey` (live updates) fetches the history
 * again, keeping the old lines until the new ones arrive.
 */
export function MetricChart(props: { runIds: string[]; runNames: Record<string, string>; metricKey: string; height?: number; refreshKey?: string }) {
  const { runIds, runNames, metricKey, refreshKey } = props;
  const [history, setHistory] = useState<Metric[]>();
  const [error, setError] = useState<string>();
  const [xAxis, setXAxis] = useState<XAxis>("step");
  const [logY, setLogY] = useState(false);
  const [smoothing, setSmoothing] = useState(0);
  const box = useRef<HTMLDivElement>(null);
  const runKey = runIds.join(",");

  useEffect(() => {
    let live = true;
    setError(undefined);
    const chunks: string[][] = [];
    for (let i = 0; i < runIds.length; i += RUNS_PER_REQUEST) chunks.push(runIds.slice(i, i + RUNS_PER_REQUEST));
    Promise.all(chunks.map((c) => metricHistory(c, metricKey)))
      .then((parts) => live && setHistory(parts.flat()))
      .catch((e) => live && setError(e.message));
    return () => { live = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [runKey, metricKey, refreshKey]);

  const data = useMemo(() => {
    if (!history) return undefined;
    const byRun = new Map<string, Metric[]>();
    for (const m of history) {
      const id = m.run_id ?? runIds[0];
      if (!byRun.has(id)) byRun.set(id, []);
      byRun.get(id)!.push(m);
    }
    const series: string[] = [];
    const tables: uPlot.AlignedData[] = [];
    for (const id of runIds) {
      const points = byRun.get(id);
      if (!points?.length) continue;
      const first = Math.min(...points.map((p) => p.timestamp));
      const x = (p: Metric) => (xAxis === "step" ? p.step : xAxis === "wall" ? p.timestamp / 1000 : (p.timestamp - first) / 1000);
      const sorted = [...points].sort((a, b) => x(a) - x(b) || a.step - b.step);
      // Several values at one x (same step logged twice): keep the last.
      const xs: number[] = [], ys: (number | null)[] = [];
      for (const p of sorted) {
        const v = typeof p.value === "number" && isFinite(p.value) && (!logY || p.value > 0) ? p.value : null;
        if (xs.length && xs[xs.length - 1] === x(p)) ys[ys.length - 1] = v;
        else { xs.push(x(p)); ys.push(v); }
      }
      series.push(id);
      tables.push([xs, smooth(ys, smoothing)] as uPlot.AlignedData);
    }
    if (!tables.length) return { series, aligned: undefined };
    return { series, aligned: tables.length === 1 ? tables[0] : uPlot.join(tables) };
  }, [history, runKey, xAxis, logY, smoothing]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    const el = box.current;
    if (!el || !data?.aligned) return;
    const width = Math.max(300, el.clientWidth || 600);
    // Axis colours from the page's CSS variables (dark mode follows the system setting).
    const css = getComputedStyle(document.documentElement);
    const fg = css.getPropertyValue("--muted").trim() || "#6b7280";
    const line = css.getPropertyValue("--line").trim() || "#e3e6ea";
    const axis = { stroke: fg, grid: { stroke: line }, ticks: { stroke: line } };
    const opts: uPlot.Options = {
      width,
      height: props.height ?? 260,
      scales: { x: { time: xAxis === "wall" }, y: { distr: logY ? 3 : 1 } },
      axes: [
        { ...axis, label: xAxis === "step" ? "step" : xAxis === "wall" ? "time" : "seconds since start" },
        { ...axis, label: metricKey, size: 60 },
      ],
      cursor: { drag: { x: true, y: false } },
      legend: { show: runIds.length <= 12 },
      series: [
        {},
        ...data.series.map((id, i) => ({
          label: runNames[id] || id.slice(0, 8),
          stroke: PALETTE[runIds.indexOf(id) % PALETTE.length] ?? PALETTE[i % PALETTE.length],
          width: 1.5,
          spanGaps: true,
          points: { show: (data.aligned![0] as number[]).length < 3 },
        })),
      ],
    };
    const plot = new uPlot(opts, data.aligned, el);
    const resize = () => plot.setSize({ width: Math.max(300, el.clientWidth), height: props.height ?? 260 });
    window.addEventListener("resize", resize);
    return () => { window.removeEventListener("resize", resize); plot.destroy(); };
  }, [data]); // eslint-disable-line react-hooks/exhaustive-deps

  return (
    <div className="metric-chart" data-testid={`chart-${metricKey}`} data-points={history?.length ?? 0}>
      <div className="chart-controls">
        <strong>{metricKey}</strong>
        <select aria-label="X axis" value={xAxis} onChange={(e) => setXAxis(e.target.value as XAxis)}>
          <option value="step">Step</option>
          <option value="wall">Wall time</option>
          <option value="relative">Relative time</option>
        </select>
        <label><input type="checkbox" checked={logY} onChange={(e) => setLogY(e.target.checked)} /> Log scale</label>
        <label>
          Smoothing <input type="range" min={0} max={0.99} step={0.01} value={smoothing} onChange={(e) => setSmoothing(Number(e.target.value))} />
        </label>
        <span className="muted">drag to zoom, double-click to reset</span>
      </div>
      {error && <p className="error">{error}</p>}
      {!error && !history && <p className="muted">Loading…</p>}
      {history && !data?.aligned && <p className="muted">No values.</p>}
      <div ref={box} className="chart-box" />
    </div>
  );
}

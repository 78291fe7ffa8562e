import { useEffect, useMemo, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router";
import * as echarts from "echarts/core";
import { CustomChart, ParallelChart, ScatterChart } from "echarts/charts";
import { contours } from "d3-contour";
import { GridComponent, ParallelComponent, TooltipComponent, VisualMapComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";
import { Run, formatValue, getRun } from "../api";
import { useLoad, usePoll } from "../hooks";
import { MetricChart, PALETTE } from "../components/MetricChart";

echarts.use([CustomChart, ParallelChart, ScatterChart, GridComponent, ParallelComponent, TooltipComponent, VisualMapComponent, CanvasRenderer]);

/** A value to compare: `params.<key>` or `metrics.<key>`. */
function valueOf(run: Run, field: string): string | number | undefined {
  if (field.startsWith("metrics.")) return run.data.metrics?.find((m) => m.key === field.slice(8))?.value;
  if (field.startsWith("params.")) return run.data.params?.find((p) => p.key === field.slice(7))?.value;
  return undefined;
}
const isNumeric = (values: (string | number | undefined)[]) =>
  values.every((v) => v === undefined || v === "" || !isNaN(Number(v)));

// A sequential colour scale (viridis stops) for contour levels.
const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];
const GRID = 48;
const LEVELS = 10;

/**
 * A contour plot of metric `z` over two numeric axes `x`, `y`: the runs' values are spread
 * on a GRID x GRID mesh by inverse-distance weighting (power 2), d3-contour cuts the mesh
 * into LEVELS filled bands (marching squares), drawn as echarts paths, with the runs on top.
 */
function contourOption(points: { name: string; x: number; y: number; z: number }[], xName: string, yName: string, zName: string) {
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y), zs = points.map((p) => p.z);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const [zMin, zMax] = [Math.min(...zs), Math.max(...zs)];
  const dx = x1 - x0 || 1, dy = y1 - y0 || 1;
  const values = new Array<number>(GRID * GRID);
  for (let j = 0; j < GRID; j++) {
    for (let i = 0; i < GRID; i++) {
      // Distances in units of each axis' range, so both axes weigh the same.
      const gx = i / (GRID - 1), gy = j / (GRID - 1);
      let num = 0, den = 0, exact: number | undefined;
      for (const p of points) {
        const d2 = ((p.x - x0) / dx - gx) ** 2 + ((p.y - y0) / dy - gy) ** 2;
        if (d2 < 1e-12) { exact = p.z; break; }
        const w = 1 / (d2 * d2);
        num += w * p.z;
        den += w;
      }
      values[j * GRID + i] = exact ?? num / den;
    }
  }
  const step = (zMax - zMin) / LEVELS || 1;
  const thresholds = Array.from({ length: LEVELS }, (_, k) => zMin + k * step);
  const bands = contours().size([GRID, GRID]).thresholds(thresholds)(values);
  const color = (k: number) => VIRIDIS[Math.round((k / Math.max(1, LEVELS - 1)) * (VIRIDIS.length - 1))];
  // Mesh coordinates (cell centres at i + 0.5) back to data coordinates.
  const toData = ([gx, gy]: number[]) => [x0 + ((gx - 0.5) / (GRID - 1)) * dx, y0 + ((gy - 0.5) / (GRID - 1)) * dy];
  const clampX = (v: number) => Math.min(x1, Math.max(x0, v)), clampY = (v: number) => Math.min(y1, Math.max(y0, v));
  return {
    animation: false,
    grid: { left: 70, right: 90, top: 30, bottom: 50 },
    tooltip: { trigger: "item" },
    xAxis: { type: "value", name: xName, nameLocation: "middle", nameGap: 30, min: x0, max: x1, axisLabel: { formatter: (v: number) => formatValue(Number(v.toPrecision(4))) } },
    yAxis: { type: "value", name: yName, min: y0, max: y1, axisLabel: { formatter: (v: number) => formatValue(Number(v.toPrecision(4))) } },
    visualMap: {
      type: "continuous", min: zMin, max: zMax, dimension: 2, seriesIndex: 1, right: 0, top: 30,
      text: [zName, ""], inRange: { color: VIRIDIS }, calculable: false,
    },
    series: [
      {
        type: "custom", silent: true, z: 1, clip: true,
        data: bands.map((_, k) => k),
        renderItem: (_params: unknown, api: any) => {
          const band = bands[api.value(0)];
          let d = "";
          for (const polygon of band.coordinates) {
            for (const ring of polygon) {
              ring.forEach((pt, n) => {
                const [vx, vy] = toData(pt);
                const [px, py] = api.coord([clampX(vx), clampY(vy)]);
                d += `${n ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`;
              });
              d += "Z";
            }
          }
          return { type: "path", shape: { pathData: d }, style: { fill: color(api.value(0)), stroke: "rgba(255,255,255,0.35)", lineWidth: 0.5 } };
        },
      },
      {
        type: "scatter", z: 2, symbolSize: 9, itemStyle: { borderColor: "#111", borderWidth: 1.2 },
        tooltip: { formatter: (p: any) => `${p.data.name}<br>${xName}: ${formatValue(p.data.value[0])}<br>${yName}: ${formatValue(p.data.value[1])}<br>${zName}: ${formatValue(p.data.value[2])}` },
        data: points.map((p) => ({ name: p.name, value: [p.x, p.y, p.z] })),
      },
    ],
  };
}

function useChart(option: echarts.EChartsCoreOption | undefined) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!ref.current || !option) return;
    // Dark mode follows the system setting, as the page's CSS does.
    const dark = window.matchMedia?.("(prefers-color-scheme: dark)").matches;
    const chart = echarts.init(ref.current, dark ? "dark" : undefined);
    chart.setOption(option);
    if (dark) chart.setOption({ backgroundColor: "transparent" }); // the page's own background
    const resize = () => chart.resize();
    window.addEventListener("resize", resize);
    return () => { window.removeEventListener("resize", resize); chart.dispose(); };
  }, [option]);
  return ref;
}

function setParam(params: URLSearchParams, name: string, value: string) {
  const next = new URLSearchParams(params);
  if (value) next.set(name, value);
  else next.delete(name);
  return next;
}

/** Compare runs (`#/compare-runs?runs=a,b,c`): parallel coordinates, scatter, metric charts, diff table. */
export default function ComparePage() {
  const [params, setParams] = useSearchParams();
  const runIds = useMemo(() => (params.get("runs") ?? "").split(",").filter(Boolean), [params]);
  const { data: runs, error, refresh, settled } = useLoad(() => Promise.all(runIds.map(getRun)), [runIds.join(",")]);
  // Live updates while any compared run is RUNNING (backing off while nothing changes).
  const anyRunning = !!runs?.some((r) => r.info.status === "RUNNING");
  const latest = (runs ?? []).map((r) => r.info.status + (r.data.metrics ?? []).map((m) => `${m.key}:${m.step}:${m.timestamp}`).sort().join(",")).join(";");
  usePoll(anyRunning, refresh, settled, latest);
  const [onlyDiff, setOnlyDiff] = useState(false);

  const fields = useMemo(() => {
    const p = new Set<string>(), m = new Set<string>();
    for (const r of runs ?? []) {
      r.data.params?.forEach((x) => p.add(x.key));
      r.data.metrics?.forEach((x) => m.add(x.key));
    }
    return { params: [...p].sort(), metrics: [...m].sort() };
  }, [runs]);
  const allFields = [...fields.params.map((k) => "params." + k), ...fields.metrics.map((k) => "metrics." + k)];
  const dims = params.get("dims")?.split(",").filter((d) => allFields.includes(d)) ?? allFields.slice(0, 12);
  const x = params.get("x") || allFields[0] || "";
  const y = params.get("y") || (fields.metrics[0] ? "metrics." + fields.metrics[0] : allFields[1] ?? "");
  const metricKey = params.get("metric") || fields.metrics[0] || "";
  // Contour axes (URL `cx`, `cy`, `cz`): two numeric fields and a metric.
  const numericFields = useMemo(() => allFields.filter((f) => {
    const vals = (runs ?? []).map((r) => valueOf(r, f));
    return vals.some((v) => v !== undefined && v !== "") && isNumeric(vals);
  }), [runs, allFields.join(",")]); // eslint-disable-line react-hooks/exhaustive-deps
  const numericParams = numericFields.filter((f) => f.startsWith("params."));
  const cx = params.get("cx") || numericParams[0] || numericFields[0] || "";
  const cy = params.get("cy") || numericParams[1] || numericFields.find((f) => f !== cx) || "";
  const cz = params.get("cz") || (fields.metrics[0] ? "metrics." + fields.metrics[0] : "");
  const names = useMemo(() => Object.fromEntries((runs ?? []).map((r) => [r.info.run_id, r.info.run_name || r.info.run_id.slice(0, 8)])), [runs]);

  const parallel = useMemo(() => {
    if (!runs?.length || !dims.length) return undefined;
    const colorBy = dims.filter((d) => d.startsWith("metrics.")).pop();
    const axes = dims.map((d, i) => {
      const values = runs.map((r) => valueOf(r, d));
      return isNumeric(values)
        ? { dim: i, name: d.replace(/^(params|metrics)\./, ""), type: "value" as const, scale: true }
        : { dim: i, name: d.replace(/^(params|metrics)\./, ""), type: "category" as const, data: [...new Set(values.map((v) => String(v ?? "")))].sort() };
    });
    const data = runs.map((r) => ({
      name: names[r.info.run_id],
      value: dims.map((d, i) => {
        const v = valueOf(r, d);
        return axes[i].type === "value" ? (v === undefined || v === "" ? null : Number(v)) : String(v ?? "");
      }),
    }));
    const colorValues = colorBy ? runs.map((r) => Number(valueOf(r, colorBy))).filter((v) => isFinite(v)) : [];
    return {
      animation: false,
      tooltip: { trigger: "item", formatter: (p: any) => p.name },
      parallelAxis: axes,
      parallel: { left: 60, right: 90, top: 40, bottom: 30 },
      visualMap: colorValues.length > 1 ? {
        show: true, dimension: dims.indexOf(colorBy!), min: Math.min(...colorValues), max: Math.max(...colorValues),
        inRange: { color: ["#2c7bb6", "#abd9e9", "#fdae61", "#d7191c"] }, right: 0, top: 40, text: [colorBy!.slice(8), ""],
      } : undefined,
      series: [{ type: "parallel", lineStyle: { width: 2, opacity: 0.8 }, data, color: PALETTE[0] }],
    };
  }, [runs, dims.join(","), names]); // eslint-disable-line react-hooks/exhaustive-deps

  const scatter = useMemo(() => {
    if (!runs?.length || !x || !y) return undefined;
    const xNum = isNumeric(runs.map((r) => valueOf(r, x)));
    const yNum = isNumeric(runs.map((r) => valueOf(r, y)));
    const conv = (v: string | number | undefined, num: boolean) => (v === undefined ? null : num ? Number(v) : String(v));
    return {
      animation: false,
      grid: { left: 70, right: 30, top: 30, bottom: 50 },
      tooltip: { trigger: "item", formatter: (p: any) => `${p.data.name}<br>${x}: ${p.data.value[0]}<br>${y}: ${p.data.value[1]}` },
      xAxis: { type: xNum ? "value" : "category", name: x, nameLocation: "middle", nameGap: 30, scale: true },
      yAxis: { type: yNum ? "value" : "category", name: y, scale: true },
      series: [{
        type: "scatter", symbolSize: 12,
        data: runs.map((r, i) => ({ name: names[r.info.run_id], value: [conv(valueOf(r, x), xNum), conv(valueOf(r, y), yNum)], itemStyle: { color: PALETTE[i % PALETTE.length] } })),
      }],
    };
  }, [runs, x, y, names]);

  const contourPoints = useMemo(() => (runs ?? []).flatMap((r) => {
    const [a, b, c] = [valueOf(r, cx), valueOf(r, cy), valueOf(r, cz)].map((v) => (v === undefined || v === "" ? NaN : Number(v)));
    return isFinite(a) && isFinite(b) && isFinite(c) ? [{ name: names[r.info.run_id], x: a, y: b, z: c }] : [];
  }), [runs, cx, cy, cz, names]);
  const contourReady = contourPoints.length >= 3 && new Set(contourPoints.map((p) => p.x)).size > 1 && new Set(contourPoints.map((p) => p.y)).size > 1;
  const contour = useMemo(
    () => (contourReady ? contourOption(contourPoints, cx, cy, cz) : undefined),
    [contourPoints, contourReady, cx, cy, cz],
  );

  const parallelRef = useChart(parallel);
  const contourRef = useChart(contour);
  const scatterRef = useChart(scatter);

  if (error) return <div className="page"><p className="error">{error}</p></div>;
  if (!runs) return <div className="page"><p className="muted">Loading…</p></div>;
  const experiments = params.get("experiments");

  const diffRows: [string, string, (r: Run) => string][] = [
    ...fields.params.map((k): [string, string, (r: Run) => string] => ["Parameters", k, (r) => String(valueOf(r, "params." + k) ?? "")]),
    ...fields.metrics.map((k): [string, string, (r: Run) => string] => ["Metrics", k, (r) => formatValue(valueOf(r, "metrics." + k) as number | undefined)]),
  ];
  const tagKeys = [...new Set(runs.flatMap((r) => (r.data.tags ?? []).filter((t) => !t.key.startsWith("mlflow.")).map((t) => t.key)))].sort();
  diffRows.push(...tagKeys.map((k): [string, string, (r: Run) => string] => ["Tags", k, (r) => r.data.tags?.find((t) => t.key === k)?.value ?? ""]));

  return (
    <div className="page">
      <div className="crumbs">
        <Link to="/experiments">Experiments</Link>
        {experiments && <> › <Link to={`/experiments/${experiments}`}>runs</Link></>}
      </div>
      <h1>Comparing {runs.length} runs{anyRunning && <span className="live" data-testid="live">● live</span>}</h1>

      <section>
        <h2>Parallel coordinates</h2>
        <details>
          <summary>Axes ({dims.length})</summary>
          <div className="chooser">
            {allFields.map((f) => (
              <label key={f}><input type="checkbox" checked={dims.includes(f)}
                onChange={() => setParams(setParam(params, "dims", (dims.includes(f) ? dims.filter((d) => d !== f) : [...dims, f]).join(",") || ","), { replace: true })} /> {f}</label>
            ))}
          </div>
        </details>
        <div ref={parallelRef} className="echart" data-testid="parallel-chart" />
      </section>

      <div className="chart-grid">
        <section>
          <h2>Scatter</h2>
          <div className="toolbar">
            <label>X <select aria-label="Scatter X" value={x} onChange={(e) => setParams(setParam(params, "x", e.target.value), { replace: true })}>
              {allFields.map((f) => <option key={f} value={f}>{f}</option>)}
            </select></label>
            <label>Y <select aria-label="Scatter Y" value={y} onChange={(e) => setParams(setParam(params, "y", e.target.value), { replace: true })}>
              {allFields.map((f) => <option key={f} value={f}>{f}</option>)}
            </select></label>
          </div>
          <div ref={scatterRef} className="echart" data-testid="scatter-chart" />
        </section>

        <section>
          <h2>Contour</h2>
          <div className="toolbar">
            <label>X <select aria-label="Contour X" value={cx} onChange={(e) => setParams(setParam(params, "cx", e.target.value), { replace: true })}>
              {numericFields.map((f) => <option key={f} value={f}>{f}</option>)}
            </select></label>
            <label>Y <select aria-label="Contour Y" value={cy} onChange={(e) => setParams(setParam(params, "cy", e.target.value), { replace: true })}>
              {numericFields.map((f) => <option key={f} value={f}>{f}</option>)}
            </select></label>
            <label>Z <select aria-label="Contour Z" value={cz} onChange={(e) => setParams(setParam(params, "cz", e.target.value), { replace: true })}>
              {fields.metrics.map((m) => <option key={m} value={"metrics." + m}>{"metrics." + m}</option>)}
            </select></label>
          </div>
          {!contourReady && <p className="muted" data-testid="contour-empty">A contour needs at least 3 runs with numeric values of X, Y and Z, spread on both axes.</p>}
          <div ref={contourRef} className="echart" data-testid="contour-chart" style={contourReady ? undefined : { display: "none" }} />
        </section>
      </div>

      {fields.metrics.length > 0 && (
        <section>
          <h2>Metric history</h2>
          <div className="toolbar">
            <select aria-label="Metric" value={metricKey} onChange={(e) => setParams(setParam(params, "metric", e.target.value), { replace: true })}>
              {fields.metrics.map((m) => <option key={m} value={m}>{m}</option>)}
            </select>
          </div>
          <MetricChart runIds={runIds} runNames={names} metricKey={metricKey}
            refreshKey={(runs ?? []).map((r) => { const m = r.data.metrics?.find((x) => x.key === metricKey); return m ? `${m.step}:${m.timestamp}` : ""; }).join(",")} />
        </section>
      )}

      <section>
        <h2>Side by side <label className="muted"><input type="checkbox" checked={onlyDiff} onChange={(e) => setOnlyDiff(e.target.checked)} /> only differences</label></h2>
        <div className="scroll-x">
          <table className="grid" data-testid="diff-table">
            <thead>
              <tr><th></th><th></th>{runs.map((r) => (
                <th key={r.info.run_id}><Link to={`/experiments/${r.info.experiment_id}/runs/${r.info.run_id}`}>{names[r.info.run_id]}</Link></th>
              ))}</tr>
            </thead>
            <tbody>
              {diffRows.map(([group, key, get]) => {
                const values = runs.map(get);
                const differs = new Set(values).size > 1;
                if (onlyDiff && !differs) return null;
                return (
                  <tr key={group + key} className={differs ? "differs" : ""}>
                    <td className="muted">{group}</td><th>{key}</th>
                    {values.map((v, i) => <td key={i}>{v}</td>)}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </section>
    </div>
  );
}

import { useEffect, useMemo, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router";
import * as echarts from "echarts/core";
import { ParallelChart, ScatterChart } from "echarts/charts";
import { GridComponent, ParallelComponent, TooltipComponent, VisualMapComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";
import { Run, formatValue, getRun } from "../api";
import { useLoad } from "../hooks";
import { MetricChart, PALETTE } from "../components/MetricChart";

echarts.use([ParallelChart, ScatterChart, GridComponent, ParallelComponent, TooltipComponent, VisualMapComponent, CanvasRenderer]);

/** A value to compare: `params.<key>` or `metrics.<key>`. */
function valueOf(run: Run, field: string): string | number | undefined {
  if (field.startsWith("metrics.")) return run.data.metrics?.find((m) => m.key === field.slice(8))?.value;
  if (field.startsWith("params.")) return run.data.params?.find((p) => p.key === field.slice(7))?.value;
  return undefined;
}
const isNumeric = (values: (string | number | undefined)[]) =>
  values.every((v) => v === undefined || v === "" || !isNaN(Number(v)));

function useChart(option: echarts.EChartsCoreOption | undefined) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!ref.current || !option) return;
    const chart = echarts.init(ref.current);
    chart.setOption(option);
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
  const { data: runs, error } = useLoad(() => Promise.all(runIds.map(getRun)), [runIds.join(",")]);
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

  const parallelRef = useChart(parallel);
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
      <h1>Comparing {runs.length} runs</h1>

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

      {fields.metrics.length > 0 && (
        <section>
          <h2>Metric history</h2>
          <div className="toolbar">
            <select aria-label="Metric" value={metricKey} onChange={(e) => setParams(setParam(params, "metric", e.target.value), { replace: true })}>
              {fields.metrics.map((m) => <option key={m} value={m}>{m}</option>)}
            </select>
          </div>
          <MetricChart runIds={runIds} runNames={names} metricKey={metricKey} />
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

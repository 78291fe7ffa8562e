// Seeds many runs fast through the server's REST API (not the mlflow client): runs/create
// and runs/log-batch sent by `concurrency` parallel workers, each keeping one request in flight.

async function call(url, path, body) {
  const r = await fetch(`${url}/api/2.0/mlflow/${path}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const json = await r.json();
  if (!r.ok) throw new Error(`${path}: ${r.status} ${JSON.stringify(json)}`);
  return json;
}

/**
 * Creates experiment `name` with `n` finished runs, each with 2 params, 2 metrics and a tag.
 * Returns { experimentId, ms } (ms: the wall time the seeding took).
 */
export async function seedRuns(url, name, n, concurrency = 32) {
  const t0 = performance.now();
  const { experiment_id: experimentId } = await call(url, "experiments/create", { name });
  const start = Date.now() - n * 1000;
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const t = start + i * 1000;
      const { run } = await call(url, "runs/create", {
        experiment_id: experimentId, run_name: `bulk-${String(i).padStart(5, "0")}`, start_time: t,
        tags: [{ key: "batch", value: String(i % 10) }],
      });
      const id = run.info.run_id;
      await call(url, "runs/log-batch", {
        run_id: id,
        params: [{ key: "lr", value: String((i % 100) / 1000) }, { key: "depth", value: String(i % 7) }],
        metrics: [
          { key: "loss", value: 1 / (1 + i), timestamp: t, step: 0 },
          { key: "acc", value: (i % 1000) / 1000, timestamp: t, step: 0 },
        ],
      });
      await call(url, "runs/update", { run_id: id, status: "FINISHED", end_time: t + 500 });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { experimentId, ms: Math.round(performance.now() - t0) };
}

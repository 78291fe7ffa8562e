// How long the runs table takes to load 10,000 runs, in Debian's chromium, against a
// `ferroflow` binary (default: the release build, as `scripts/run.sh` starts it). A
// benchmark, not a test: it prints the numbers (and writes them as JSON) and fails only if a
// load does not complete.
//
//   (cd ui && npm ci && npm run build) && cargo build --release -p ferroflow
//   node ui/bench/load-10k.mjs [--runs 10000] [--loads 10]
//
// Each load opens the UI afresh (a new document: nothing cached in the page) on the
// experiments list, then navigates to the runs table, timed in the page: the first row on
// screen, and the count showing every run (all pages in).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, openSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { seedRuns } from "../tests/bulk.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = process.env.FERROFLOW_BIN || join(REPO, "target/release/ferroflow");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg("runs", 10000);
const LOADS = arg("loads", 10);

const freePort = () =>
  new Promise((ok, fail) => {
    const s = createServer();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const work = mkdtempSync(join(tmpdir(), "ferroflow-ui-bench-"));
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const log = openSync(join(work, "server.log"), "w");
const server = spawn(
  BIN,
  ["server", "--backend-store-uri", `sqlite:///${work}/mlflow.db`, "--artifacts-destination", join(work, "art"),
    "--host", "127.0.0.1", "--port", String(port)],
  { stdio: ["ignore", log, log] },
);
let browser;
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      /* starting */
    }
    if (i > 200) throw new Error("server did not start");
    await new Promise((r) => setTimeout(r, 50));
  }
  const seeded = await seedRuns(url, "bench-10k", RUNS, 64);
  console.error(`seeded ${RUNS} runs in ${(seeded.ms / 1000).toFixed(1)} s`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  const loads = [];
  for (let i = 0; i < LOADS + 1; i++) {
    // A fresh document each time, so nothing of the previous load (the UI keeps the last
    // searches in memory for back-navigation) can be reused: a cold load every time.
    await page.goto("about:blank");
    await page.goto(`${url}/#/experiments`);
    await page.getByRole("link", { name: "bench-10k" }).waitFor();
    const t = await page.evaluate(async ({ id, total }) => {
      const t0 = performance.now();
      location.hash = `#/experiments/${id}`;
      let firstRow, all;
      while (all === undefined && performance.now() - t0 < 60000) {
        await new Promise((r) => requestAnimationFrame(r));
        if (firstRow === undefined && document.querySelector("[data-testid=runs-table] [data-run-id]")) firstRow = performance.now() - t0;
        if (document.querySelector("[data-testid=run-count]")?.textContent === `${total} runs`) all = performance.now() - t0;
      }
      return { firstRow, all };
    }, { id: seeded.experimentId, total: RUNS });
    if (t.all === undefined) throw new Error(`load ${i}: the count never showed ${RUNS} runs`);
    if (i > 0) loads.push(t); // the first load warms the server's caches and the browser
    console.error(`load ${i}: first row ${Math.round(t.firstRow)} ms, all ${RUNS} runs ${Math.round(t.all)} ms${i ? "" : " (warm-up)"}`);
  }
  const result = {
    binary: BIN,
    runs: RUNS,
    loads: LOADS,
    first_row_ms: { median: median(loads.map((l) => l.firstRow)), max: Math.max(...loads.map((l) => l.firstRow)) },
    all_runs_ms: { median: median(loads.map((l) => l.all)), max: Math.max(...loads.map((l) => l.all)) },
  };
  console.log(JSON.stringify(result, null, 2));
  writeFileSync(join(REPO, "bench", "results", `ui-load-${Date.now()}.json`), JSON.stringify(result, null, 2));
} finally {
  if (browser) await browser.close();
  server.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
}

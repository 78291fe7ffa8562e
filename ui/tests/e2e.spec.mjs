// The web UI in a real browser: Debian's chromium driven by playwright-core, against a real
// `ferroflow` process seeded by the official mlflow client (tests/seed.py).
//
// Run with `bash scripts/ui-test.sh` (builds everything first), or `npm test` in ui/ with:
//   FERROFLOW_BIN   the server binary        (default <repo>/target/debug/ferroflow)
//   FERROFLOW_VENV  the venv with mlflow      (default <repo>/.venv)
//   CHROMIUM        the browser               (default /usr/bin/chromium)
//   UI_SCREENSHOTS  where screenshots go      (default <repo>/test-output/ui-screenshots)
// Each step saves a screenshot of the page it checked.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, openSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium } from "playwright-core";
import { seedRuns } from "./bulk.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = process.env.FERROFLOW_BIN || join(REPO, "target/debug/ferroflow");
const PYTHON = join(process.env.FERROFLOW_VENV || join(REPO, ".venv"), "bin/python");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SHOTS = process.env.UI_SCREENSHOTS || join(REPO, "test-output/ui-screenshots");

let work, server, url, seed, context, page;

const freePort = () =>
  new Promise((ok, fail) => {
    const s = createServer();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });

async function until(what, fn, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function api(method, path, body) {
  const r = await fetch(`${url}/api/2.0/mlflow/${path}`, {
    method,
    headers: body ? { "Content-Type": "application/json" } : undefined,
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, json: await r.json() };
}

const shot = (name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

/** Number of drawn (non-transparent) pixels in the canvases under `selector`. */
const inkedPixels = (selector) =>
  page.evaluate((sel) => {
    let n = 0;
    for (const c of document.querySelectorAll(`${sel} canvas`)) {
      if (!c.width || !c.height) continue;
      const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
    }
    return n;
  }, selector);

/** A `ferroflow server` on a free port with its own database under `dir`. */
async function startServer(dir, extraArgs = []) {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const log = openSync(join(dir, "server.log"), "w");
  const proc = spawn(
    BIN,
    ["server", "--backend-store-uri", `sqlite:///${dir}/mlflow.db`, "--artifacts-destination", `${dir}/mlartifacts`,
      "--host", "127.0.0.1", "--port", String(port), ...extraArgs],
    { cwd: dir, stdio: ["ignore", log, log] },
  );
  await until("the server's /health", async () => (await fetch(`${base}${extraArgs.length ? "/mlflow" : ""}/health`)).ok);
  return { proc, url: base };
}

async function stopServer(proc) {
  if (!proc || proc.exitCode !== null) return;
  proc.kill("SIGTERM");
  await until("the server to stop", () => proc.exitCode !== null || proc.signalCode !== null, 10000).catch(() => proc.kill("SIGKILL"));
}

const visibleText = (selector) => page.locator(selector).first().innerText();

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  work = mkdtempSync(join(tmpdir(), "ferroflow-ui-"));
  ({ proc: server, url } = await startServer(work));
  const { stdout } = await promisify(execFile)(PYTHON, [join(REPO, "ui/tests/seed.py"), url], {
    cwd: work, env: { ...process.env, MLFLOW_TRACKING_URI: url }, maxBuffer: 1 << 24,
  });
  seed = JSON.parse(stdout.trim().split("\n").pop());
  context = await chromium.launchPersistentContext(join(work, "chromium-profile"), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run"],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15000);
});

after(async () => {
  await context?.close();
  await stopServer(server);
  if (work) rmSync(work, { recursive: true, force: true });
});

test("the experiments list shows experiments and creates one", async () => {
  await page.goto(`${url}/`);
  await page.getByRole("link", { name: "ui-sweep" }).waitFor();
  await page.getByLabel("New experiment name").fill("created-in-the-ui");
  await page.getByRole("button", { name: "Create experiment" }).click();
  await page.getByRole("link", { name: "created-in-the-ui" }).waitFor();
  const found = await api("GET", "experiments/get-by-name?experiment_name=created-in-the-ui");
  assert.equal(found.status, 200);
  await shot("experiments");
});

test("a client-side path falls back to the app", async () => {
  await page.goto(`${url}/some/client/route`);
  await page.getByRole("heading", { name: "Experiments" }).waitFor();
  const notFound = await fetch(`${url}/ajax-api/2.0/mlflow/no/such/route`);
  assert.equal(notFound.status, 404);
  assert.equal((await notFound.json()).error_code, "ENDPOINT_NOT_FOUND");
});

test("the runs table nests trials under their parent, filters and sorts", async () => {
  await page.goto(`${url}/#/experiments/${seed.experiment_id}`);
  await page.locator("[data-testid=run-count]", { hasText: /^8 runs$/ }).waitFor();
  const parentRow = page.locator(`[data-run-id="${seed.parent_run_id}"]`);
  assert.match(await parentRow.innerText(), /sweep-parent\s*\(5\)/);
  await shot("runs");

  // A filter in MLflow's grammar, applied by the server.
  const filter = "metrics.rmse < 0.5";
  const expected = (await api("POST", "runs/search", { experiment_ids: [seed.experiment_id], filter })).json.runs?.length ?? 0;
  await page.getByLabel("Filter runs").fill(filter);
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.locator("[data-testid=run-count]", { hasText: new RegExp(`^${expected} runs$`) }).waitFor();
  assert.ok(page.url().includes("filter="), "the filter is in the URL");

  // A bad filter shows the server's own message.
  const bad = "metrics.rmse <<< 1";
  const serverError = await api("POST", "runs/search", { experiment_ids: [seed.experiment_id], filter: bad });
  assert.equal(serverError.status, 400);
  await page.getByLabel("Filter runs").fill(bad);
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.getByTestId("filter-error").waitFor();
  assert.equal(await page.getByTestId("filter-error").innerText(), serverError.json.message);
  await shot("runs-filter-error");

  // Sort the trials by a metric column, both ways.
  await page.getByLabel("Filter runs").fill("tags.model = 'ridge'");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.locator("[data-testid=run-count]", { hasText: /^5 runs$/ }).waitFor();
  const rmseValues = async () =>
    (await page.locator("[role=row] [data-col='m:rmse']").allInnerTexts()).map(Number);
  await page.getByRole("columnheader", { name: /^rmse/ }).click();
  await until("ascending rmse", async () => {
    const v = await rmseValues();
    return v.length === 5 && v.every((x, i) => i === 0 || v[i - 1] <= x);
  });
  await page.getByRole("columnheader", { name: /^rmse/ }).click();
  await until("descending rmse", async () => {
    const v = await rmseValues();
    return v.length === 5 && v.every((x, i) => i === 0 || v[i - 1] >= x);
  });
  // A param column chosen by the user.
  await page.getByRole("button", { name: "Columns" }).click();
  await page.getByTestId("column-chooser").getByLabel("alpha").uncheck();
  await until("the alpha column to go", async () => (await page.locator("[data-col='p:alpha']").count()) === 0);
  await page.getByTestId("column-chooser").getByLabel("alpha").check();
  await page.locator("[data-col='p:alpha']").first().waitFor();
  await shot("runs-sorted");
});

test("the run page shows the run and edits its description", async () => {
  await page.goto(`${url}/#/experiments/${seed.experiment_id}/runs/${seed.best_run_id}`);
  await page.getByTestId("params-table").getByText("learning_rate").waitFor();
  assert.match(await visibleText("[data-testid=metrics-table]"), /rmse/);
  await page.getByRole("heading", { name: /Description/ }).getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("Description").fill("Best trial of the sweep.");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByTestId("description").getByText("Best trial of the sweep.").waitFor();
  const run = await api("GET", `runs/get?run_id=${seed.best_run_id}`);
  assert.equal(run.json.run.data.tags.find((t) => t.key === "mlflow.note.content")?.value, "Best trial of the sweep.");
  await shot("run-overview");
});

test("the artifact browser previews JSON, CSV and images", async () => {
  await page.getByRole("tab", { name: "Artifacts" }).click();
  await page.getByRole("button", { name: /config\// }).click();
  await page.getByRole("button", { name: "params.json" }).click();
  await page.getByTestId("text-preview").getByText('"layers"').waitFor();
  assert.ok(page.url().includes("path=config%2Fparams.json"), page.url());
  await shot("run-artifact-json");
  await page.getByRole("button", { name: "predictions.csv" }).click();
  await page.getByTestId("csv-preview").waitFor();
  assert.equal(await page.locator("[data-testid=csv-preview] tbody tr").count(), 3);
  await shot("run-artifact-csv");
  await page.getByRole("button", { name: /plots\// }).click();
  await page.getByRole("button", { name: "swatch.png" }).click();
  await until("the image to load", () => page.locator(".artifact-image").evaluate((img) => img.complete && img.naturalWidth === 32));
  await shot("run-artifact-image");
});

test("a metric chart draws the sampled history", async () => {
  await page.goto(`${url}/#/experiments/${seed.experiment_id}/runs/${seed.best_run_id}?tab=metrics&metric=loss`);
  await page.locator("[data-testid=chart-loss] .uplot canvas").waitFor();
  await until("a drawn chart", async () => (await inkedPixels("[data-testid=chart-loss]")) > 200);
  await shot("run-metric-chart");
});

test("compare shows parallel coordinates, scatter and a diff table", async () => {
  await page.goto(`${url}/#/experiments/${seed.experiment_id}?filter=${encodeURIComponent("tags.model = 'ridge'")}`);
  await page.locator("[data-testid=run-count]", { hasText: /^5 runs$/ }).waitFor();
  await page.getByLabel("select all").check();
  await page.getByRole("button", { name: /^Compare 5$/ }).click();
  await page.getByRole("heading", { name: "Comparing 5 runs" }).waitFor();
  await until("a drawn parallel coordinates chart", async () => (await inkedPixels("[data-testid=parallel-chart]")) > 500);
  await until("a drawn scatter chart", async () => (await inkedPixels("[data-testid=scatter-chart]")) > 500);
  await until("a drawn history chart", async () => (await inkedPixels(".metric-chart")) > 200);
  assert.equal(await page.locator("[data-testid=diff-table] thead th").count(), 2 + 5);
  await shot("compare");
});

test("the registry transitions stages with archiving and sets an alias", async () => {
  await page.goto(`${url}/#/models`);
  await page.getByRole("link", { name: seed.model_name }).click();
  await page.getByTestId("stage-2").waitFor();
  const transition = async (version, stage, expected) => {
    await page.getByLabel(`Stage of version ${version}`).selectOption(stage);
    await page.getByRole("button", { name: `Transition to ${stage}` }).click();
    await page.getByTestId(`stage-${version}`).getByText(expected ?? stage, { exact: true }).waitFor();
  };
  await transition("2", "Staging");
  await transition("1", "Production");
  // Version 2 to Production, archiving the current Production version (1).
  await page.getByLabel("Stage of version 2").selectOption("Production");
  assert.ok(await page.getByLabel("Archive existing Production versions").isChecked());
  await page.getByRole("button", { name: "Transition to Production" }).click();
  await page.getByTestId("stage-2").getByText("Production", { exact: true }).waitFor();
  await page.getByTestId("stage-1").getByText("Archived", { exact: true }).waitFor();

  await page.getByLabel("Alias", { exact: true }).fill("champion");
  await page.getByLabel("Alias version").selectOption("2");
  await page.getByRole("button", { name: "Set alias" }).click();
  await page.getByTestId("aliases").getByText("@champion → v2").waitFor();
  const byAlias = await api("GET", `registered-models/alias?name=${seed.model_name}&alias=champion`);
  assert.equal(byAlias.json.model_version?.version, "2");
  await shot("model");
  await page.goto(`${url}/#/models`);
  await page.getByTestId("models-table").getByText("Production: v2").waitFor();
  await shot("models");
});

test("compare draws a contour plot and keeps its axes in the URL", async () => {
  await page.goto(`${url}/#/compare-runs?runs=${seed.trial_run_ids.join(",")}&experiments=${seed.experiment_id}`);
  await page.getByRole("heading", { name: "Comparing 5 runs" }).waitFor();
  await page.getByLabel("Contour X").selectOption("params.learning_rate");
  await page.getByLabel("Contour Y").selectOption("params.alpha");
  await page.getByLabel("Contour Z").selectOption("metrics.loss");
  for (const [k, v] of [["cx", "params.learning_rate"], ["cy", "params.alpha"], ["cz", "metrics.loss"]]) {
    assert.ok(page.url().includes(`${k}=${encodeURIComponent(v)}`), page.url());
  }
  // Filled bands cover most of the plot area, not just the 5 points.
  await until("a drawn contour chart", async () => (await inkedPixels("[data-testid=contour-chart]")) > 50000);
  await until("a drawn scatter chart", async () => (await inkedPixels("[data-testid=scatter-chart]")) > 500);
  await until("a drawn parallel chart", async () => (await inkedPixels("[data-testid=parallel-chart]")) > 500);
  await shot("compare-contour");
  // The chosen axes survive a reload.
  await page.reload();
  await page.getByRole("heading", { name: "Comparing 5 runs" }).waitFor();
  assert.equal(await page.getByLabel("Contour X").inputValue(), "params.learning_rate");
  assert.equal(await page.getByLabel("Contour Y").inputValue(), "params.alpha");
  assert.equal(await page.getByLabel("Contour Z").inputValue(), "metrics.loss");
  await until("the contour after reload", async () => (await inkedPixels("[data-testid=contour-chart]")) > 50000);
});

test("the model version page: stage with archiving, aliases, tags, description, source run", async () => {
  const name = seed.model_name;
  // Start from version 2 in Production and version 1 in Staging, whatever ran before.
  await api("POST", "model-versions/transition-stage", { name, version: "2", stage: "Production", archive_existing_versions: false });
  await api("POST", "model-versions/transition-stage", { name, version: "1", stage: "Staging", archive_existing_versions: false });
  await page.goto(`${url}/#/models/${name}`);
  await page.getByRole("link", { name: "Version 1", exact: true }).click();
  await page.getByTestId("version-overview").waitFor();
  assert.ok(page.url().endsWith(`#/models/${name}/versions/1`), page.url());

  // Version 1 to Production, archiving the current Production version (2).
  await page.getByLabel("Stage of version 1").selectOption("Production");
  assert.ok(await page.getByLabel("Archive existing Production versions").isChecked());
  await page.getByRole("button", { name: "Transition to Production" }).click();
  await page.getByTestId("version-stage").getByText("Production", { exact: true }).waitFor();
  const v2 = await api("GET", `model-versions/get?name=${name}&version=2`);
  assert.equal(v2.json.model_version.current_stage, "Archived");

  // Aliases: set, then delete.
  await page.getByLabel("Alias", { exact: true }).fill("challenger");
  await page.getByRole("button", { name: "Set alias" }).click();
  await page.getByTestId("version-aliases").getByText("@challenger").waitFor();
  assert.equal((await api("GET", `registered-models/alias?name=${name}&alias=challenger`)).json.model_version?.version, "1");
  await page.getByLabel("delete alias challenger").click();
  await until("the alias to go", async () => (await page.getByTestId("version-aliases").innerText()).includes("No aliases"));
  assert.notEqual((await api("GET", `registered-models/alias?name=${name}&alias=challenger`)).status, 200);

  // Tags: add, edit, delete.
  const tags = page.getByTestId("version-tags");
  await page.getByLabel("Tag key").fill("validated");
  await page.getByLabel("Tag value").fill("yes");
  await page.getByRole("button", { name: "Add tag" }).click();
  await tags.locator("[data-tag=validated]", { hasText: "yes" }).waitFor();
  await page.getByLabel("edit tag validated").click();
  await page.getByLabel("value of validated").fill("by QA");
  await tags.getByRole("button", { name: "Save" }).click();
  await tags.locator("[data-tag=validated]", { hasText: "by QA" }).waitFor();
  let mv = (await api("GET", `model-versions/get?name=${name}&version=1`)).json.model_version;
  assert.equal(mv.tags.find((t) => t.key === "validated")?.value, "by QA");
  await page.getByRole("heading", { name: /Description/ }).getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("Version description").fill("The first ridge fit.");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.getByTestId("description").getByText("The first ridge fit.").waitFor();
  await shot("model-version");
  await page.getByLabel("delete tag validated").click();
  await until("the tag to go", async () => (await tags.locator("[data-tag=validated]").count()) === 0);
  mv = (await api("GET", `model-versions/get?name=${name}&version=1`)).json.model_version;
  assert.equal(mv.description, "The first ridge fit.");
  assert.ok(!(mv.tags ?? []).some((t) => t.key === "validated"));

  // The source run link opens the run.
  await page.getByTestId("source-run").click();
  await page.getByTestId("run-overview").getByText(seed.version_run_ids[0], { exact: true }).waitFor();
});

test("a run's logged model is registered into a new, then an existing model", async () => {
  const runId = seed.version_run_ids[0];
  await page.goto(`${url}/#/experiments/${seed.experiment_id}/runs/${runId}`);
  await page.getByTestId("run-versions").getByRole("link", { name: `${seed.model_name} version 1` }).waitFor();
  const row = page.getByTestId("logged-models").locator("tr").first();
  const modelId = await row.getAttribute("data-model-id");
  assert.ok(modelId?.startsWith("m-"), modelId);

  await row.getByRole("button", { name: "Register model" }).click();
  const dialog = page.getByRole("dialog", { name: "Register model" });
  await dialog.getByLabel("New model name").fill("ui-registered");
  await shot("register-model-dialog");
  await dialog.getByRole("button", { name: "Register" }).click();
  await dialog.getByTestId("registered").getByRole("link", { name: "ui-registered version 1" }).waitFor();
  const v1 = (await api("GET", "model-versions/get?name=ui-registered&version=1")).json.model_version;
  assert.equal(v1.source, `models:/${modelId}`);
  assert.equal(v1.run_id, runId);
  await dialog.getByRole("button", { name: "Close" }).click();
  await page.getByTestId("run-versions").getByRole("link", { name: "ui-registered version 1" }).waitFor();

  // Into an existing model.
  await row.getByRole("button", { name: "Register model" }).click();
  await dialog.getByLabel("Add a version to an existing model").check();
  await dialog.getByLabel("Existing model", { exact: true }).selectOption("ui-registered");
  await dialog.getByRole("button", { name: "Register" }).click();
  await dialog.getByTestId("registered").getByRole("link", { name: "ui-registered version 2" }).click();
  await page.getByTestId("version-overview").waitFor();
  assert.ok(page.url().endsWith("#/models/ui-registered/versions/2"), page.url());
  await page.goto(`${url}/#/experiments/${seed.experiment_id}/runs/${runId}`);
  await page.getByTestId("run-versions").getByRole("link", { name: "ui-registered version 2" }).waitFor();
  await shot("run-registered-versions");
});

test("the model page edits tags, renames and deletes the model", async () => {
  await page.goto(`${url}/#/models/ui-registered`);
  await page.getByTestId("versions-table").getByRole("link", { name: "Version 2" }).waitFor();
  const tags = page.getByTestId("model-tags");
  await page.getByLabel("Tag key").fill("team");
  await page.getByLabel("Tag value").fill("forecasting");
  await page.getByRole("button", { name: "Add tag" }).click();
  await tags.locator("[data-tag=team]", { hasText: "forecasting" }).waitFor();
  await page.getByLabel("edit tag team").click();
  await page.getByLabel("value of team").fill("pricing");
  await tags.getByRole("button", { name: "Save" }).click();
  await tags.locator("[data-tag=team]", { hasText: "pricing" }).waitFor();
  await page.getByLabel("Tag key").fill("temp");
  await page.getByRole("button", { name: "Add tag" }).click();
  await tags.locator("[data-tag=temp]").waitFor();
  await page.getByLabel("delete tag temp").click();
  await until("the tag to go", async () => (await tags.locator("[data-tag=temp]").count()) === 0);
  const rm = (await api("GET", "registered-models/get?name=ui-registered")).json.registered_model;
  assert.deepEqual(rm.tags, [{ key: "team", value: "pricing" }]);

  await page.getByRole("button", { name: "Rename" }).click();
  await page.getByLabel("New name").fill("ui-renamed");
  await page.getByRole("button", { name: "Save name" }).click();
  await page.getByRole("heading", { name: /^ui-renamed/ }).waitFor();
  assert.ok(page.url().endsWith("#/models/ui-renamed"), page.url());
  assert.equal((await api("GET", "registered-models/get?name=ui-renamed")).status, 200);
  assert.equal((await api("GET", "registered-models/get?name=ui-registered")).status, 404);
  await shot("model-renamed");

  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Delete model" }).click();
  await page.getByRole("heading", { name: "Registered models" }).waitFor();
  await until("the model to be gone", async () => (await api("GET", "registered-models/get?name=ui-renamed")).status === 404);
  assert.equal(await page.getByTestId("models-table").getByText("ui-renamed").count(), 0);
});

test("the experiment's Models tab lists logged models with their source run, metrics and params", async () => {
  await page.goto(`${url}/#/experiments/${seed.experiment_id}`);
  // The runs table links each run's logged models.
  const modelCell = page.locator(`[data-run-id="${seed.version_run_ids[0]}"] [data-col='attr:models']`);
  assert.ok((await modelCell.getByRole("link", { name: "model" }).getAttribute("href")).endsWith(`/models/${seed.model_ids[0]}`));
  await page.getByRole("tab", { name: "Models" }).click();
  assert.ok(page.url().includes("tab=models"), page.url());
  const table = page.getByTestId("logged-models-table");
  for (const id of seed.model_ids) await table.locator(`[data-model-id="${id}"]`).waitFor();
  await page.getByTestId("model-count").getByText(`${seed.model_ids.length} models`).waitFor();
  const row = table.locator(`[data-model-id="${seed.model_ids[0]}"]`);
  assert.match(await row.innerText(), /Ready/);
  assert.equal(await row.getByTestId("source-run").innerText(), "ridge-1");
  assert.match(await row.getByTestId("metrics-summary").innerText(), /val_rmse \(holdout\) 0\.\d+/);
  assert.match(await row.getByTestId("params-summary").innerText(), /alpha 0\.5/);
  await shot("experiment-models");
  // Ordered by the server: newest first, a click on "Created" turns it round (kept in the URL).
  const firstId = () => table.locator("tbody tr").first().getAttribute("data-model-id");
  assert.equal(await firstId(), seed.model_ids[1]);
  await table.getByRole("columnheader", { name: /^Created/ }).click();
  await until("the oldest model first", async () => (await firstId()) === seed.model_ids[0]);
  assert.ok(page.url().includes("mdir=asc"), page.url());

  // A filter in MLflow's grammar, applied by the server; the URL keeps it.
  const filter = "params.alpha = '0.1'";
  const expected = (await api("POST", "logged-models/search", { experiment_ids: [seed.experiment_id], filter })).json.models ?? [];
  assert.equal(expected.length, 1);
  await page.getByLabel("Filter models").fill(filter);
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.getByTestId("model-count").getByText("1 model", { exact: true }).waitFor();
  await table.locator(`[data-model-id="${expected[0].info.model_id}"]`).waitFor();
  await page.reload();
  await page.getByTestId("model-count").getByText("1 model", { exact: true }).waitFor();
  assert.equal(await page.getByLabel("Filter models").inputValue(), filter);
});

test("a logged model's page: overview, metrics with dataset, params, tags, artifacts, register", async () => {
  const modelId = seed.model_ids[0];
  await page.goto(`${url}/#/experiments/${seed.experiment_id}?tab=models`);
  await page.getByTestId("logged-models-table").locator(`[data-model-id="${modelId}"]`).getByRole("link", { name: "model" }).click();
  await page.getByTestId("model-overview").waitFor();
  assert.ok(page.url().endsWith(`#/experiments/${seed.experiment_id}/models/${modelId}`), page.url());
  const overview = await page.getByTestId("model-overview").innerText();
  assert.match(overview, new RegExp(modelId));
  assert.match(overview, /Ready/);
  assert.match(overview, /regressor/);
  const metric = page.getByTestId("model-metrics").locator("[data-metric=val_rmse]");
  assert.match(await metric.innerText(), /holdout/);
  assert.equal(await metric.locator("td").nth(2).innerText(), "1"); // step
  assert.match(await page.getByTestId("model-params").innerText(), /alpha\s+0\.5/);
  assert.match(await page.getByTestId("model-params").innerText(), /solver\s+auto/);
  // The version registered by the client shows, and tags are editable.
  await page.getByTestId("model-versions").getByRole("link", { name: `${seed.model_name} version 1` }).waitFor();
  const tags = page.getByTestId("model-tags");
  await tags.locator("[data-tag=team]", { hasText: "forecasting" }).waitFor();
  await page.getByLabel("Tag key").fill("reviewed");
  await page.getByLabel("Tag value").fill("yes");
  await page.getByRole("button", { name: "Add tag" }).click();
  await tags.locator("[data-tag=reviewed]", { hasText: "yes" }).waitFor();
  await page.getByLabel("delete tag team").click();
  await until("the tag to go", async () => (await tags.locator("[data-tag=team]").count()) === 0);
  const lm = (await api("GET", `logged-models/${modelId}`)).json.model;
  const userTags = Object.fromEntries(lm.info.tags.filter((t) => !t.key.startsWith("mlflow.")).map((t) => [t.key, t.value]));
  assert.deepEqual(userTags, { reviewed: "yes" });
  await shot("logged-model");

  // Register it from here, into a new registered model.
  const dialog = page.getByRole("dialog", { name: "Register model" });
  await page.getByRole("button", { name: "Register model" }).click();
  await dialog.getByLabel("New model name").press("Escape"); // the dialog closes with Escape
  await until("the dialog to close", async () => (await dialog.count()) === 0);
  await page.getByRole("button", { name: "Register model" }).click();
  await dialog.getByLabel("New model name").fill("ui-from-logged-model");
  await dialog.getByRole("button", { name: "Register" }).click();
  await dialog.getByTestId("registered").getByRole("link", { name: "ui-from-logged-model version 1" }).waitFor();
  const mv = (await api("GET", "model-versions/get?name=ui-from-logged-model&version=1")).json.model_version;
  assert.equal(mv.source, `models:/${modelId}`);
  assert.equal(mv.run_id, seed.version_run_ids[0]);
  await dialog.getByRole("button", { name: "Close" }).click();
  await page.getByTestId("model-versions").getByRole("link", { name: "ui-from-logged-model version 1" }).waitFor();

  // Artifacts, through the logged model's own artifact routes; the URL restores the file.
  await page.getByRole("tab", { name: "Artifacts" }).click();
  await page.getByRole("button", { name: "MLmodel" }).click();
  await page.getByTestId("text-preview").getByText("flavors").waitFor();
  assert.ok(page.url().includes("tab=artifacts") && page.url().includes("path=MLmodel"), page.url());
  await shot("logged-model-artifacts");
  await page.reload();
  await page.getByTestId("text-preview").getByText("sklearn").first().waitFor();
  await page.getByRole("button", { name: "requirements.txt" }).click();
  await page.getByTestId("text-preview").getByText("scikit-learn").waitFor();

  // The source run link opens the run.
  await page.getByRole("tab", { name: "Overview" }).click();
  await page.getByTestId("model-overview").getByTestId("source-run").click();
  await page.getByTestId("run-overview").getByText(seed.version_run_ids[0], { exact: true }).waitFor();
  // ... whose logged models link back to the model page.
  await page.getByTestId("logged-models").locator(`[data-model-id="${modelId}"]`).getByRole("link", { name: "model" }).click();
  await page.getByTestId("model-overview").waitFor();
});

test("the experiment's description and tags are edited on the experiment page", async () => {
  await page.goto(`${url}/#/experiments/${seed.experiment_id}`);
  await page.getByRole("tab", { name: "Description & tags" }).click();
  await page.getByTestId("experiment-about").waitFor();
  await page.getByRole("heading", { name: /Description/ }).getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("Experiment description").fill("Ridge sweeps for the UI tests.");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.getByTestId("description").getByText("Ridge sweeps for the UI tests.").waitFor();
  const tags = page.getByTestId("experiment-tags");
  await page.getByLabel("Tag key").fill("owner");
  await page.getByLabel("Tag value").fill("ml-team");
  await page.getByRole("button", { name: "Add tag" }).click();
  await tags.locator("[data-tag=owner]", { hasText: "ml-team" }).waitFor();
  await page.getByLabel("edit tag owner").click();
  await page.getByLabel("value of owner").fill("platform");
  await tags.getByRole("button", { name: "Save" }).click();
  await tags.locator("[data-tag=owner]", { hasText: "platform" }).waitFor();
  await page.getByLabel("Tag key").fill("scratch");
  await page.getByRole("button", { name: "Add tag" }).click();
  await tags.locator("[data-tag=scratch]").waitFor();
  await page.getByLabel("delete tag scratch").click();
  await until("the tag to go", async () => (await tags.locator("[data-tag=scratch]").count()) === 0);
  await shot("experiment-about");
  const exp = (await api("GET", `experiments/get?experiment_id=${seed.experiment_id}`)).json.experiment;
  const byKey = Object.fromEntries(exp.tags.map((t) => [t.key, t.value]));
  assert.equal(byKey["mlflow.note.content"], "Ridge sweeps for the UI tests.");
  assert.equal(byKey.owner, "platform");
  assert.equal(byKey.scratch, undefined);
  // The description heads the runs tab too.
  await page.getByRole("tab", { name: "Runs" }).click();
  await page.getByTestId("experiment-note").getByText("Ridge sweeps for the UI tests.").waitFor();
});

test("keyboard and dark mode: headers sort with Enter, rows take focus, colours follow the system", async () => {
  await page.goto(`${url}/#/experiments/${seed.experiment_id}?filter=${encodeURIComponent("tags.model = 'ridge'")}&cols=m%3Armse`);
  await page.locator("[data-testid=run-count]", { hasText: /^5 runs$/ }).waitFor();
  await page.getByRole("columnheader", { name: /^rmse/ }).focus();
  await page.keyboard.press("Enter");
  await until("sorted by rmse", () => page.url().includes("sort=m%3Armse"));
  const link = page.locator("[data-testid=runs-table] [role=row] a").first();
  await link.focus();
  assert.equal(await page.evaluate(() => document.activeElement?.closest("[role=row]") !== null), true);
  await page.keyboard.press("ArrowDown");
  const focusedRow = await page.evaluate(() => document.activeElement?.closest("[role=row]")?.getAttribute("data-run-id"));
  const secondRow = await page.locator("[data-testid=runs-table] [role=row]").nth(1).getAttribute("data-run-id");
  assert.equal(focusedRow, secondRow, "ArrowDown moves to the next row");
  // Icon-only buttons carry a name.
  const unnamed = await page.evaluate(() => [...document.querySelectorAll("button")]
    .filter((b) => !(b.getAttribute("aria-label") || b.textContent?.match(/[A-Za-z0-9]/))).length);
  assert.equal(unnamed, 0);

  await page.emulateMedia({ colorScheme: "dark" });
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = bg.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 150, `dark background, got ${bg}`);
  await shot("runs-dark");
  await page.goto(`${url}/#/experiments/${seed.experiment_id}/models/${seed.model_ids[0]}`);
  await page.getByTestId("model-overview").waitFor();
  await shot("logged-model-dark");
  await page.goto(`${url}/#/compare-runs?runs=${seed.trial_run_ids.join(",")}&experiments=${seed.experiment_id}`);
  await until("a drawn parallel coordinates chart", async () => (await inkedPixels("[data-testid=parallel-chart]")) > 500);
  await shot("compare-dark");
  await page.emulateMedia({ colorScheme: "light" });
});

test("coming back to a runs table shows its last rows at once while it searches again", async () => {
  await page.goto(`${url}/#/experiments/${seed.experiment_id}`);
  await page.locator("[data-testid=run-count]", { hasText: /^\d+ runs$/ }).waitFor();
  const count = await page.getByTestId("run-count").innerText();
  await page.locator(`[data-run-id="${seed.parent_run_id}"] a`).first().click();
  await page.getByTestId("run-overview").waitFor();
  // Hold the server's search answers back: the table must not wait for them.
  let release;
  const gate = new Promise((r) => { release = r; });
  // (A route still held when the handler goes is let through by unroute: continue() may lose that race.)
  await page.route("**/runs/search", async (route) => { await gate; await route.continue().catch(() => undefined); });
  try {
    await page.goBack();
    await page.locator("[data-testid=run-count]", { hasText: /^\d+ runs, refreshing…$/ }).waitFor({ timeout: 3000 });
    await page.locator(`[data-run-id="${seed.parent_run_id}"]`).waitFor({ timeout: 3000 });
    await shot("runs-refreshing");
  } finally {
    release();
    await page.unroute("**/runs/search");
  }
  await page.locator("[data-testid=run-count]", { hasText: new RegExp(`^${count}$`) }).waitFor();
});

test("live updates: run page chart, runs table and compare refresh while a run is RUNNING", async () => {
  const { json } = await api("POST", "runs/create", { experiment_id: seed.experiment_id, run_name: "live-run", start_time: Date.now() });
  const runId = json.run.info.run_id;
  const log = (from, to) => api("POST", "runs/log-batch", {
    run_id: runId, metrics: Array.from({ length: to - from }, (_, i) => ({ key: "live_loss", value: 1 / (from + i + 1), timestamp: Date.now(), step: from + i })),
  });
  await log(0, 3);
  const points = (sel = "[data-testid=chart-live_loss]") => page.locator(sel).getAttribute("data-points").then(Number);

  // Run page: the chart gains points without a reload.
  await page.goto(`${url}/#/experiments/${seed.experiment_id}/runs/${runId}?tab=metrics&metric=live_loss`);
  await page.getByTestId("live").waitFor();
  await until("3 points", async () => (await points()) === 3);
  await page.evaluate(() => { window.__sameDocument = true; });
  await log(3, 6);
  await until("6 points on the run page", async () => (await points()) === 6, 20000);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "no reload");
  await shot("live-run-chart");

  // Runs table: the latest value cell changes.
  await page.goto(`${url}/#/experiments/${seed.experiment_id}?cols=m%3Alive_loss`);
  const cell = page.locator(`[data-run-id="${runId}"] [data-col='m:live_loss']`);
  await until("the first value", async () => (await cell.innerText()) === String(Number((1 / 6).toPrecision(6))));
  await page.evaluate(() => { window.__sameDocument = true; });
  await log(6, 8);
  await until("the new value in the table", async () => (await cell.innerText()) === String(Number((1 / 8).toPrecision(6))), 20000);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "no reload");
  await shot("live-runs-table");

  // Compare: the history chart gains points.
  await page.goto(`${url}/#/compare-runs?runs=${runId},${seed.best_run_id}&metric=live_loss`);
  await page.getByTestId("live").waitFor();
  await until("8 points", async () => (await points()) === 8);
  await log(8, 10);
  await until("10 points on compare", async () => (await points()) === 10, 20000);

  // Finished: polling stops.
  await api("POST", "runs/update", { run_id: runId, status: "FINISHED", end_time: Date.now() });
  await until("the live marker to go", async () => (await page.getByTestId("live").count()) === 0, 20000);
  let calls = 0;
  const count = (req) => { if (req.url().includes("runs/get")) calls++; };
  page.on("request", count);
  await new Promise((r) => setTimeout(r, 4000));
  page.off("request", count);
  assert.equal(calls, 0, "no polling once nothing is running");
});

test("10,000 runs: all load (times printed), virtualized scrolling", async () => {
  const n = 10000;
  const seeded = await seedRuns(url, "scale-10k", n, 64);
  console.log(`# seeded ${n} runs through the REST API in ${seeded.ms} ms`);
  await page.goto(`${url}/#/experiments`);
  await page.getByRole("link", { name: "scale-10k" }).waitFor();
  // Measured in the browser: client-side navigation to the runs table, then the first row
  // and the total count appearing (checked on every animation frame).
  const timing = await page.evaluate(async ({ id, total }) => {
    const t0 = performance.now();
    location.hash = `#/experiments/${id}`;
    let firstRow, count;
    while (count === undefined && performance.now() - t0 < 30000) {
      await new Promise((r) => requestAnimationFrame(r));
      if (firstRow === undefined && document.querySelector("[data-testid=runs-table] [data-run-id]")) firstRow = performance.now() - t0;
      if (document.querySelector("[data-testid=run-count]")?.textContent === `${total} runs`) count = performance.now() - t0;
    }
    // The `runs/search` requests of this load: how many, and when the last answer was in.
    const searches = performance.getEntriesByType("resource").filter((e) => e.name.includes("runs/search") && e.startTime >= t0);
    const lastAnswer = Math.max(...searches.map((e) => e.responseEnd - t0));
    return { firstRow, count, requests: searches.length, lastAnswer };
  }, { id: seeded.experimentId, total: n });
  console.log(`# 10k runs: first row after ${Math.round(timing.firstRow)} ms, total count after ${Math.round(timing.count)} ms ` +
    `(${timing.requests} runs/search requests, the last answered after ${Math.round(timing.lastAnswer)} ms)`);
  await shot("runs-10k");
  // No timing assertion (tests must not depend on the machine's speed): the load must
  // complete (all runs counted within the loop's 30 s), and the numbers are printed. The
  // "10,000 runs in under a second" claim is measured by ui/bench/load-10k.mjs against the
  // release binary and published in BENCHMARKS.md.
  assert.ok(timing.firstRow !== undefined, "no row appeared");
  assert.ok(timing.count !== undefined, `the count never showed ${n} runs`);
  // The first row is the newest run.
  assert.match(await page.locator("[data-testid=runs-table] [role=row]").first().innerText(), /bulk-09999/);

  // Scrolling to the bottom renders the last rows, and only a window of rows exists.
  await page.getByTestId("runs-table").evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await page.locator("[data-testid=runs-table] [role=row]", { hasText: "bulk-00000" }).waitFor();
  const rendered = await page.locator("[data-testid=runs-table] [role=row]").count();
  assert.ok(rendered < 100, `${rendered} rows in the DOM`);
  await shot("runs-10k-bottom");
});

test("the UI works behind --static-prefix", async () => {
  const prefixed = await startServer(join(work, "prefixed"), ["--static-prefix", "/mlflow"]);
  try {
    await page.goto(`${prefixed.url}/mlflow`);
    await page.getByRole("link", { name: "Default" }).waitFor();
    assert.ok(page.url().startsWith(`${prefixed.url}/mlflow/#/experiments`), page.url());
    await page.getByRole("link", { name: "Default" }).click();
    await page.locator("[data-testid=run-count]", { hasText: /^0 runs$/ }).waitFor();
    await shot("static-prefix");
  } finally {
    await stopServer(prefixed.proc);
  }
});

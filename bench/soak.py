"""Long-uptime soak: a mixed workload against one Ferroflow process, its memory sampled.

Eight client processes (separate processes, so Python's GIL does not cap the rate) run a mix
for `--minutes`: single log-metric and log-batch into long-lived runs, run creation and
finishing, run searches, metric histories (paged and sampled), run reads, and model-version
registrations. Every 10 s the server's VmRSS and RssAnon (from /proc) and the clients'
request and error counts are recorded. The run ends with:

- `bench/results/soak-<timestamp>.json`: every sample;
- `bench/results/soak-<timestamp>.png`: the RSS curve (when matplotlib is installed);
- a summary on stdout: anonymous RSS after the first 5 minutes and at the end, the ratio,
  requests and errors.

Only 127.0.0.1 is contacted; every loop stops at the deadline. It is a benchmark, not a test.

    cargo build --release
    .venv/bin/python bench/soak.py --minutes 60
"""

from __future__ import annotations

import argparse
import datetime as _dt
import http.client
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """A keep-alive JSON client that reconnects when the server closed an idle connection."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body=None, query: str = "") -> tuple[int, dict]:
        data = json.dumps(body) if body is not None else None
        url = f"/api/2.0/mlflow/{path}" + (f"?{query}" if query else "")
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (0, 1):
            try:
                self.conn.request(method, url, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else {})
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        raise RuntimeError("unreachable")


def worker(idx: int, port: int, experiment_id: str, model: str, deadline: float, counts) -> None:
    rnd = random.Random(idx)
    c = Client(port)
    _, r = c.call("POST", "runs/create", {"experiment_id": experiment_id})
    long_run = r["run"]["info"]["run_id"]
    step = 0
    done = errors = 0
    while time.time() < deadline:
        pick = rnd.random()
        try:
            if pick < 0.35:
                status, _ = c.call("POST", "runs/log-metric", {
                    "run_id": long_run, "key": "loss", "value": rnd.random(),
                    "timestamp": int(time.time() * 1000), "step": step})
                step += 1
            elif pick < 0.50:
                metrics = [{"key": "acc", "value": rnd.random(), "timestamp": int(time.time() * 1000),
                            "step": step + i} for i in range(100)]
                step += 100
                status, _ = c.call("POST", "runs/log-batch", {"run_id": long_run, "metrics": metrics})
            elif pick < 0.60:
                status, r = c.call("POST", "runs/create", {"experiment_id": experiment_id})
                if status == 200:
                    run_id = r["run"]["info"]["run_id"]
                    c.call("POST", "runs/log-batch", {
                        "run_id": run_id,
                        "params": [{"key": f"p{j}", "value": str(rnd.random())} for j in range(5)],
                        "metrics": [{"key": f"m{j}", "value": rnd.random(), "timestamp": 1, "step": 0}
                                    for j in range(5)],
                        "tags": [{"key": "t", "value": "soak"}]})
                    status, _ = c.call("POST", "runs/update", {"run_id": run_id, "status": "FINISHED"})
            elif pick < 0.70:
                status, _ = c.call("POST", "runs/search", {
                    "experiment_ids": [experiment_id], "filter": "metrics.m0 < 0.5",
                    "order_by": ["metrics.m1 DESC"], "max_results": 100})
            elif pick < 0.78:
                status, _ = c.call("GET", "metrics/get-history",
                                   query=f"run_id={long_run}&metric_key=loss&max_results=5000")
            elif pick < 0.88:
                status, _ = c.call("GET", "metrics/get-history-bulk-interval",
                                   query=f"run_ids={long_run}&metric_key=acc&max_results=320")
            elif pick < 0.96:
                status, _ = c.call("GET", "runs/get", query=f"run_id={long_run}")
            else:
                status, _ = c.call("POST", "model-versions/create", {
                    "name": model, "source": f"runs:/{long_run}/model", "run_id": long_run})
        except Exception:  # noqa: BLE001 - a soak counts failures, it does not stop on them
            status = 0
        done += 1
        if status != 200:
            errors += 1
        if done % 50 == 0:
            counts[idx] = (done, errors)
    counts[idx] = (done, errors)


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon", "VmHWM"):
            out[key] = int(rest.split()[0]) // 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--ferroflow-bin", default=os.environ.get(
        "FERROFLOW_BIN", str(REPO / "target" / "release" / "ferroflow")))
    ap.add_argument("--interval", type=float, default=10)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ferroflow-soak-"))
    port = free_port()
    log = open(tmp / "server.log", "wb")
    server = subprocess.Popen(
        [args.ferroflow_bin, "server", "--backend-store-uri", f"sqlite:///{tmp}/soak.db",
         "--default-artifact-root", str(tmp / "artifacts"), "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        c = Client(port)
        _, r = c.call("POST", "experiments/create", {"name": f"soak-{int(time.time())}"})
        experiment_id = r["experiment_id"]
        model = f"soak-model-{int(time.time())}"
        c.call("POST", "registered-models/create", {"name": model})

        started = time.time()
        deadline = started + args.minutes * 60
        counts = multiprocessing.Manager().dict({i: (0, 0) for i in range(args.clients)})
        procs = [multiprocessing.Process(target=worker,
                                         args=(i, port, experiment_id, model, deadline, counts))
                 for i in range(args.clients)]
        for p in procs:
            p.start()
        samples = []
        while any(p.is_alive() for p in procs):
            st = proc_status(server.pid)
            done = sum(v[0] for v in counts.values())
            errors = sum(v[1] for v in counts.values())
            samples.append({"t": round(time.time() - started, 1), **st,
                            "requests": done, "errors": errors})
            print(json.dumps(samples[-1]), flush=True)
            time.sleep(args.interval)
        for p in procs:
            p.join()
        time.sleep(3)
        final = proc_status(server.pid)
        done = sum(v[0] for v in counts.values())
        errors = sum(v[1] for v in counts.values())
        samples.append({"t": round(time.time() - started, 1), **final,
                        "requests": done, "errors": errors})
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()

    at5 = next((s for s in samples if s["t"] >= 300), samples[0])
    end = samples[-1]
    summary = {
        "minutes": args.minutes, "clients": args.clients,
        "anon_rss_mb_after_5_min": at5["RssAnon"], "anon_rss_mb_at_end": end["RssAnon"],
        "anon_ratio_end_over_5_min": round(end["RssAnon"] / max(at5["RssAnon"], 1), 3),
        "rss_mb_at_end": end["VmRSS"], "peak_rss_mb": end["VmHWM"],
        "requests": end["requests"], "errors": end["errors"],
        "db_size_mb": round((tmp / "soak.db").stat().st_size / 2**20, 1),
    }
    print(json.dumps(summary, indent=2))
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (out_dir / f"soak-{stamp}.json").write_text(json.dumps({"summary": summary, "samples": samples}, indent=1))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(8, 3.5))
        ts = [s["t"] / 60 for s in samples]
        ax.plot(ts, [s["VmRSS"] for s in samples], label="RSS")
        ax.plot(ts, [s["RssAnon"] for s in samples], label="anonymous RSS")
        ax.set_xlabel("minutes")
        ax.set_ylabel("MB")
        ax.set_ylim(bottom=0)
        ax.set_title(f"Ferroflow under a mixed load, {args.clients} clients")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / f"soak-{stamp}.png", dpi=100)
        print(f"plot: {out_dir / f'soak-{stamp}.png'}")
    except ImportError:
        pass
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

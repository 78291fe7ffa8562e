"""Seeds a Ferroflow server for the UI tests through the official mlflow client.

Usage: seed.py <tracking uri> ; prints one JSON line with the ids the tests need.

An experiment "ui-sweep" holds a hyperopt sweep (a parent run with 5 nested trials, each
logging params, a per-epoch loss history and a final rmse), artifacts of every previewable
kind on the best trial, and a scikit-learn model logged twice (with params, a tag and a
metric on a "holdout" dataset) and registered as two versions of "ui-sweep-model".
"""

from __future__ import annotations

import json
import math
import os
import sys

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
from hyperopt import STATUS_OK, Trials, fmin, hp, tpe  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402

MODEL_NAME = "ui-sweep-model"


def main(uri: str) -> None:
    mlflow.set_tracking_uri(uri)
    exp_id = mlflow.set_experiment("ui-sweep").experiment_id
    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + rng.normal(scale=0.1, size=60)
    trials: list[dict] = []

    def objective(params: dict) -> dict:
        with mlflow.start_run(nested=True) as run:
            mlflow.set_tag("model", "ridge")
            mlflow.log_params(params)
            alpha, lr = params["alpha"], params["learning_rate"]
            rmse = 0.2 + alpha * 0.8 + abs(math.log10(lr) + 2) * 0.1
            for epoch in range(40):
                loss = rmse + 2.0 * math.exp(-epoch * lr * 10)
                mlflow.log_metric("loss", loss, step=epoch)
            mlflow.log_metric("rmse", rmse)
            trials.append({"run_id": run.info.run_id, "rmse": rmse})
            return {"loss": rmse, "status": STATUS_OK}

    space = {
        "alpha": hp.uniform("alpha", 0.0, 1.0),
        "learning_rate": hp.loguniform("learning_rate", math.log(1e-3), math.log(1e-1)),
    }
    with mlflow.start_run(run_name="sweep-parent") as parent:
        mlflow.set_tag("mlflow.note.content", "A hyperopt sweep over alpha and learning_rate.")
        fmin(objective, space, algo=tpe.suggest, max_evals=5, trials=Trials(),
             rstate=np.random.default_rng(1), show_progressbar=False)
        best = min(trials, key=lambda t: t["rmse"])
        mlflow.log_metric("best_rmse", best["rmse"])

    # Artifacts of every previewable kind on the best trial.
    client = mlflow.MlflowClient(uri)
    rid = best["run_id"]
    client.log_dict(rid, {"alpha": 0.1, "layers": [8, 4]}, "config/params.json")
    client.log_text(rid, "model: ridge\nfeatures: 3\n", "config/settings.yaml")
    client.log_text(rid, "epoch,loss\n0,2.5\n1,1.25\n2,0.75\n", "predictions.csv")
    client.log_text(rid, "training finished\n", "notes.txt")
    client.log_text(rid, "<h1>Report</h1><p>all good</p>", "report.html")
    img = np.zeros((24, 32, 3), dtype=np.uint8)
    img[:, :16] = [200, 60, 20]
    client.log_image(rid, img, "plots/swatch.png")

    # Two versions of one registered model, each from its own run.
    version_runs, model_ids = [], []
    for i, alpha in enumerate((0.5, 0.1)):
        with mlflow.start_run(run_name=f"ridge-{i + 1}") as run:
            mlflow.log_param("alpha", alpha)
            model = Ridge(alpha=alpha).fit(X, y)
            rmse = float(np.sqrt(np.mean((model.predict(X) - y) ** 2)))
            mlflow.log_metric("rmse", rmse)
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name=MODEL_NAME,
                                            pip_requirements=["scikit-learn"], model_type="regressor",
                                            params={"alpha": alpha, "solver": "auto"},
                                            tags={"team": "forecasting"})
            # A metric of the logged model itself, computed on a named dataset.
            mlflow.log_metric("val_rmse", rmse * 1.1, step=1, model_id=info.model_id,
                              dataset=mlflow.data.from_numpy(X, targets=y, name="holdout"))
            version_runs.append(run.info.run_id)
            model_ids.append(info.model_id)

    print(json.dumps({
        "experiment_id": exp_id,
        "parent_run_id": parent.info.run_id,
        "trial_run_ids": [t["run_id"] for t in trials],
        "best_run_id": rid,
        "model_name": MODEL_NAME,
        "version_run_ids": version_runs,
        "model_ids": model_ids,
    }))


if __name__ == "__main__":
    main(sys.argv[1])

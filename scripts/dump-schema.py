"""Regenerates crates/ferroflow-store-sql/schema/sqlite.sql from the real mlflow package.

Ferroflow must create exactly the schema MLflow 3.18 creates, so we never write that DDL
by hand: this script lets mlflow build a fresh SQLite database and dumps its
`sqlite_master` statements in creation order. Run it with the .venv made by
scripts/setup-python.sh:  .venv/bin/python scripts/dump-schema.py
"""
import os
import sqlite3
import sys
import tempfile

from mlflow.tracking import MlflowClient

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "crates", "ferroflow-store-sql", "schema", "sqlite.sql"
)
with tempfile.TemporaryDirectory() as tmp:
    db = os.path.join(tmp, "ref.db")
    client = MlflowClient(f"sqlite:///{db}")
    client.search_experiments()
    client.search_registered_models()
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
    ).fetchall()
    (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    with open(out, "w") as f:
        f.write(f"-- MLflow schema at alembic revision {revision}, dumped by scripts/dump-schema.py.\n")
        f.write("-- Do not edit by hand: regenerate from the mlflow package.\n")
        for (sql,) in rows:
            f.write(sql.strip() + ";\n")
    print(f"wrote {len(rows)} statements at revision {revision} to {out}")

"""Regenerates Ferroflow's copies of MLflow's schema from the real mlflow package.

Ferroflow must create exactly the schema MLflow 3.18 creates, so we never write that DDL
by hand: this script lets mlflow build a fresh database and dumps what it created.
Run it with the .venv made by scripts/setup-python.sh:

  .venv/bin/python scripts/dump-schema.py                       # schema/sqlite.sql
  .venv/bin/python scripts/dump-schema.py --dialect postgresql  # schema/postgres.sql
  .venv/bin/python scripts/dump-schema.py --dialect mysql       # schema/mysql.sql

SQLite: mlflow builds a database in a temporary directory and its `sqlite_master`
statements are written in creation order.

PostgreSQL / MySQL (MariaDB): mlflow builds its schema in a throwaway database
(`ff_schema_dump`) on a local server, `pg_dump --schema-only` / `mysqldump --no-data`
dumps it, and the dump is reduced to plain DDL that runs on an empty database as any user
that may create tables: no client meta-commands except MySQL's `DELIMITER` around
trigger bodies, no session `SET`s, no DEFINER, no `DROP`s, no `public.` qualifier. The
result is then loaded into a second throwaway database (`ff_schema_check`) and its tables
are compared with mlflow's, and both databases are dropped. The `alembic_version` row is
not part of the DDL (Ferroflow inserts it, as for SQLite).
Servers: --host/--port/--user, password from --password or PGPASSWORD / MYSQL_PWD.
"""
import argparse
import os
import re
import subprocess
import sys
from urllib.parse import quote

SCHEMA_DIR = os.path.join(os.path.dirname(__file__), "..", "crates", "ferroflow-store-sql", "schema")
DUMP_DB = "ff_schema_dump"
CHECK_DB = "ff_schema_check"


def dump_sqlite(out):
    import sqlite3
    import tempfile

    from mlflow.tracking import MlflowClient

    out = out or os.path.join(SCHEMA_DIR, "sqlite.sql")
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


def let_mlflow_create(uri):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    client.search_experiments()
    client.search_registered_models()


def run(cmd, env, **kw):
    return subprocess.run(cmd, env=env, check=True, text=True, capture_output=True, **kw).stdout


# ---- PostgreSQL ----------------------------------------------------------------------


def pg_admin(args, sql):
    import psycopg2

    conn = psycopg2.connect(
        host=args.host, port=args.port, user=args.user, password=args.password, dbname="postgres"
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def pg_tables(args, db):
    import psycopg2

    conn = psycopg2.connect(host=args.host, port=args.port, user=args.user, password=args.password, dbname=db)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
            )
            tables = [r[0] for r in cur.fetchall()]
            revision = None
            if "alembic_version" in tables:
                cur.execute("SELECT version_num FROM alembic_version")
                row = cur.fetchone()
                revision = row[0] if row else None
            return tables, revision
    finally:
        conn.close()


def clean_pg_dump(text):
    """pg_dump's script → plain DDL: no psql meta-commands (\\restrict), no session SETs,
    no comments, no `public.` qualifier (tables go to the connection's search_path, as
    when mlflow creates them)."""
    out = []
    in_body = False  # inside a $$-quoted function body: kept verbatim
    for line in text.splitlines():
        if not in_body and (
            line.startswith(("\\", "SET ", "--", "SELECT pg_catalog.set_config("))
        ):
            continue
        out.append(line)
        if line.count("$$") % 2 == 1:
            in_body = not in_body
    sql = "\n".join(out)
    sql = re.sub(r"\bpublic\.", "", sql)
    sql = re.sub(r"\n{3,}", "\n\n", sql).strip() + "\n"
    return sql


def dump_postgres(args):
    out = args.out or os.path.join(SCHEMA_DIR, "postgres.sql")
    env = dict(os.environ)
    if args.password:
        env["PGPASSWORD"] = args.password
    conn_args = ["-h", args.host, "-p", str(args.port), "-U", args.user]
    server = pg_admin(args, "SHOW server_version")[0][0]
    pg_admin(args, f"DROP DATABASE IF EXISTS {DUMP_DB} WITH (FORCE)")
    pg_admin(args, f"CREATE DATABASE {DUMP_DB} TEMPLATE template0 ENCODING 'UTF8'")
    try:
        auth = quote(args.user, safe="") + (":" + quote(args.password, safe="") if args.password else "")
        let_mlflow_create(f"postgresql+psycopg2://{auth}@{args.host}:{args.port}/{DUMP_DB}")
        tables, revision = pg_tables(args, DUMP_DB)
        dump_cmd = ["pg_dump", "--schema-only", "--no-owner", "--no-privileges"]
        raw = run(dump_cmd + conn_args + [DUMP_DB], env)
    finally:
        pg_admin(args, f"DROP DATABASE IF EXISTS {DUMP_DB} WITH (FORCE)")
    ddl = clean_pg_dump(raw)
    header = header_lines("PostgreSQL", f"PostgreSQL {server}", revision, "postgresql", " ".join(dump_cmd))
    with open(out, "w") as f:
        f.write(header + ddl)

    # Check: the file alone recreates mlflow's tables on an empty database.
    pg_admin(args, f"DROP DATABASE IF EXISTS {CHECK_DB} WITH (FORCE)")
    pg_admin(args, f"CREATE DATABASE {CHECK_DB} TEMPLATE template0 ENCODING 'UTF8'")
    try:
        run(["psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", "-f", out] + conn_args + [CHECK_DB], env)
        loaded, _ = pg_tables(args, CHECK_DB)
    finally:
        pg_admin(args, f"DROP DATABASE IF EXISTS {CHECK_DB} WITH (FORCE)")
    check(loaded, tables, out, revision)


# ---- MySQL / MariaDB -----------------------------------------------------------------


def my_connect(args, db=None):
    import pymysql

    return pymysql.connect(
        host=args.host, port=args.port, user=args.user, password=args.password or "", database=db,
        autocommit=True,
    )


def my_admin(args, sql):
    conn = my_connect(args)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def my_tables(args, db):
    conn = my_connect(args, db)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1"
            )
            tables = [r[0] for r in cur.fetchall()]
            revision = None
            if "alembic_version" in tables:
                cur.execute("SELECT version_num FROM alembic_version")
                row = cur.fetchone()
                revision = row[0] if row else None
            return tables, revision
    finally:
        conn.close()


def sort_keys(block):
    """MariaDB lists a table's indexes and constraints in the order mlflow's migrations
    happened to create them, which varies from run to run: sort each run of UNIQUE KEY,
    KEY and CONSTRAINT lines by name (their order has no meaning) so the dump is stable."""
    head, items, tail = block[0], [line.rstrip(",") for line in block[1:-1]], block[-1]

    def kind(line):
        m = re.match(r"  (UNIQUE KEY|FULLTEXT KEY|SPATIAL KEY|KEY|CONSTRAINT) ", line)
        return m.group(1) if m else None

    out, i = [], 0
    while i < len(items):
        j = i + 1
        if kind(items[i]):
            while j < len(items) and kind(items[j]) == kind(items[i]):
                j += 1
        out.extend(sorted(items[i:j]) if kind(items[i]) else items[i:j])
        i = j
    return [head] + [line + "," for line in out[:-1]] + out[-1:] + [tail]


def clean_mysqldump(text):
    """mysqldump's script → plain DDL: CREATE TABLEs ordered so every foreign key points at
    a table created before it (no FOREIGN_KEY_CHECKS=0 needed), then the triggers between
    `DELIMITER ;;` / `DELIMITER ;` without DEFINER; no session SETs, no DROPs."""
    tables = {}
    triggers = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"CREATE TABLE `([^`]+)` \(", line)
        if m:
            block = [line]
            while not lines[i].startswith(") "):
                i += 1
                block.append(lines[i])
            block[-1] = re.sub(r" AUTO_INCREMENT=\d+", "", block[-1])
            tables[m.group(1)] = "\n".join(sort_keys(block))
        elif line == "DELIMITER ;;":
            block = []
            i += 1
            while lines[i] != "DELIMITER ;":
                block.append(lines[i])
                i += 1
            body = "\n".join(block)
            body = re.sub(r"/\*!50017 DEFINER=\S+\*/ ?", "", body)
            body = re.sub(r"/\*!50003 CREATE\*/ ", "CREATE ", body)
            body = re.sub(r"/\*!50003 TRIGGER ", "TRIGGER ", body)
            body = re.sub(r"\s*\*/;;$", ";;", body)
            if "/*!" in body:
                raise SystemExit(f"unexpected version comment left in trigger: {body}")
            triggers.append(body)
        elif line.startswith("CREATE") or line.startswith("/*!50001") or line.startswith("/*!50003 CREATE"):
            raise SystemExit(f"mysqldump printed a statement this script does not know: {line}")
        i += 1

    deps = {
        name: sorted(set(re.findall(r"REFERENCES `([^`]+)`", ddl)) - {name}) for name, ddl in tables.items()
    }
    ordered, done = [], set()

    def visit(name, path):
        if name in done:
            return
        if name in path:
            raise SystemExit(f"foreign keys form a cycle: {' -> '.join(path + [name])}")
        for dep in deps[name]:
            visit(dep, path + [name])
        done.add(name)
        ordered.append(name)

    for name in sorted(tables):
        visit(name, [])
    parts = [tables[name] + "\n" for name in ordered]
    if triggers:
        parts.append("DELIMITER ;;\n" + "\n\n".join(triggers) + "\nDELIMITER ;\n")
    return "\n".join(parts)


def dump_mysql(args):
    out = args.out or os.path.join(SCHEMA_DIR, "mysql.sql")
    env = dict(os.environ)
    if args.password:
        env["MYSQL_PWD"] = args.password
    conn_args = ["-h", args.host, "-P", str(args.port), "-u", args.user]
    server = my_admin(args, "SELECT VERSION()")[0][0]
    create = "CREATE DATABASE {} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
    my_admin(args, f"DROP DATABASE IF EXISTS {DUMP_DB}")
    my_admin(args, create.format(DUMP_DB))
    try:
        auth = quote(args.user, safe="") + (":" + quote(args.password, safe="") if args.password else "")
        let_mlflow_create(f"mysql+pymysql://{auth}@{args.host}:{args.port}/{DUMP_DB}")
        tables, revision = my_tables(args, DUMP_DB)
        dump_cmd = ["mysqldump", "--no-data", "--skip-comments"]
        raw = run(dump_cmd + conn_args + [DUMP_DB], env)
    finally:
        my_admin(args, f"DROP DATABASE IF EXISTS {DUMP_DB}")
    ddl = clean_mysqldump(raw)
    header = header_lines("MySQL/MariaDB", server, revision, "mysql", " ".join(dump_cmd))
    header += (
        "-- Statements end with `;`, except between `DELIMITER ;;` and `DELIMITER ;` (trigger\n"
        "-- bodies, which contain `;`), where they end with `;;`, as the mysql client reads them.\n"
    )
    with open(out, "w") as f:
        f.write(header + ddl)

    my_admin(args, f"DROP DATABASE IF EXISTS {CHECK_DB}")
    my_admin(args, create.format(CHECK_DB))
    try:
        client = "mariadb" if subprocess.run(["which", "mariadb"], capture_output=True).returncode == 0 else "mysql"
        with open(out) as f:
            run([client] + conn_args + [CHECK_DB], env, stdin=f)
        loaded, _ = my_tables(args, CHECK_DB)
    finally:
        my_admin(args, f"DROP DATABASE IF EXISTS {CHECK_DB}")
    check(loaded, tables, out, revision)


# ---- shared --------------------------------------------------------------------------


def header_lines(name, server, revision, dialect, dump_cmd):
    import mlflow

    return (
        f"-- MLflow schema ({name}) at alembic revision {revision}, dumped by scripts/dump-schema.py.\n"
        "-- Do not edit by hand: regenerate from the mlflow package with\n"
        f"--   .venv/bin/python scripts/dump-schema.py --dialect {dialect}\n"
        f"-- (mlflow {mlflow.__version__} created the schema on {server}; `{dump_cmd}` dumped it).\n"
        "-- The alembic_version row is not part of the DDL: Ferroflow inserts it.\n"
    )


def check(loaded, expected, out, revision):
    if loaded != expected or "alembic_version" not in loaded:
        missing = sorted(set(expected) - set(loaded))
        extra = sorted(set(loaded) - set(expected))
        raise SystemExit(f"{out} does not recreate mlflow's tables: missing {missing}, extra {extra}")
    print(f"wrote {out} at revision {revision}: loading it into an empty database creates all "
          f"{len(loaded)} tables mlflow created")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", help="output file (default: crates/ferroflow-store-sql/schema/<dialect>.sql)")
    parser.add_argument("--dialect", choices=["sqlite", "postgresql", "mysql"], default="sqlite")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="default 5432 (postgresql) / 3306 (mysql)")
    parser.add_argument("--user", help="default postgres (postgresql) / root (mysql)")
    parser.add_argument("--password", help="default $PGPASSWORD / $MYSQL_PWD, else none")
    args = parser.parse_args()
    if args.dialect == "sqlite":
        dump_sqlite(args.out)
        return
    # mlflow's metadata iterates sets of names: pin the hash seed so the order of indexes
    # and constraints, and so the dump, is the same on every run.
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ, PYTHONHASHSEED="0")
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    if args.dialect == "postgresql":
        args.port = args.port or 5432
        args.user = args.user or "postgres"
        args.password = args.password or os.environ.get("PGPASSWORD")
        dump_postgres(args)
    else:
        args.port = args.port or 3306
        args.user = args.user or "root"
        args.password = args.password or os.environ.get("MYSQL_PWD")
        dump_mysql(args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""DuckDB on Parquet, the yardstick of scripts/bench-queries.sh (shared/QUERIES.md a-g).

    duckdb_queries.py build DATA_DIR PARQUET_DIR [--tz Asia/Seoul] [--threads 2]
    duckdb_queries.py run PARQUET_DIR QUERIES.json --runs N [--threads 2] [--results DIR]

build: one Parquet file per day, PARQUET_DIR/YYYYMMDD.parquet, from each generated
YYYYMMDD_5Min.zip of DATA_DIR (the CSV member is inflated to a temporary file, then read by
DuckDB). The rows are the hourly rows an analyst mirroring vs_its_hourly would build, with the
SQL of tools/bench/duckdb_hourly.py (the contender of scripts/bench.sh):

    hour timestamptz, link_id bigint, speed real[12], travel_time int[12],
    samples smallint, speed_avg real, speed_min real, speed_max real

written in (link_id, hour) order, DuckDB's default row groups (122,880 rows) and compression
(snappy), so that each file's and each row group's min/max of link_id and hour let a filter on
either skip data. A file that exists is kept (the cache); a day is written to a .partial file
and renamed, so an interrupted build never leaves a half file.

run: a DuckDB connection with `threads` set, TimeZone UTC (as the PostgreSQL runs), and the view
`vs_its_hourly` over read_parquet('PARQUET_DIR/*.parquet'), so each question is the analyst's SQL
of QUERIES.md as is. QUERIES.json maps a name to its SQL (variables already substituted). Each
query runs once to warm up, then --runs times; the time is the wall time of `execute`, which
runs the query to a materialized result inside DuckDB (nothing is converted to Python objects).
Prints `duckdb.<name>.ms<TAB>value` lines (and .rows), the raw format of bench-queries.sh, and
with --results writes each query's rows to DIR/<name>.csv.
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
import zipfile

import duckdb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from duckdb_hourly import hourly_sql  # noqa: E402


def layout_tag() -> str:
    """Names the build: a changed query or writer gives a new cache directory."""
    text = hourly_sql("x", "20230701", "Asia/Seoul") + open(__file__).read().split("def build", 1)[1].split("def run", 1)[0]
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def build(args) -> None:
    os.makedirs(args.parquet_dir, exist_ok=True)
    zips = sorted(f for f in os.listdir(args.data_dir) if f.endswith("_5Min.zip"))
    total = 0.0
    for name in zips:
        day = name[:8]
        out = os.path.join(args.parquet_dir, f"{day}.parquet")
        if os.path.exists(out):
            continue
        tmp_csv = os.path.join(args.parquet_dir, f".{day}.csv")
        partial = out + ".partial"
        started = time.perf_counter()
        with zipfile.ZipFile(os.path.join(args.data_dir, name)) as z:
            member = [i for i in z.infolist() if not i.is_dir()][0]
            with z.open(member) as src, open(tmp_csv, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        con = duckdb.connect()
        con.execute(f"SET threads = {int(args.threads)}")
        con.execute(f"SET TimeZone = '{args.tz}'")
        sql = f"SELECT * FROM ({hourly_sql(tmp_csv, day, args.tz)}) ORDER BY link_id, hour"
        con.execute(f"COPY ({sql}) TO '{partial}' (FORMAT parquet)")
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{partial}')").fetchone()[0]
        con.close()
        os.remove(tmp_csv)
        os.rename(partial, out)
        seconds = time.perf_counter() - started
        total += seconds
        print(f"  {out}\t{rows} hourly rows\t{os.path.getsize(out)} bytes\t{seconds:.1f} s", flush=True)
    files = sorted(f for f in os.listdir(args.parquet_dir) if f.endswith(".parquet"))
    print(json.dumps({"files": len(files), "bytes": sum(os.path.getsize(os.path.join(args.parquet_dir, f)) for f in files),
                      "build_seconds_this_run": round(total, 1), "duckdb_version": duckdb.__version__}))


def run(args) -> None:
    queries = json.load(open(args.queries))
    con = duckdb.connect()
    con.execute(f"SET threads = {int(args.threads)}")
    con.execute("SET TimeZone = 'UTC'")
    glob = os.path.join(args.parquet_dir, "*.parquet").replace("'", "''")
    con.execute(f"CREATE VIEW vs_its_hourly AS SELECT * FROM read_parquet('{glob}')")
    print(f"duckdb.version\t{duckdb.__version__}")
    print(f"duckdb.threads\t{int(args.threads)}")
    for name, sql in queries.items():
        sql = sql.strip().rstrip(";")
        con.execute(sql).fetchall()  # warm-up: file metadata and pages in the OS cache
        for _ in range(args.runs):
            started = time.perf_counter()
            con.execute(sql)
            ms = (time.perf_counter() - started) * 1000
            print(f"duckdb.{name}.ms\t{ms:.3f}", flush=True)
        rows = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]
        print(f"duckdb.{name}.rows\t{rows}")
        if args.results:
            os.makedirs(args.results, exist_ok=True)
            out = os.path.join(args.results, f"{name}.csv").replace("'", "''")
            con.execute(f"COPY ({sql}) TO '{out}' (FORMAT csv, HEADER false)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("data_dir")
    b.add_argument("parquet_dir")
    b.add_argument("--tz", default="Asia/Seoul")
    b.add_argument("--threads", type=int, default=2)
    r = sub.add_parser("run")
    r.add_argument("parquet_dir")
    r.add_argument("queries")
    r.add_argument("--runs", type=int, default=5)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--results")
    t = sub.add_parser("tag")
    t.set_defaults()
    args = parser.parse_args()
    if args.command == "build":
        build(args)
    elif args.command == "run":
        run(args)
    else:
        print(layout_tag())


if __name__ == "__main__":
    main()

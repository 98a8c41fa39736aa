#!/usr/bin/env python3
"""DuckDB's way to turn one ITS 5-minute day into vs_ingest's hourly rows, written to Parquet.

    duckdb_hourly.py FILE.csv.gz OUT.parquet --date YYYYMMDD [--tz Asia/Seoul] [--threads 2]

The contender of scripts/bench.sh (issue 11): read the gzipped CSV, keep the well-formed rows of
the file's day, let the first sample of each (link, time) win, and fold them into one row per
link and local hour with the columns of vs_ingest's hourly table:

    hour timestamptz, link_id bigint, speed real[12], travel_time int[12],
    samples smallint, speed_avg real, speed_min real, speed_max real

It is written as a DuckDB user would: typed CSV columns (lines that do not parse are skipped), the
file's day and the time checks of bench/native-copy.sql, an empty speed is a missing sample, a
travel time of 0 is missing, one GROUP BY (link, hour) with a FILTER per slot (see the query for
how duplicates differ), and the slot arrays hold NULL where no sample came. (An earlier version read every field as text, checked it with regular
expressions and numbered the lines with row_number() OVER () to pick the file's first sample
exactly: 4x slower, which would flatter vs_ingest.)

Prints one JSON object: the seconds from connecting to the Parquet file being closed (the
interpreter's start and `import duckdb` are outside), the hourly rows and the file's bytes.
"""

import argparse
import json
import os
import time

import duckdb


def hourly_sql(path: str, date: str, tz: str) -> str:
    quoted = path.replace("'", "''")
    # Twelve 5-minute slots; the first sample of each (link, time) is chosen before grouping.
    speeds = ", ".join(f"max(speed) FILTER (WHERE slot = {i})" for i in range(12))
    travel = ", ".join(f"max(travel_time) FILTER (WHERE slot = {i})" for i in range(12))
    return f"""
    WITH valid AS (
        -- Typed columns: a line whose fields do not parse is skipped (ignore_errors), as
        -- vs_ingest rejects it; then the file's day and the time checks.
        SELECT link_id, t // 100 AS h, t % 100 // 5 AS slot, speed, nullif(coalesce(tt, 0), 0) AS travel_time
          FROM read_csv('{quoted}', header = false, delim = ',', quote = '', escape = '',
                        auto_detect = false, ignore_errors = true, null_padding = false,
                        columns = {{'d': 'VARCHAR', 't': 'INTEGER', 'link_id': 'BIGINT',
                                    'agency': 'VARCHAR', 'speed': 'REAL', 'tt': 'INTEGER'}})
         WHERE d = '{date}' AND speed IS NOT NULL AND speed BETWEEN 0 AND 300
           AND t BETWEEN 0 AND 2355 AND t % 100 < 60 AND t % 5 = 0
    )
    -- One GROUP BY (link, hour). A slot that got two samples (a few per mille of the rows) keeps
    -- the larger speed and counts twice in samples and the average, where vs_ingest keeps the
    -- file's first; exact first-sample-wins needs a GROUP BY per (link, time) first (129 M
    -- groups for a national day: 150 s here), which would flatter vs_ingest.
    SELECT timezone('{tz}', strptime('{date}', '%Y%m%d') + to_hours(h)) AS hour, link_id,
           CAST([{speeds}] AS REAL[]) AS speed,
           CAST([{travel}] AS INTEGER[]) AS travel_time,
           CAST(count(*) AS SMALLINT) AS samples, CAST(avg(speed) AS REAL) AS speed_avg,
           min(speed) AS speed_min, max(speed) AS speed_max
      FROM valid
     GROUP BY link_id, h
    """


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv_gz")
    parser.add_argument("parquet")
    parser.add_argument("--date", required=True, help="YYYYMMDD, the file's day")
    parser.add_argument("--tz", default="Asia/Seoul", help="the source's time zone")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default=None, help="DuckDB's memory_limit, e.g. 4GB")
    args = parser.parse_args()
    if os.path.exists(args.parquet):
        os.remove(args.parquet)

    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads = {int(args.threads)}")
    if args.memory_limit:
        con.execute(f"SET memory_limit = '{args.memory_limit}'")
    out = args.parquet.replace("'", "''")
    con.execute(f"COPY ({hourly_sql(args.csv_gz, args.date, args.tz)}) TO '{out}' (FORMAT parquet)")
    con.close()
    seconds = time.perf_counter() - started

    check = duckdb.connect()
    rows = check.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
    check.close()
    print(json.dumps({
        "seconds": round(seconds, 3),
        "hourly_rows": rows,
        "parquet_bytes": os.path.getsize(args.parquet),
        "threads": args.threads,
        "duckdb_version": duckdb.__version__,
    }))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""DuckDB's way to turn one ITS 5-minute day into vs_ingest's hourly rows, written to Parquet.

    duckdb_hourly.py FILE.csv.gz OUT.parquet --date YYYYMMDD [--tz Asia/Seoul] [--threads 2]

The contender of scripts/bench.sh (issue 11): read the gzipped CSV, keep the well-formed rows of
the file's day, let the first sample of each (link, time) win, and fold them into one row per
link and local hour with the columns of vs_ingest's hourly table:

    hour timestamptz, link_id bigint, speed real[12], travel_time int[12],
    samples smallint, speed_avg real, speed_min real, speed_max real

It follows bench/native-copy.sql and bench/native-insert.sql (the PostgreSQL-native way): the
same checks drop malformed and stray lines, an empty speed is a missing sample, a travel time
of 0 is missing, and the slot arrays hold NULL where no sample came.

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
    WITH lines AS (
        -- Every field as text, in file order: row_number() over the scan keeps it.
        SELECT row_number() OVER () AS line, *
          FROM read_csv('{quoted}', header = false, delim = ',', quote = '', escape = '',
                        auto_detect = false, ignore_errors = true, null_padding = false,
                        columns = {{'d': 'VARCHAR', 't': 'VARCHAR', 'link': 'VARCHAR',
                                    'agency': 'VARCHAR', 'speed': 'VARCHAR', 'tt': 'VARCHAR'}})
    ), valid AS (
        -- The native way's grep: a row of the file's day with numeric fields.
        SELECT line, CAST(link AS BIGINT) AS link_id, CAST(t AS INTEGER) AS t,
               CAST(speed AS REAL) AS speed, nullif(CAST(coalesce(tt, '0') AS INTEGER), 0) AS travel_time
          FROM lines
         WHERE d = '{date}'
           AND regexp_full_match(t, '[0-9]{{1,4}}')
           AND regexp_full_match(link, '[0-9]{{1,18}}')
           AND speed IS NOT NULL AND regexp_full_match(speed, '[0-9]+(\\.[0-9]+)?')
           AND (tt IS NULL OR regexp_full_match(tt, '[0-9]+'))
    ), first_sample AS (
        SELECT link_id, t // 100 AS h, t % 100 // 5 AS slot,
               arg_min(speed, line) AS speed, arg_min(travel_time, line) AS travel_time
          FROM valid
         WHERE speed <= 300 AND t // 100 < 24 AND t % 100 < 60 AND t % 5 = 0
         GROUP BY link_id, t
    )
    SELECT timezone('{tz}', strptime('{date}', '%Y%m%d') + to_hours(h)) AS hour, link_id,
           CAST([{speeds}] AS REAL[]) AS speed,
           CAST([{travel}] AS INTEGER[]) AS travel_time,
           CAST(count(*) AS SMALLINT) AS samples, CAST(avg(speed) AS REAL) AS speed_avg,
           min(speed) AS speed_min, max(speed) AS speed_max
      FROM first_sample
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

#!/usr/bin/env python3
"""The summary of scripts/bench-queries.sh: medians, storage per day and per national year, and
the verdicts on the targets of issues 11 and 18, from the raw `key<TAB>value` measurements: per
question, PostgreSQL's natural form (the hourly view), its rollup form (the daily view; e' on the
5-minute view for e) and DuckDB on Parquet side by side.

    bench_queries_report.py RAW.tsv --json OUT.json

Prints a table and writes the results as JSON. Standard library only.
"""

import argparse
import json
import sys

# Issue 18's targets: milliseconds per query form (f and g have targets on rollups only), and
# every question's best form at least 2x faster than DuckDB; bytes per national year (issue 11,
# GiB, the unit of its "~744 GB now", which is 208 MiB a day x 10 x 365).
QUERY_TARGET_MS = {"a": 2.0, "b": 15.0, "c": 600.0, "c_daily": 50.0, "d": 600.0, "d_daily": 100.0,
                   "e": 15.0, "e5": 10.0, "f_daily": 100.0, "f_daily2": 100.0, "g_daily": 100.0,
                   "g_daily2": 100.0, "d_monthly": 100.0, "f_monthly": 100.0}
DUCKDB_FACTOR = 2.0
QUESTIONS = "abcdefg"
# The other PostgreSQL forms of each question: the rollups (daily and monthly views), e' for e.
SECOND_FORMS = {"c": ["c_daily"], "d": ["d_daily", "d_monthly"], "e": ["e5"],
                "f": ["f_daily", "f_daily2", "f_monthly"], "g": ["g_daily", "g_daily2"]}
STORAGE_TARGET_GIB = 250.0
GIB = 1024.0**3
NATIONAL_LINKS_X10 = 450_000  # 10 x the suite's 45,000 links


def read_raw(path):
    lines = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            key, _, value = line.partition("\t")
            lines.append((key.strip(), value.strip()))
    return lines


class Raw:
    def __init__(self, lines):
        self.lines = lines

    def all(self, key):
        return [v for k, v in self.lines if k == key]

    def text(self, key):
        values = self.all(key)
        return values[-1] if values else None

    def numbers(self, key):
        out = []
        for v in self.all(key):
            try:
                out.append(float(v))
            except ValueError:
                pass
        return out

    def number(self, key):
        values = self.numbers(key)
        return values[-1] if values else None


def median_index(values):
    """The middle run, or the slower of the two middle ones (like vs-ingest-report)."""
    if not values:
        return None
    order = sorted(range(len(values)), key=lambda i: values[i])
    return order[len(values) // 2]


def integral(v):
    return int(v) if isinstance(v, float) and v.is_integer() and abs(v) < 9e15 else v


def fmt_ms(v):
    if v is None:
        return "-"
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("raw")
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    raw = Raw(read_raw(args.raw))

    links = raw.number("input.links")
    days = raw.number("input.days")
    queries = {}
    names = []
    for k, _ in raw.lines:
        if k.startswith("query.") and k.endswith(".title"):
            name = k.split(".")[1]
            if name not in names:
                names.append(name)
    for q in names:
        ms = raw.numbers(f"query.{q}.ms")
        mid = median_index(ms)
        at = lambda key: (raw.numbers(f"query.{q}.{key}")[mid] if mid is not None and
                          len(raw.numbers(f"query.{q}.{key}")) > mid else None)
        client = raw.numbers(f"query.{q}.client_ms")
        client_mid = median_index(client)
        target = QUERY_TARGET_MS.get(q)
        median_ms = ms[mid] if mid is not None else None
        queries[q] = {
            "title": raw.text(f"query.{q}.title"),
            "sql": raw.text(f"query.{q}.sql"),
            "ms": {"median": median_ms, "runs": ms},
            "planning_ms_of_median_run": at("planning_ms"),
            "execution_ms_of_median_run": at("execution_ms"),
            "buffers_of_median_run": integral(at("buffers")),
            "buffers_read_of_median_run": integral(at("buffers_read")),
            "client_ms": {"median": client[client_mid] if client_mid is not None else None, "runs": client},
            "rows": integral(raw.number(f"query.{q}.rows")),
            "rows_under_database_timezone": integral(raw.number(f"query.{q}.rows_local_tz")),
            "expected_rows": integral(raw.number(f"query.{q}.expected_rows")),
            "check": raw.text(f"query.{q}.check"),
            "same_answer_as": raw.text(f"query.{q}.natural"),
            "same_answer": raw.text(f"query.{q}.same_answer"),
            "note": raw.text(f"query.{q}.note"),
            "target_ms": target,
            "met": (median_ms <= target) if (median_ms is not None and target is not None) else None,
        }

    total = raw.number("storage.total_bytes")
    per_day = total / days if total is not None and days else None
    scale = NATIONAL_LINKS_X10 / links if links else None
    year = per_day * 365 * scale if per_day is not None and scale else None
    hourly_rows = raw.number("storage.hourly_rows")
    storage = {
        "total_bytes": integral(total),
        "heap_bytes": integral(raw.number("storage.heap_bytes")),
        "toast_fsm_vm_bytes": integral(raw.number("storage.toast_fsm_vm_bytes")),
        "index_bytes": integral(raw.number("storage.index_bytes")),
        "tables": integral(raw.number("storage.tables")),
        "relations": raw.text("storage.relations"),
        "hourly_rows": integral(hourly_rows),
        "bytes_per_hourly_row": total / hourly_rows if total and hourly_rows else None,
        "bytes_per_day": per_day,
        "national_year_bytes": year,
        "national_year_gib": year / GIB if year else None,
        "extrapolation": f"bytes per day x 365 x {NATIONAL_LINKS_X10} / links",
        "target_gib": STORAGE_TARGET_GIB,
        "met": (year / GIB <= STORAGE_TARGET_GIB) if year else None,
        "what": "pg_total_relation_size (heap, TOAST, indexes) of every table in schema public named "
                "vs_its_hourly* and of every partition below them",
    }
    duck = {}
    for q in QUESTIONS:
        ms = raw.numbers(f"duckdb.{q}.ms")
        mid = median_index(ms)
        if mid is not None:
            duck[q] = {"sql": raw.text(f"duckdb.{q}.sql"), "ms": {"median": ms[mid], "runs": ms},
                       "rows": integral(raw.number(f"duckdb.{q}.rows"))}

    def med(q):
        r = queries.get(q)
        return r["ms"]["median"] if r else None

    summary = {}
    for q in QUESTIONS:
        if q not in queries and q not in duck:
            continue
        second = [f for f in SECOND_FORMS.get(q, []) if med(f) is not None]
        second_best = min(second, key=med) if second else None
        forms = [f for f in [q, second_best] if f and med(f) is not None]
        best = min(forms, key=med) if forms else None
        d_ms = duck.get(q, {}).get("ms", {}).get("median")
        targets = []
        for f in [q, second_best]:
            if f in QUERY_TARGET_MS and med(f) is not None:
                targets.append({"form": f, "target_ms": QUERY_TARGET_MS[f], "ms": med(f),
                                "met": med(f) <= QUERY_TARGET_MS[f]})
        ratio = d_ms / med(best) if d_ms and best else None
        if ratio is not None:
            targets.append({"form": f"{best} vs DuckDB", "target": f">= {DUCKDB_FACTOR:g}x faster",
                            "x": ratio, "met": ratio >= DUCKDB_FACTOR})
        summary[q] = {
            "title": queries.get(q, {}).get("title"),
            "natural_ms": med(q),
            "rollup_form": second_best,
            "rollup_ms": med(second_best) if second_best else None,
            "duckdb_ms": d_ms,
            "best_form": best,
            "best_ms": med(best) if best else None,
            "duckdb_over_natural": d_ms / med(q) if d_ms and med(q) else None,
            "duckdb_over_rollup": d_ms / med(second_best) if d_ms and second_best else None,
            "duckdb_over_best": ratio,
            "targets": targets,
            "met": all(t["met"] for t in targets) if targets else None,
        }
    rollup_b = raw.number("storage.rollup_bytes")
    storage["rollup_bytes"] = integral(rollup_b)
    storage["rollup_bytes_per_day"] = rollup_b / days if rollup_b is not None and days else None

    load_s = raw.number("load.seconds")
    results = {
        "benchmark": "vs_ingest query suite, issues 11 and 18 (shared/QUERIES.md a-g): natural, rollups, DuckDB",
        "command": raw.text("meta.command"),
        "date": raw.text("meta.date"),
        "git_commit": raw.text("meta.git_commit"),
        "git_dirty": raw.text("meta.git_dirty") == "true",
        "runs": integral(raw.number("meta.runs")),
        "machine": {
            "nproc": integral(raw.number("machine.nproc")),
            "ram_bytes": integral(raw.number("machine.ram_kib") * 1024) if raw.number("machine.ram_kib") else None,
            "cpu": raw.text("machine.cpu"),
            "postgres": raw.text("machine.postgres"),
        },
        "settings": {k[len("setting."):]: v for k, v in raw.lines if k.startswith("setting.")},
        "timezone": {
            "database": raw.text("tz.database"),
            "timed_runs": raw.text("tz.timed_runs"),
            "note": "ALTER DATABASE ... SET timezone to the source's zone; every timed run sets TimeZone = 'UTC' "
                    "in its session, and each query's result under the two zones is compared (check)",
        },
        "timing": "median over runs of Planning Time + Execution Time from EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
                  "after one warm-up run; client_ms: psql \\timing of the query itself, rows sent to the client",
        "input": {
            "dir": raw.text("input.dir"),
            "generator": raw.text("input.generator"),
            "links": integral(links),
            "days": integral(days),
            "start": raw.text("input.start"),
            "files": integral(raw.number("input.files")),
            "zip_bytes": integral(raw.number("input.zip_bytes")),
            "csv_rows": integral(raw.number("input.csv_rows")),
        },
        "params": {"X": raw.text("params.X"), "L50": raw.text("params.L50")},
        "load": {
            "seconds": load_s,
            "seconds_per_day": load_s / days if load_s and days else None,
            "rows_read": integral(raw.number("load.rows_read")),
            "rows_loaded": integral(raw.number("load.rows_loaded")),
            "vacuum_analyze_seconds": raw.number("load.vacuum_analyze_seconds"),
        },
        "queries": queries,
        "duckdb": {
            "version": raw.text("duckdb.version"),
            "threads": integral(raw.number("duckdb.threads")),
            "method": raw.text("duckdb.method"),
            "parquet": {"dir": raw.text("parquet.dir"), "files": integral(raw.number("parquet.files")),
                        "bytes": integral(raw.number("parquet.bytes")), "layout": raw.text("parquet.layout")},
            "queries": duck,
        },
        "summary": summary,
        "skipped": {k[len("skipped."):]: v for k, v in raw.lines if k.startswith("skipped.")},
        "storage": storage,
    }
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")

    out = sys.stdout
    inp = results["input"]
    print(f"\nvs_ingest query suite: {inp['days']} days x {inp['links']:,} links from {inp['start']}, "
          f"{inp['csv_rows']:,} CSV rows; {results['machine']['postgres'] or ''}".rstrip(), file=out)
    print(f"timing: EXPLAIN ANALYZE planning + execution, median of {results['runs']} warm runs, "
          f"session TimeZone {results['timezone']['timed_runs']} (database: {results['timezone']['database']})",
          file=out)
    print(f"load: {load_s:.1f} s for {inp['days']} days ({load_s / days:.2f} s a day), "
          f"then VACUUM ANALYZE {results['load']['vacuum_analyze_seconds']:.1f} s\n" if load_s else "", file=out)
    print(f"settings: {', '.join(f'{k} {v}' for k, v in results['settings'].items())}", file=out)
    print(f"{'form':<66} {'goal':>10} {'measured':>10} {'client':>9} {'buffers':>9} {'rows':>8}  met  check",
          file=out)
    for q, r in queries.items():
        label = f"{q if q != 'e5' else chr(101) + chr(39)}. {r['title']}"[:66]
        goal = f"<= {fmt_ms(r['target_ms'])} ms" if r["target_ms"] else "-"
        met = {True: "yes", False: "NO", None: "n/a"}[r["met"]]
        check = (r["check"] or "-") + (f"; = {r['same_answer_as']}: {r['same_answer']}" if r["same_answer"] else "")
        print(f"{label:<66} {goal:>10} {fmt_ms(r['ms']['median']) + ' ms':>10} "
              f"{fmt_ms(r['client_ms']['median']):>9} {r['buffers_of_median_run'] if r['buffers_of_median_run'] is not None else '-':>9} "
              f"{r['rows'] if r['rows'] is not None else '-':>8}  {met:<4} {check}", file=out)
    if duck:
        print(f"\nDuckDB {results['duckdb']['version']}, {results['duckdb']['threads']} threads, on "
              f"{results['duckdb']['parquet']['files']} Parquet files ({(results['duckdb']['parquet']['bytes'] or 0) / 2**20:.0f} MiB)",
              file=out)
    print(f"\n{'question':<10} {'PG natural':>11} {'PG rollups':>11} {'(form)':<10} {'DuckDB':>10} "
          f"{'Duck/nat':>9} {'Duck/roll':>9}  targets", file=out)
    for q, sm in summary.items():
        ratio = lambda v: f"{v:.1f}x" if v is not None else "-"
        verdicts = "; ".join(
            f"{t['form']} {'<= ' + fmt_ms(t['target_ms']) + ' ms' if 'target_ms' in t else t['target']}: "
            f"{'yes' if t['met'] else 'NO'}" for t in sm["targets"])
        print(f"{q:<10} {fmt_ms(sm['natural_ms']) + ' ms':>11} "
              f"{(fmt_ms(sm['rollup_ms']) + ' ms') if sm['rollup_ms'] is not None else '-':>11} "
              f"{sm['rollup_form'] or '':<10} {(fmt_ms(sm['duckdb_ms']) + ' ms') if sm['duckdb_ms'] is not None else '-':>10} "
              f"{ratio(sm['duckdb_over_natural']):>9} {ratio(sm['duckdb_over_rollup']):>9}  {verdicts}", file=out)
    if storage["national_year_gib"] is not None:
        met = "yes" if storage["met"] else "NO"
        print(f"{'storage per national year (extrapolated, indexes included)':<56} {'<= 250 GiB':>10} "
              f"{storage['national_year_gib']:>6.0f} GiB {'':>9} {'':>9} {'':>8}  {met}", file=out)
        print(f"\nstorage: {total / 2**20:.1f} MiB in {storage['tables']} tables ({storage['relations']}): "
              f"{per_day / 2**20:.1f} MiB a day, {storage['bytes_per_hourly_row']:.0f} B per hourly row "
              f"(heap {storage['heap_bytes'] / 2**20:.1f} MiB, TOAST/FSM/VM {storage['toast_fsm_vm_bytes'] / 2**20:.1f} MiB, "
              f"indexes {storage['index_bytes'] / 2**20:.1f} MiB); national year = per day x 365 x "
              f"{scale:.2f} = {year / 1e9:.0f} GB", file=out)
    if storage.get("rollup_bytes"):
        print(f"rollups (vs_its_hourly_days and _months, in the total): {storage['rollup_bytes'] / 2**20:.1f} MiB, "
              f"{storage['rollup_bytes_per_day'] / 2**20:.2f} MiB a day", file=out)
    for k, v in results["skipped"].items():
        print(f"skipped {k}: {v}", file=out)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Do two answers to one question agree? (scripts/bench-queries.sh: natural form vs rollups)

    compare_answers.py A.csv B.csv --keys K [--top asc|desc] [--rel 1e-6]

A and B are CSV files without a header (COPY ... TO STDOUT (FORMAT csv)), rows in any order. The
first K columns are the key (numbers compared as numbers: 7 = 7.0), the others values, compared
as floats within a relative tolerance (--rel, and 1e-9 absolute): the natural forms sum
`speed_avg::float8 * samples`, where speed_avg is a `real`, and the rollups sum the stored
tenths, so the last bits differ.

--top asc|desc: the answers are the first N rows of an ORDER BY on the last column, ascending or
descending, LIMIT N. Rows tied at the cut (the last value kept) may differ, so: the sorted lists of
the last column must agree, and every row of either answer whose value is not tied with the cut's
must be in both, with the same values.

Prints `ok (N rows)` or `MISMATCH: ...` and exits 0 or 1.
"""

import argparse
import csv
import math
import sys


def norm(v):
    try:
        f = float(v)
        return repr(f) if math.isfinite(f) else v
    except ValueError:
        return v


def num(v):
    return float(v) if v != "" else None


def close(a, b, rel):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= max(1e-9, rel * max(abs(a), abs(b)))


def load(path, keys):
    rows = {}
    dup = 0
    with open(path, newline="") as f:
        for r in csv.reader(f):
            k = tuple(norm(v) for v in r[:keys])
            if k in rows:
                dup += 1
            rows[k] = [num(v) for v in r[keys:]]
    return rows, dup


def main():
    p = argparse.ArgumentParser()
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--keys", type=int, required=True)
    p.add_argument("--top", choices=["asc", "desc"])
    p.add_argument("--rel", type=float, default=1e-6)
    args = p.parse_args()
    a, dup_a = load(args.a, args.keys)
    b, dup_b = load(args.b, args.keys)
    problems = []
    if dup_a or dup_b:
        problems.append(f"duplicate keys ({dup_a} in A, {dup_b} in B)")
    if len(a) != len(b):
        problems.append(f"{len(a)} rows against {len(b)}")

    def differ(keys):
        bad = [k for k in keys if k not in a or k not in b or
               len(a[k]) != len(b[k]) or not all(close(x, y, args.rel) for x, y in zip(a[k], b[k]))]
        return bad

    if args.top:
        va = sorted((v[-1] for v in a.values()), key=lambda x: (x is None, x))
        vb = sorted((v[-1] for v in b.values()), key=lambda x: (x is None, x))
        if len(va) == len(vb) and not all(close(x, y, args.rel) for x, y in zip(va, vb)):
            problems.append("the ordered values differ")
        present = [v for v in va if v is not None]
        cut = (present[-1] if args.top == "asc" else present[0]) if present else None
        untied = [k for k in set(a) | set(b) if not close((a.get(k) or b.get(k))[-1], cut, args.rel)]
        bad = differ(untied)
    else:
        bad = differ(set(a) | set(b))
    if bad:
        k = sorted(bad)[0]
        problems.append(f"{len(bad)} rows differ or are missing, e.g. {k}: {a.get(k)} against {b.get(k)}")
    if problems:
        print("MISMATCH: " + "; ".join(problems))
        sys.exit(1)
    print(f"ok ({len(a)} rows)")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Writes the files the pg_regress scripts load, at fixed paths so the expected output is stable.
#   regress-fixtures.sh GENERATOR DIR
set -euo pipefail
GEN=$1
DIR=$2
rm -rf "$DIR"
mkdir -p "$DIR/data" "$DIR/broken" "$DIR/outside" "$DIR/data/empty"
# Two 2023-style days (zip, no header) and one 2025-style day (gzip, BOM, header, CRLF).
"$GEN" --out "$DIR/data" --links 40 --days 2 --start 2023-01-01 --level 1 --seed 7 >/dev/null
"$GEN" --out "$DIR/data" --links 20 --start 2025-01-01 --variant 2025 --container gz --seed 8 >/dev/null
rm -f "$DIR/data/manifest.json"
printf 'not a data file\n' > "$DIR/data/README.txt"
# A truncated archive beside a good one.
"$GEN" --out "$DIR/broken" --links 30 --start 2023-02-01 --level 1 --days 2 --seed 9 >/dev/null
rm -f "$DIR/broken/manifest.json"
head -c 3000 "$DIR/broken/20230202_5Min.zip" > "$DIR/broken/cut" && mv "$DIR/broken/cut" "$DIR/broken/20230202_5Min.zip"
# Ways out of the allowed directories: a directory symlink and a file symlink.
"$GEN" --out "$DIR/outside" --links 5 --start 2023-03-01 --seed 10 >/dev/null
ln -s ../outside "$DIR/data/link_out"
ln -s ../outside/20230301_5Min.zip "$DIR/data/escape_5Min.zip"
# security.sql: what a role that can write into an allowed directory might leave there (a FIFO,
# symbolic links to a file outside and inside), a secret outside, and a file to flip.
mkdir -p "$DIR/special" "$DIR/flip"
"$GEN" --out "$DIR/special" --links 5 --start 2023-04-01 --seed 11 >/dev/null
rm -f "$DIR/special/manifest.json"
mkfifo "$DIR/special/20230402_5Min.csv"
ln -s ../outside/20230301_5Min.zip "$DIR/special/20230403_5Min.zip"
ln -s 20230401_5Min.zip "$DIR/special/20230404_5Min.zip"
printf 'TOPSECRET,password=hunter2\n' > "$DIR/outside/secret.csv"
printf '20230501,0000,1000000001,A01,50,0\n20230501,0005,1000000001,A01,51,0\n' > "$DIR/flip/real.csv"
cp "$DIR/flip/real.csv" "$DIR/flip/20230501_5Min.csv"
chmod -R o+rX "$DIR"

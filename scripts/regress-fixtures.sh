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
# adoption.sql and targets.sql: two small days, and a second file of day 1 whose rows overlap the
# first's (loading it after the first merges, which recounts coverage).
mkdir -p "$DIR/adopt"
"$GEN" --out "$DIR/adopt" --links 6 --days 2 --start 2023-06-01 --container gz --clean --seed 12 >/dev/null
rm -f "$DIR/adopt/manifest.json"
first_link=$(gzip -dc "$DIR/adopt/20230601_5Min.csv.gz" | awk -F, 'NR == 1 { link = $3 } END { print link }')
printf '20230601,0000,%s,A01,12.5,30\n20230601,0005,%s,A01,13.5,31\n20230601,0010,9999999999,A01,50,9\n' \
    "$first_link" "$first_link" > "$DIR/adopt/20230601_late.csv"
# dst.sql: New York's two daylight-saving days of 2023, written here rather than generated: every
# 5-minute slot of three links, in time order, as a feed writing local wall-clock time gives them.
# On 2023-03-12 02:00-02:55 does not exist (clocks go from 02:00 to 03:00); on 2023-11-05
# 01:00-01:55 comes twice (clocks go back from 02:00 to 01:00), the second time with other speeds.
# A few speeds are empty (missing): one inside the gap, one first occurrence of the repeated hour.
mkdir -p "$DIR/dst"
ny_day() { # ny_day YYYYMMDD: lines of minutes [from, to) of that day, pass p (speeds differ per pass)
    awk -v day="$1" -v from="$2" -v to="$3" -v pass="$4" 'BEGIN {
        for (m = from; m < to; m += 5) for (l = 1; l <= 3; l++) {
            s = m / 5
            speed = ((l * 13 + s * 7 + pass * 29) % 90 + 10) ((s + l) % 2 ? "" : ".5")
            if ((day == "20230312" && m == 150 && l == 2) || (day == "20230312" && m == 720 && l == 3) \
                || (day == "20231105" && m == 90 && l == 3 && pass == 1)) speed = ""
            tt = s % 4 == 0 ? 0 : 100 + l + s
            printf "%s,%02d%02d,%d,A01,%s,%d\n", day, m / 60, m % 60, 1000000000 + l, speed, tt
        }
    }'
}
ny_day 20230312 0 1440 1 > "$DIR/dst/20230312_5Min.csv"
{ ny_day 20231105 0 120 1; ny_day 20231105 60 120 2; ny_day 20231105 120 1440 1; } > "$DIR/dst/20231105_5Min.csv"
chmod -R o+rX "$DIR"

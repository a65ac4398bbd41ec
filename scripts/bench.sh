#!/usr/bin/env bash
# Times `settle run` (all steps through the local engine, on a local folder) against DuckDB doing the
# same work (../shared/bench/duckdb-anchor: typed, validated, exact decimals, zstd Parquet, partitioned),
# on the same generated balanced single-batch report, alternating rounds, and prints both medians, the
# ratio, peak RSS and output sizes. With BIG_ROWS set it also runs settle once on a report of that many
# rows to compare peak RSS (memory must not grow with the file).
#
# usage: scripts/bench.sh [ROWS=1000000] [ROUNDS=3]
#        BIG_ROWS=5000000 scripts/bench.sh
# env:   DUCKDB_ANCHOR (default ../shared/bench/duckdb-anchor), BENCH_DIR (default a temp folder)
set -euo pipefail
rows=${1:-1000000}
rounds=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
anchor=${DUCKDB_ANCHOR:-$root/../shared/bench/duckdb-anchor}
work=${BENCH_DIR:-$(mktemp -d)}
date=2024-05-03
cd "$root"
go build -o "$work/settle" ./cmd/settle
"$work/settle" gen --rows "$rows" --seed 1 --date "$date" -o "$work/report.csv" 2>/dev/null
size=$(stat -c %s "$work/report.csv")
echo "report: $rows rows, $size bytes; $(nproc) cores; $rounds rounds each, alternating"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
s_wall=() s_rss=() d_wall=() d_rss=()
for i in $(seq "$rounds"); do
  rm -rf "$work/data"
  /usr/bin/time -f '%e %M' -o "$work/time" "$work/settle" run --data "$work/data" "$work/report.csv" >/dev/null
  read -r w m <"$work/time"; s_wall+=("$w"); s_rss+=("$m")
  s_bytes=$(du -sb "$work/data/processed/settlement_lines" | cut -f1)
  out=$("$anchor" "$work/report.csv" "$date" 2 2>&1)
  d_wall+=("$(sed -n 's/.*wall_s=\([0-9.]*\).*/\1/p' <<<"$out")")
  d_rss+=("$(sed -n 's/.*peak_rss_kb=\([0-9]*\).*/\1/p' <<<"$out")")
  d_bytes=$(sed -n 's/.*output_bytes=\([0-9]*\).*/\1/p' <<<"$out")
  echo "round $i: settle ${s_wall[-1]} s ${s_rss[-1]} KB | duckdb ${d_wall[-1]} s ${d_rss[-1]} KB"
done
sw=$(printf '%s\n' "${s_wall[@]}" | median); dw=$(printf '%s\n' "${d_wall[@]}" | median)
sr=$(printf '%s\n' "${s_rss[@]}" | median); dr=$(printf '%s\n' "${d_rss[@]}" | median)
awk -v sw="$sw" -v dw="$dw" -v sr="$sr" -v dr="$dr" -v sb="$s_bytes" -v db="$d_bytes" -v size="$size" 'BEGIN {
  printf "settle run:  median %.2f s (%.0f MB/s), peak RSS %.0f MB, output %d bytes\n", sw, size/sw/1e6, sr/1024, sb
  printf "duckdb (2t): median %.2f s (%.0f MB/s), peak RSS %.0f MB, output %d bytes\n", dw, size/dw/1e6, dr/1024, db
  printf "throughput ratio settle/duckdb: %.2fx (bar: >= 1.5x); wall ratio %.2f (bar: <= 0.67)\n", dw/sw, sw/dw
  printf "output size ratio settle/duckdb: %.2f (bar: <= 1.1); settle writes 9 more columns than the anchor\n", sb/db
}'
if [ -n "${BIG_ROWS:-}" ]; then
  "$work/settle" gen --rows "$BIG_ROWS" --seed 2 --date "$date" -o "$work/big.csv" 2>/dev/null
  rm -rf "$work/data"
  /usr/bin/time -f '%e %M' -o "$work/time" "$work/settle" run --data "$work/data" "$work/big.csv" >/dev/null
  read -r w m <"$work/time"
  awk -v w="$w" -v m="$m" -v r="$sr" -v n="$BIG_ROWS" 'BEGIN {
    printf "settle run on %d rows: %.2f s, peak RSS %.0f MB = %.2fx the RSS at the smaller size (bar: <= 1.1x)\n", n, w, m/1024, m/r }'
  rm -f "$work/big.csv"
fi
[ -n "${BENCH_DIR:-}" ] || rm -rf "$work"

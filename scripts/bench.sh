#!/usr/bin/env bash
# Times `settle run` (every step through the local engine, on a local folder: the upload and its MD5,
# validate, transform, write, fsync on every processed object) against DuckDB doing the transform's
# work (scripts/duckdb-bench.js: typed, validated, exact decimals, UTC times, zstd Parquet, partitioned)
# on the same generated balanced single-batch report, in alternating rounds. It prints both medians of
# wall time, CPU-seconds (user + system), peak RSS and output size, the ratios, and settle's GB-seconds
# per million rows for each step at the memory sizes template.yaml gives the functions.
#
# usage: scripts/bench.sh [ROWS=1000000] [ROUNDS=3]
#        BIG_ROWS=5000000 scripts/bench.sh     # also settle on a larger report: peak RSS must not grow
# env:   BENCH_DIR (a folder to keep the files in; default a temporary one, removed at the end)
#        SETTLE_NODE_MODULES (a node_modules folder with @duckdb/node-api; default .ci/node/node_modules,
#        where this script installs it, as .ci/run does, when it is missing)
#        DUCKDB_THREADS (default: the number of cores)
set -euo pipefail
rows=${1:-1000000}
rounds=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
date=2024-05-03
duckdb_node=@duckdb/node-api
duckdb_version=1.5.6-r.1

fail() {
	echo "bench: $*" >&2
	exit 1
}
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 not found; $2"; }
need go "install Go (https://go.dev/dl/) at the version go.mod names"
need node "install Node.js 18 or later (https://nodejs.org/, or: apt-get install nodejs npm)"
[ -x /usr/bin/time ] || fail "/usr/bin/time not found; install GNU time (apt-get install time, brew install gnu-time)"
/usr/bin/time -f '%e' true 2>/dev/null || fail "/usr/bin/time is not GNU time (it needs -f); install GNU time"

modules=${SETTLE_NODE_MODULES:-$root/.ci/node/node_modules}
installed() {
	node -e 'process.exit(require(process.argv[1] + "/package.json").version === process.argv[2] ? 0 : 1)' \
		"$modules/$duckdb_node" "$duckdb_version" 2>/dev/null
}
if ! installed; then
	[ -z "${SETTLE_NODE_MODULES:-}" ] || fail "SETTLE_NODE_MODULES=$SETTLE_NODE_MODULES has no $duckdb_node@$duckdb_version; unset it to let this script install it"
	need npm "install npm (it comes with Node.js) to install $duckdb_node"
	echo "bench: installing $duckdb_node@$duckdb_version into .ci/node (once)" >&2
	npm install --prefix "$root/.ci/node" --no-audit --no-fund "$duckdb_node@$duckdb_version" >/dev/null ||
		fail "npm install $duckdb_node@$duckdb_version failed (it needs the npm registry)"
	installed || fail "$duckdb_node@$duckdb_version is still missing from $modules"
fi

work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
cd "$root"
go build -o "$work/settle" ./cmd/settle || fail "go build ./cmd/settle failed"
"$work/settle" gen --rows "$rows" --seed 1 --date "$date" -o "$work/report.csv" >/dev/null 2>&1 || fail "settle gen failed"
"$work/settle" zones >"$work/zones.txt" || fail "settle zones failed"
size=$(stat -c %s "$work/report.csv")
threads=${DUCKDB_THREADS:-$(nproc)}
echo "report: $rows rows, $size bytes; $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
echo "$rounds rounds each, alternating; DuckDB $duckdb_version with $threads threads"

# memory of each function in template.yaml, as "NameFunction MB" lines
awk '/^  [A-Za-z]+Function:[ ]*$/ {f=$1; sub(":", "", f)} /^ +MemorySize:/ && f {print f, $2; f=""}' template.yaml >"$work/memory.txt"

# steps FILE: each step's function and run time, from an execution's history (the time Lambda bills)
steps() {
	node -e '
const ev = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).events;
let fn, start;
for (const e of ev) {
  if (e.type === "LambdaFunctionScheduled") fn = e.lambdaFunctionScheduledEventDetails.resource.split(":").pop();
  if (e.type === "LambdaFunctionStarted") start = Date.parse(e.timestamp);
  if (e.type === "LambdaFunctionSucceeded" || e.type === "LambdaFunctionFailed") {
    const name = fn.replace(/^settle-/, "");
    console.log(name[0].toUpperCase() + name.slice(1) + "Function", (Date.parse(e.timestamp) - start) / 1000);
  }
}' "$1"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
: >"$work/settle.txt" >"$work/duckdb.txt" >"$work/steps.txt" >"$work/ratios.txt"
for i in $(seq "$rounds"); do
	rm -rf "$work/data"
	/usr/bin/time -f '%e %U %S %M' -o "$work/time" "$work/settle" run --data "$work/data" "$work/report.csv" >"$work/run.txt" ||
		fail "settle run failed: $(cat "$work/run.txt")"
	grep -q SUCCEEDED "$work/run.txt" || fail "settle run did not succeed: $(cat "$work/run.txt")"
	read -r w u s m <"$work/time"
	echo "$w $(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}') $m $(du -sb "$work/data/processed/settlement_lines" | cut -f1)" >>"$work/settle.txt"
	steps "$(ls "$work"/data/executions/*.json | head -1)" >>"$work/steps.txt"

	rm -rf "$work/duckdb"
	mkdir -p "$work/duckdb"
	NODE_PATH=$modules /usr/bin/time -f '%e %U %S %M' -o "$work/time" node "$root/scripts/duckdb-bench.js" "$threads" \
		"$work/report.csv" "$work/duckdb/out" "$date" "$root/internal/money/iso4217.txt" "$work/zones.txt" >"$work/duckdb.log" 2>&1 ||
		fail "DuckDB failed: $(cat "$work/duckdb.log")"
	read -r w u s m <"$work/time"
	echo "$w $(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}') $m $(du -sb "$work/duckdb/out" | cut -f1)" >>"$work/duckdb.txt"
	read -r sw sc sr _ < <(tail -1 "$work/settle.txt")
	read -r dw dc dr _ < <(tail -1 "$work/duckdb.txt")
	awk -v dw="$dw" -v sw="$sw" -v dc="$dc" -v sc="$sc" 'BEGIN {print dw / sw, dc / sc}' >>"$work/ratios.txt"
	printf 'round %d: settle %.2f s %.2f CPU-s %d KB | duckdb %.2f s %.2f CPU-s %d KB | ratio %.2fx wall %.2fx CPU\n' \
		"$i" "$sw" "$sc" "$sr" "$dw" "$dc" "$dr" $(tail -1 "$work/ratios.txt")
done

col() { cut -d' ' -f"$2" "$1" | median; }
sw=$(col "$work/settle.txt" 1) sc=$(col "$work/settle.txt" 2) sr=$(col "$work/settle.txt" 3) sb=$(col "$work/settle.txt" 4)
dw=$(col "$work/duckdb.txt" 1) dc=$(col "$work/duckdb.txt" 2) dr=$(col "$work/duckdb.txt" 3) db=$(col "$work/duckdb.txt" 4)
rw=$(col "$work/ratios.txt" 1) rc=$(col "$work/ratios.txt" 2)
awk -v sw="$sw" -v sc="$sc" -v sr="$sr" -v sb="$sb" -v dw="$dw" -v dc="$dc" -v dr="$dr" -v db="$db" -v size="$size" -v rw="$rw" -v rc="$rc" 'BEGIN {
  mb = size / 1e6
  printf "\n%-12s %10s %12s %10s %14s %12s %14s\n", "median", "wall s", "MB/s", "CPU-s", "CPU-s per MB", "peak RSS MB", "Parquet bytes"
  printf "%-12s %10.2f %12.0f %10.2f %14.4f %12.0f %14d\n", "settle run", sw, mb / sw, sc, sc / mb, sr / 1024, sb
  printf "%-12s %10.2f %12.0f %10.2f %14.4f %12.0f %14d\n", "duckdb", dw, mb / dw, dc, dc / mb, dr / 1024, db
  printf "\nthroughput settle/duckdb, median of the rounds'"'"' ratios: %.2fx wall (bar: >= 1.5x), %.2fx CPU-seconds\n", rw, rc
  printf "  (ratio of the medians: %.2fx wall, %.2fx CPU-seconds; on a shared machine the per-round ratios drift less)\n", dw / sw, dc / sc
  printf "Parquet size settle/duckdb: %.2f (bar: <= 1.1); settle writes source_etag, source_line, record_id, booking and extra columns DuckDB does not\n", sb / db
}'

echo
echo "settle GB-seconds per million rows, per step (median run time x template.yaml MemorySize):"
total=0
while read -r fn mem; do
	grep -q "^$fn " "$work/steps.txt" || continue
	t=$(grep "^$fn " "$work/steps.txt" | cut -d' ' -f2 | median)
	gbs=$(awk -v t="$t" -v mem="$mem" -v rows="$rows" 'BEGIN {printf "%.3f", t * mem / 1024 * 1e6 / rows}')
	total=$(awk -v a="$total" -v b="$gbs" 'BEGIN {print a + b}')
	printf '  %-18s %6d MB  %7.3f s  %7s GB-s\n' "$fn" "$mem" "$t" "$gbs"
done <"$work/memory.txt"
printf '  %-18s %29s GB-s (run times are this machine'"'"'s; Lambda gives %s MB about %.1f vCPU)\n' "all steps" "$total" \
	"$(grep '^TransformFunction ' "$work/memory.txt" | cut -d' ' -f2)" \
	"$(awk -v m="$(grep '^TransformFunction ' "$work/memory.txt" | cut -d' ' -f2)" 'BEGIN {print m / 1769}')"

if [ -n "${BIG_ROWS:-}" ]; then
	"$work/settle" gen --rows "$BIG_ROWS" --seed 2 --date "$date" -o "$work/big.csv" >/dev/null 2>&1 || fail "settle gen failed"
	rm -rf "$work/data"
	/usr/bin/time -f '%e %U %S %M' -o "$work/time" "$work/settle" run --data "$work/data" "$work/big.csv" >"$work/run.txt" ||
		fail "settle run failed: $(cat "$work/run.txt")"
	read -r w u s m <"$work/time"
	awk -v w="$w" -v m="$m" -v r="$sr" -v n="$BIG_ROWS" 'BEGIN {
    printf "\nsettle run on %d rows: %.2f s, peak RSS %.0f MB = %.2fx the RSS at the smaller size (bar: <= 1.1x)\n", n, w, m / 1024, m / r }'
	rm -f "$work/big.csv"
fi

#!/usr/bin/env bash
# scripts/bench.sh [--quick] [bench options] — mysql2hbase against the raw ceilings of the local
# servers, measured in the same run (issue 8; see README "Benchmarks" and bench/RESULTS.md).
#
#   1. installs missing build tools (scripts/install-build-deps.sh), then starts MariaDB and
#      HBase (scripts/services.sh up) unless they already answer on 3306/9090;
#   2. builds the daemon and the bench binary in release mode;
#   3. runs target/release/bench (src/bin/bench.rs): it uses its own database `bench`, state
#      schemas `bench_state_*`, replica id 77001, admin port 18686 and `bench_*` HBase tables,
#      and drops them at the start and the end;
#   4. draws bench/out/bench.png (matplotlib; installed with pip --user when missing, else the
#      plot is skipped with a message);
#   5. prints the table, then the JSON summary as the last line.
#
# --quick: 200k rows, 20 s latency phase (under ~5 minutes on 2 cores). Default: 1M rows, 60 s.
# Other options go to the bench binary (--rows N, --reps N, --latency-secs N, --out DIR).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# A rustup toolchain lives in ~/.cargo/bin, which a non-login shell may not have on PATH.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
RELEASE="${CARGO_TARGET_DIR:-target}/release"
OUT=bench/out
args=("$@")
daemon_given=0
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --out) OUT="${args[$((i + 1))]:-$OUT}" ;;
    --out=*) OUT="${args[$i]#--out=}" ;;
    --daemon | --daemon=*) daemon_given=1 ;;
  esac
done
# The bench binary's default --daemon is target/release/mysql2hbase: point it at the binary this
# script builds, wherever CARGO_TARGET_DIR puts it.
((daemon_given)) || args=(--daemon "$RELEASE/mysql2hbase" "${args[@]}")

log() { echo "[bench] $*" >&2; }

scripts/install-build-deps.sh

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if listening 3306 && listening 9090; then
  # Servers already run (possibly started from another checkout, which services.sh would not
  # recognise as its own): use them as they are.
  log "MariaDB (3306) and HBase Thrift (9090) answer; using them"
else
  scripts/services.sh up mariadb hbase >&2
fi
log "building (release)"
cargo build --release --locked --bin mysql2hbase --bin bench >&2
mkdir -p "$OUT"
log "machine: $(nproc) cores, $(awk '/^MemTotal:/{print int($2 / 1024)}' /proc/meminfo) MB RAM; load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$RELEASE/bench" "${args[@]}" | tee "$OUT/table.md"

if ! python3 -c 'import matplotlib' 2>/dev/null; then
  log "installing matplotlib (pip --user) for the plot"
  python3 -m pip install --user --quiet matplotlib >&2 2>/dev/null ||
    python3 -m pip install --user --quiet --break-system-packages matplotlib >&2 ||
    true
fi
if python3 -c 'import matplotlib' 2>/dev/null; then
  python3 bench/plot.py "$OUT" >&2 && log "plot: $OUT/bench.png"
else
  log "matplotlib is not available: no plot (the CSV time series are in $OUT)"
fi
tail -n 1 "$OUT/summary.json"

#!/usr/bin/env bash
# The test command (README, CI): installs what is missing on a fresh machine, starts the real
# servers (MariaDB, HBase + Thrift, Kafka) and runs the whole test suite against them.
# Extra arguments go to `cargo test` (e.g. scripts/test.sh --test streaming).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Build dependencies: rdkafka compiles librdkafka with cmake, whose sources include curl's headers.
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v c++ >/dev/null || need+=(g++)
dpkg -s libcurl4-openssl-dev >/dev/null 2>&1 || need+=(libcurl4-openssl-dev)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need+=(pkg-config)
if ((${#need[@]})); then
  echo "[test] installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${need[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
fi

# Compile while the servers start (HBase takes a minute on a fresh machine).
cargo build --locked --all-targets >&2 &
build=$!
scripts/services.sh up
wait "$build"

# Unit and integration tests (doc-tests: there are none), every binary even after a failure
# (--no-fail-fast), so one failure does not hide another. The last line sums every binary's
# results, so a reader of the log sees the total at the end.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
figures=target/tmp/reliability.txt # the fault tests' figures (docs/RELIABILITY.md)
rm -f "$figures"
set +e
cargo test --locked --all-targets --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [[ -s "$figures" ]]; then
  echo "reliability figures of this run:"
  sed 's/^/  /' "$figures"
fi
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"

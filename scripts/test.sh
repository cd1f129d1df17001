#!/usr/bin/env bash
# The test command (README, CI): installs what is missing on a fresh machine, starts the real
# servers (MariaDB, HBase + Thrift, Kafka) and runs the whole test suite against them.
# Extra arguments go to `cargo test` (e.g. scripts/test.sh --test streaming).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# A rustup toolchain lives in ~/.cargo/bin, which a non-login shell may not have on PATH.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
scripts/install-build-deps.sh
# pt-online-schema-change (percona-toolkit) for the online schema change tests.
if ! command -v pt-online-schema-change >/dev/null 2>&1; then
  as_root=(); ((EUID == 0)) || as_root=(sudo)
  echo "[test] installing percona-toolkit (apt)" >&2
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q percona-toolkit >&2 ||
    { "${as_root[@]}" apt-get update -q >&2 &&
      "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q percona-toolkit >&2; }
fi

# Compile while the servers start (HBase takes a minute on a fresh machine).
cargo build --locked --all-targets >&2 &
build=$!
scripts/services.sh up || { kill "$build" 2>/dev/null; wait "$build" 2>/dev/null; exit 1; }
wait "$build"

# Unit and integration tests (doc-tests: there are none), every binary even after a failure
# (--no-fail-fast), so one failure does not hide another. The last line sums every binary's
# results, so a reader of the log sees the total at the end.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The fault tests' figures (docs/RELIABILITY.md), in cargo's target dir (CARGO_TARGET_TMPDIR).
figures="${CARGO_TARGET_DIR:-target}/tmp/reliability.txt"
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

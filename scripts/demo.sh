#!/usr/bin/env bash
# The demo: brings the services up, creates shop.orders in MariaDB, starts the daemon with
# config/local.toml, writes some orders and shows them arriving in HBase.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# A rustup toolchain lives in ~/.cargo/bin, which a non-login shell may not have on PATH.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

scripts/install-build-deps.sh
scripts/services.sh up
cargo build --release --locked --bin mysql2hbase
BIN="${CARGO_TARGET_DIR:-target}/release/mysql2hbase"
CONFIG=config/local.toml
LOG=.data/demo/daemon.log
# A demo state left from an earlier run may point at binlogs the test suite has purged since:
# re-bootstrap in that case instead of stopping.
export MYSQL2HBASE__SNAPSHOT__MODE=when_needed
SQL() { mariadb -h127.0.0.1 -uroot "$@"; }

# GET /health of the daemon's admin API (config/local.toml: 127.0.0.1:8686) answers 200 while it
# streams. Plain bash, so the demo needs no HTTP client.
healthy() {
  (
    exec 3<>/dev/tcp/127.0.0.1/8686
    printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    read -r status_line <&3
    [[ "$status_line" == *" 200 "* ]]
  ) 2>/dev/null
}

echo "== preflight"
$BIN check --config "$CONFIG"

echo "== demo table shop.orders"
SQL -e "CREATE DATABASE IF NOT EXISTS shop;
        CREATE TABLE IF NOT EXISTS shop.orders (
          id BIGINT UNSIGNED PRIMARY KEY, customer VARCHAR(64) NOT NULL,
          amount DECIMAL(12,2) NOT NULL, status ENUM('new','paid','shipped') NOT NULL DEFAULT 'new',
          created_at DATETIME(3) NOT NULL, note TEXT NULL)"

mkdir -p "$(dirname "$LOG")"
echo "== starting the daemon (log: $LOG)"
RUST_LOG=info $BIN run --config "$CONFIG" >"$LOG" 2>&1 &
DAEMON=$!
trap 'kill -TERM $DAEMON 2>/dev/null; wait $DAEMON 2>/dev/null || true' EXIT
# Ready when the admin API reports it streaming.
for _ in $(seq 1 120); do
  healthy && break
  kill -0 $DAEMON 2>/dev/null || { cat "$LOG"; echo "the daemon exited (log above)" >&2; exit 1; }
  sleep 0.5
done
healthy || { tail -n 30 "$LOG"; echo "the daemon is not streaming after 60 s (log: $LOG)" >&2; exit 1; }

base=$(SQL -N -e "SELECT COALESCE(MAX(id), 0) FROM shop.orders")
echo "== writing orders $((base + 1))..$((base + 5)) in MySQL"
for i in 1 2 3 4 5; do
  id=$((base + i))
  SQL -e "INSERT INTO shop.orders VALUES ($id, 'customer-$i', $i * 10.5, 'new', NOW(3), NULL)"
done
SQL -e "UPDATE shop.orders SET status = 'paid', note = 'paid by card' WHERE id = $((base + 2));
        DELETE FROM shop.orders WHERE id = $((base + 5))"
# Wait until HBase holds as many rows as MySQL.
rows=$(SQL -N -e "SELECT COUNT(*) FROM shop.orders")
have=0
for _ in $(seq 1 60); do
  have=$($BIN peek --config "$CONFIG" shop.orders --limit 100000 2>/dev/null | grep -c '^  ' || true)
  [ "$have" = "$rows" ] && break
  sleep 0.5
done

echo "== MySQL"
SQL -e "SELECT * FROM shop.orders ORDER BY id DESC LIMIT 5"
echo "== HBase (table shop_orders, family d)"
$BIN peek --config "$CONFIG" shop.orders --limit 20
if [ "$have" != "$rows" ]; then
  echo "HBase holds $have rows, MySQL $rows, after 30 s (daemon log: $LOG)" >&2
  exit 1
fi

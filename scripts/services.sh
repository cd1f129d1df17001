#!/usr/bin/env bash
# scripts/services.sh — real MariaDB, HBase (+Thrift1) and Kafka servers for development and tests.
#
# Usage: scripts/services.sh up|down|status|restart|pause|resume [mariadb|hbase|kafka|mariadb-replica|thrift2 ...]
#        (no name = mariadb, hbase and kafka)
#
#   up      install what is missing (apt: mariadb; Maven Central: HBase and Kafka jars through
#           services/{hbase,kafka}/pom.xml), start the server(s) and wait until they really answer.
#           Idempotent. Exits non-zero (and names the log file) if a server does not come up.
#   down    stop the server(s) (graceful, then SIGKILL after a timeout) and wait until the ports
#           are free. Data is kept. Stopping a stopped server is fine.
#   restart down then up.
#   pause   freeze the server's process (SIGSTOP): it keeps its connections and accepts new
#           ones, but answers nothing, as a server stuck in a long GC pause or on a dead disk
#           does. For hbase the Thrift gateway (the standalone master JVM also runs ZooKeeper,
#           whose sessions expire on waking from a pause of ~10 s, and the regionserver aborts).
#   resume  SIGCONT: the frozen server goes on.
#   status  one line per service: running/stopped and its port(s). Always exits 0.
#   up/down/restart hold a lock (.data/.services.lock), so concurrent calls queue up.
#
# Servers (all bound to 127.0.0.1):
#   mariadb  3306   MariaDB (Debian package), binlog ROW/FULL, user root with an EMPTY password
#                   (mysql_native_password, also over TCP). Socket: .data/mariadb/mariadb.sock
#   hbase    9090   HBase Thrift1 gateway (buffered binary protocol), in its own JVM
#            2181   embedded ZooKeeper; 16000/16020 master/regionserver RPC; 16010 master web UI
#                   (standalone HMaster: master + regionserver + ZooKeeper in one JVM)
#   kafka    9092   Kafka broker, KRaft single node (controller on 9093)
#            9094   the same broker over TLS (certificate from .data/tls/ca.pem)
#   mariadb-replica 3307  a second MariaDB (server_id 2, log_slave_updates, ROW/FULL) replicating
#                   the first by GTID from where the first's binlog is when it comes up (it has
#                   nothing older): for failover tests. Disposable: "down" deletes its data, so
#                   every "up" starts a fresh replica. Only on request, never in the default set.
#   thrift2  9091   a second HBase Thrift1 gateway against the same HBase (needs hbase up; web UI
#                   9096), in its own JVM; THRIFT2_FLAGS passes server options, e.g. "-f -c"
#                   (framed transport, compact protocol) or "-hsha" (framed, half-sync/half-async).
#                   Only on request, never in the default set.
# TLS: .data/tls/ (made with openssl on the first "up"): ca.pem (test CA), server.pem/server.key
#   (CN localhost, SAN 127.0.0.1/localhost, signed by ca.pem), client.pem/client.key (a client
#   certificate ca.pem signed, for users REQUIRE X509), wrong-ca.pem (a CA that signed
#   nothing, for tests of refusals). MariaDB has ssl_ca/ssl_cert/ssl_key set (TLS optional per
#   user; users created REQUIRE SSL must use it); Kafka serves 9094 with a PEM keystore.
#
# Everything lives under <repo>/.data/ (git-ignored); delete it to start from scratch:
#   .data/mariadb/{data,binlog,logs/error.log}   .data/hbase/{root,logs/hbase-master.log,logs/thrift.log}
#   .data/kafka/{data,logs/server.log}            .data/<svc>/*.pid, logs/*.out (JVM stdout/stderr)
#
# Helpers: services/hbase/thrift_check.py (list|create|put|get|drop|smoke against Thrift),
#          services/kafka/kafka_check.py (ApiVersions + Metadata probe).
# Environment: SERVICES_TIMEOUT_MARIADB (60), SERVICES_TIMEOUT_HBASE (300), SERVICES_TIMEOUT_KAFKA (120)
#              seconds to wait for "up"; SERVICES_HBASE_SMOKE=0 skips the create/put/get/drop
#              table check done after a fresh HBase start.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# .data may be a link to another checkout's (a git worktree sharing its servers): the servers are
# named after where the data really is, so every checkout sharing it manages the same processes.
DATA="$(realpath -m "$ROOT/.data")"
SERVERS_OF="$(dirname "$DATA")"
ALL_SERVICES=(mariadb hbase kafka)

if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY=python3; fi

log() { echo "[services] $*" >&2; }
die() { echo "[services] ERROR: $*" >&2; exit 1; }

# ------------------------------------------------------------------ generic process helpers
alive() { # pid -> 0 if the process exists and is not a zombie
  local st
  [[ -n "${1:-}" && -r /proc/$1/stat ]] || return 1
  st="$(<"/proc/$1/stat")" 2>/dev/null || return 1
  st="${st##*) }" # fields after "(comm) ": state first
  [[ -n "$st" && "${st:0:1}" != Z ]]
}

cmdline_has() { # pid marker
  local cl
  cl="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
  [[ "$cl" == *"$2"* ]]
}

# pid of a process we started: from its pid file, checked against a marker in its command line;
# falls back to scanning /proc for the marker (pid file lost). Prints nothing if not running.
find_pid() {
  local pid f
  if [[ -s "$1" ]]; then
    pid="$(<"$1")"
    if alive "$pid" && cmdline_has "$pid" "$2"; then echo "$pid"; return 0; fi
  fi
  for f in $(grep -lsF -e "$2" /proc/[0-9]*/cmdline 2>/dev/null || true); do
    pid="${f#/proc/}"
    pid="${pid%/cmdline}"
    if alive "$pid" && cmdline_has "$pid" "$2"; then
      echo "$pid" 2>/dev/null >"$1" || true
      echo "$pid"
      return 0
    fi
  done
  return 0
}

listening() { # port -> 0 if something listens on it (any address)
  if command -v ss >/dev/null 2>&1; then
    [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

wait_ports_free() { # timeout port...
  local t="$1"; shift
  local deadline=$((SECONDS + t)) p busy
  while :; do
    busy=""
    for p in "$@"; do listening "$p" && busy="$busy $p"; done
    [[ -z "$busy" ]] && return 0
    ((SECONDS >= deadline)) && die "port(s)$busy still in use after ${t}s"
    sleep 0.5
  done
}

# stop_pid name pid grace_seconds: SIGTERM, wait, SIGKILL
stop_pid() {
  local name="$1" pid="$2" grace="$3" deadline
  alive "$pid" || return 0
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + grace))
  while alive "$pid" && ((SECONDS < deadline)); do sleep 0.5; done
  if alive "$pid"; then
    log "$name did not stop within ${grace}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 30))
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    alive "$pid" && die "could not kill $name (pid $pid)"
  fi
  return 0
}

# start_bg pidfile logfile cmd... : detached from this shell (own session, no stdin/stdout)
start_bg() {
  local pidfile="$1" logfile="$2"; shift 2
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
  echo "=== $(date -Is) starting: $* " | sed -E 's/ -cp [^ ]+ / -cp <classpath> /' >>"$logfile"
  # Servers keep none of the caller's file descriptors: an inherited lock (ours on fd 9, or a
  # caller's `flock FILE cmd`) would otherwise be held for as long as the server runs.
  (
    for fd in "/proc/$BASHPID/fd"/*; do
      fd=${fd##*/}
      if ((fd > 2 && fd != 255)); then eval "exec $fd>&-"; fi
    done 2>/dev/null
    exec setsid nohup "$@" </dev/null >>"$logfile" 2>&1
  ) &
  echo $! >"$pidfile"
}

fail_with_log() { # message logfile...
  local msg="$1" f; shift
  echo "[services] ERROR: $msg" >&2
  for f in "$@"; do
    [[ -f "$f" ]] || continue
    echo "[services] --- last lines of $f:" >&2
    tail -n 60 "$f" | grep -v '^[[:space:]]' | tail -n 12 >&2 || true  # no stack-trace lines
  done
  echo "[services] see log file(s): $*" >&2
  exit 1
}

ensure_java() {
  command -v java >/dev/null 2>&1 && return 0
  log "java missing: installing openjdk-17-jre-headless"
  apt_install openjdk-17-jre-headless
}

# The readiness checks (services/*/*.py) and Kafka's cluster id need python3 (stdlib only).
ensure_python() {
  if [[ -x /usr/bin/python3 ]] || command -v python3 >/dev/null 2>&1; then return 0; fi
  log "python3 missing: installing python3"
  apt_install python3
  PY=/usr/bin/python3
}

ensure_mvn() {
  command -v mvn >/dev/null 2>&1 && return 0
  log "mvn missing: installing maven"
  apt_install maven
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "$@" || { apt-get update -q && apt-get install -y -q "$@"; }
}

# resolve_classpath svc -> writes .data/<svc>/classpath.txt from services/<svc>/pom.xml (cached,
# re-resolved when the pom changes or a jar went missing)
resolve_classpath() {
  local svc="$1" pom="$ROOT/services/$1/pom.xml" dir="$DATA/$1"
  local cpf="$dir/classpath.txt" sumf="$dir/classpath.sha256" want ok=1 jars j attempt
  want="$(sha256sum "$pom" | cut -d' ' -f1)"
  if [[ -s "$cpf" && -f "$sumf" && "$(<"$sumf")" == "$want" ]]; then
    IFS=: read -r -a jars <"$cpf" || true  # no trailing newline
    for j in "${jars[@]}"; do [[ -f "$j" ]] || { ok=0; break; }; done
    ((ok)) && return 0
  fi
  ensure_mvn
  mkdir -p "$dir/logs"
  log "resolving $svc jars from Maven Central ($pom)"
  for attempt in 1 2; do
    if mvn -B -q -f "$pom" dependency:build-classpath -Dmdep.outputFile="$cpf.tmp" \
      >"$dir/logs/maven.log" 2>&1; then
      mv "$cpf.tmp" "$cpf"
      echo "$want" >"$sumf"
      return 0
    fi
    log "maven resolution of $svc failed (attempt $attempt), see $dir/logs/maven.log"
    sleep 3
  done
  tail -n 20 "$dir/logs/maven.log" >&2 || true
  die "could not resolve $svc jars; see $dir/logs/maven.log"
}

JDK17_FLAGS=(
  -Djava.net.preferIPv4Stack=true
  --add-opens java.base/java.io=ALL-UNNAMED
  --add-opens java.base/java.nio=ALL-UNNAMED
  --add-opens java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens java.base/java.lang=ALL-UNNAMED
  --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens java.base/java.util=ALL-UNNAMED
  --add-opens java.base/java.util.concurrent=ALL-UNNAMED
  --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
  --add-exports java.base/sun.net.dns=ALL-UNNAMED
  --add-exports java.base/sun.net.util=ALL-UNNAMED
  --add-exports java.security.jgss/sun.security.krb5=ALL-UNNAMED
  --add-modules jdk.unsupported
  -Dorg.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible=true
)

# ================================================================== TLS material
TLS="$DATA/tls"

# A test CA, a server certificate it signed (valid for 127.0.0.1 and localhost) and a second CA
# that signed nothing. Made once; delete .data/tls to make new ones.
ensure_tls() {
  [[ -s "$TLS/server-keystore.pem" && -s "$TLS/wrong-ca.pem" ]] || make_tls
  [[ -s "$TLS/client.pem" ]] || make_client_certificate
}

make_tls() {
  command -v openssl >/dev/null 2>&1 || apt_install openssl
  mkdir -p "$TLS"
  log "making a test CA and server certificate in $TLS"
  (
    cd "$TLS"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=mysql2hbase test CA" \
      -keyout ca.key -out ca.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out server.pem
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=some other CA" \
      -keyout wrong-ca.key -out wrong-ca.pem
    cat server.key server.pem >server-keystore.pem # Kafka's PEM keystore: key, then chain
    chmod 600 ./*.key server-keystore.pem
  ) >"$TLS/openssl.log" 2>&1 || fail_with_log "could not make the TLS test certificates" "$TLS/openssl.log"
}

# A client certificate the test CA signed (client.pem, client.key), for users REQUIRE X509.
make_client_certificate() {
  command -v openssl >/dev/null 2>&1 || apt_install openssl
  log "making a test client certificate in $TLS"
  (
    cd "$TLS"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=mysql2hbase client" -keyout client.key \
      -out client.csr
    printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile client.ext -out client.pem
    chmod 600 client.key
  ) >>"$TLS/openssl.log" 2>&1 || fail_with_log "could not make the TLS client certificate" "$TLS/openssl.log"
}

# ================================================================== MariaDB
MDB="$DATA/mariadb"
MDB_CNF="$MDB/my.cnf"
MDB_SOCK="$MDB/mariadb.sock"
MDB_PIDFILE="$MDB/mariadb.pid"
MDB_MARKER="--defaults-file=$MDB_CNF"

mariadb_pid() { find_pid "$MDB_PIDFILE" "$MDB_MARKER"; }

mariadbd_bin() {
  if command -v mariadbd >/dev/null 2>&1; then command -v mariadbd
  elif [[ -x /usr/sbin/mariadbd ]]; then echo /usr/sbin/mariadbd
  fi
}

# Stop a server started by the Debian package itself (init script), so 3306 is ours.
stop_system_mariadb() {
  local pid f
  for f in $(grep -lsx -e mysqld_safe -e mariadbd-safe /proc/[0-9]*/comm 2>/dev/null || true); do
    pid="${f#/proc/}"
    stop_pid "debian's mysqld_safe" "${pid%/comm}" 10
  done
  for f in /run/mysqld/mysqld.pid /run/mysqld/mariadb.pid; do
    [[ -s "$f" ]] || continue
    pid="$(<"$f")"
    if alive "$pid" && ! cmdline_has "$pid" "$MDB_MARKER"; then
      stop_pid "the Debian package's own mariadb service" "$pid" 60
    fi
  done
  return 0
}

ensure_mariadb_installed() {
  if [[ -z "$(mariadbd_bin)" ]] || ! command -v mariadb >/dev/null 2>&1 \
    || ! command -v mariadb-install-db >/dev/null 2>&1; then
    log "installing mariadb-server mariadb-client (apt)"
    local policy=/usr/sbin/policy-rc.d created=0 rc=0
    # keep the package's own service from starting (there is no systemd here anyway)
    if [[ ! -e "$policy" ]]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy"
      chmod +x "$policy"
      created=1
    fi
    mkdir -p "$MDB/logs"
    apt_install mariadb-server mariadb-client >"$MDB/logs/apt-install.log" 2>&1 || rc=$?
    ((created)) && rm -f "$policy"
    ((rc == 0)) || { tail -n 20 "$MDB/logs/apt-install.log" >&2; die "apt-get install mariadb failed (see $MDB/logs/apt-install.log)"; }
    [[ -n "$(mariadbd_bin)" ]] || die "mariadbd not found after install"
    stop_system_mariadb
  fi
}

write_mariadb_cnf() {
  mkdir -p "$MDB/data" "$MDB/binlog" "$MDB/logs" "$MDB/tmp"
  cat >"$MDB_CNF" <<EOF
# generated by scripts/services.sh — edits are overwritten on every "up"
[mysqld]
user                       = root
port                       = 3306
bind-address               = 127.0.0.1
skip-name-resolve
socket                     = $MDB_SOCK
pid-file                   = $MDB_PIDFILE
datadir                    = $MDB/data
tmpdir                     = $MDB/tmp
log_error                  = $MDB/logs/error.log
log_bin                    = $MDB/binlog/binlog
binlog_format              = ROW
binlog_row_image           = FULL
binlog_row_metadata        = FULL
server_id                  = 1
binlog_expire_logs_seconds = 259200
max_allowed_packet         = 64M
general_log                = 0
general_log_file           = $MDB/logs/general.log
slow_query_log_file        = $MDB/logs/slow.log
performance_schema         = ON
innodb_buffer_pool_size    = 256M
ssl_ca                     = $TLS/ca.pem
ssl_cert                   = $TLS/server.pem
ssl_key                    = $TLS/server.key
character-set-server       = utf8mb4
collation-server           = utf8mb4_general_ci
max_connections            = 500

[client]
socket                     = $MDB_SOCK
EOF
}

mariadb_tcp() { mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P3306 -uroot --connect-timeout=3 "$@"; }

mariadb_start() {
  ensure_tls # also when MariaDB runs: material added since it started (client.pem) appears
  if [[ -n "$(mariadb_pid)" ]]; then return 0; fi
  ensure_mariadb_installed
  listening 3306 && stop_system_mariadb
  listening 3306 && die "port 3306 is in use by a process not started by this script (ss -ltnp 'sport = :3306')"
  write_mariadb_cnf
  if [[ ! -d "$MDB/data/mysql" ]]; then
    log "initialising MariaDB datadir $MDB/data"
    rm -rf "$MDB/data" "$MDB/binlog" "$MDB/.users-ok"
    mkdir -p "$MDB/data" "$MDB/binlog"
    mariadb-install-db --defaults-file="$MDB_CNF" --user=root --auth-root-authentication-method=normal \
      --skip-test-db >"$MDB/logs/install-db.log" 2>&1 \
      || fail_with_log "mariadb-install-db failed" "$MDB/logs/install-db.log"
  fi
  log "starting mariadb on 127.0.0.1:3306"
  start_bg "$MDB_PIDFILE" "$MDB/logs/mariadbd.out" "$(mariadbd_bin)" "$MDB_MARKER" --user=root
}

mariadb_wait() {
  local timeout="${SERVICES_TIMEOUT_MARIADB:-60}" deadline pid
  deadline=$((SECONDS + timeout))
  while :; do
    pid="$(mariadb_pid)"
    [[ -n "$pid" ]] || fail_with_log "mariadb exited during startup" "$MDB/logs/error.log" "$MDB/logs/mariadbd.out"
    if mariadb-admin --no-defaults --protocol=tcp -h127.0.0.1 -P3306 -uroot --connect-timeout=2 ping \
      >/dev/null 2>&1; then break; fi
    ((SECONDS >= deadline)) && fail_with_log "mariadb did not answer within ${timeout}s" "$MDB/logs/error.log"
    sleep 0.5
  done
  if [[ ! -f "$MDB/.users-ok" ]]; then
    # root with an empty mysql_native_password from localhost (socket), 127.0.0.1, ::1 and '%'
    local h hn sql="DROP USER IF EXISTS ''@'localhost';"
    hn="$(hostname 2>/dev/null || true)"
    case "$hn" in
      "" | localhost | 127.0.0.1 | ::1 | %) ;;
      *) sql+="DROP USER IF EXISTS ''@'$hn'; DROP USER IF EXISTS 'root'@'$hn';" ;;
    esac
    for h in localhost 127.0.0.1 ::1 %; do
      sql+="CREATE USER IF NOT EXISTS 'root'@'$h' IDENTIFIED VIA mysql_native_password USING '';"
      sql+="ALTER USER 'root'@'$h' IDENTIFIED VIA mysql_native_password USING '';"
      sql+="GRANT ALL PRIVILEGES ON *.* TO 'root'@'$h' WITH GRANT OPTION;"
    done
    sql+="FLUSH PRIVILEGES;"
    mariadb --no-defaults -S "$MDB_SOCK" -uroot -e "$sql" >>"$MDB/logs/setup.log" 2>&1 \
      || fail_with_log "could not set up root users" "$MDB/logs/setup.log"
    touch "$MDB/.users-ok"
  fi
  mariadb_tcp -N -e 'select 1' >/dev/null 2>"$MDB/logs/check.log" \
    || fail_with_log "mariadb answers ping but root@127.0.0.1 cannot log in" "$MDB/logs/check.log"
  log "mariadb up: 127.0.0.1:3306 (pid $(mariadb_pid))"
}

mariadb_down() {
  local pid
  pid="$(mariadb_pid)"
  [[ -n "$pid" ]] && stop_pid mariadb "$pid" 90
  rm -f "$MDB_PIDFILE"
  wait_ports_free 30 3306
}

# ================================================================== MariaDB replica
RDB="$DATA/mariadb-replica"
RDB_CNF="$RDB/my.cnf"
RDB_SOCK="$RDB/mariadb.sock"
RDB_PIDFILE="$RDB/mariadb.pid"
RDB_MARKER="--defaults-file=$RDB_CNF"

replica_pid() { find_pid "$RDB_PIDFILE" "$RDB_MARKER"; }
replica_tcp() { mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P3307 -uroot --connect-timeout=3 "$@"; }

mariadb-replica_start() {
  if [[ -n "$(replica_pid)" ]]; then return 0; fi
  ensure_mariadb_installed
  listening 3307 && die "port 3307 is in use by a process not started by this script (ss -ltnp 'sport = :3307')"
  rm -rf "${RDB:?}"
  mkdir -p "$RDB/data" "$RDB/binlog" "$RDB/logs" "$RDB/tmp"
  cat >"$RDB_CNF" <<EOF
# generated by scripts/services.sh — a disposable GTID replica of the mariadb service
[mysqld]
user                       = root
port                       = 3307
bind-address               = 127.0.0.1
skip-name-resolve
socket                     = $RDB_SOCK
pid-file                   = $RDB_PIDFILE
datadir                    = $RDB/data
tmpdir                     = $RDB/tmp
log_error                  = $RDB/logs/error.log
log_bin                    = $RDB/binlog/binlog
log_slave_updates          = 1
binlog_format              = ROW
binlog_row_image           = FULL
binlog_row_metadata        = FULL
server_id                  = 2
max_allowed_packet         = 64M
innodb_buffer_pool_size    = 128M
character-set-server       = utf8mb4
collation-server           = utf8mb4_general_ci

[client]
socket                     = $RDB_SOCK
EOF
  log "initialising the replica's datadir $RDB/data"
  mariadb-install-db --defaults-file="$RDB_CNF" --user=root --auth-root-authentication-method=normal \
    --skip-test-db >"$RDB/logs/install-db.log" 2>&1 \
    || fail_with_log "mariadb-install-db (replica) failed" "$RDB/logs/install-db.log"
  log "starting the mariadb replica on 127.0.0.1:3307"
  start_bg "$RDB_PIDFILE" "$RDB/logs/mariadbd.out" "$(mariadbd_bin)" "$RDB_MARKER" --user=root
}

mariadb-replica_wait() {
  local timeout="${SERVICES_TIMEOUT_MARIADB:-60}" deadline pid sql h pos state
  deadline=$((SECONDS + timeout))
  while :; do
    pid="$(replica_pid)"
    [[ -n "$pid" ]] || fail_with_log "the mariadb replica exited during startup" "$RDB/logs/error.log"
    if mariadb-admin --no-defaults --protocol=tcp -h127.0.0.1 -P3307 -uroot --connect-timeout=2 ping \
      >/dev/null 2>&1; then break; fi
    ((SECONDS >= deadline)) && fail_with_log "the mariadb replica did not answer within ${timeout}s" "$RDB/logs/error.log"
    sleep 0.5
  done
  if [[ ! -f "$RDB/.replicating" ]]; then
    mariadb_tcp -N -e 'select 1' >/dev/null 2>&1 || die "the replica needs the mariadb service on 3306 up: scripts/services.sh up mariadb"
    sql="DROP USER IF EXISTS ''@'localhost';"
    for h in localhost 127.0.0.1 ::1 %; do
      sql+="CREATE USER IF NOT EXISTS 'root'@'$h' IDENTIFIED VIA mysql_native_password USING '';"
      sql+="ALTER USER 'root'@'$h' IDENTIFIED VIA mysql_native_password USING '';"
      sql+="GRANT ALL PRIVILEGES ON *.* TO 'root'@'$h' WITH GRANT OPTION;"
    done
    # From where the primary's binlog is now: the replica holds nothing older.
    pos="$(mariadb_tcp -N -e 'SELECT @@global.gtid_binlog_pos')"
    sql+="SET GLOBAL gtid_slave_pos = '$pos';"
    sql+="CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=3306, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos;"
    sql+="START SLAVE;"
    mariadb --no-defaults -S "$RDB_SOCK" -uroot -e "$sql" >>"$RDB/logs/setup.log" 2>&1 \
      || fail_with_log "could not set up the replica" "$RDB/logs/setup.log"
    while :; do
      state="$(replica_tcp -e 'SHOW SLAVE STATUS\G' 2>/dev/null | grep -E 'Slave_(IO|SQL)_Running:' | grep -c Yes || true)"
      [[ "$state" == 2 ]] && break
      ((SECONDS >= deadline)) && fail_with_log "the replica does not replicate (SHOW SLAVE STATUS)" "$RDB/logs/error.log"
      sleep 0.5
    done
    touch "$RDB/.replicating"
  fi
  log "mariadb replica up: 127.0.0.1:3307, replicating 127.0.0.1:3306 by GTID (pid $(replica_pid))"
}

mariadb-replica_down() {
  local pid
  pid="$(replica_pid)"
  [[ -n "$pid" ]] && stop_pid "mariadb replica" "$pid" 60
  rm -rf "${RDB:?}"
  wait_ports_free 30 3307
}

# ================================================================== HBase
HB="$DATA/hbase"
HB_MASTER_PIDFILE="$HB/master.pid"
HB_THRIFT_PIDFILE="$HB/thrift.pid"
HB_MASTER_MARKER="-Dmysql2hbase.service=hbase-master@$SERVERS_OF"
HB_THRIFT_MARKER="-Dmysql2hbase.service=hbase-thrift@$SERVERS_OF"
HB_PORTS=(9090 9095 2181 16000 16010 16020 16030)

HB_THRIFT2_PIDFILE="$HB/thrift2.pid"
HB_THRIFT2_MARKER="-Dmysql2hbase.service=hbase-thrift2@$SERVERS_OF"

hbase_master_pid() { find_pid "$HB_MASTER_PIDFILE" "$HB_MASTER_MARKER"; }
thrift2_pid() { find_pid "$HB_THRIFT2_PIDFILE" "$HB_THRIFT2_MARKER"; }
hbase_thrift_pid() { find_pid "$HB_THRIFT_PIDFILE" "$HB_THRIFT_MARKER"; }

write_hbase_conf() {
  mkdir -p "$HB/conf" "$HB/logs" "$HB/tmp" "$HB/zookeeper" # root: created by HBase itself
  local prop
  {
    echo '<?xml version="1.0"?>'
    echo '<!-- generated by scripts/services.sh; overwritten on every "up" -->'
    # The cleaner settings: tests and benchmarks drop the tables they write (a full benchmark
    # writes ~15 GB), whose files and WALs HBase keeps in archive/ and oldWALs/ for 5-10
    # minutes by default; a minute here keeps the disk from filling up.
    # The split policy: a table splits at hbase.hregion.max.filesize (10 GB), as a production
    # region does, not at 256 MB as HBase's default does a table's first region; on this one
    # node a split only closes the region (0.3-1.4 s without writes), and the benchmark's
    # freshly created tables would measure that instead of the daemon.
    echo '<configuration>'
    while read -r prop; do
      [[ -z "$prop" ]] && continue
      printf '  <property><name>%s</name><value>%s</value></property>\n' "${prop%% *}" "${prop#* }"
    done <<EOF
hbase.cluster.distributed false
hbase.rootdir file://$HB/root
hbase.tmp.dir $HB/tmp
hbase.unsafe.stream.capability.enforce false
hbase.zookeeper.quorum 127.0.0.1
hbase.zookeeper.property.clientPort 2181
hbase.zookeeper.property.dataDir $HB/zookeeper
hbase.master.port 16000
hbase.master.info.port 16010
hbase.master.info.bindAddress 127.0.0.1
hbase.regionserver.port 16020
hbase.regionserver.info.port 16030
hbase.regionserver.info.bindAddress 127.0.0.1
hbase.thrift.info.port 9095
zookeeper.recovery.retry 1
zookeeper.recovery.retry.intervalmill 200
hbase.thrift.info.bindAddress 127.0.0.1
hbase.master.cleaner.interval 30000
hbase.master.hfilecleaner.ttl 60000
hbase.master.logcleaner.ttl 60000
hbase.regionserver.region.split.policy org.apache.hadoop.hbase.regionserver.ConstantSizeRegionSplitPolicy
EOF
    echo '</configuration>'
  } >"$HB/conf/hbase-site.xml"
  cat >"$HB/conf/log4j2.properties" <<'EOF'
# generated by scripts/services.sh
status = warn
dest = err
name = HBaseLog
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = ${sys:hbase.log.dir}/${sys:hbase.log.file}
appender.file.filePattern = ${sys:hbase.log.dir}/${sys:hbase.log.file}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{ISO8601} %-5p [%t] %c{2}: %.1000m%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 64MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger = INFO,file
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = WARN
logger.hbase.name = org.apache.hadoop.hbase
logger.hbase.level = INFO
logger.zookeeper.name = org.apache.zookeeper
logger.zookeeper.level = WARN
logger.hbasezk.name = org.apache.hadoop.hbase.zookeeper
logger.hbasezk.level = WARN
logger.thrift.name = org.apache.hadoop.hbase.thrift
logger.thrift.level = INFO
EOF
}

hbase_java() { # marker logfile heap gc main args...  -> sets JAVA_CMD
  local marker="$1" logfile="$2" heap="$3" gc="$4"; shift 4
  # GC pauses logged beside the server's log: a slow write is first compared with them.
  JAVA_CMD=(java -Xms"$heap" -Xmx"$heap" "$gc" "${JDK17_FLAGS[@]}" "$marker" \
    "-Xlog:gc:file=$HB/logs/gc-$logfile:time,uptime:filecount=2,filesize=20m" \
    -Dhbase.log.dir="$HB/logs" -Dhbase.log.file="$logfile" \
    -Dlog4j2.configurationFile="file:$HB/conf/log4j2.properties" \
    -Djava.io.tmpdir="$HB/tmp" \
    -cp "$HB/conf:$(<"$HB/classpath.txt")" "$@")
}

hbase_start() {
  ensure_java
  resolve_classpath hbase
  write_hbase_conf
  if [[ -z "$(hbase_master_pid)" ]]; then
    local p
    for p in 2181 16000 16010 16020 16030; do
      listening "$p" && die "port $p is in use by a process not started by this script"
    done
    if [[ -n "$(ls -A "$HB/root" 2>/dev/null)" && ! -f "$HB/root/hbase.version" ]]; then
      # e.g. .data deleted under a running HBase, whose shutdown then re-created a few dirs
      if [[ -z "$(ls -A "$HB/root/data/default" 2>/dev/null)" ]]; then
        log "hbase root $HB/root is incomplete (no hbase.version, no user tables): wiping it"
        rm -rf "$HB/root" "$HB/zookeeper"
        mkdir -p "$HB/root" "$HB/zookeeper"
      else
        die "$HB/root has user tables but no hbase.version: fix or delete $HB by hand"
      fi
    fi
    HB_LOG_OFFSET=$(stat -c %s "$HB/logs/hbase-master.log" 2>/dev/null || echo 0)
    log "starting hbase master (standalone, embedded zookeeper)"
    # The regionserver (in this JVM) on ZGC: with G1 and a 1 GB heap its young collections
    # stopped every write for 50-135 ms every 10-25 s under a steady load (its GC log against
    # the benchmark's slow commits, bench/RESULTS.md), while ZGC's pauses stay under a
    # millisecond; 3 GB because ZGC collects concurrently and wants room to do it.
    hbase_java "$HB_MASTER_MARKER" hbase-master.log 3g -XX:+UseZGC \
      org.apache.hadoop.hbase.master.HMaster start
    start_bg "$HB_MASTER_PIDFILE" "$HB/logs/master.out" "${JAVA_CMD[@]}"
    HB_FRESH=1
  fi
}

hbase_start_thrift() {
  [[ -n "$(hbase_thrift_pid)" ]] && return 0
  listening 9090 && die "port 9090 is in use by a process not started by this script"
  log "starting hbase thrift server on 127.0.0.1:9090"
  hbase_java "$HB_THRIFT_MARKER" thrift.log 512m -XX:+UseG1GC \
    org.apache.hadoop.hbase.thrift.ThriftServer -p 9090 -b 127.0.0.1 start
  start_bg "$HB_THRIFT_PIDFILE" "$HB/logs/thrift.out" "${JAVA_CMD[@]}"
  HB_FRESH=1
}

# fail fast when the master aborted (its JVM may linger for minutes after that)
hbase_check_master() { # logs...
  [[ -n "$(hbase_master_pid)" ]] || fail_with_log "hbase master exited during startup" "$@"
  if [[ -n "${HB_LOG_OFFSET:-}" ]] \
    && tail -c +"$((HB_LOG_OFFSET + 1))" "$HB/logs/hbase-master.log" 2>/dev/null | grep -q 'ABORTING master'; then
    local pid
    pid="$(hbase_master_pid)"
    [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null
    pid="$(hbase_thrift_pid)"
    [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null
    echo "[services] $(tail -c +"$((HB_LOG_OFFSET + 1))" "$HB/logs/hbase-master.log" | grep -m1 -A1 'ABORTING master\|Failed to become active')" >&2
    fail_with_log "hbase master aborted during startup (killed it)" "$@"
  fi
  return 0
}

hbase_wait() {
  local timeout="${SERVICES_TIMEOUT_HBASE:-300}" deadline logs
  logs=("$HB/logs/hbase-master.log" "$HB/logs/master.out")
  deadline=$((SECONDS + timeout))
  # thrift needs zookeeper: wait for the master's embedded zookeeper first
  until listening 2181; do
    hbase_check_master "${logs[@]}"
    ((SECONDS >= deadline)) && fail_with_log "hbase zookeeper (2181) not up within ${timeout}s" "${logs[@]}"
    sleep 1
  done
  hbase_start_thrift
  logs+=("$HB/logs/thrift.log" "$HB/logs/thrift.out")
  until "$PY" "$ROOT/services/hbase/thrift_check.py" --timeout 20 ping 2>"$HB/logs/check.log"; do
    hbase_check_master "${logs[@]}"
    [[ -n "$(hbase_thrift_pid)" ]] || fail_with_log "hbase thrift server exited during startup" "${logs[@]}"
    ((SECONDS >= deadline)) && fail_with_log "hbase thrift did not answer getTableNames within ${timeout}s ($(cat "$HB/logs/check.log"))" "${logs[@]}"
    sleep 2
  done
  if [[ "${HB_FRESH:-0}" == 1 && "${SERVICES_HBASE_SMOKE:-1}" != 0 ]]; then
    # regions really assignable: create/put/get/drop a scratch table
    until "$PY" "$ROOT/services/hbase/thrift_check.py" --timeout 60 smoke >/dev/null 2>"$HB/logs/check.log"; do
      hbase_check_master "${logs[@]}"
      ((SECONDS >= deadline)) && fail_with_log "hbase smoke test (create/put/get/drop) failed for ${timeout}s: $(cat "$HB/logs/check.log")" "${logs[@]}"
      sleep 2
    done
  fi
  log "hbase up: thrift 127.0.0.1:9090, zookeeper 2181 (master pid $(hbase_master_pid), thrift pid $(hbase_thrift_pid))"
}

hbase_down() {
  local pid
  pid="$(thrift2_pid)"
  [[ -n "$pid" ]] && stop_pid "hbase thrift2" "$pid" 30
  rm -f "$HB_THRIFT2_PIDFILE"
  pid="$(hbase_thrift_pid)"
  [[ -n "$pid" ]] && stop_pid "hbase thrift" "$pid" 30
  rm -f "$HB_THRIFT_PIDFILE"
  pid="$(hbase_master_pid)"
  # SIGTERM runs HBase's shutdown hook: regions are closed (memstores flushed) before exit
  [[ -n "$pid" ]] && stop_pid "hbase master" "$pid" 120
  rm -f "$HB_MASTER_PIDFILE"
  wait_ports_free 60 "${HB_PORTS[@]}"
}

# ================================================================== Kafka
KF="$DATA/kafka"
KF_PIDFILE="$KF/kafka.pid"
KF_MARKER="-Dmysql2hbase.service=kafka@$SERVERS_OF"

kafka_pid() { find_pid "$KF_PIDFILE" "$KF_MARKER"; }

write_kafka_conf() {
  mkdir -p "$KF/conf" "$KF/logs" "$KF/data" "$KF/tmp"
  cat >"$KF/conf/server.properties" <<EOF
# generated by scripts/services.sh; overwritten on every "up"
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093,SSL://127.0.0.1:9094
advertised.listeners=PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9094
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL
listener.name.ssl.ssl.keystore.type=PEM
listener.name.ssl.ssl.keystore.location=$TLS/server-keystore.pem
log.dirs=$KF/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=72
EOF
  cat >"$KF/conf/log4j2.properties" <<EOF
# generated by scripts/services.sh
status = warn
dest = err
name = KafkaLog
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = $KF/logs/server.log
appender.file.filePattern = $KF/logs/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 64MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger = INFO,file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
EOF
}

kafka_java() { # marker heap main args...  -> sets JAVA_CMD
  local marker="$1" heap="$2"; shift 2
  JAVA_CMD=(java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -Djava.awt.headless=true "$marker" \
    -Dlog4j2.configurationFile="file:$KF/conf/log4j2.properties" -Dkafka.logs.dir="$KF/logs" \
    -Djava.io.tmpdir="$KF/tmp" \
    -cp "$(<"$KF/classpath.txt")" "$@")
}

kafka_start() {
  [[ -n "$(kafka_pid)" ]] && return 0
  ensure_java
  resolve_classpath kafka
  listening 9092 && die "port 9092 is in use by a process not started by this script"
  listening 9093 && die "port 9093 is in use by a process not started by this script"
  listening 9094 && die "port 9094 is in use by a process not started by this script"
  ensure_tls
  write_kafka_conf
  if [[ ! -f "$KF/data/meta.properties" ]]; then
    # 22-char base64url uuid; never starting with "-" (it would be read as an option)
    [[ -s "$KF/cluster.id" ]] || "$PY" -c '
import base64, uuid
while True:
    i = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    if i[0].isalnum():
        print(i)
        break' >"$KF/cluster.id"
    log "formatting kafka storage (cluster id $(<"$KF/cluster.id"))"
    kafka_java "-Dmysql2hbase.service=kafka-format@$SERVERS_OF" 256m kafka.tools.StorageTool format \
      -t "$(<"$KF/cluster.id")" -c "$KF/conf/server.properties" --ignore-formatted
    "${JAVA_CMD[@]}" >"$KF/logs/format.log" 2>&1 || fail_with_log "kafka storage format failed" "$KF/logs/format.log"
  fi
  log "starting kafka on 127.0.0.1:9092 (TLS 9094, controller 9093)"
  kafka_java "$KF_MARKER" 512m kafka.Kafka "$KF/conf/server.properties"
  start_bg "$KF_PIDFILE" "$KF/logs/kafka.out" "${JAVA_CMD[@]}"
}

kafka_wait() {
  local timeout="${SERVICES_TIMEOUT_KAFKA:-120}" deadline
  deadline=$((SECONDS + timeout))
  until "$PY" "$ROOT/services/kafka/kafka_check.py" --timeout 5 2>"$KF/logs/check.log"; do
    [[ -n "$(kafka_pid)" ]] || fail_with_log "kafka exited during startup" "$KF/logs/server.log" "$KF/logs/kafka.out"
    ((SECONDS >= deadline)) && fail_with_log "kafka did not answer within ${timeout}s ($(cat "$KF/logs/check.log"))" "$KF/logs/server.log" "$KF/logs/kafka.out"
    sleep 1
  done
  until listening 9094; do
    ((SECONDS >= deadline)) && fail_with_log "kafka's TLS listener 9094 did not open within ${timeout}s" "$KF/logs/server.log"
    sleep 0.5
  done
  log "kafka up: 127.0.0.1:9092, TLS 9094 (pid $(kafka_pid))"
}

kafka_down() {
  local pid
  pid="$(kafka_pid)"
  [[ -n "$pid" ]] && stop_pid kafka "$pid" 60
  rm -f "$KF_PIDFILE"
  wait_ports_free 30 9092 9093 9094
}

# ================================================================== second Thrift gateway
thrift2_start() {
  [[ -n "$(thrift2_pid)" ]] && return 0
  [[ -n "$(hbase_master_pid)" ]] || die "thrift2 needs HBase: scripts/services.sh up hbase first"
  listening 9091 && die "port 9091 is in use by a process not started by this script"
  ensure_java
  resolve_classpath hbase
  local flags
  read -r -a flags <<<"${THRIFT2_FLAGS:-}"
  echo "${THRIFT2_FLAGS:-}" >"$HB/thrift2.flags"
  log "starting a second hbase thrift server on 127.0.0.1:9091 (${THRIFT2_FLAGS:-default options})"
  hbase_java "$HB_THRIFT2_MARKER" thrift2.log 512m -XX:+UseG1GC \
    org.apache.hadoop.hbase.thrift.ThriftServer -p 9091 -b 127.0.0.1 --infoport 9096 \
    ${flags[@]+"${flags[@]}"} start
  start_bg "$HB_THRIFT2_PIDFILE" "$HB/logs/thrift2.out" "${JAVA_CMD[@]}"
}

thrift2_wait() {
  local timeout="${SERVICES_TIMEOUT_HBASE:-300}" deadline
  deadline=$((SECONDS + timeout))
  # The port opens once the server is ready (its transport and protocol are the caller's to
  # speak: thrift_check.py only speaks buffered binary).
  until listening 9091; do
    [[ -n "$(thrift2_pid)" ]] || fail_with_log "thrift2 exited during startup" "$HB/logs/thrift2.log" "$HB/logs/thrift2.out"
    ((SECONDS >= deadline)) && fail_with_log "thrift2 did not open 9091 within ${timeout}s" "$HB/logs/thrift2.log" "$HB/logs/thrift2.out"
    sleep 0.5
  done
  log "thrift2 up: 127.0.0.1:9091 (${THRIFT2_FLAGS:-default options}, pid $(thrift2_pid))"
}

thrift2_down() {
  local pid
  pid="$(thrift2_pid)"
  [[ -n "$pid" ]] && stop_pid "hbase thrift2" "$pid" 30
  rm -f "$HB_THRIFT2_PIDFILE"
  wait_ports_free 30 9091 9096
}

# ================================================================== commands
status_line() {
  local svc="$1" pid state
  case "$svc" in
    mariadb)
      pid="$(mariadb_pid)"
      if [[ -z "$pid" ]]; then state=stopped
      elif listening 3306; then state="running (pid $pid)"
      else state="starting (pid $pid, port not open)"; fi
      printf '%-8s %-34s 127.0.0.1:3306\n' mariadb "$state" ;;
    hbase)
      local m t
      m="$(hbase_master_pid)"; t="$(hbase_thrift_pid)"
      if [[ -z "$m" && -z "$t" ]]; then state=stopped
      elif [[ -n "$m" && -n "$t" ]] && listening 9090; then state="running (pids $m,$t)"
      else state="partial (master ${m:-down}, thrift ${t:-down})"; fi
      printf '%-8s %-34s 127.0.0.1:9090 (thrift), zookeeper 2181, master 16000/16010\n' hbase "$state" ;;
    kafka)
      pid="$(kafka_pid)"
      if [[ -z "$pid" ]]; then state=stopped
      elif listening 9092; then state="running (pid $pid)"
      else state="starting (pid $pid, port not open)"; fi
      printf '%-8s %-34s 127.0.0.1:9092 (TLS 9094, controller 9093)\n' kafka "$state" ;;
    mariadb-replica)
      pid="$(replica_pid)"
      if [[ -z "$pid" ]]; then state=stopped
      elif listening 3307; then state="running (pid $pid)"
      else state="starting (pid $pid, port not open)"; fi
      printf '%-8s %-34s 127.0.0.1:3307 (GTID replica of 3306)\n' mariadb-replica "$state" ;;
    thrift2)
      pid="$(thrift2_pid)"
      if [[ -z "$pid" ]]; then state=stopped
      elif listening 9091; then state="running (pid $pid)"
      else state="starting (pid $pid, port not open)"; fi
      printf '%-8s %-34s 127.0.0.1:9091 (thrift, options: %s)\n' thrift2 "$state" "$(cat "$HB/thrift2.flags" 2>/dev/null || true)" ;;
  esac
}

# freeze pause|resume service: SIGSTOP / SIGCONT to the server's process.
freeze() {
  local pid
  case "$2" in
    mariadb) pid="$(mariadb_pid)" ;;
    mariadb-replica) pid="$(replica_pid)" ;;
    hbase) pid="$(hbase_thrift_pid)" ;;
    thrift2) pid="$(thrift2_pid)" ;;
    kafka) pid="$(kafka_pid)" ;;
  esac
  [[ -n "$pid" ]] || die "$2 is not running: nothing to $1"
  if [[ "$1" == pause ]]; then kill -STOP "$pid"; else kill -CONT "$pid"; fi
  log "$1d $2 (pid $pid)"
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

main() {
  [[ $# -ge 1 ]] || usage
  local cmd="$1" svc t0=$SECONDS
  shift
  local svcs=("$@")
  [[ ${#svcs[@]} -gt 0 ]] || svcs=("${ALL_SERVICES[@]}")
  for svc in "${svcs[@]}"; do
    case "$svc" in mariadb | hbase | kafka | mariadb-replica | thrift2) ;; *) echo "unknown service: $svc" >&2; usage ;; esac
  done
  mkdir -p "$DATA"
  case "$cmd" in
    up | down | restart)
      exec 9>"$DATA/.services.lock"
      flock -w 900 9 || die "timed out waiting for another services.sh (lock $DATA/.services.lock)"
      ;;
  esac
  case "$cmd" in up | restart) ensure_python ;; esac
  case "$cmd" in
    up)
      # launch everything first, then wait: the JVMs start in parallel
      for svc in "${svcs[@]}"; do "${svc}_start"; done
      for svc in "${svcs[@]}"; do "${svc}_wait"; done
      log "up (${svcs[*]}) in $((SECONDS - t0))s"
      ;;
    down)
      for svc in "${svcs[@]}"; do "${svc}_down"; done
      ;;
    restart)
      for svc in "${svcs[@]}"; do "${svc}_down"; done
      for svc in "${svcs[@]}"; do "${svc}_start"; done
      for svc in "${svcs[@]}"; do "${svc}_wait"; done
      ;;
    status)
      for svc in "${svcs[@]}"; do status_line "$svc"; done
      ;;
    pause | resume)
      for svc in "${svcs[@]}"; do freeze "$cmd" "$svc"; done
      ;;
    -h | --help | help) usage ;;
    *) echo "unknown command: $cmd" >&2; usage ;;
  esac
}

main "$@"

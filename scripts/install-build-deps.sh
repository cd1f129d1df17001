#!/usr/bin/env bash
# scripts/install-build-deps.sh — installs what building this project's Rust code needs besides a
# Rust toolchain, on Debian/Ubuntu (apt):
#   cmake, make and a C/C++ compiler (g++)   rdkafka-sys builds librdkafka with cmake
#   libcurl4-openssl-dev (curl/curl.h)       librdkafka's sources include curl's headers
#   libssl-dev, pkg-config                   librdkafka with TLS, the openssl crate
#
# Every script that runs cargo (test.sh, demo.sh, bench.sh) calls it first; running it by hand is
# fine too. Idempotent: prints nothing when nothing is missing. Installs as root directly, or
# through sudo when not root; runs `apt-get update` only when the install fails without it.
# The servers (MariaDB, Java, Maven...) are scripts/services.sh's business, not this script's.
#
# It also checks that cargo is on PATH (callers add ~/.cargo/bin) and says how to fix it if not.
# Exit status: 0 when everything is there (already, or now), 1 otherwise (with the reason).
set -euo pipefail

log() { echo "[build-deps] $*" >&2; }
die() { echo "[build-deps] ERROR: $*" >&2; exit 1; }

have() { command -v "$1" >/dev/null 2>&1; }

header() { # path relative to an include dir, e.g. curl/curl.h (multiarch dirs included)
  local f
  for f in /usr/include/"$1" /usr/include/*/"$1" /usr/local/include/"$1"; do
    [[ -f "$f" ]] && return 0
  done
  return 1
}

# The Debian packages providing what is missing, one per missing item.
missing_packages() {
  have cmake || echo cmake
  have make || echo make
  { have cc && have c++; } || echo g++
  have pkg-config || echo pkg-config
  header curl/curl.h || echo libcurl4-openssl-dev
  header openssl/ssl.h || echo libssl-dev
}

# The toolchain itself is not installed here (rustup's business), but its absence is named.
if ! have cargo; then
  cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
  if [[ -x "$cargo_bin/cargo" ]]; then
    die "cargo is in $cargo_bin, which is not in PATH: export PATH=\"$cargo_bin:\$PATH\""
  fi
  die "cargo not found: install a Rust toolchain (https://rustup.rs), then run this again"
fi

mapfile -t missing < <(missing_packages)
((${#missing[@]} == 0)) && exit 0

have apt-get || die "missing ${missing[*]} (Debian package names) and there is no apt-get here: install them with this system's package manager"

as_root=()
if ((EUID != 0)); then
  have sudo || die "missing ${missing[*]}; not root and sudo is not installed: run, as root, apt-get install -y ${missing[*]}"
  as_root=(sudo)
fi
apt() { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 "$@"; }

log "installing ${missing[*]} (apt${as_root[*]:+, through sudo})"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
if ! apt install -y "${missing[@]}" >"$out" 2>&1; then
  # A fresh machine often has no package lists yet: fetch them, then try once more.
  log "apt-get install failed; running apt-get update and trying again"
  if ! { apt update >>"$out" 2>&1 && apt install -y "${missing[@]}" >>"$out" 2>&1; }; then
    tail -n 20 "$out" >&2
    die "could not install ${missing[*]} (apt-get output above)"
  fi
fi

mapfile -t still < <(missing_packages)
((${#still[@]} == 0)) || die "still missing after the install: ${still[*]}"
log "installed ${missing[*]}"

#!/usr/bin/env bash
# Prepares a Debian 12 machine that already has Rust for building, running and testing Akin:
#   - PostgreSQL installed, running, and reachable as postgres@127.0.0.1:5432 without a password;
#   - torch 2.13.0 in a virtualenv under the cache directory, linked into the checkout as
#     `.libtorch` (where .cargo/config.toml points LIBTORCH);
#   - the Fashion-MNIST data set from Debian's `dataset-fashion-mnist`;
#   - with --with-browser: Chromium and the npm packages of the browser test.
#
# Usage: scripts/setup.sh [--with-browser]
# Environment: AKIN_CACHE (default ~/.cache/akin) holds the torch virtualenv outside the
# checkout, so fresh clones reuse it.
#
# Safe to run again: every step checks first and does nothing when its work is already done.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly CACHE="${AKIN_CACHE:-$HOME/.cache/akin}"
readonly TORCH_VERSION="2.13.0"
readonly TORCH_VENV="$CACHE/torch-venv"
readonly PG_PORT=5432
readonly FASHION_MNIST_DIR="/usr/share/datasets/fashion-mnist"

log() { printf 'setup: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# --- apt packages -------------------------------------------------------------------------

APT_UPDATED=false

is_installed() {
  # `dpkg -s` also succeeds for removed packages whose config files remain, so ask for the state.
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == "installed" ]]
}

apt_install() {
  local missing=() package
  for package in "$@"; do
    is_installed "$package" || missing+=("$package")
  done
  ((${#missing[@]} > 0)) || return 0

  if [[ $APT_UPDATED == false ]]; then
    log "apt-get update"
    as_root apt-get update -qq
    APT_UPDATED=true
  fi
  log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
}

# --- PostgreSQL ---------------------------------------------------------------------------

# The newest version directory under $1, e.g. 15 from /etc/postgresql/15; empty when none.
newest_version_in() {
  find "$1" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n 1 || true
}

pg_version() {
  local version
  version="$(newest_version_in /etc/postgresql)"
  if [[ -z $version ]]; then
    # The package is installed but no cluster was created (e.g. create_main_cluster = false).
    version="$(newest_version_in /usr/lib/postgresql)"
    [[ -n $version ]] || die "PostgreSQL is installed but no server version was found"
    log "creating PostgreSQL $version cluster 'main'"
    as_root pg_createcluster "$version" main >/dev/null
  fi
  printf '%s\n' "$version"
}

pg_reachable() {
  PGCONNECT_TIMEOUT=5 psql -w -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc 'SELECT 1' \
    >/dev/null 2>&1
}

wait_for_postgres() {
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && return 0
    sleep 1
  done
  die "PostgreSQL did not accept connections on 127.0.0.1:$PG_PORT within 30 s"
}

# A fresh Debian cluster asks for a scram password on 127.0.0.1. This is a development and CI
# box, so loopback TCP is switched to trust: tests and the demo connect as postgres@127.0.0.1
# without a password. Nothing else is opened: Debian's default listen_addresses is 'localhost'.
trust_loopback() {
  local hba="/etc/postgresql/$1/main/pg_hba.conf"
  local loopback_rule='^(host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+)'
  log "switching 127.0.0.1 to trust authentication in $hba (development machine)"
  as_root sed -i -E "s#${loopback_rule}[a-z0-9-]+#\\1trust#" "$hba"
  grep -Eq "${loopback_rule}trust" "$hba" ||
    die "no 'host all all 127.0.0.1/32' line to switch in $hba; add one with method trust"
  as_root pg_ctlcluster --skip-systemctl-redirect "$1" main reload
}

setup_postgres() {
  apt_install postgresql
  local version
  version="$(pg_version)"

  if ! pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
    log "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_for_postgres
  fi

  if ! pg_reachable; then
    trust_loopback "$version"
    pg_reachable || die "cannot connect as postgres@127.0.0.1:$PG_PORT without a password"
  fi
  # `#[sqlx::test]` keeps its bookkeeping in the database that DATABASE_URL names.
  if ! psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'akin'" | grep -q 1; then
    log "creating database akin"
    createdb -h 127.0.0.1 -p "$PG_PORT" -U postgres akin
  fi
  log "PostgreSQL $version ready on 127.0.0.1:$PG_PORT"
}

# --- libtorch -----------------------------------------------------------------------------

# The probed torch installation: its version and package directory, empty when not importable.
TORCH_FOUND_VERSION=""
TORCH_DIR=""

probe_torch() {
  local probe
  TORCH_FOUND_VERSION=""
  TORCH_DIR=""
  [[ -x "$TORCH_VENV/bin/python" ]] || return 0
  probe="$("$TORCH_VENV/bin/python" -W ignore -c \
    'import os, torch; print(torch.__version__); print(os.path.dirname(torch.__file__))' \
    2>/dev/null)" || return 0
  TORCH_FOUND_VERSION="$(sed -n 1p <<<"$probe")"
  TORCH_DIR="$(sed -n 2p <<<"$probe")"
}

torch_is_complete() {
  # Wheels report a local suffix such as 2.13.0+cu130.
  [[ $TORCH_FOUND_VERSION == "$TORCH_VERSION" || $TORCH_FOUND_VERSION == "$TORCH_VERSION+"* ]] &&
    [[ -f "$TORCH_DIR/lib/libtorch_cpu.so" ]]
}

install_torch() {
  apt_install python3-venv
  mkdir -p "$CACHE"
  if [[ ! -x "$TORCH_VENV/bin/python" ]]; then
    log "creating $TORCH_VENV"
    python3 -m venv --clear "$TORCH_VENV"
  fi
  log "installing torch $TORCH_VERSION into $TORCH_VENV (about 4.7 GB, once)"
  # No pip cache: it would keep a second copy of the multi-gigabyte wheels.
  "$TORCH_VENV/bin/pip" install --no-cache-dir --disable-pip-version-check \
    "torch==$TORCH_VERSION"
  probe_torch
  torch_is_complete || die "torch $TORCH_VERSION still not importable from $TORCH_VENV"
}

link_libtorch() {
  local link="$REPO_ROOT/.libtorch"
  if [[ -e $link && ! -L $link ]]; then
    die "$link exists and is not a symlink; move it away and run again"
  fi
  if [[ "$(readlink "$link" || true)" != "$TORCH_DIR" ]]; then
    ln -sfn "$TORCH_DIR" "$link"
    log "linked .libtorch -> $TORCH_DIR"
  fi
}

# numpy in the same virtualenv lets the tests check that exported .npy files load in numpy.
ensure_numpy() {
  "$TORCH_VENV/bin/python" -c 'import numpy' 2>/dev/null && return 0
  log "installing numpy into $TORCH_VENV"
  "$TORCH_VENV/bin/pip" install --no-cache-dir --disable-pip-version-check numpy
}

setup_torch() {
  probe_torch
  torch_is_complete || install_torch
  ensure_numpy
  link_libtorch
  log "torch $TORCH_VERSION ready"
}

# --- data and browser ---------------------------------------------------------------------

setup_dataset() {
  apt_install dataset-fashion-mnist
  local file
  for file in train-images-idx3 train-labels-idx1 t10k-images-idx3 t10k-labels-idx1; do
    [[ -f "$FASHION_MNIST_DIR/$file-ubyte.gz" ]] || die "missing $FASHION_MNIST_DIR/$file-ubyte.gz"
  done
  log "Fashion-MNIST ready in $FASHION_MNIST_DIR"
}

setup_browser() {
  apt_install chromium chromium-driver
  command -v npm >/dev/null || die "npm not found; install Node.js 20 or later"

  local dir="$REPO_ROOT/tests/browser"
  if [[ ! -f "$dir/package-lock.json" ]]; then
    log "npm install in tests/browser (no lock file yet)"
    (cd "$dir" && npm install --no-audit --no-fund --omit-lockfile-registry-resolved)
  elif [[ ! -d "$dir/node_modules/playwright-core" ||
    "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
    log "npm ci in tests/browser"
    (cd "$dir" && npm ci --no-audit --no-fund)
  fi
  log "browser test dependencies ready ($(/usr/bin/chromium --version 2>/dev/null || true))"
}

# --- main ---------------------------------------------------------------------------------

main() {
  local with_browser=false argument
  for argument in "$@"; do
    case "$argument" in
      --with-browser) with_browser=true ;;
      -h | --help) sed -n '2,14p' "${BASH_SOURCE[0]}"; return 0 ;;
      *) die "unknown argument '$argument' (usage: scripts/setup.sh [--with-browser])" ;;
    esac
  done

  setup_postgres
  setup_dataset
  setup_torch
  if [[ $with_browser == true ]]; then
    setup_browser
  fi
  log "done"
}

main "$@"

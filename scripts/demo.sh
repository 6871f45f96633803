#!/usr/bin/env bash
# Runs an Akin demo on this machine: prepares it (scripts/setup.sh), builds the release binary,
# imports Fashion-MNIST into the project `fashion`, starts the server, starts the first
# active-learning round and prints where to annotate. Ctrl-C stops the server cleanly.
#
# Usage: scripts/demo.sh
# Environment (all optional):
#   AKIN_DEMO_ITEMS   how many Fashion-MNIST images to import (default 5000)
#   AKIN_ADMIN_TOKEN  admin token; otherwise one is generated once into $AKIN_DATA_DIR/admin-token
#   AKIN_BIND, AKIN_DATA_DIR, DATABASE_URL, AKIN_DEVICE, RUST_LOG  passed to the server
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly AKIN="$REPO_ROOT/target/release/akin"
readonly PROJECT="fashion"
readonly START_TIMEOUT_S=60

# Set by start_server; globals because the server must stay a child of this shell.
SERVER_PID=""
SERVER_STDOUT=""
BASE_URL=""

log() { printf 'demo: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Prints the admin token, generating and storing one on first use.
admin_token() {
  if [[ -n ${AKIN_ADMIN_TOKEN:-} ]]; then
    printf '%s\n' "$AKIN_ADMIN_TOKEN"
    return
  fi
  local token_file="$AKIN_DATA_DIR/admin-token"
  if [[ ! -s $token_file ]]; then
    (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$token_file")
    log "generated an admin token in $token_file"
  fi
  cat "$token_file"
}

stop_server() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    log "stopping the server"
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" || true
  fi
  [[ -z $SERVER_STDOUT ]] || rm -f "$SERVER_STDOUT"
}

# Starts `akin serve` in the background and sets BASE_URL once it has bound and answers /healthz.
start_server() {
  SERVER_STDOUT="$(mktemp -t akin-demo-stdout.XXXXXX)"
  "$AKIN" serve >"$SERVER_STDOUT" &
  SERVER_PID=$!

  for _ in $(seq 1 $((START_TIMEOUT_S * 2))); do
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited during start-up (see its log above)"
    BASE_URL="$(sed -n 's|^akin listening on \(http://[^[:space:]]*\).*|\1|p' "$SERVER_STDOUT")"
    if [[ -n $BASE_URL ]] && curl -fsS --max-time 2 "$BASE_URL/healthz" >/dev/null 2>&1; then
      return
    fi
    sleep 0.5
  done
  die "the server was not healthy within ${START_TIMEOUT_S} s"
}

# Starts a training round and prints the URL to follow it; a round already running is fine.
start_round() {
  local base_url=$1 token=$2 response status
  response="$(mktemp -t akin-demo-round.XXXXXX)"
  status="$(curl -sS --max-time 30 -o "$response" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $token" "$base_url/api/v1/projects/$PROJECT/rounds")"

  case "$status" in
    201)
      local id
      id="$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <"$response")"
      printf '%s\n' "$base_url/api/v1/projects/$PROJECT/rounds/$id"
      ;;
    409)
      log "a round is already running for $PROJECT"
      printf '%s\n' "$base_url/api/v1/projects/$PROJECT"
      ;;
    *)
      log "starting a round answered HTTP $status: $(head -c 500 "$response")"
      rm -f "$response"
      return 1
      ;;
  esac
  rm -f "$response"
}

main() {
  cd "$REPO_ROOT"
  bash scripts/setup.sh

  log "building the release binary"
  cargo build --release -p akin

  export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/akin}"
  export AKIN_BIND="${AKIN_BIND:-127.0.0.1:8080}"
  export AKIN_DATA_DIR="${AKIN_DATA_DIR:-$REPO_ROOT/data}"
  # libtorch's OpenMP threads otherwise spin while waiting and slow training down.
  export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
  mkdir -p "$AKIN_DATA_DIR"
  AKIN_ADMIN_TOKEN="$(admin_token)"
  export AKIN_ADMIN_TOKEN

  local items="${AKIN_DEMO_ITEMS:-5000}"
  log "importing $items Fashion-MNIST images into project '$PROJECT'"
  "$AKIN" import fashion-mnist --project "$PROJECT" --limit "$items"

  trap stop_server EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  start_server
  local round_url
  round_url="$(start_round "$BASE_URL" "$AKIN_ADMIN_TOKEN")" || die "could not start a round"

  cat <<EOF

  Annotate:      $BASE_URL/annotate/$PROJECT
  Admin token:   $AKIN_ADMIN_TOKEN
  Round status:  $round_url

  Round 1 trains from scratch first (AKIN_WARMUP_STEPS, about 3.5 minutes on 2 CPU
  cores); the pairs chosen on raw pixels can be answered meanwhile.

  The server runs until you press Ctrl-C.

EOF
  wait "$SERVER_PID"
}

main "$@"

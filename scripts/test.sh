#!/usr/bin/env bash
# Runs every test of Akin: prepares the machine (scripts/setup.sh --with-browser), then the Rust
# tests of the whole workspace (unit, storage against Postgres, end-to-end against the binary),
# then the browser test of the annotator page. Stops at the first failing step.
#
# Usage: scripts/test.sh
# Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/akin) is the Postgres
# server the tests use; each test creates and drops its own databases there.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly BROWSER_TEST_TIMEOUT_S=600

step() { printf '\n==> %s\n' "$*" >&2; }

main() {
  cd "$REPO_ROOT"
  export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/akin}"

  step "setup"
  bash scripts/setup.sh --with-browser

  # In CI the committed Cargo.lock must already be complete.
  local cargo_flags=()
  if [[ ${CI:-} == true ]]; then
    cargo_flags+=(--locked)
  fi

  step "cargo test --workspace"
  cargo test --workspace "${cargo_flags[@]}"

  step "cargo build -p akin (the binary the browser test runs)"
  cargo build -p akin "${cargo_flags[@]}"

  step "browser test"
  export AKIN_BIN="${AKIN_BIN:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/akin}"
  # The test bounds its own waits; this outer limit only guards against a wedged browser.
  timeout --kill-after=30 "$BROWSER_TEST_TIMEOUT_S" node --test tests/browser/

  step "all tests passed"
}

main "$@"

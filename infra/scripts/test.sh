#!/usr/bin/env bash
# The project's one test command: formatting, lints and every test of the workspace.
# It installs what it needs, so it works on a fresh machine with the Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/../.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

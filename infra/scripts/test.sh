#!/usr/bin/env bash
# The project's one test command: formatting, lints, the SAM template, and every test of the
# workspace (moto-backed AWS tests included). It installs what it needs, so it works on a fresh
# machine that has the Rust toolchain and Python 3.
#
# Most of a fresh run is compiling, so the workspace's dependencies are compiled once: clippy
# lints the workspace's own crates as they are compiled for the tests (clippy-driver as cargo's
# workspace wrapper, which is what `cargo clippy` does, with a real build instead of a check
# build), and the Python tools install while cargo works.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
started=$SECONDS
step() { echo "== $* (at $((SECONDS - started)) s)"; }

step "Python tools (.venv: moto, cfn-lint, aws-sam-cli, cargo-lambda), installing in the background"
requirements=infra/scripts/requirements-dev.txt
venv_pid=
if [ ! -x .venv/bin/moto_server ] || ! cmp -s "$requirements" .venv/.installed-requirements; then
  (
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" .venv/.installed-requirements
  ) > .venv-install.log 2>&1 &
  venv_pid=$!
fi
venv_ready() {
  if [ -n "$venv_pid" ]; then
    if ! wait "$venv_pid"; then
      cat .venv-install.log >&2
      echo "the Python tools did not install (above)" >&2
      exit 1
    fi
    venv_pid=
  fi
}
step "Chromium and chromedriver for the browser test (Debian's chromium, chromium-driver), installing in the background when missing"
browser_pid=
if ! command -v chromium > /dev/null || ! command -v chromedriver > /dev/null; then
  if [ "$(id -u)" = 0 ]; then
    as_root=
  elif command -v sudo > /dev/null; then
    as_root="sudo -n"
  else
    echo "the browser test needs Debian's chromium and chromium-driver: install them as root (apt-get install chromium chromium-driver), or run this as root or with sudo" >&2
    exit 1
  fi
  (
    $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver
  ) > .browser-install.log 2>&1 &
  browser_pid=$!
fi
browser_ready() {
  if [ -n "$browser_pid" ]; then
    if ! wait "$browser_pid"; then
      cat .browser-install.log >&2
      echo "chromium and chromium-driver did not install (above)" >&2
      exit 1
    fi
    browser_pid=
  fi
}
# The browser test runs, and fails rather than skips when Chromium is missing.
export REQUIRE_BROWSER=1

export MOTO_SERVER="$root/.venv/bin/moto_server"
export PATH="$root/.venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo-shear: no unused dependency, none that only tests use outside [dev-dependencies]"
# Pinned, built into .tools/ only when missing or another version. 1.6.5 is the last release
# that parses with syn (later ones build rust-analyzer's parser, a longer compile; the newest
# need a newer rustc): about 2 CPU-minutes to build, once per fresh machine.
shear_version=1.6.5
if [ ! -x .tools/bin/cargo-shear ] || ! grep -q "^\"cargo-shear $shear_version " .tools/.crates.toml 2>/dev/null; then
  env -u CARGO_TARGET_DIR cargo install --quiet --locked --force cargo-shear --version "$shear_version" --root .tools
fi
.tools/bin/cargo-shear --locked

step "module structure: no module cycle, no source file over 800 lines (every crate)"
python3 infra/scripts/check-modules.py shared/*/src functions/*/src infra/sandbox/src infra/cli/src tests/src

step "build every target, with clippy on the workspace's crates (warnings are errors)"
# Exported, so that the tests and the smoke test reuse this very build.
if clippy_driver=$(rustup which clippy-driver 2> /dev/null || command -v clippy-driver); then
  export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
  # How cargo-clippy hands its arguments to clippy-driver: `-D warnings`.
  export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
  cargo build --workspace --all-targets --locked
else
  cargo clippy --workspace --all-targets --locked -- -D warnings
  cargo build --workspace --all-targets --locked
fi

step "template: cfn-lint and sam validate --lint"
venv_ready
cfn-lint template.yaml
sam validate --lint --template template.yaml --region eu-central-1

browser_ready
step "tests (one moto server for the suite: each test works in an account of its own in it)"
moto_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$MOTO_SERVER" -H 127.0.0.1 -p "$moto_port" > /dev/null 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2> /dev/null || true' EXIT
for _ in $(seq 300); do
  (echo > "/dev/tcp/127.0.0.1/$moto_port") 2> /dev/null && break
  sleep 0.1
done
export MOTO_ENDPOINT="http://127.0.0.1:$moto_port"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

kill "$moto_pid" 2> /dev/null || true
unset MOTO_ENDPOINT

step "smoke test and runbook drill: the function binaries under cargo lambda watch (SKIP_SMOKE=1 skips)"
if [ "${SKIP_SMOKE:-0}" != 1 ]; then
  ./infra/scripts/smoke.sh
  ./infra/scripts/runbook-drill.sh
  # The cold-start benchmark at a tiny N on the debug binaries, to keep it working (BENCHMARKS.md
  # has the release figures and the command).
  .venv/bin/python infra/scripts/bench-cold-start.py --binaries target/debug --runs 2 > /dev/null
fi
step "passed"

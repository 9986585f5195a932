#!/usr/bin/env bash
# The whole test suite, on a machine that has only the Rust toolchain: checks
# for (and, where it can, installs) what the suite needs, then runs it.
#
# - the wasm32-wasip2 target (a test compiles the Rust example hook);
# - git (the git-source tests build repositories; fetching from a local path
#   runs git-upload-pack; the smart HTTP tests serve them with git http-backend);
# - OpenSSH, client and server (the SSH tests start their own /usr/sbin/sshd on
#   127.0.0.1 and hookbox fetches through ssh);
# - python3 and curl (the compatibility tests run each plain-python3 hook under
#   the real interpreter too; Hoop's curl hooks call the real curl);
# - the pure-Python packages in tests/packages.txt (requests and what it
#   needs), downloaded once from PyPI and checked against their SHA-256: the
#   compatibility tests copy them next to hooks;
# - Chromium and chromedriver (the dashboard is tested in headless Chromium
#   over WebDriver);
# - PostgreSQL's server (the shared spool's tests start throwaway clusters
#   with initdb and pg_ctl, as the postgres user when run as root).
#
# - cargo-deny (installed from crates.io when missing) for the supply-chain
#   checks in deny.toml;
# - rustfmt and clippy (rustup components, added when missing): a whole run
#   checks formatting and clippy's lints before the tests.
#
# Everything else (CPython for WASI, the standard library, wasmtime, gix,
# reqwest) comes from crates.io through cargo. Arguments go to `cargo test`.
#
# Test tiers: the suites that start a system service can be left out where
# it is not installed, naming them in HOOKBOX_TEST_WITHOUT (comma-separated):
# `postgres` (pg_spool::, pg_service::), `chromium` (browser::), `sshd`
# (git_transports::ssh_*). Their packages are then neither checked nor
# installed, and each tier left out is said. `just test-fast` leaves out all
# three; CI leaves out none.
set -euo pipefail
cd "$(dirname "$0")/.."

with_postgres=1 with_chromium=1 with_sshd=1
skips=()
IFS=, read -ra without <<<"${HOOKBOX_TEST_WITHOUT:-}"
for tier in ${without[@]+"${without[@]}"}; do
  tier=${tier//[[:space:]]/}
  case "$tier" in
    "") continue ;;
    postgres) with_postgres=0; skips+=(--skip pg_spool:: --skip pg_service::) ;;
    chromium) with_chromium=0; skips+=(--skip browser::) ;;
    sshd) with_sshd=0; skips+=(--skip git_transports::ssh_) ;;
    *) echo "tests/run.sh: HOOKBOX_TEST_WITHOUT names '$tier', which is no tier: use postgres, chromium or sshd" >&2
       exit 2 ;;
  esac
  echo "tests/run.sh: leaving out the $tier tier (HOOKBOX_TEST_WITHOUT); CI runs it" >&2
done

missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
[ "$with_sshd" -eq 0 ] || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
{ command -v ssh && command -v ssh-keygen; } >/dev/null 2>&1 || missing+=(openssh-client)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ "$with_chromium" -eq 1 ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
fi
[ "$with_postgres" -eq 0 ] || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "tests/run.sh: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "tests/run.sh: installing ${missing[*]} with sudo" >&2
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "tests/run.sh: the test suite needs these packages, which are missing: ${missing[*]}" >&2
    echo "install them with your package manager (Debian: apt-get install ${missing[*]}), then run this again" >&2
    exit 1
  fi
fi
# A cold build and the suite's own files (the compiled runner cache, throwaway
# databases and repositories) take up to 3.9 GiB under target/ as .ci/run builds
# (4.5 GiB with line tables), and the crates cargo fetches about 0.7 GiB more.
# Say so up front, on a cold build, rather than fail half-way with "No space
# left on device".
need_gib=4
target_dir=${CARGO_TARGET_DIR:-target}
mkdir -p "$target_dir"
free_kib=$(df -Pk "$target_dir" | awk 'NR == 2 { print $4 }')
if [ ! -d "$target_dir/debug" ] && [ -n "$free_kib" ] && [ "$free_kib" -lt $((need_gib * 1024 * 1024)) ]; then
  echo "tests/run.sh: only $((free_kib / 1024)) MiB free for $target_dir; a cold build and the tests need about $need_gib GiB" >&2
  echo "free some space (cargo clean in other projects, old temporary files) or point CARGO_TARGET_DIR at a bigger disk, then run this again" >&2
  exit 1
fi

# The test packages, pinned by SHA-256.
bash tests/fetch-packages.sh "$target_dir/test-packages"

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "tests/run.sh: adding the wasm32-wasip2 target" >&2
  rustup target add wasm32-wasip2
fi

# Supply chain (deny.toml): licenses, bans (no OpenSSL, one wasmtime in the
# binary) and sources on every run; advisories where the RustSec database on
# github.com can be fetched.
if ! command -v cargo-deny >/dev/null 2>&1; then
  echo "tests/run.sh: installing cargo-deny from crates.io (a few minutes, once)" >&2
  cargo install cargo-deny --locked --quiet
fi
cargo deny --log-level error check licenses bans sources
if advisories=$(timeout 120 cargo deny --log-level error check advisories 2>&1); then
  echo "tests/run.sh: cargo deny: no advisories" >&2
elif grep -q "failed to fetch advisory database" <<<"$advisories" || [ -z "$advisories" ]; then
  echo "tests/run.sh: advisories not checked: the RustSec database (github.com) cannot be reached from here" >&2
else
  echo "$advisories" >&2
  exit 1
fi

# What the repository says it expects of every change: formatted code and
# no clippy warnings (the lints in Cargo.toml's [workspace.lints] included). Checked
# on a whole run; a run of some tests (arguments given) skips them.
if [ "$#" -eq 0 ]; then
  for component in rustfmt clippy; do
    if ! rustup component list --installed | grep -q "^$component"; then
      echo "tests/run.sh: adding the $component component" >&2
      rustup component add "$component"
    fi
  done
  cargo fmt --all --check || {
    echo "tests/run.sh: the code is not formatted: run cargo fmt" >&2
    exit 1
  }
  cargo clippy --workspace --all-targets --quiet -- -D warnings
  # The spool as a binary built without the shared PostgreSQL spool has it
  # (`--no-default-features`): lint-clean, and a PostgreSQL URL refused.
  cargo clippy -p hookbox-spool --no-default-features --all-targets --quiet -- -D warnings
  cargo test -p hookbox-spool --no-default-features --quiet
fi

# One invocation for every crate (the benchmarks' own unit tests included):
# separate ones would each build hookbox, with its embedded runner, again.
# The tiers left out are skipped by name, after any filter given.
args=("$@")
if [ "${#skips[@]}" -gt 0 ]; then
  [[ " ${args[*]-} " == *" -- "* ]] || args+=(--)
  args+=("${skips[@]}")
fi
exec cargo test --workspace ${args[@]+"${args[@]}"}

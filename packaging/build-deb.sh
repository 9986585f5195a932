#!/usr/bin/env bash
# Builds the Debian package from the release binary: generates the manual
# pages, the shell completions and the list of licences of what the binary
# bundles into target/packaging/, then runs cargo-deb (installed from
# crates.io when missing). Prints the package's path.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked
out=target/packaging
rm -rf "$out"
mkdir -p "$out/man" "$out/completions"
hookbox=./target/release/hookbox
"$hookbox" man "$out/man" >/dev/null
"$hookbox" completions bash >"$out/completions/hookbox.bash"
"$hookbox" completions zsh >"$out/completions/_hookbox"
"$hookbox" completions fish >"$out/completions/hookbox.fish"

# What the binary bundles: every crate it links (normal dependencies, from
# cargo's own metadata) with its licence, and the CPython in the runner.
python_version=$(HOOP_RUNBOOK_HOOK_PAYLOAD='{}' "$hookbox" python -V | awk '{print $2}')
cargo metadata --format-version 1 --locked |
  python3 packaging/licences.py "$python_version" >"$out/THIRD-PARTY-LICENSES"

if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "packaging/build-deb.sh: installing cargo-deb from crates.io (a few minutes, once)" >&2
  cargo install cargo-deb --locked --quiet
fi
cargo deb --no-build --no-strip --output target/debian/ | tail -1

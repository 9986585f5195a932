#!/usr/bin/env bash
# Builds hookbox the way `cargo install` does from a crates-style source
# tarball: `cargo package` makes the tarball from this checkout, the crates it
# locks are fetched (the only network use), and `cargo install --locked
# --offline` builds a release binary from the unpacked tarball alone. The
# binary then runs the shipped example hook. Prints the tarball's size and the
# build time.
#
# The build directory (target/crate-check) is kept, so a second run only
# rebuilds hookbox itself. About 20 min on 2 cores the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(cargo metadata --no-deps --format-version 1 --locked |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["packages"][0]["version"])')
cargo package --locked --no-verify --allow-dirty --quiet
crate="target/package/hookbox-$version.crate"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$crate" -C "$work"
source="$work/hookbox-$version"

cargo fetch --locked --manifest-path "$source/Cargo.toml" --quiet
start=$(date +%s)
CARGO_TARGET_DIR="$PWD/target/crate-check" \
    cargo install --locked --offline --quiet --path "$source" --root "$work/root"
built=$(( $(date +%s) - start ))

output=$(HOOKBOX_CACHE_DIR="$work/cache" "$work/root/bin/hookbox" run \
    "$source/hooks-examples/session-audit/hoop-hooks/session-open.runbook.py" \
    --payload "$source/hooks-examples/payloads/session-open.json")
case "$output" in
    *" opened by "*) ;;
    *) echo "check-crate: the installed binary did not print the example's audit line:" >&2
       echo "$output" >&2
       exit 1 ;;
esac

echo "crate: $crate, $(du -h "$crate" | cut -f1)"
echo "cargo install --locked --offline from it: ${built}s; binary $(du -h "$work/root/bin/hookbox" | cut -f1)"
echo "the installed binary ran the example hook"

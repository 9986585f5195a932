#!/usr/bin/env bash
# Builds hookbox the way `cargo install` does from crates-style source
# tarballs: `cargo package` makes them from this checkout (hookbox and the
# floor crates it is built on, which a registry would serve beside it), the
# crates they lock are fetched (the only network use), and `cargo install
# --locked --offline` builds a release binary from the unpacked tarballs
# alone. The binary then runs the shipped example hook. Prints the tarballs'
# sizes and the build time.
#
# The build directory (target/crate-check) is kept, so a second run only
# rebuilds hookbox itself. About 20 min on 2 cores the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(cargo metadata --no-deps --format-version 1 --locked |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "hookbox"))')
floors=(hookbox-core hookbox-crypto hookbox-intake hookbox-policy hookbox-record hookbox-sandbox hookbox-source hookbox-spool hookbox-runtime hookbox-service hookbox-hooktest)
cargo package --locked --no-verify --allow-dirty --quiet -p hookbox "${floors[@]/#/-p}"
crate="target/package/hookbox-$version.crate"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$crate" -C "$work"
source="$work/hookbox-$version"
# The floors come from their own tarballs, as a registry would serve them:
# a patch in the configuration every cargo under $work reads (the build
# script's `cargo metadata` too).
mkdir -p "$work/.cargo"
echo "[patch.crates-io]" > "$work/.cargo/config.toml"
for floor in "${floors[@]}"; do
    tar -xzf "target/package/$floor-$version.crate" -C "$work"
    echo "$floor = { path = \"$work/$floor-$version\" }" >> "$work/.cargo/config.toml"
done
checkout=$PWD
cd "$work"

# hookbox's lock names the floors as registry crates: point those
# entries, and only those, at the unpacked tarballs.
cargo update --offline --quiet --manifest-path "$source/Cargo.toml" "${floors[@]/#/-p}"
cargo fetch --locked --manifest-path "$source/Cargo.toml" --quiet
start=$(date +%s)
CARGO_TARGET_DIR="$checkout/target/crate-check" \
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

for package in hookbox "${floors[@]}"; do
    crate="$checkout/target/package/$package-$version.crate"
    echo "crate: $package-$version.crate, $(du -h "$crate" | cut -f1)"
done
echo "cargo install --locked --offline from it: ${built}s; binary $(du -h "$work/root/bin/hookbox" | cut -f1)"
echo "the installed binary ran the example hook"

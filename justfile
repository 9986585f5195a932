# Everyday commands. `just --list` shows them.

# Run the shipped example hook on the shipped sample payload.
example:
    cargo run -- run hooks-examples/session-audit/hoop-hooks/session-open.runbook.py --payload hooks-examples/payloads/session-open.json

# The whole test suite (what CI runs), installing what it needs first.
test:
    bash tests/run.sh

# The suite without the tiers that start PostgreSQL, Chromium or sshd (for a
# machine without them; CI runs every tier).
test-fast:
    HOOKBOX_TEST_WITHOUT=postgres,chromium,sshd bash tests/run.sh

# Formatting and lints, as CI expects them.
check:
    cargo fmt --check
    cargo clippy --all-targets -- -D warnings

# Drive the dashboard in headless Chromium and keep its screenshots in docs/.
screenshots:
    HOOKBOX_SCREENSHOTS=docs/screenshots cargo test --test all browser::

# Measure run latency and the git source; rewrites the tables in benches/.
bench:
    cargo build --release --workspace
    ./target/release/hookbox-bench --output benches/run-latency.md
    ./target/release/hookbox-bench --source --launches 10 --output benches/source.md
    ./target/release/hookbox-bench --service --output benches/service.md
    cargo build --release --target wasm32-wasip2 --manifest-path hooks-examples/splunk-hec-rust/hook/Cargo.toml
    bash tests/fetch-packages.sh target/test-packages
    ./target/release/hookbox-bench --hooks --runs 200 --launches 20 --wasm hooks-examples/splunk-hec-rust/hook/target/wasm32-wasip2/release/session-open.wasm --packages target/test-packages --output benches/hooks.md

# Instances on one PostgreSQL spool beside the embedded one; `url` names a
# server whose role may create databases (one is made and dropped per row).
bench-spool url:
    cargo build --release --workspace
    ./target/release/hookbox-bench --service --spool {{url}} --events 1000 --output benches/spool-scaling.md

# Fuzz each parser for `seconds` (default 10 minutes each): the cargo fuzz
# targets in fuzz/ (nightly toolchain, cargo-fuzz) and the Python SDK's curl
# parser (Hypothesis, in a virtualenv under target/). Figures: docs/fuzzing.md.
fuzz seconds="600":
    cargo install cargo-fuzz --locked --quiet
    cd fuzz && for target in $(cargo +nightly fuzz list); do cargo +nightly fuzz run --sanitizer none -O "$target" -- -max_total_time={{seconds}} -timeout=10 -rss_limit_mb=2048; done
    python3 -m venv target/fuzz-venv && target/fuzz-venv/bin/pip install --quiet hypothesis
    target/fuzz-venv/bin/python fuzz/curl_args.py --seconds {{seconds}}

# Build from a crates-style source tarball (`cargo package`) with
# `cargo install --locked --offline`, and run the example with the result.
crate-check:
    bash packaging/check-crate.sh

# Build the Debian package from the release binary (target/debian/*.deb).
package:
    bash packaging/build-deb.sh

# Install the package in a clean Debian root (debootstrap; needs root) and
# check it as an operator would: warm, doctor, a hook through the drop-in,
# removal and purge.
package-test: package
    bash packaging/test-deb.sh

# Try the Containerfile's runtime stage in a clean Debian root (needs root):
# set-up, warm cache, serve as its user, healthcheck.
container-test:
    cargo build --release --locked
    bash packaging/test-container.sh

#!/usr/bin/env bash
# Tries the Containerfile's runtime stage without a container engine: a clean
# Debian root (debootstrap, from Debian's packages) gets the release binary
# as the build stage would give it, runs packaging/container/setup.sh, then
# runs the image's command as its user and asks /healthz as the healthcheck
# does. Needs root; about a minute once the root exists.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${HOOKBOX_TEST_ROOT:-target/container-root}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
fail() { echo "packaging/test-container.sh: FAILED: $*" >&2; exit 1; }

command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }
[ -x target/release/hookbox ] || cargo build --release --locked
rm -rf "$root"
debootstrap --variant=minbase "$suite" "$root" "$mirror" >/dev/null
cp /etc/resolv.conf "$root/etc/resolv.conf"
install -m 0755 target/release/hookbox "$root/usr/bin/hookbox"
cp packaging/config.toml "$root/tmp/config.toml"
cp packaging/container/setup.sh "$root/tmp/setup.sh"
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin sh /tmp/setup.sh

as_image() {
  chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOOKBOX_DATA_DIR=/var/lib/hookbox \
    HOOKBOX_CACHE_DIR=/var/cache/hookbox HOOKBOX_CONFIG=/etc/hookbox/config.toml \
    HOOKBOX_TOKEN=container-test-token-0123456789 setpriv --reuid=hookbox --regid=hookbox --init-groups "$@"
}
warm=$(as_image hookbox warm)
grep -q "runner: ready (compiled earlier)" <<<"$warm" || fail "the image's cache is not warm: $warm"

# The hooks from a folder (an operator passes GIT_URL and the like instead).
mkdir -p "$root/srv/runbooks/hoop-hooks"
log="$root/tmp/serve.log"
as_image hookbox serve --listen 127.0.0.1:0 --hooks-dir /srv/runbooks >"$log" 2>&1 &
serving=$!
trap 'kill $serving 2>/dev/null || true' EXIT
address=
for _ in $(seq 1 200); do
  address=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1 || true)
  [ -n "$address" ] && break
  kill -0 $serving 2>/dev/null || fail "serve ended: $(cat "$log")"
  sleep 0.1
done
[ -n "$address" ] || fail "serve did not listen within 20 s: $(cat "$log")"
as_image curl -fsS "$address/healthz" >/dev/null || fail "the healthcheck failed"
as_image test -d /var/lib/hookbox || fail "no data folder"
echo "packaging/test-container.sh: the image's stage sets up, warms, serves as its user and passes its healthcheck"

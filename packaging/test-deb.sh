#!/usr/bin/env bash
# Installs the package built by packaging/build-deb.sh into a clean Debian
# root made with debootstrap (from Debian's packages), and checks it there
# as an operator would: the binary and the drop-in link, a warm shared
# cache, `hookbox doctor` (what holds and what a bare root skips), a hook
# through the drop-in as an unprivileged agent user, the unit's
# security score; then removal keeps the configuration and purge drops it.
# Needs root (debootstrap, chroot); about 5 minutes and 400 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(ls -t target/debian/hookbox_*.deb | head -1)
root=${HOOKBOX_TEST_ROOT:-target/debian-root}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }
if [ ! -x "$root/usr/bin/apt-get" ]; then
  rm -rf "$root"
  debootstrap --variant=minbase --include=adduser,python3 "$suite" "$root" "$mirror" >/dev/null
fi
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
fail() { echo "packaging/test-deb.sh: FAILED: $*" >&2; exit 1; }

cp "$deb" "$root/tmp/hookbox.deb"
# A root left by an earlier run starts over.
in_root dpkg -P hookbox >/dev/null 2>&1 || true
in_root dpkg -i /tmp/hookbox.deb >/dev/null
in_root test -x /usr/bin/hookbox || fail "no /usr/bin/hookbox"
[ "$(in_root readlink /usr/lib/hookbox/bin/python3)" = /usr/bin/hookbox ] || fail "no drop-in link"
in_root test -f /etc/hookbox/config.toml || fail "no configuration"
in_root getent passwd hookbox >/dev/null || fail "no hookbox user"

# The shared cache was warmed by the package: a run is fast from the start.
warm=$(in_root env HOOKBOX_CACHE_DIR=/var/cache/hookbox hookbox warm)
echo "$warm" >&2
grep -q "runner: ready (compiled earlier)" <<<"$warm" || fail "the cache was not warm after install"
[ "$(in_root stat -c %U:%a /var/cache/hookbox)" = root:755 ] || fail "the shared cache is not root's, 0755"

# doctor in the bare root: configuration and cache hold; no repository, no service.
report=$(in_root env HOOKBOX_CACHE_DIR=/var/cache/hookbox hookbox doctor --config /etc/hookbox/config.toml || true)
echo "$report" >&2
grep -q "✓ configuration" <<<"$report" || fail "doctor: configuration"
grep -q "✓ cache" <<<"$report" || fail "doctor: cache"
grep -q -- "- runbooks repository: no repository configured" <<<"$report" || fail "doctor: repository"

# A hook through the drop-in, as an unprivileged agent user with the
# shared, read-only cache, as Hoop's agent runs it.
in_root adduser --system --quiet --home /nonexistent --no-create-home agent
cat >"$root/tmp/hook.py" <<'HOOK'
import json, os
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
print("session", event["sid"], "opened by", event["event_session_open"]["user_email"])
HOOK
payload=$(cat hooks-examples/payloads/session-open.json)
output=$(chroot "$root" /usr/bin/env -i PATH=/usr/lib/hookbox/bin:/usr/bin:/bin HOME=/tmp \
  HOOKBOX_CACHE_DIR=/var/cache/hookbox HOOP_RUNBOOK_HOOK_PAYLOAD="$payload" \
  su -s /bin/sh agent -c 'python3 /tmp/hook.py' 2>&1) || fail "the example through the drop-in: $output"
echo "$output" >&2
grep -q "session 8c59a347-62bd-4db2-a456-2b25963dfebf opened by" <<<"$output" || fail "the hook printed something else"

if command -v systemd-analyze >/dev/null; then
  systemd-analyze security --offline=true "$root/lib/systemd/system/hookbox.service" | tail -1
fi

# Removal keeps the configuration and the spool; purge drops them.
in_root mkdir -p /var/lib/hookbox/keep
in_root dpkg -r hookbox >/dev/null
in_root test -f /etc/hookbox/config.toml || fail "remove dropped the configuration"
in_root test -d /var/lib/hookbox/keep || fail "remove dropped the spool"
in_root dpkg -P hookbox >/dev/null
in_root test ! -e /etc/hookbox/config.toml || fail "purge kept the configuration"
in_root test ! -e /var/lib/hookbox || fail "purge kept the spool"
echo "packaging/test-deb.sh: the package installs, warms, passes doctor, runs a hook through the drop-in, and removes cleanly"

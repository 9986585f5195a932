#!/bin/sh
# The runtime stage of the Containerfile, as one script (so it can be tried
# outside a container engine too: packaging/test-container.sh): a system
# user, the data volume's folder, a deny-all configuration and a cache warmed
# at build time, the service user's (it compiles hook folders there too).
# Expects /usr/bin/hookbox in place.
set -eu
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates curl >/dev/null
rm -rf /var/lib/apt/lists/*
useradd --system --home-dir /var/lib/hookbox --shell /usr/sbin/nologin hookbox
install -d -o hookbox -g hookbox -m 0700 /var/lib/hookbox
install -d -m 0755 /etc/hookbox /var/cache/hookbox
[ -f /etc/hookbox/config.toml ] || install -m 0644 /tmp/config.toml /etc/hookbox/config.toml
HOOKBOX_CACHE_DIR=/var/cache/hookbox hookbox warm --config /etc/hookbox/config.toml
chown -R hookbox:hookbox /var/cache/hookbox

#!/usr/bin/env bash
# Downloads the pure-Python wheels tests/packages.txt pins into the folder
# given (default target/test-packages), once, each checked against its
# SHA-256. The compatibility tests and `just bench` copy them next to hooks.
set -euo pipefail
cd "$(dirname "$0")/.."
packages_dir=${1:-target/test-packages}
mkdir -p "$packages_dir"
while read -r file sha256 url; do
  case "$file" in ''|'#'*) continue ;; esac
  if ! echo "$sha256  $packages_dir/$file" | sha256sum --check --status 2>/dev/null; then
    echo "tests/fetch-packages.sh: downloading the test package $file" >&2
    curl --fail --silent --show-error --location --retry 3 --output "$packages_dir/$file.partial" "$url" || {
      echo "tests/fetch-packages.sh: cannot download $url (the compatibility tests need it; is PyPI reachable?)" >&2
      exit 1
    }
    echo "$sha256  $packages_dir/$file.partial" | sha256sum --check --status || {
      echo "tests/fetch-packages.sh: $file does not have the SHA-256 tests/packages.txt pins; refusing it" >&2
      rm -f "$packages_dir/$file.partial"
      exit 1
    }
    mv "$packages_dir/$file.partial" "$packages_dir/$file"
  fi
done < tests/packages.txt

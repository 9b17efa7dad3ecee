#!/usr/bin/env bash
# System packages the full test suite uses, from Debian: the PostgreSQL server (its backend test
# starts a throw-away cluster on 127.0.0.1), Chromium (the browser tests drive it headless
# through Playwright), the Noto fonts the PDFs print every script with (the product finds them
# at run time) and ExifTool (the XMP face-region tests read the files with it, as an independent reader). Needs root; without them those tests are skipped with the reason.
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -e /usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf ] || missing+=(fonts-noto-core)
ls /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.tt* >/dev/null 2>&1 || missing+=(fonts-noto-cjk)
command -v exiftool >/dev/null 2>&1 || missing+=(libimage-exiftool-perl)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "install-test-services: not root or no apt-get; tests needing ${missing[*]} will be skipped" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || echo "install-test-services: could not install ${missing[*]}; those tests will be skipped" >&2

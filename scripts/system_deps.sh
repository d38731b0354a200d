#!/usr/bin/env bash
# Makes sure the Debian packages named as arguments are present:
#   libusb-1.0-0  the shared library Open3D loads at import (make setup);
#   npm           fetches MathJax from the npm registry so the book renders math offline
#                 (any npm on the PATH will do) (make setup);
#   chromium      the headless browser of the book check, tests/test_browser.py (make browser).
# Installs what is missing when run as root; otherwise says what to install and stops.
set -euo pipefail
missing=()
for p in "$@"; do
  if [ "$p" = npm ]; then
    command -v npm >/dev/null || missing+=(npm)
  else
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian packages: ${missing[*]}"
  # another apt (a second checkout's make setup, unattended upgrades) may hold dpkg's lock: wait for it
  wait_lock=(-o DPkg::Lock::Timeout=600)
  DEBIAN_FRONTEND=noninteractive apt-get "${wait_lock[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive apt-get "${wait_lock[@]}" install -y -qq "${missing[@]}" >/dev/null
else
  echo "Missing system packages: ${missing[*]}" >&2
  echo "Install them first, e.g.: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi

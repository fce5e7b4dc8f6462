#!/usr/bin/env bash
# Installs Debian's chromium (the headless browser of the TensorBoard projector test) if missing.
# Needs root, as CI has; nothing but the Debian package is downloaded.
set -euo pipefail
command -v chromium >/dev/null && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "warning: chromium is missing and installing it needs root: sudo $0" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null

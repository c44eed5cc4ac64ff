#!/usr/bin/env bash
# What `npm test` needs beyond node_modules, installed when missing (runs as npm's pretest):
# nats-server (integration tests start their own), chromium (browser tests) and openssl (the NATS
# TLS test makes its own CA). On Debian/Ubuntu they are installed with apt-get (as root, or with
# sudo); elsewhere this says what to install and stops.
set -euo pipefail

missing=()
if [ -z "${NATS_SERVER_BIN:-}" ] && ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  missing+=(nats-server)
fi
if [ -z "${CHROMIUM_PATH:-}" ] && [ ! -x /usr/lib/chromium/chromium ] && ! command -v chromium >/dev/null 2>&1; then
  missing+=(chromium)
fi
if ! command -v openssl >/dev/null 2>&1; then missing+=(openssl); fi
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "npm test needs: ${missing[*]}. Install them (or set NATS_SERVER_BIN / CHROMIUM_PATH), then run npm test again." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing the test prerequisites: ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# What `npm test` needs beyond node_modules, installed when missing (runs as npm's pretest):
# nats-server (integration tests start their own), nginx (the load-balancer tests run their own,
# with deploy/nginx.conf), chromium (browser tests), openssl (the NATS TLS test makes its own CA),
# and python3 with Debian's python3-websockets (the Python example
# client's test, which looks in $PYTHON3, /usr/bin/python3, then python3 on PATH: a pyenv or
# virtualenv python3 first on PATH does not see Debian's packages). On Debian/Ubuntu they are
# installed with apt-get (as root, or with sudo); elsewhere this says what to install and stops.
set -euo pipefail

missing=()
if [ -z "${NATS_SERVER_BIN:-}" ] && ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  missing+=(nats-server)
fi
if [ ! -x "${NGINX_BIN:-/usr/sbin/nginx}" ]; then
  missing+=(nginx)
fi
if [ -z "${CHROMIUM_PATH:-}" ] && [ ! -x /usr/lib/chromium/chromium ] && ! command -v chromium >/dev/null 2>&1; then
  missing+=(chromium)
fi
if ! command -v openssl >/dev/null 2>&1; then missing+=(openssl); fi
has_python_websockets() {
  local python
  for python in "${PYTHON3:-}" /usr/bin/python3 python3; do
    [ -n "$python" ] && "$python" -c 'import websockets' >/dev/null 2>&1 && return 0
  done
  return 1
}
if ! has_python_websockets; then missing+=(python3 python3-websockets); fi
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "npm test needs: ${missing[*]}. Install them (or set NATS_SERVER_BIN / NGINX_BIN / CHROMIUM_PATH / PYTHON3), then run npm test again." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing the test prerequisites: ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
# The tests start their own nats-server and nginx (foreground, own ports, pid and log files):
# nothing here should run as a system service. Where no policy-rc.d says so already (a container
# image usually has one), one is in place for the install, so nginx's postinst does not start the
# system nginx on port 80 (without systemd, invoke-rc.d would run its init script).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  trap '$sudo rm -f "$policy"' EXIT
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# The Python client needs msgpack. Installs Debian's python3-msgpack when no python3 on this
# machine can import it (tests look for it in `python3`, then /usr/bin/python3).
set -u
for py in python3 /usr/bin/python3; do
  if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import msgpack' >/dev/null 2>&1; then exit 0; fi
done
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  echo "Installing python3-msgpack for the Python client..." >&2
  $SUDO apt-get install -y -qq python3-msgpack >/dev/null 2>&1 || {
    $SUDO apt-get update -qq >/dev/null 2>&1 && $SUDO apt-get install -y -qq python3-msgpack >/dev/null 2>&1
  } || echo "warning: could not install python3-msgpack; the Python client tests will fail" >&2
else
  echo "warning: no python3 with msgpack and no apt-get; install msgpack for Python (pip install msgpack)" >&2
fi
exit 0

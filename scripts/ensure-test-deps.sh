#!/usr/bin/env bash
# What the test suite needs beyond npm, installed from Debian's packages where missing:
# - msgpack for the Python client (tests look in `python3`, then /usr/bin/python3);
# - a TrueType font (DejaVu), with which the OCR tests render their images.
set -u
missing=()
have_msgpack=0
for py in python3 /usr/bin/python3; do
  if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import msgpack' >/dev/null 2>&1; then have_msgpack=1; break; fi
done
[ "$have_msgpack" = 1 ] || missing+=(python3-msgpack)
if ! { command -v fc-list >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi dejavu; }; then missing+=(fonts-dejavu-core fontconfig); fi
[ ${#missing[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  echo "Installing ${missing[*]} for the tests..." >&2
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
    $SUDO apt-get update -qq >/dev/null 2>&1 && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1
  } || echo "warning: could not install ${missing[*]}; the Python client or OCR tests will fail" >&2
else
  echo "warning: missing ${missing[*]} and no apt-get to install them" >&2
fi
exit 0

#!/usr/bin/env bash
# What the test suite needs beyond npm, installed from Debian's packages where missing:
# - msgpack for the Python client (tests look in `python3`, then /usr/bin/python3);
# - a TrueType font (DejaVu), with which the OCR tests render their images;
# - libvulkan1: the WebGPU tests run ONNX Runtime's WebGPU provider on chromium's SwiftShader;
# - Debian's chromium, which the browser-page test drives through playwright-core (no browser
#   download: playwright-core launches this binary).
# - Debian's audio encoders (lame, flac, oggenc from vorbis-tools, opusenc from opus-tools): the
#   audio decoding tests encode their MP3, FLAC, Ogg Vorbis and Opus fixtures at test time.
set -u
missing=()
have_msgpack=0
for py in python3 /usr/bin/python3; do
  if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import msgpack' >/dev/null 2>&1; then have_msgpack=1; break; fi
done
[ "$have_msgpack" = 1 ] || missing+=(python3-msgpack)
if ! { command -v fc-list >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi dejavu; }; then missing+=(fonts-dejavu-core fontconfig); fi
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then missing+=(chromium); fi
# The Vulkan loader, with which ONNX Runtime's WebGPU provider runs on chromium's SwiftShader.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then missing+=(libvulkan1); fi
for pair in lame:lame flac:flac oggenc:vorbis-tools opusenc:opus-tools; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  echo "Installing ${missing[*]} for the tests..." >&2
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
    $SUDO apt-get update -qq >/dev/null 2>&1 && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1
  } || echo "warning: could not install ${missing[*]}; the Python client, OCR, browser or audio tests will fail" >&2
else
  echo "warning: missing ${missing[*]} and no apt-get to install them" >&2
fi
exit 0

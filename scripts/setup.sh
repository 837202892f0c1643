#!/usr/bin/env bash
# Installs the Debian packages symflow needs, when any is missing. Safe to run again.
set -euo pipefail
packages=(cmake g++ libeigen3-dev catch2 libbenchmark-dev libcli11-dev gnuplot-nox zlib1g-dev
          dataset-fashion-mnist libomp-dev clang-14 libclang-rt-14-dev libopenmpi-dev openmpi-bin
          lld nlohmann-json3-dev pybind11-dev python3-dev python3-numpy python3-pytest)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "symflow setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

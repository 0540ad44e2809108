#!/usr/bin/env bash
# Installs everything tinyodlc needs on Debian 12 (bookworm), non-interactively.
# Run as root (or with sudo). Safe to run again.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
echo "setup-debian: apt-get update ..."
$SUDO apt-get update -qq
echo "setup-debian: installing the build, test and cross toolchain packages (first time: about 600 MB," \
     "several minutes; quiet while apt works) ..."
$SUDO apt-get install -y -qq --no-install-recommends \
  g++ make cmake ninja-build pkg-config \
  libonnx-dev libprotobuf-dev protobuf-compiler libfmt-dev libcli11-dev \
  libgtest-dev catch2 llvm-14 llvm-14-tools clang-14 \
  python3 python3-onnx python3-numpy python3-torch \
  gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm \
  > /dev/null
echo "setup-debian: done"

#!/usr/bin/env bash
# install-deps.sh: installs every Debian package Foundry's build, tests,
# demo and benchmark need. Skips what is already installed and runs
# `apt-get update` only when something is missing. Run it as root (or with
# sudo available); it never asks questions. Arguments name extra packages
# to install the same way.
set -euo pipefail

# Build: compiler, meson/ninja, the stack fixed by DESIGN.md.
# Tests: cmocka, g++ (the public header is compiled as C++), binutils (nm -D
# checks the exported symbols), lmdb-utils (mdb_stat/mdb_dump for debugging a
# store), libc6-dev (headers), procps (ps/pgrep in the scripts' diagnostics).
# Metrics: libmicrohttpd-dev (the broker's and agent's HTTP endpoint), curl
# (scrapes in tests and docs), chromium and chromium-driver (the dashboard
# test loads the page in headless Chromium).
packages=(
    gcc g++ libc6-dev binutils pkg-config meson ninja-build
    libzmq3-dev libczmq-dev libprotobuf-c-dev protobuf-c-compiler
    libsodium-dev liblmdb-dev libcmocka-dev lmdb-utils procps
    # The Python binding's tests (pytest, against a real broker) and an
    # offline `pip install --no-build-isolation ./python` (setuptools, wheel).
    python3 python3-pytest python3-setuptools python3-wheel python3-pip
    # foundryctl's terminal prompts are tested on a pseudo-terminal (script).
    bsdutils
    libmicrohttpd-dev curl chromium chromium-driver
)
# deploy/demo.sh: jq reads foundryctl --json for its live view and checks.
packages+=(jq)
# Extra packages a caller needs on top (tests/fuzz/run: clang and its
# libFuzzer runtime).
packages+=("$@")

say() { printf 'install-deps: %s\n' "$*"; }

is_installed() {
    local status
    status=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)
    [ "$status" = "installed" ]
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    say "dpkg-query not found: this script supports Debian (12) and its derivatives only" >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    if is_installed "$p"; then
        continue
    fi
    missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
    say "all ${#packages[@]} packages already installed"
    exit 0
fi

say "missing: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo_cmd=(sudo -n)
    else
        say "not root and no sudo: install these packages as root: ${missing[*]}" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
say "running apt-get update"
"${sudo_cmd[@]}" apt-get update -q
say "running apt-get install ${missing[*]}"
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null

for p in "${missing[@]}"; do
    if ! is_installed "$p"; then
        say "package $p is still not installed" >&2
        exit 1
    fi
done
say "installed ${#missing[@]} package(s)"

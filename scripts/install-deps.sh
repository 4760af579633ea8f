#!/bin/sh
# install-deps.sh - installs what building and testing ggembed needs on
# Debian or Ubuntu: a C compiler, CMake, clang (libFuzzer and the clang
# build), clang-format 14 (scripts/format.sh), mingw-w64 and
# wine (the Windows build and its tests), the Unicode Character Database
# (to regenerate the tokenizer tables) and Node.js. Does nothing for
# packages already present; needs root (or sudo) only when it installs.
set -eu

need=""
have() { command -v "$1" >/dev/null 2>&1; }
have cc || need="$need build-essential"
# the C library's headers: the code search tests chunk a sample of /usr/include
[ -f /usr/include/stdio.h ] || need="$need libc6-dev"
have cmake || need="$need cmake"
have clang || need="$need clang"
have clang-format-14 || need="$need clang-format"
have x86_64-w64-mingw32-gcc || need="$need gcc-mingw-w64-x86-64"
have wine64 || [ -x /usr/lib/wine/wine64 ] || need="$need wine64"
[ -f /usr/share/unicode/UnicodeData.txt ] || need="$need unicode-data"
have node || need="$need nodejs npm"
have python3 || need="$need python3"
have pgrep || need="$need procps"

[ -n "$need" ] || exit 0
echo "install-deps.sh: installing$need"
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $need >/dev/null

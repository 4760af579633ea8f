#!/bin/sh
# test-windows.sh - cross-builds ggembed for 64-bit Windows with mingw-w64
# and runs the test suite under wine.
#
#   scripts/test-windows.sh [ctest arguments...]     e.g. -R platform
#
# The build goes to build-win/ (BUILD_DIR overrides it). Wine gets a private
# prefix inside the build directory, so the script works on a fresh machine,
# as root, without a display, and never touches ~/.wine.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-"$root/build-win"}
jobs=${JOBS:-2}

export WINEPREFIX="$build/wineprefix"
export WINEDEBUG=-all
# No display: keep wine from trying to open X windows or dialogs, and skip
# installing Mono and Gecko, which a console test program never needs.
unset DISPLAY WAYLAND_DISPLAY
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"

wine_loader=$(command -v wine64 || true)
[ -n "$wine_loader" ] || [ ! -x /usr/lib/wine/wine64 ] || wine_loader=/usr/lib/wine/wine64
[ -n "$wine_loader" ] || wine_loader=$(command -v wine || true)
if [ -z "$wine_loader" ]; then
    echo "test-windows.sh: wine is not installed" >&2
    exit 1
fi
wineserver=$(command -v wineserver || true)
[ -n "$wineserver" ] || [ ! -x /usr/lib/wine/wineserver ] || wineserver=/usr/lib/wine/wineserver

cmake -S "$root" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64-x86_64.cmake" \
    -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}"
cmake --build "$build" -j"$jobs"

# Creating the prefix takes a while the first time; do it once, quietly,
# before the tests run so no test pays for it (or times out on it).
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    mkdir -p "$WINEPREFIX"
    echo "test-windows.sh: creating the wine prefix in $WINEPREFIX"
    "$wine_loader" wineboot --init >/dev/null 2>&1 || true
    [ -z "$wineserver" ] || "$wineserver" -w
fi

status=0
ctest --test-dir "$build" --output-on-failure "$@" || status=$?
# Leave no wineserver behind once the tests are over.
[ -z "$wineserver" ] || "$wineserver" -k >/dev/null 2>&1 || true
exit $status

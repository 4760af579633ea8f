#!/bin/sh
# pack.sh - builds and packs every npm package into OUTDIR as .tgz files:
#   ggembed-VERSION.tgz             the library (dist/ from TypeScript, the C
#                                   sources in csrc/ for the from-source build)
#   ggembed-linux-x64-VERSION.tgz   the prebuilt binary, on a glibc x86-64 Linux
#   ggembed-win32-x64-VERSION.tgz   cross-built with mingw-w64, when it is installed
#
#   scripts/pack.sh OUTDIR
#   LINUX_BUILD_DIR=build WIN_BUILD_DIR=build-win scripts/pack.sh OUTDIR
#       take the binaries from these existing Release builds (CI's own)
#
# The binaries are built with the project's CMake files in build-pack-*/
# (Release, no tests, stripped) and checked: portable code generation (only
# the SIMD kernel files get -m flags; the level is chosen at run time), and
# for Windows no DLL beyond the system's. Prints each package's packed and
# unpacked size.
set -eu

[ $# -eq 1 ] || { echo "usage: scripts/pack.sh OUTDIR" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
jobs=${JOBS:-2}
node_dir="$root/node"
version=$(node -p "require(process.argv[1]).version" "$node_dir/package.json")

# Every platform package has the library's version, and the library lists it
# at that version: a mismatch would install a binary the library refuses.
for dir in "$node_dir"/platforms/*/; do
    node -e '
        const [lib, plat] = process.argv.slice(1).map((p) => require(p));
        const want = lib.optionalDependencies?.[plat.name];
        if (plat.version !== lib.version || want !== lib.version) {
            console.error(`pack.sh: ${plat.name} is ${plat.version} and ggembed lists it at ${want}; both must be ${lib.version}`);
            process.exit(1);
        }' "$node_dir/package.json" "${dir}package.json"
done

# Only the SIMD kernel files may carry -m flags (their level is picked at run
# time); anything else (-march=native, -mavx2 on the whole build) would make a
# binary that dies with SIGILL on older CPUs.
check_portable() { # build dir
    node -e '
        const cmds = require(process.argv[1]);
        const bad = cmds.filter((c) => !/_avx(2|512)\.c$/.test(c.file) && /\s-m(arch|tune|cpu|avx|sse[34]|fma|f16c|bmi)/.test(c.command));
        if (bad.length) { console.error("pack.sh: non-portable flags in", bad.map((c) => c.file).join(", ")); process.exit(1); }
        if (!cmds.length) { console.error("pack.sh: no compile commands in", process.argv[1]); process.exit(1); }
    ' "$1/compile_commands.json"
}

build_binary() { # build dir, cmake args...
    dir=$1; shift
    if [ -f "$dir/CMakeCache.txt" ] && ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$dir/CMakeCache.txt"; then
        echo "pack.sh: $dir is not a Release build" >&2; exit 1
    fi
    [ -f "$dir/CMakeCache.txt" ] ||
        cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DGGEMBED_TESTS=OFF -DGGEMBED_BENCH=OFF "$@" >/dev/null
    cmake --build "$dir" -j"$jobs" --target ggembed >/dev/null
    check_portable "$dir"
}

platforms=""

# ---- linux-x64 (glibc)
if [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] && ldd --version 2>&1 | grep -qi 'glibc\|gnu libc'; then
    linux_build=${LINUX_BUILD_DIR:-"$root/build-pack-linux"}
    build_binary "$linux_build"
    pkg="$node_dir/platforms/linux-x64"
    rm -rf "$pkg/bin"; mkdir -p "$pkg/bin"
    strip -o "$pkg/bin/ggembed" "$linux_build/ggembed"
    "$pkg/bin/ggembed" --help >/dev/null
    glibc=$(objdump -T "$pkg/bin/ggembed" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
    echo "pack.sh: linux-x64 needs $glibc; libraries: $(objdump -p "$pkg/bin/ggembed" | awk '/NEEDED/ {printf "%s ", $2}')"
    platforms="$platforms linux-x64"
else
    echo "pack.sh: not a glibc x86-64 Linux: no linux-x64 package"
fi

# ---- win32-x64 (mingw-w64, static)
if command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
    win_build=${WIN_BUILD_DIR:-"$root/build-pack-win"}
    build_binary "$win_build" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64-x86_64.cmake"
    pkg="$node_dir/platforms/win32-x64"
    rm -rf "$pkg/bin"; mkdir -p "$pkg/bin"
    x86_64-w64-mingw32-strip -o "$pkg/bin/ggembed.exe" "$win_build/ggembed.exe"
    dlls=$(x86_64-w64-mingw32-objdump -p "$pkg/bin/ggembed.exe" | awk '/DLL Name:/ {print $3}' | sort -u | tr '\n' ' ')
    for dll in $dlls; do
        case $(echo "$dll" | tr 'A-Z' 'a-z') in
            kernel32.dll | advapi32.dll | ws2_32.dll | psapi.dll | msvcrt.dll | user32.dll | ucrtbase.dll | api-ms-win-*) ;;
            *) echo "pack.sh: ggembed.exe needs $dll, which Windows does not ship" >&2; exit 1 ;;
        esac
    done
    echo "pack.sh: win32-x64 DLLs: $dlls"
    platforms="$platforms win32-x64"
else
    echo "pack.sh: no mingw-w64 (x86_64-w64-mingw32-gcc): no win32-x64 package"
fi

# ---- the library: built TypeScript, the C sources for the from-source build
cd "$node_dir"
[ -d node_modules/typescript ] || npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
rm -rf csrc native
mkdir csrc
cp -R "$root/CMakeLists.txt" "$root/include" "$root/src" csrc/
trap 'rm -rf "$node_dir/csrc"' EXIT

pack() { # folder: packs it into $out and prints name, packed and unpacked size
    (cd "$1" && npm pack --json --pack-destination "$out" 2>/dev/null) | node -e '
        let s = ""; process.stdin.on("data", (d) => s += d).on("end", () => {
            const [p] = JSON.parse(s);
            const kb = (n) => (n / 1024).toFixed(0).padStart(6) + " KiB";
            console.log(`${p.filename.padEnd(34)} packed ${kb(p.size)}   unpacked ${kb(p.unpackedSize)}   ${p.entryCount} files`);
        });'
}

echo "pack.sh: packages in $out"
pack "$node_dir"
for p in $platforms; do pack "$node_dir/platforms/$p"; done

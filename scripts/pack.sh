#!/bin/sh
# pack.sh - builds and packs every npm package into OUTDIR as .tgz files:
#   ggembed-VERSION.tgz             the library (dist/ from TypeScript, the C
#                                   sources in csrc/ for the from-source build,
#                                   every platform package as an optional
#                                   dependency), staged in build-pack/ggembed
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
abspath() { case $1 in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }
version=$(node -p "require(process.argv[1]).version" "$node_dir/package.json")

# Every platform package has the library's version, and the library's
# binary.ts knows exactly the platforms that have a folder in node/platforms/.
# The packed library lists them all as optional dependencies at its version
# (written in when staging it below: node/package.json has no such field, so
# that `npm ci` in the checkout does not look for unpublished packages).
check_platforms() {
    node --input-type=module -e '
        import { readFileSync, readdirSync } from "node:fs";
        const [nodeDir] = process.argv.slice(1);
        const lib = JSON.parse(readFileSync(`${nodeDir}/package.json`, "utf8"));
        const { PLATFORM_PACKAGES } = await import(`${nodeDir}/dist/src/binary.js`);
        const folders = readdirSync(`${nodeDir}/platforms`).sort();
        const known = Object.keys(PLATFORM_PACKAGES).sort();
        if (folders.join() !== known.join()) {
            console.error(`pack.sh: node/platforms has ${folders}, binary.ts knows ${known}`); process.exit(1);
        }
        for (const f of folders) {
            const p = JSON.parse(readFileSync(`${nodeDir}/platforms/${f}/package.json`, "utf8"));
            if (p.name !== PLATFORM_PACKAGES[f].pkg || p.version !== lib.version) {
                console.error(`pack.sh: node/platforms/${f} is ${p.name}@${p.version}; want ${PLATFORM_PACKAGES[f].pkg}@${lib.version}`);
                process.exit(1);
            }
        }' "$node_dir"
}

# Only the SIMD kernel files may carry -m flags (their level is picked at run
# time); anything else (-march=native, -mavx2 on the whole build) would make a
# binary that dies with SIGILL on older CPUs.
check_portable() { # build dir
    node -e '
        // the binary is built from src/ only (a build with tests and benchmarks has more)
        const cmds = require(process.argv[1]).filter((c) => c.file.startsWith(process.argv[2] + "/src/"));
        const bad = cmds.filter((c) => !/_avx(2|512)\.c$/.test(c.file) && /\s-m(arch|tune|cpu|avx|sse[34]|fma|f16c|bmi)/.test(c.command));
        if (bad.length) { console.error("pack.sh: non-portable flags in", bad.map((c) => c.file).join(", ")); process.exit(1); }
        if (!cmds.length) { console.error("pack.sh: no compile commands in", process.argv[1]); process.exit(1); }
    ' "$1/compile_commands.json" "$root"
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
    linux_build=$(abspath "${LINUX_BUILD_DIR:-$root/build-pack-linux}")
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
    win_build=$(abspath "${WIN_BUILD_DIR:-$root/build-pack-win}")
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

# ---- the library: built TypeScript, the C sources for the from-source build,
# staged in build-pack/ggembed with its optional dependencies written in
cd "$node_dir"
[ -d node_modules/typescript ] || npm install --no-save --no-audit --no-fund --loglevel=error
npm run --silent build
check_platforms
stage="$root/build-pack/ggembed"
rm -rf "$stage"
mkdir -p "$stage/dist" "$stage/csrc" "$stage/scripts"
cp package.json README.md "$stage/"
cp -R dist/src "$stage/dist/"
cp scripts/install.mjs "$stage/scripts/"
cp -R "$root/CMakeLists.txt" "$root/include" "$root/src" "$stage/csrc/"
node -e '
    const fs = require("fs");
    const [stage, nodeDir] = process.argv.slice(1);
    const lib = JSON.parse(fs.readFileSync(`${stage}/package.json`, "utf8"));
    lib.optionalDependencies = Object.fromEntries(fs.readdirSync(`${nodeDir}/platforms`).sort().map((f) =>
        [JSON.parse(fs.readFileSync(`${nodeDir}/platforms/${f}/package.json`, "utf8")).name, lib.version]));
    delete lib.devDependencies;
    delete lib.scripts.build;
    delete lib.scripts.test;
    fs.writeFileSync(`${stage}/package.json`, JSON.stringify(lib, null, 2) + "\n");
' "$stage" "$node_dir"

pack() { # folder: packs it into $out and prints name, packed and unpacked size
    (cd "$1" && npm pack --json --pack-destination "$out" 2>/dev/null) | node -e '
        let s = ""; process.stdin.on("data", (d) => s += d).on("end", () => {
            const [p] = JSON.parse(s);
            const kb = (n) => (n / 1024).toFixed(0).padStart(6) + " KiB";
            console.log(`${p.filename.padEnd(34)} packed ${kb(p.size)}   unpacked ${kb(p.unpackedSize)}   ${p.entryCount} files`);
        });'
}

echo "pack.sh: packages in $out"
pack "$stage"
for p in $platforms; do pack "$node_dir/platforms/$p"; done

#!/usr/bin/env node
// install.mjs - ggembed's postinstall. Where a platform package
// (@ggembed/<os>-<cpu>) brought a prebuilt binary it does nothing. Anywhere
// else it builds `ggembed` from the C sources shipped in csrc/ into native/,
// with CMake when present, else with the system C compiler directly, and
// fails the install with one line naming what is missing when neither is
// (unless GGEMBED_BIN names a binary to use instead).
//
//   GGEMBED_BUILD_WITH=cmake|cc   use this builder only (default: cmake, then cc)
//   CC                            the C compiler for the direct build (default cc)

import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const csrc = path.join(root, 'csrc');

// A checkout of the repository ships no csrc/: its tests name the binary built
// in the repository (GGEMBED_BIN), so there is nothing to do here.
if (!existsSync(path.join(csrc, 'CMakeLists.txt'))) process.exit(0);

const { fromPlatformPackage, NATIVE_DIR, NATIVE_BINARY, NATIVE_FAILURE } = await import('../dist/src/binary.js');

if (fromPlatformPackage().found) process.exit(0);

const exe = process.platform === 'win32' ? 'ggembed.exe' : 'ggembed';
const jobs = Math.max(1, Math.min(os.availableParallelism?.() ?? os.cpus().length, 8));

/** Runs a command quietly; resolves to its combined output, rejects with it on failure. */
function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('error', (e) => reject(new Error(`${cmd}: ${e.message}`)));
    child.on('close', (code, sig) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${[cmd, ...args].join(' ')} failed (${sig ?? `exit ${code}`}):\n${out.slice(-4000)}`));
    });
  });
}

function works(cmd) {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore', shell: false });
  return r.status === 0;
}

async function withCmake() {
  const build = path.join(NATIVE_DIR, 'cmake-build');
  rmSync(build, { recursive: true, force: true });
  await run('cmake', ['-S', csrc, '-B', build, '-DCMAKE_BUILD_TYPE=Release', '-DGGEMBED_TESTS=OFF', '-DGGEMBED_BENCH=OFF']);
  await run('cmake', ['--build', build, '--config', 'Release', '--target', 'ggembed', '--parallel', String(jobs)]);
  // single-config generators put it in the build folder, multi-config ones (Visual Studio) in Release/
  const built = [path.join(build, exe), path.join(build, 'Release', exe)].find((p) => existsSync(p));
  if (!built) throw new Error(`cmake built no ${exe} in ${build}`);
  copyFileSync(built, NATIVE_BINARY);
  rmSync(build, { recursive: true, force: true });
}

/** The sources and per-file flags of CMakeLists.txt, for a compiler without CMake. */
function sources() {
  const dirs = ['src', 'src/gguf', 'src/kernels', 'src/tokenizer', 'src/models', 'src/server', 'src/cli'];
  const list = dirs.flatMap((d) =>
    readdirSync(path.join(csrc, d))
      .filter((f) => f.endsWith('.c'))
      .map((f) => `${d}/${f}`),
  );
  list.push(process.platform === 'win32' ? 'src/platform/win32.c' : 'src/platform/posix.c');
  list.push(
    ...readdirSync(path.join(csrc, 'src/platform'))
      .filter((f) => /^common_.*\.c$/.test(f))
      .map((f) => `src/platform/${f}`),
  );
  const x86 = process.arch === 'x64';
  const avx2 = ['-mavx2', '-mfma', '-mf16c', '-mbmi2'];
  const avx512 = [...avx2, '-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512dq', '-mavx512vnni', '-mavx512bf16'];
  return {
    x86,
    files: list.flatMap((f) => {
      if (/_avx2\.c$/.test(f)) return x86 ? [{ f, flags: avx2 }] : [];
      if (/_avx512\.c$/.test(f)) return x86 ? [{ f, flags: avx512 }] : [];
      return [{ f, flags: [] }];
    }),
  };
}

async function withCc(cc) {
  const { x86, files } = sources();
  const obj = path.join(NATIVE_DIR, 'obj');
  rmSync(obj, { recursive: true, force: true });
  mkdirSync(obj, { recursive: true });
  const common = ['-std=c11', '-O2', '-DNDEBUG', '-I', path.join(csrc, 'include'), '-I', path.join(csrc, 'src'), '-pthread'];
  if (process.platform !== 'win32') common.push('-fvisibility=hidden');
  else common.push('-D__USE_MINGW_ANSI_STDIO=1');
  if (x86) common.push('-DGG_HAVE_X86_KERNELS=1', '-DGG_HAVE_SIMD_FILES=1');
  const objects = files.map(({ f }) => path.join(obj, f.replace(/[\\/]/g, '_').replace(/\.c$/, '.o')));
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      await run(cc, [...common, ...files[i].flags, '-c', path.join(csrc, files[i].f), '-o', objects[i]]);
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  const libs = process.platform === 'win32' ? ['-static', '-lws2_32', '-ladvapi32', '-lpsapi'] : ['-lm'];
  await run(cc, ['-pthread', '-o', NATIVE_BINARY, ...objects, ...libs]);
  rmSync(obj, { recursive: true, force: true });
}

function fail(line, details = '') {
  writeFileSync(NATIVE_FAILURE, `${line}\n${details}`);
  if (process.env.GGEMBED_BIN) {
    // The user brings their own binary: the library will use it; say why none was built and go on.
    process.stderr.write(`ggembed: ${line} (GGEMBED_BIN is set, so the install goes on)\n`);
    process.exit(0);
  }
  if (details) process.stderr.write(details.endsWith('\n') ? details : `${details}\n`);
  process.stderr.write(`ggembed: ${line}\n`);
  process.exit(1);
}

mkdirSync(NATIVE_DIR, { recursive: true });
rmSync(NATIVE_FAILURE, { force: true });
rmSync(NATIVE_BINARY, { force: true });

const platform = `${process.platform}-${process.arch}`;
const forced = process.env.GGEMBED_BUILD_WITH;
if (forced && forced !== 'cmake' && forced !== 'cc') fail(`GGEMBED_BUILD_WITH must be cmake or cc, not ${forced}`);
const cc = process.env.CC || 'cc';
const builder = (forced ? [forced] : ['cmake', 'cc']).find((b) => works(b === 'cc' ? cc : 'cmake'));
if (!builder) {
  fail(
    `no prebuilt binary for ${platform} and nothing to build one with: install CMake (3.20 or later) or a C compiler (${cc}), then run \`npm rebuild ggembed\``,
  );
}

const started = Date.now();
try {
  if (builder === 'cmake') await withCmake();
  else await withCc(cc);
  if (process.platform !== 'win32') chmodSync(NATIVE_BINARY, 0o755);
  const check = spawnSync(NATIVE_BINARY, ['--help'], { stdio: 'ignore' });
  if (check.error || check.status !== 0)
    throw new Error(`the built ${NATIVE_BINARY} does not run (${check.error?.message ?? `exit ${check.status}`})`);
} catch (e) {
  rmSync(NATIVE_BINARY, { force: true });
  fail(`building ggembed for ${platform} with ${builder === 'cc' ? cc : 'cmake'} failed (see the output above)`, e.message);
}
process.stderr.write(
  `ggembed: built ${NATIVE_BINARY} from source with ${builder === 'cc' ? cc : 'cmake'} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
);

// binary.ts - finding the ggembed executable. In order: the `binary` option,
// env GGEMBED_BIN, the platform package (@ggembed/<os>-<cpu>, an optional
// dependency holding one prebuilt binary), then the binary built from the
// shipped C sources at install (native/ in this package). Nothing else: a
// `ggembed` on PATH may be any version, so it is used only when named.

import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** This package's root (this file is dist/src/binary.js once compiled). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const EXE = process.platform === 'win32' ? 'ggembed.exe' : 'ggembed';

/**
 * Platforms with a prebuilt package (one folder each in node/platforms/, which
 * scripts/pack.sh checks); every other one builds from source at install.
 */
export const PLATFORM_PACKAGES: Readonly<Record<string, { pkg: string; glibc?: true }>> = {
  'linux-x64': { pkg: '@ggembed/linux-x64', glibc: true },
  'win32-x64': { pkg: '@ggembed/win32-x64' },
};

/** The platform package for this process, or null when there is none for it (then: from source). */
export function platformPackage(): string | null {
  const p = PLATFORM_PACKAGES[`${process.platform}-${process.arch}`];
  if (!p) return null;
  if (p.glibc && !glibcRuntime()) return null; // musl etc.: the prebuilt binary would not load
  return p.pkg;
}

let glibc: string | null | undefined;
function glibcRuntime(): string | null {
  if (glibc === undefined) {
    // The report is the one place Node tells the C library it runs on; it takes a few ms, so once.
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
    glibc = header?.glibcVersionRuntime ?? null;
  }
  return glibc;
}

/** Where the install script puts the binary it builds from the shipped C sources. */
export const NATIVE_DIR = path.join(PACKAGE_ROOT, 'native');
export const NATIVE_BINARY = path.join(NATIVE_DIR, EXE);
/** Written by the install script when it could not build; its first line says why. */
export const NATIVE_FAILURE = path.join(NATIVE_DIR, 'build-failed.txt');

function isExecutable(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    if (process.platform !== 'win32') accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface Attempt {
  what: string;
  found: string | null;
  why?: string;
}

/** The platform package's binary; a package of another version than this one is refused. */
export function fromPlatformPackage(): Attempt {
  const pkg = platformPackage();
  if (!pkg)
    return {
      what: `no prebuilt package for ${process.platform}-${process.arch}${process.platform === 'linux' ? ' (glibc)' : ''}`,
      found: null,
    };
  let manifest: string;
  try {
    manifest = createRequire(path.join(PACKAGE_ROOT, 'package.json')).resolve(`${pkg}/package.json`);
  } catch {
    return { what: pkg, found: null, why: 'not installed' };
  }
  const ours = readVersion(path.join(PACKAGE_ROOT, 'package.json'));
  const theirs = readVersion(manifest);
  if (ours !== theirs) return { what: pkg, found: null, why: `version ${theirs}, but ggembed is ${ours}` };
  const bin = path.join(path.dirname(manifest), 'bin', EXE);
  return isExecutable(bin) ? { what: pkg, found: bin } : { what: pkg, found: null, why: `no executable ${bin}` };
}

function readVersion(manifest: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

function fromSourceBuild(): Attempt {
  if (isExecutable(NATIVE_BINARY)) return { what: NATIVE_BINARY, found: NATIVE_BINARY };
  // npm 11 warns about, and later versions skip, dependencies' install scripts not in allowScripts.
  let why = 'not built: its install script did not run (allow it: `npm install-scripts approve ggembed`, then `npm rebuild ggembed`)';
  try {
    why = `not built: ${readFileSync(NATIVE_FAILURE, 'utf8').split('\n')[0]}`;
  } catch {
    /* no failure recorded: the install script did not run */
  }
  return { what: NATIVE_BINARY, found: null, why };
}

function search(option?: string, env: NodeJS.ProcessEnv = process.env): Attempt[] {
  if (option)
    return [{ what: `option binary=${option}`, found: isExecutable(option) ? path.resolve(option) : null, why: 'not an executable file' }];
  if (env.GGEMBED_BIN)
    return [
      {
        what: `GGEMBED_BIN=${env.GGEMBED_BIN}`,
        found: isExecutable(env.GGEMBED_BIN) ? path.resolve(env.GGEMBED_BIN) : null,
        why: 'not an executable file',
      },
    ];
  const prebuilt = fromPlatformPackage();
  return prebuilt.found ? [prebuilt] : [prebuilt, fromSourceBuild()];
}

/** The path of the ggembed binary, or null when none is found. */
export function findBinary(option?: string, env: NodeJS.ProcessEnv = process.env): string | null {
  for (const a of search(option, env)) if (a.found) return a.found;
  return null;
}

/** Where findBinary looked and why each place failed, for error messages. */
export function describeBinarySearch(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  return (
    'tried ' +
    search(option, env)
      .map((a) => (a.why ? `${a.what}: ${a.why}` : a.what))
      .join('; ')
  );
}

// pack-registry.mjs - an npm registry on 127.0.0.1 that holds only the
// tarballs in DIR and answers 404 for every other package, so that an
// `npm install ggembed` against it resolves the optional platform packages
// as users' installs do, and proves that nothing else is needed.
//
//   node scripts/pack-registry.mjs DIR PORTFILE LOGFILE [LOCKFILE NPMCACHE]
//
// With LOCKFILE and NPMCACHE it also serves the exact versions that lockfile
// pins, from that npm cache (content-addressed by their integrity), for the
// packages that are in it: the MCP SDK and zod the package is developed with.
//
// Writes the port to PORTFILE once listening; logs "STATUS PATH" per request
// to LOGFILE; stops on SIGTERM or SIGINT.
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';

const [dir, portFile, logFile, lockFile, npmCache] = process.argv.slice(2);
const packages = new Map(); // name -> Map(version -> { manifest, file, integrity, shasum })

/** The package.json in a tarball's top folder (package/ usually; @types/node's is "node v20.19/"). */
function manifestOf(data) {
  const tar = gunzipSync(data);
  for (let off = 0; off + 512 <= tar.length;) {
    const field = (a, b) => tar.subarray(off + a, off + b).toString('latin1').replace(/\0.*$/s, '');
    const name = field(345, 500) ? `${field(345, 500)}/${field(0, 100)}` : field(0, 100);
    if (!name) break;
    const size = parseInt(field(124, 136).trim() || '0', 8);
    if (/^[^/]+\/package\.json$/.test(name)) return JSON.parse(tar.subarray(off + 512, off + 512 + size).toString('utf8'));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return null;
}

function add(file) {
  const data = readFileSync(file);
  const manifest = manifestOf(data);
  if (!manifest) throw new Error(`${file}: no package.json in its top folder`);
  if (!packages.has(manifest.name)) packages.set(manifest.name, new Map());
  packages.get(manifest.name).set(manifest.version, {
    manifest,
    file,
    integrity: 'sha512-' + createHash('sha512').update(data).digest('base64'),
    shasum: createHash('sha1').update(data).digest('hex'),
  });
}

for (const f of readdirSync(dir).filter((x) => x.endsWith('.tgz'))) add(path.join(dir, f));
if (lockFile) {
  const lock = JSON.parse(readFileSync(lockFile, 'utf8'));
  for (const [where, entry] of Object.entries(lock.packages ?? {})) {
    if (!where || !entry.integrity?.startsWith('sha512-')) continue;
    const hex = Buffer.from(entry.integrity.slice(7), 'base64').toString('hex');
    const file = path.join(npmCache, '_cacache', 'content-v2', 'sha512', hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
    if (existsSync(file)) add(file);
  }
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const name = decodeURIComponent(url.pathname.slice(1));
  let status = 404;
  let body = JSON.stringify({ error: 'not found' });
  let type = 'application/json';
  const tarball = /^-\/tarballs\/([0-9a-f]+)\/[^/]+$/.exec(name);
  if (tarball) {
    const p = [...packages.values()].flatMap((m) => [...m.values()]).find((x) => x.shasum === tarball[1]);
    if (p) { status = 200; body = readFileSync(p.file); type = 'application/octet-stream'; }
  } else if (packages.has(name)) {
    const { port } = server.address();
    const versions = {};
    let latest = '0.0.0';
    for (const [v, p] of packages.get(name)) {
      versions[v] = {
        ...p.manifest,
        _id: `${name}@${v}`,
        dist: { tarball: `http://127.0.0.1:${port}/-/tarballs/${p.shasum}/${name.replace(/^@/, '').replace('/', '-')}-${v}.tgz`, integrity: p.integrity, shasum: p.shasum },
      };
      if (v.localeCompare(latest, undefined, { numeric: true }) > 0) latest = v;
    }
    status = 200;
    body = JSON.stringify({ name, 'dist-tags': { latest }, versions });
  }
  appendFileSync(logFile, `${status} ${req.method} ${url.pathname}\n`);
  res.writeHead(status, { 'content-type': type });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => writeFileSync(portFile, String(server.address().port)));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));

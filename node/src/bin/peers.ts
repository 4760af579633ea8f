// peers.ts - the MCP SDK and zod are optional peer dependencies: the library
// never imports them, only the servers' bins do. A bin whose peer is missing
// says so in one line instead of a module-resolution stack trace.

/** Exits with one line naming the missing packages and the command that installs them. */
export function requirePeers(bin: string, peers: { pkg: string; entry: string }[]): void {
  // import.meta.resolve is synchronous and unflagged from Node 20.6; before that, just try the import.
  if (typeof import.meta.resolve !== 'function') return;
  const missing = peers.filter(({ entry }) => {
    try {
      import.meta.resolve(entry);
      return false;
    } catch {
      return true;
    }
  }).map((p) => p.pkg);
  if (missing.length === 0) return;
  process.stderr.write(`${bin}: needs ${missing.join(' and ')} (optional peer dependencies of ggembed, for its servers only): npm install ${missing.join(' ')}\n`);
  process.exit(1);
}

export const SDK = { pkg: '@modelcontextprotocol/sdk', entry: '@modelcontextprotocol/sdk/server/mcp.js' };
export const ZOD = { pkg: 'zod', entry: 'zod' };

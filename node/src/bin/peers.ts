// peers.ts - the MCP SDK is an optional peer dependency: the library never
// imports it, only the ggembed-mcp bin does. That bin, when the SDK is
// missing, says so in one line instead of a module-resolution stack trace.

export interface Peer {
  pkg: string;
  /** a specifier the bin imports, to resolve */
  entry: string;
}

export const SDK: Peer = { pkg: '@modelcontextprotocol/sdk', entry: '@modelcontextprotocol/sdk/server/mcp.js' };

/** Exits with one line naming the missing packages and the command that installs them. */
export function requirePeers(bin: string, peers: Peer[]): void {
  // import.meta.resolve is synchronous and unflagged from Node 20.6; before that, just try the import.
  if (typeof import.meta.resolve !== 'function') return;
  const missing = peers
    .filter(({ entry }) => {
      try {
        import.meta.resolve(entry);
        return false;
      } catch {
        return true;
      }
    })
    .map((p) => p.pkg);
  if (missing.length === 0) return;
  process.stderr.write(
    `${bin}: needs ${missing.join(' and ')} (an optional peer dependency of ggembed, for this bin only): npm install ${missing.join(' ')}\n`,
  );
  process.exit(1);
}
